"""The document mix of the fault runs (`bench/faults.py --documents`): every deal goes quote
(stage contractsent) -> invoice (closedwon, finalized where the system can) -> paid (the
sandbox's `POST /_sandbox/documents/status`, as the vendor's user booking the payment), and
the paid status comes back to the HubSpot deal from the vendor's signed events (lexware
office) or from polling (sevDesk, beat's round every 30 s, a tenant's feed every 60 s).

The tally reads the documents in the vendor sandbox and maps each to its deal by the
reference it carries ("HubSpot-Deal <portal>-<deal>", or sevDesk's order number derived from
it, "HubSpot-Deal-<portal>-<deal>"; a sevDesk invoice made from an order also by its origin).
Pass: exactly one quote and one invoice per deal in the vendor, one transfer per deal and
kind, none failed, and every deal's `apiup_invoice_status` equal to the vendor's status of
its invoice.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from bench.common import DealRef, Vendors, percentile, wait_for

DOCUMENT_SYSTEMS = ("lexoffice", "sevdesk", "eaccounting")
DOCUMENT_RUNS = ["baseline", "duplicates", "drop-after-commit", "sigkill"]
EARLY_STAGE = "appointmentscheduled"  # where the deals are made, before any rule
QUOTE_STAGE = "contractsent"
INVOICE_STAGE = "closedwon"
KINDS = ("quote", "invoice")
_REFERENCE = re.compile(r"HubSpot-Deal[ -](\d+)-(\d+)")

# Where each vendor keeps the documents: resource, and which of its records are the kind.
_SOURCES: dict[str, dict[str, tuple[str, Callable[[dict[str, Any]], bool]]]] = {
    "lexoffice": {
        "quote": ("quotations", lambda record: True),
        "invoice": ("invoices", lambda record: True),
    },
    "sevdesk": {
        "quote": ("orders", lambda record: record.get("orderType") == "AN"),
        "invoice": ("invoices", lambda record: record.get("invoiceType") == "RE"),
    },
    # Finalized invoices (a draft left over would be a second, unfinished invoice).
    "eaccounting": {
        "quote": ("quotes", lambda record: True),
        "invoice": ("customerinvoices", lambda record: True),
    },
}
# The vendor's status of an invoice in the words the product writes to the deal (the vendors'
# fact sheets): lexware office's `voucherStatus`, sevDesk's status code.
_INVOICE_STATUS: dict[str, tuple[str, dict[str, str]]] = {
    "lexoffice": (
        "voucherStatus",
        {"draft": "draft", "open": "open", "paid": "paid", "voided": "voided"},
    ),
    "sevdesk": (
        "status",
        {"100": "draft", "200": "open", "750": "partially_paid", "1000": "paid"},
    ),
    # PaymentStatus 0 Paid, 1 Unpaid, 2 Overdue (unpaid in part or in full).
    "eaccounting": ("PaymentStatus", {"0": "paid", "1": "open", "2": "open"}),
}

DealKey = tuple[int, str]


def _key(deal: DealRef) -> DealKey:
    return (deal.portal_id, deal.deal_id)


# -- the tenants' document setup --------------------------------------------------------------


def connect_documents(vendors: Vendors, *, public_base_url: str) -> None:
    """What the wizard does for each tenant: the rules (quote at contractsent, a finalized
    invoice at closedwon), the vendor's account id from `verify()` (its events name it), and
    the subscription to the vendor's events, or the polled feed's first cursor. Runs in the
    driver, so it points the driver's settings at the run's sandboxes and web server."""
    from django.conf import settings

    from accounts.models import Tenant
    from connectors.models import Connection
    from connectors.registry import connector_class, provider
    from sync import tasks
    from sync.models import DocumentRule
    from sync.services import feeds

    system = vendors.system
    settings.PUBLIC_BASE_URL = public_base_url
    hosts = {**settings.VENDOR_API_URLS, **vendors.urls()}
    if system == "lexoffice":
        hosts["lexoffice_keys"] = vendors.accounting.url
    settings.VENDOR_API_URLS = hosts
    capabilities = provider(system).capabilities
    pushes = bool(capabilities and capabilities.status_events)
    for handle in vendors.tenants:
        tenant = Tenant.objects.get(pk=handle.tenant_id)
        DocumentRule.objects.create(tenant=tenant, stage_id=QUOTE_STAGE, document="quote")
        DocumentRule.objects.create(
            tenant=tenant, stage_id=INVOICE_STAGE, document="invoice", finalize=True
        )
        connection = Connection.objects.get(tenant=tenant, system=system)
        connection.external_account_id = (
            connector_class(system)(connection=connection).verify().account_id
        )
        connection.save()
        if pushes and not feeds.events_subscribe(connection=connection):
            raise RuntimeError(f"{system}: subscribing to the events of {handle.portal_id} failed")
    if not pushes:
        # Each new feed takes its cursor at once (beat's first round would do the same).
        feeds.feeds_maintain(enqueue=tasks.enqueue_vendor_events)


def disconnect(vendors: Vendors) -> None:
    """The run's accounting connections are marked as needing a reconnect when its sandboxes
    stop, so that beat's feed rounds in later runs of the same database neither poll them
    nor count their refused connections against the vendor's circuit breaker."""
    from connectors.models import Connection

    Connection.objects.filter(
        tenant_id__in=[h.tenant_id for h in vendors.tenants], system=vendors.system
    ).update(status=Connection.Status.NEEDS_RECONNECT)


