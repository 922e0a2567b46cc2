"""sevDesk's documents per deal stage against the sandbox over real HTTP, every request and
response checked against the (patched) spec: quotes, order confirmations and invoices
created and found again, an invoice made from the deal's order, their status as the web
app changes it, and the poll on the lists' update stamps."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
import requests

from connectors import errors
from connectors.models import Connection
from connectors.ratelimit import Rate
from connectors.sevdesk.client import SevdeskConnector
from connectors.shapes import (
    Address,
    Company,
    Customer,
    CustomerKind,
    DocumentKind,
    DocumentLink,
    DocumentStatus,
    Quote,
    QuotePosition,
)
from sandbox.core import RunningSandbox, running
from sandbox.sevdesk.app import SevdeskSandbox

QUOTE, ORDER, INVOICE = DocumentKind.QUOTE, DocumentKind.ORDER, DocumentKind.INVOICE
REFERENCE = "HubSpot-Deal 4711-123"
NOT_IN_SPEC = {"/api/v1/Unity", "/api/v1/SevUser", "/api/v1/StaticCountry"}


@pytest.fixture
def token() -> str:
    return secrets.token_hex(16)


@pytest.fixture
def vendor(token: str) -> Iterator[RunningSandbox]:
    sandbox = SevdeskSandbox(contract=True, demo_token=None)
    sandbox.add_account(token=token)
    with running(sandbox) as handle:
        yield handle
    assert sandbox.contract is not None
    documented = [
        v
        for v in sandbox.contract.violations
        if not (v.path in NOT_IN_SPEC and v.error == "operation not in the vendor's spec")
    ]
    assert documented == [], "\n".join(
        f"{v.method} {v.path} {v.status} {v.where}: {v.error}" for v in documented
    )


@pytest.fixture
def sandbox(vendor: RunningSandbox) -> SevdeskSandbox:
    assert isinstance(vendor.sandbox, SevdeskSandbox)
    return vendor.sandbox


@pytest.fixture
def owner(sandbox: SevdeskSandbox, token: str) -> str:
    return str(sandbox.accounts[token].sev_client_id)


@pytest.fixture
def sevdesk(vendor: RunningSandbox, token: str) -> SevdeskConnector:
    connection = Connection(system="sevdesk", credentials={"api_token": token})
    connector = SevdeskConnector(connection=connection, base_url=f"{vendor.url}/api/v1")
    connector.client.api = replace(connector.client.api, rate=Rate(per_second=100, burst=100))
    return connector


@pytest.fixture
def customer_id(sevdesk: SevdeskConnector) -> str:
    company = Company(
        name="Müller Bau GmbH",
        email="info@mueller-bau.example",
        address=Address("Hauptstraße", "5", "10115", "Berlin", "DE"),
    )
    return sevdesk.create_customer(Customer(kind=CustomerKind.COMPANY, company=company)).vendor_id


def _document(customer_id: str, reference: str = REFERENCE) -> Quote:
    return Quote(
        title="Lagerlogistik",
        introduction="Vielen Dank für Ihren Auftrag.",
        positions=(
            QuotePosition("Beratung", Decimal(10), Decimal("100.00"), Decimal(19), unit="Stunde"),
            QuotePosition("Fachbuch", Decimal(2), Decimal("50.00"), Decimal(7)),
        ),
        currency="EUR",
        valid_from=dt.date(2026, 7, 1),
        valid_until=dt.date(2026, 7, 31),
        reference=reference,
        customer_id=customer_id,
    )


def _set_status(
    vendor: RunningSandbox, kind: str, document_id: str, status: str, **extra: Any
) -> Any:
    body = {"kind": kind, "id": document_id, "status": status, **extra}
    answer = requests.post(f"{vendor.url}/_sandbox/documents/status", json=body, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


# -- create and find ---------------------------------------------------------------------


def test_every_declared_kind_is_created_and_found_by_its_reference(
    sevdesk: SevdeskConnector, sandbox: SevdeskSandbox, customer_id: str
) -> None:
    assert sevdesk.capabilities.documents == {QUOTE, ORDER, INVOICE}
    document = _document(customer_id)
    quote = sevdesk.create_document(QUOTE, document)
    # The same reference, so the same order number: the order type tells them apart.
    order = sevdesk.create_document(ORDER, document, preceding=DocumentLink(QUOTE, quote.vendor_id))
    invoice = sevdesk.create_document(INVOICE, document)
    other = sevdesk.create_document(INVOICE, _document(customer_id, f"{REFERENCE}4"))

    assert sevdesk.find_document(QUOTE, REFERENCE) == quote
    assert sevdesk.find_document(ORDER, REFERENCE) == order
    found = sevdesk.find_document(INVOICE, REFERENCE, customer_id=customer_id)
    assert found is not None
    assert found.vendor_id == invoice.vendor_id
    assert sevdesk.find_document(INVOICE, REFERENCE) == found  # all invoices, no customer
    assert sevdesk.find_document(INVOICE, f"{REFERENCE}4") == other
    assert sevdesk.find_document(INVOICE, "HubSpot-Deal 4711-12") is None
    assert sevdesk.find_document(ORDER, "HubSpot-Deal 1") is None

    stored = sandbox.orders[int(order.vendor_id)]
    assert (stored["orderType"], stored["status"]) == ("AB", "100")
    assert stored["origin"] == {"id": quote.vendor_id, "objectName": "Order"}
    assert stored["header"] == "Lagerlogistik"
    assert sandbox.orders[int(quote.vendor_id)]["orderType"] == "AN"


def test_an_invoice_is_made_from_the_deals_order_and_names_it_as_origin(
    sevdesk: SevdeskConnector, sandbox: SevdeskSandbox, customer_id: str
) -> None:
    order = sevdesk.create_document(ORDER, _document(customer_id))
    invoice = sevdesk.create_document(
        INVOICE, _document(customer_id), preceding=DocumentLink(ORDER, order.vendor_id)
    )

    sent = sandbox.api_calls(path_prefix="/api/v1/Invoice/Factory/createInvoiceFromOrder")
    assert [c.request_body for c in sent] == [
        {"order": {"id": int(order.vendor_id), "objectName": "Order"}}
    ]
    stored = sandbox.invoices[int(invoice.vendor_id)]
    assert stored["origin"] == {"id": order.vendor_id, "objectName": "Order"}
    assert (stored["status"], stored["invoiceType"], stored["sumGross"]) == ("100", "RE", "1297")
    assert len(sandbox.invoice_positions) == 2
    # sevDesk copies the order's texts, our reference with them.
    found = sevdesk.find_document(INVOICE, REFERENCE, customer_id=customer_id)
    assert found is not None
    assert found.vendor_id == invoice.vendor_id
    # The order is now fully invoiced (1000), which only an accepted order is.
    assert sevdesk.document_state(ORDER, order.vendor_id).status is DocumentStatus.ACCEPTED


def test_an_invoice_from_the_quote_and_what_sevdesk_cannot_do(
    sevdesk: SevdeskConnector, sandbox: SevdeskSandbox, customer_id: str
) -> None:
    quote = sevdesk.create_document(QUOTE, _document(customer_id))
    invoice = sevdesk.create_document(
        INVOICE, _document(customer_id), preceding=DocumentLink(QUOTE, quote.vendor_id)
    )
    assert sandbox.invoices[int(invoice.vendor_id)]["origin"]["id"] == quote.vendor_id

    assert not sevdesk.capabilities.can_finalize_invoices
    with pytest.raises(errors.UnsupportedByVendor):
        sevdesk.create_document(INVOICE, _document(customer_id), finalize=True)
    with pytest.raises(errors.UnsupportedByVendor):
        sevdesk.create_document(
            ORDER, _document(customer_id), preceding=DocumentLink(INVOICE, invoice.vendor_id)
        )


# -- status ------------------------------------------------------------------------------


def test_an_invoices_state_follows_payments_and_its_cancellation(
    sevdesk: SevdeskConnector, vendor: RunningSandbox, customer_id: str
) -> None:
    invoice = sevdesk.create_document(INVOICE, _document(customer_id)).vendor_id

    draft = sevdesk.document_state(INVOICE, invoice)
    assert (draft.status, draft.currency, draft.total) == (
        DocumentStatus.DRAFT,
        "EUR",
        Decimal(1297),
    )
    assert draft.open_amount == Decimal(1297)
    assert draft.paid_date is None

    _set_status(vendor, "invoice", invoice, "open")
    assert sevdesk.document_state(INVOICE, invoice).status is DocumentStatus.OPEN

    _set_status(vendor, "invoice", invoice, "partially_paid", amount="297")
    part = sevdesk.document_state(INVOICE, invoice)
    assert (part.status, part.open_amount) == (DocumentStatus.PARTIALLY_PAID, Decimal(1000))

    paid_record = _set_status(vendor, "invoice", invoice, "paid")
    paid = sevdesk.document_state(INVOICE, invoice)
    assert (paid.status, paid.open_amount) == (DocumentStatus.PAID, Decimal(0))
    assert paid.paid_date == dt.datetime.fromisoformat(paid_record["payDate"]).date()

    _set_status(vendor, "invoice", invoice, "voided")
    voided = sevdesk.document_state(INVOICE, invoice)
    assert (voided.status, voided.open_amount) == (DocumentStatus.VOIDED, Decimal(0))


def test_a_quotes_state_follows_the_customers_answer(
    sevdesk: SevdeskConnector, vendor: RunningSandbox, customer_id: str
) -> None:
    quote = sevdesk.create_document(QUOTE, _document(customer_id))
    state = sevdesk.document_state(QUOTE, quote.vendor_id)
    assert (state.status, state.number, state.total) == (
        DocumentStatus.DRAFT,
        "HubSpot-Deal-4711-123",
        Decimal(1297),
    )
    for change, expected in (
        ("open", DocumentStatus.SENT),
        ("rejected", DocumentStatus.REJECTED),
        ("accepted", DocumentStatus.ACCEPTED),
    ):
        _set_status(vendor, "quote", quote.vendor_id, change)
        assert sevdesk.document_state(QUOTE, quote.vendor_id).status is expected


def test_a_document_deleted_at_sevdesk_is_not_found(
    sevdesk: SevdeskConnector, sandbox: SevdeskSandbox, owner: str, customer_id: str
) -> None:
    invoice = sevdesk.create_document(INVOICE, _document(customer_id)).vendor_id
    sandbox.store.delete("invoices", owner, invoice)
    with pytest.raises(errors.NotFound):
        sevdesk.document_state(INVOICE, invoice)
    with pytest.raises(errors.NotFound):
        sevdesk.document_state(QUOTE, "424242")


# -- polling -----------------------------------------------------------------------------


def test_a_change_after_the_cursor_is_returned_once_its_stamp_moves(
    sevdesk: SevdeskConnector,
    sandbox: SevdeskSandbox,
    vendor: RunningSandbox,
    owner: str,
    customer_id: str,
) -> None:
    assert sevdesk.capabilities.status_polling
    assert not sevdesk.capabilities.status_events
    quote = sevdesk.create_document(QUOTE, _document(customer_id)).vendor_id
    invoice = sevdesk.create_document(INVOICE, _document(customer_id)).vendor_id
    # Both were last changed an hour ago, well before the overlap.
    an_hour_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat(timespec="seconds")
    for resource, document_id in (("orders", quote), ("invoices", invoice)):
        sandbox.store.update(resource, owner, document_id, {"update": an_hour_ago})

    start = sevdesk.document_changes("")
    assert start.changes == ()
    calls = len(sandbox.api_calls())
    assert sevdesk.document_changes(start.cursor).changes == ()
    polled = sandbox.api_calls()[calls:]
    assert [(c.method, c.path) for c in polled] == [
        ("GET", "/api/v1/Invoice"),
        ("GET", "/api/v1/Order"),
    ]

    paid = _set_status(vendor, "invoice", invoice, "paid")
    first = sevdesk.document_changes(start.cursor)
    assert [(c.kind, c.vendor_id) for c in first.changes] == [(INVOICE, invoice)]
    assert first.changes[0].marker == f"{paid['update']}|1000"
    assert int(first.cursor) >= int(start.cursor)

    # Asked again from the new cursor, the overlap returns the same change, same marker.
    again = sevdesk.document_changes(first.cursor)
    assert again.changes == first.changes

    _set_status(vendor, "quote", quote, "accepted")
    later = sevdesk.document_changes(again.cursor)
    quote_changes = [c for c in later.changes if c.kind is QUOTE]
    assert [c.vendor_id for c in quote_changes] == [quote]
    assert quote_changes[0].marker.endswith("|500")


def test_a_cursor_that_is_not_one_fails_permanently(sevdesk: SevdeskConnector) -> None:
    with pytest.raises(errors.PermanentError):
        sevdesk.document_changes("yesterday")


def test_the_inspection_page_shows_origins_and_payments(
    sevdesk: SevdeskConnector, vendor: RunningSandbox, customer_id: str
) -> None:
    order = sevdesk.create_document(ORDER, _document(customer_id)).vendor_id
    invoice = sevdesk.create_document(
        INVOICE, _document(customer_id), preceding=DocumentLink(ORDER, order)
    ).vendor_id
    _set_status(vendor, "invoice", invoice, "partially_paid", amount="100")
    state = requests.get(f"{vendor.url}/_sandbox/state", timeout=10).json()
    row = next(r for r in state["invoices"] if r["id"] == invoice)
    assert (row["origin"], row["paidAmount"], row["status"]) == (order, 100.0, "200")