def deliver_callbacks_twice(vendors: Vendors) -> None:
    """Every signed event callback of the vendor is sent twice: at once and again 0.1-1.5 s
    later (the same event id), as a vendor's retry after a lost answer would."""
    callbacks = vendors.accounting.sandbox.callbacks
    send_once: Callable[[str, bytes], Any] = callbacks.send

    def send_twice(url: str, body: bytes) -> Any:
        sent = send_once(url, body)
        threading.Timer(0.1 + 1.4 * (len(body) % 7) / 6, send_once, (url, body)).start()
        return sent

    callbacks.send = send_twice


def move(vendors: Vendors, deals: list[DealRef], stage: str) -> None:
    hubspot = vendors.hubspot.sandbox
    for deal in deals:
        hubspot.move_deal(deal.portal_id, deal.deal_id, stage)


# -- what the product and the vendor hold ----------------------------------------------------


def _transfer_rows(deals: list[DealRef], kinds: tuple[str, ...]) -> list[tuple[str, str, str, str]]:
    """(deal id, kind, state, error) of every transfer of the deals of `kinds`."""
    from sync.models import Transfer

    return list(
        Transfer.objects.filter(
            tenant_id__in={d.tenant_id for d in deals},
            object_id__in=[d.deal_id for d in deals],
            kind__in=kinds,
        ).values_list("object_id", "kind", "state", "error")
    )


def kind_settled(deals: list[DealRef], kind: str) -> bool:
    """Every deal has its transfer of `kind`, and none has work left."""
    from sync.models import Transfer

    rows = _transfer_rows(deals, (kind,))
    done = {oid for oid, _, state, _ in rows if state not in Transfer.ACTIVE_STATES}
    return len(done) >= len(deals)


def status_work_left(deals: list[DealRef]) -> bool:
    from sync.models import Transfer

    rows = _transfer_rows(deals, (Transfer.Kind.DOCUMENT_STATUS,))
    return any(state in Transfer.ACTIVE_STATES for _, _, state, _ in rows)


def vendor_documents(vendors: Vendors) -> dict[str, dict[DealKey, list[dict[str, Any]]]]:
    """The vendor's documents per kind and deal, read from the references they carry."""
    store = vendors.accounting.sandbox.store
    found: dict[str, dict[DealKey, list[dict[str, Any]]]] = {kind: {} for kind in KINDS}
    order_deals: dict[str, DealKey] = {}
    for kind in KINDS:
        resource, is_kind = _SOURCES[vendors.system][kind]
        for _owner, record in store.everything(resource):
            if not is_kind(record):
                continue
            match = _REFERENCE.search(json.dumps(record, ensure_ascii=False))
            deal: DealKey | None = (int(match[1]), match[2]) if match else None
            origin = record.get("origin")
            if deal is None and isinstance(origin, dict):
                deal = order_deals.get(str(origin.get("id")))
            if deal is None:
                continue
            if resource == "orders":
                order_deals[str(_id(record))] = deal
            found[kind].setdefault(deal, []).append(record)
    return found


def _id(record: dict[str, Any]) -> Any:
    return record.get("id", record.get("Id"))  # eAccounting's records have `Id`


def invoice_status(system: str, record: dict[str, Any]) -> str:
    field_name, words = _INVOICE_STATUS[system]
    value = record.get(field_name)
    raw = "" if value is None else str(value)
    return words.get(raw, f"?{raw}")


def deal_property(vendors: Vendors, deal: DealRef, name: str) -> str | None:
    hubspot = vendors.hubspot.sandbox
    properties = hubspot.store.get("deals", str(deal.portal_id), deal.deal_id)["properties"]
    value = properties.get(name)
    return None if value is None else str(value)


def _tracked_invoice(
    vendors: Vendors, deal: DealRef, invoices: dict[DealKey, list[dict[str, Any]]]
) -> dict[str, Any] | None:
    """The deal's invoice in the vendor: the only one, or the one its transfer made."""
    from sync.models import Transfer

    candidates = invoices.get(_key(deal), [])
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    vendor_id = (
        Transfer.objects.filter(
            tenant_id=deal.tenant_id, object_id=deal.deal_id, kind=Transfer.Kind.INVOICE
        )
        .values_list("vendor_id", flat=True)
        .first()
    )
    return next((r for r in candidates if str(_id(r)) == vendor_id), candidates[0])


def mark_paid(vendors: Vendors, deals: list[DealRef]) -> dict[DealRef, float]:
    """Books each deal's invoice as paid in the vendor's app; returns when, per deal."""
    invoices = vendor_documents(vendors)["invoice"]
    paid_at: dict[DealRef, float] = {}
    for deal in deals:
        invoice = _tracked_invoice(vendors, deal, invoices)
        if invoice is None:
            continue
        answer = requests.post(
            f"{vendors.accounting.url}/_sandbox/documents/status",
            json={"kind": "invoice", "id": str(_id(invoice)), "status": "paid"},
            timeout=10,
        )
        if answer.status_code != 200:
            raise RuntimeError(f"marking invoice {invoice['id']} paid: {answer.text[:200]}")
        paid_at[deal] = time.monotonic()
    return paid_at


def status_mismatches(vendors: Vendors, deals: list[DealRef]) -> dict[DealRef, tuple[str, str]]:
    """Deals whose `apiup_invoice_status` differs from the vendor's status of their invoice:
    (on the deal, in the vendor)."""
    invoices = vendor_documents(vendors)["invoice"]
    wrong = {}
    for deal in deals:
        invoice = _tracked_invoice(vendors, deal, invoices)
        vendor = invoice_status(vendors.system, invoice) if invoice else "(no invoice)"
        on_deal = deal_property(vendors, deal, "apiup_invoice_status") or "(none)"
        if on_deal != vendor:
            wrong[deal] = (on_deal, vendor)
    return wrong


class StatusWatch:
    """Waits until every deal shows its invoice's vendor status and no status work is left,
    noting when each paid deal first showed "paid"."""

    def __init__(self, vendors: Vendors, deals: list[DealRef], paid_at: dict[DealRef, float]):
        self.vendors, self.deals, self.paid_at = vendors, deals, paid_at
        self.shown_at: dict[DealRef, float] = {}

    def _check(self) -> bool:
        now = time.monotonic()
        for deal in self.paid_at:
            if (
                deal not in self.shown_at
                and deal_property(self.vendors, deal, "apiup_invoice_status") == "paid"
            ):
                self.shown_at[deal] = now
        if len(self.shown_at) < len(self.paid_at):
            return False
        return not status_mismatches(self.vendors, self.deals) and not status_work_left(self.deals)

    def wait(self, *, timeout: float) -> bool:
        return wait_for(self._check, timeout=timeout, interval=0.5)

    def latencies(self) -> list[float]:
        return [self.shown_at[d] - self.paid_at[d] for d in self.shown_at]


# -- the tally ------------------------------------------------------------------------------


@dataclass
class KindCount:
    documents: int = 0  # in the vendor, for the run's deals (duplicates included)
    duplicates: int = 0  # beyond the first per deal
    missing: int = 0  # deals without one
    transfers: int = 0  # transfer rows of the kind for the deals
    deals_without_one_transfer: int = 0
    failed: int = 0  # transfers failed, with their reason shown


@dataclass
class DocumentTally:
    system: str
    deals: int
    kinds: dict[str, KindCount]
    status_wrong: dict[DealRef, tuple[str, str]]
    phases: dict[str, float] = field(default_factory=dict)
    status_latencies: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)

    @property
    def passed(self) -> bool:
        return not self.status_wrong and all(
            c.documents == self.deals
            and c.duplicates == 0
            and c.missing == 0
            and c.deals_without_one_transfer == 0
            and c.failed == 0
            for c in self.kinds.values()
        )

    def line(self, name: str) -> str:
        parts = [f"{name + ' (' + self.system + ')':<32} deals {self.deals:>4}"]
        for kind, c in self.kinds.items():
            parts.append(
                f"{kind}s {c.documents} (dup {c.duplicates}, lost {c.missing}, "
                f"transfers {c.transfers}, failed {c.failed})"
            )
        parts.append(f"status wrong {len(self.status_wrong)}")
        parts.append("PASS" if self.passed else "FAIL")
        return "  ".join(parts)

    def detail(self) -> list[str]:
        latencies = self.status_latencies
        lines = [
            "    phases: "
            + ", ".join(f"{phase} {seconds:.1f} s" for phase, seconds in self.phases.items())
            + (
                f"; paid -> deal p50 {percentile(latencies, 0.5):.1f} s, "
                f"p95 {percentile(latencies, 0.95):.1f} s, max {max(latencies):.1f} s"
                if latencies
                else ""
            )
        ]
        for error, count in self.failures.most_common(3):
            lines.append(f"    failed {count}x: {error[:150]}")
        for deal, (on_deal, vendor) in list(self.status_wrong.items())[:8]:
            lines.append(
                f"    deal {deal.portal_id}-{deal.deal_id}: on the deal {on_deal!r}, "
                f"in the vendor {vendor!r}"
            )
        return lines


def document_tally(vendors: Vendors, deals: list[DealRef]) -> DocumentTally:
    from sync.models import Transfer

    found = vendor_documents(vendors)
    rows = _transfer_rows(deals, KINDS)
    kinds: dict[str, KindCount] = {}
    failures: Counter[str] = Counter()
    for kind in KINDS:
        count = KindCount()
        per_deal = Counter(oid for oid, k, _, _ in rows if k == kind)
        for _deal_id, k, state, error in rows:
            if k == kind and state == Transfer.State.FAILED:
                count.failed += 1
                failures[f"{kind}: {error}"] += 1
        for deal in deals:
            n = len(found[kind].get(_key(deal), []))
            count.documents += n
            count.duplicates += max(0, n - 1)
            count.missing += n == 0
            count.transfers += per_deal[deal.deal_id]
            count.deals_without_one_transfer += per_deal[deal.deal_id] != 1
        kinds[kind] = count
    return DocumentTally(
        system=vendors.system,
        deals=len(deals),
        kinds=kinds,
        status_wrong=status_mismatches(vendors, deals),
        failures=failures,
    )
