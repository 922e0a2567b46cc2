"""Qonto's JSON: pure functions from the neutral shapes to its bodies and back, and how its
error bodies read.

- Clients: individuals need a first and a last name, companies a name; currency, locale and an
  address make a client usable for invoicing.
- Quotes have no title; our title and introduction go into `header` (max 1000), the
  tenant's remark (else default terms in the customer's language) into the required
  `terms_and_conditions`; a unit is free text, written in the customer's language. Quote numbers
  are unique per organization and at most 40 characters: APIUP numbers a deal's quote
  `HS-<deal id>`.
- vat_rate is a string; the quote examples write percent ("20"), the invoice examples a
  fraction ("0.2") [unverified which scale each endpoint expects]: each gets its examples'.
- Errors are JSON:API objects `{errors: [{code, detail, source}], trace_id}`; the webhook
  subscription endpoints answer one flat `{code, detail, source}` instead.
- Statuses: quotes pending_approval / approved / canceled, client invoices draft / unpaid / paid /
  canceled. Webhook deliveries are signed `X-Qonto-Signature: t=<unix time>,v1=<hex>`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors import documents, errors
from connectors.http import error_reader, first_text
from connectors.shapes import (
    Address,
    Customer,
    CustomerKind,
    CustomerRef,
    DocumentChange,
    DocumentKind,
    DocumentState,
    DocumentStatus,
    IncomingEvent,
    Quote,
    QuotePosition,
    QuoteRef,
)
from connectors.text import clean, normalized

# Field limits from the spec.
NAME_MAX = 250
PERSON_NAME_MAX = 60
VAT_NUMBER_MAX = 20
NUMBER_MAX = 40
HEADER_MAX = 1000
TERMS_MAX = 3000
NAME_FILTER_MIN = 2
PER_PAGE = 100  # the spec's maximum
CLIENT_PAGES_MAX = 10
QUOTE_PAGES_MAX = 20  # 2,000 newest quotes; a quote lost minutes ago is on the first page
INVOICE_CURRENCY = "EUR"  # docs: "Currently, only value allowed is EUR"
CLIENT_CURRENCY = "EUR"
# Individuals need a first name; HubSpot allows a contact without one (reference 000 then uses
# the first name or the e-mail address as the last name).
MISSING_FIRST_NAME = "-"
# The document language of a client, by the country of its address (Qonto's examples: FR,
# EN, DE, IT, ES).
LOCALES = {"DE": "DE", "AT": "DE", "CH": "DE", "LI": "DE", "FR": "FR", "IT": "IT", "ES": "ES"}
DEFAULT_LOCALE = "EN"
# `terms_and_conditions` is required: the tenant's remark, else these in the quote's language.
DEFAULT_TERMS = documents.text(documents.GERMAN, "terms")
# A deal's reference in any of the documents' languages: "<words> <portal id>-<deal id>".
DEAL_REFERENCE = re.compile(
    "^(?:"
    + "|".join(re.escape(documents.reference(language, "")) for language in documents.LANGUAGES)
    + r")(?:\d+)-(\d+)$"
)


def error_words(body: Mapping[str, Any]) -> str:
    """Qonto's words: the `detail` of each JSON:API error object; the OAuth host answers
    `{error, error_description}` (RFC 6749, assumed by the spec), the webhook subscription
    endpoints a flat `{code, detail}`."""
    problems = body.get("errors")
    if isinstance(problems, list):
        details = [
            str(p.get("detail") or p.get("message") or p.get("code") or "")
            for p in problems
            if isinstance(p, Mapping)
        ]
        text = "; ".join(d for d in details if d)
        if text:
            return text
    # The webhook subscription endpoints: one flat error object.
    return first_text(body, "error_description", "error", "message", "detail", "code")


read_error = error_reader(error_words)


# -- clients -------------------------------------------------------------------------------


def client_body(customer: Customer) -> dict[str, Any]:
    """The client as Qonto's create takes it: a company by name, a person as an individual
    with first and last name; EUR, a locale and the billing address make it invoiceable."""
    address = customer.address
    if customer.kind is CustomerKind.COMPANY:
        company = customer.require_company()
        body: dict[str, Any] = {"kind": "company", "name": _cut(clean(company.name), NAME_MAX)}
        vat_id = re.sub(r"\s+", "", company.vat_id)
        if vat_id and len(vat_id) <= VAT_NUMBER_MAX:
            body["vat_number"] = vat_id
    else:
        person = customer.require_person()
        first, last = clean(person.first_name), clean(person.last_name)
        if not first and " " in last:
            first, last = last.split(" ", 1)
        body = {
            "kind": "individual",
            "first_name": _cut(first or MISSING_FIRST_NAME, PERSON_NAME_MAX),
            "last_name": _cut(last, PERSON_NAME_MAX),
        }
    email = customer.email.strip()
    if email:
        body["email"] = email
    billing = _billing_address(address)
    if billing:
        body["billing_address"] = billing
    body["currency"] = CLIENT_CURRENCY
    body["locale"] = LOCALES.get(address.country_code.strip().upper(), DEFAULT_LOCALE)
    return body


def _billing_address(address: Address) -> dict[str, str]:
    fields = {
        "street_address": clean(address.street_line),
        "city": clean(address.city),
        "zip_code": clean(address.postcode),
        "country_code": address.country_code.strip().upper(),
    }
    return {key: value for key, value in fields.items() if value}


def hubspot_id(customer: Customer) -> str:
    if customer.kind is CustomerKind.COMPANY and customer.company is not None:
        return customer.company.hubspot_id.strip()
    return customer.person.hubspot_id.strip() if customer.person is not None else ""


def is_company(client: Mapping[str, Any]) -> bool:
    """A client's kind (`type` is its alias; `kind` wins): `company`, or a person as
    `individual` or `freelancer`."""
    return (client.get("kind") or client.get("type")) == "company"


def names_of(client: Mapping[str, Any], *, company: bool) -> set[str]:
    """The client's names to compare: its `name`, and a person's first and last name."""
    names = {normalized(str(client.get("name") or ""))}
    if not company:
        first, last = client.get("first_name") or "", client.get("last_name") or ""
        names.add(normalized(f"{first} {last}"))
    return names


def customer_ref(client: Mapping[str, Any]) -> CustomerRef:
    return CustomerRef(vendor_id=str(client["id"]))


def uuid_or_none(value: str) -> str | None:
    try:
        return str(uuid.UUID(str(value).strip()))
    except ValueError:
        return None


def uuid_or_raise(value: str) -> str:
    return errors.vendor_id(value, uuid_or_none, what="a Qonto client id")


def digest(body: Mapping[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


# -- documents -----------------------------------------------------------------------------


def quote_number(reference: str) -> str:
    """The quote number for our reference: `HS-<deal id>` for a deal's reference, else the
    reference made safe, at most 40 characters (a digest when it would be longer)."""
    reference = reference.strip()
    match = DEAL_REFERENCE.match(reference)
    if match:
        return f"HS-{match.group(1)}"
    safe = re.sub(r"[^A-Za-z0-9]+", "-", reference).strip("-")
    number = f"HS-{safe}"
    if len(number) > NUMBER_MAX:
        number = "HS-" + hashlib.sha256(reference.encode()).hexdigest()[: NUMBER_MAX - 3]
    return number


def terms_of(quote: Quote, fallback: str | None = None) -> str:
    """The quote's terms: the tenant's remark, else `fallback`, else the product's default
    terms in the quote's language."""
    return quote.remark.strip() or fallback or documents.text(quote.language, "terms")


def quote_body(quote: Quote, *, terms_and_conditions: str) -> dict[str, Any]:
    currency = quote.currency.strip().upper()
    body: dict[str, Any] = {
        "client_id": uuid_or_raise(quote.customer_id),
        "issue_date": quote.valid_from.isoformat(),
        "expiry_date": quote.valid_until.isoformat(),
        "terms_and_conditions": _cut(terms_and_conditions.strip(), TERMS_MAX),
        "currency": currency,
        # Required while the organization numbers by hand (Qonto's default), allowed
        # otherwise: always sent, so the number also guards against a second quote.
        "number": quote_number(quote.reference),
        "items": [item(p, currency, rate_scale=Decimal(1)) for p in quote.positions],
    }
    text = header(quote)
    if text:
        body["header"] = text
    return body


def invoice_body(quote: Quote, *, client_id: str, currency: str, iban: str) -> dict[str, Any]:
    """A draft client invoice (issue date = valid from, due date = valid until), paid into
    `iban`."""
    body: dict[str, Any] = {
        "client_id": client_id,
        "issue_date": quote.valid_from.isoformat(),
        "due_date": quote.valid_until.isoformat(),
        "status": "draft",
        "currency": currency,
        "payment_methods": {"iban": iban},
        "items": [item(p, currency, rate_scale=Decimal("0.01")) for p in quote.positions],
    }
    text = header(quote)
    if text:
        body["header"] = text
    return body


def header(quote: Quote) -> str:
    """Title and introduction (Qonto quotes have no title), with our reference always in it,
    within Qonto's 1000 characters: the reference survives a cut."""
    parts = [clean(quote.title), quote.introduction.strip()]
    text = "\n".join(p for p in parts if p)
    reference = quote.reference.strip()
    if reference and reference not in text:
        text = f"{text}\n{reference}" if text else reference
    if len(text) <= HEADER_MAX:
        return text
    tail = f"…\n{reference}" if reference else "…"
    return text[: HEADER_MAX - len(tail)].rstrip() + tail


def item(position: QuotePosition, currency: str, *, rate_scale: Decimal) -> dict[str, Any]:
    """One item. `rate_scale` 1 writes percent (the quote examples), 0.01 a fraction (the
    invoice examples) for vat_rate and a percentage discount alike."""
    entry: dict[str, Any] = {
        "title": clean(position.name),
        "quantity": _plain(position.quantity),
        "unit_price": {"value": _amount(position.unit_net_price), "currency": currency},
        "vat_rate": _plain(position.tax_rate * rate_scale),
    }
    if position.description.strip():
        entry["description"] = position.description.strip()
    if position.unit.strip():
        entry["unit"] = position.unit.strip()
    if position.discount_percent:
        entry["discount"] = {
            "type": "percentage",
            "value": _plain(position.discount_percent * rate_scale),
        }
    return entry


def quote_ref(document: Mapping[str, Any]) -> QuoteRef:
    return QuoteRef(
        vendor_id=str(document["id"]),
        number=str(document.get("number") or ""),
        url=str(document.get("quote_url") or ""),
    )


def invoice_ref(invoice: Mapping[str, Any]) -> QuoteRef:
    return QuoteRef(
        vendor_id=str(invoice["id"]),
        number=str(invoice.get("number") or ""),
        url=str(invoice.get("invoice_url") or ""),
    )


def has_next_page(answer: Any) -> bool:
    meta = answer.get("meta") if isinstance(answer, Mapping) else None
    return isinstance(meta, Mapping) and bool(meta.get("next_page"))


def main_iban(organization: Mapping[str, Any]) -> str:
    """The IBAN of the main active Qonto account (not a connected external one)."""
    accounts = [
        a
        for a in organization.get("bank_accounts") or []
        if isinstance(a, Mapping)
        and a.get("iban")
        and a.get("status", "active") == "active"
        and not a.get("is_external_account")
    ]
    accounts.sort(key=lambda a: not a.get("main"))
    return str(accounts[0]["iban"]) if accounts else ""


# -- text ----------------------------------------------------------------------------------


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit].rstrip()


def _plain(value: Decimal) -> str:
    """12.50 -> "12.5", 3 -> "3", 0.190 -> "0.19": a decimal string without exponent."""
    text = f"{value.normalize():f}"
    return "0" if text in ("-0", "") else text


def _amount(value: Decimal) -> str:
    """Money with at least two places ("100.00"), more only where the price has them."""
    return f"{value:.2f}" if value == value.quantize(Decimal("0.01")) else _plain(value)


# -- status --------------------------------------------------------------------------------

QUOTE_STATUSES = {
    "pending_approval": DocumentStatus.OPEN,  # a new quote; Qonto has no draft quotes
    "approved": DocumentStatus.ACCEPTED,
    "canceled": DocumentStatus.VOIDED,
}
INVOICE_STATUSES = {
    "draft": DocumentStatus.DRAFT,
    "unpaid": DocumentStatus.OPEN,  # finalized; Qonto does not tell sent from open
    "paid": DocumentStatus.PAID,
    "canceled": DocumentStatus.VOIDED,
}
# Quote statuses whose stamp (`approved_at`, `canceled_at`) tells when a quote changed: Qonto's
# quotes carry no update stamp, and pending_approval is where every quote starts.
QUOTE_STAMPED_STATUSES = ("approved", "canceled")


def document_state(kind: DocumentKind, document: Mapping[str, Any]) -> DocumentState:
    """A quote or client invoice as read from Qonto. Qonto books no partial payments: an
    invoice is open for its total until it is marked paid."""
    statuses = INVOICE_STATUSES if kind is DocumentKind.INVOICE else QUOTE_STATUSES
    raw = str(document.get("status") or "")
    if raw not in statuses:
        raise errors.PermanentError(f"Qonto answered an unknown {kind} status {raw!r}.")
    status = statuses[raw]
    total = _money(document.get("total_amount"))
    url_field = "invoice_url" if kind is DocumentKind.INVOICE else "quote_url"
    state = DocumentState(
        status=status,
        number=str(document.get("number") or ""),
        url=str(document.get(url_field) or ""),
        currency=str(document.get("currency") or ""),
        total=total,
    )
    if kind is not DocumentKind.INVOICE:
        return state
    open_amount = {"unpaid": total, "paid": Decimal(0), "canceled": Decimal(0)}.get(raw)
    paid_at = _moment(document.get("paid_at")) if raw == "paid" else None
    return replace(state, open_amount=open_amount, paid_date=paid_at.date() if paid_at else None)


def quote_change(quote: Mapping[str, Any], since: dt.datetime) -> DocumentChange | None:
    """The quote as a change when its status stamp is not before `since`; the marker is the
    status and its stamp, so each approval or cancellation counts once."""
    status = str(quote.get("status") or "")
    if status not in QUOTE_STAMPED_STATUSES:
        return None
    stamp = _moment(quote.get(f"{status}_at"))
    if stamp is None or stamp < since or not quote.get("id"):
        return None
    return DocumentChange(
        DocumentKind.QUOTE, str(quote["id"]), marker=f"{status}@{stamp.isoformat()}"
    )


def poll_cursor(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()


def poll_since(cursor: str) -> dt.datetime:
    moment = _moment(cursor)
    if moment is None:
        raise errors.PermanentError(f"Not a Qonto polling cursor: {cursor!r}.")
    return moment


def _money(amount: Any) -> Decimal | None:
    value = amount.get("value") if isinstance(amount, Mapping) else None
    try:
        return Decimal(str(value)) if value is not None else None
    except InvalidOperation:
        return None


def _moment(text: Any) -> dt.datetime | None:
    """An ISO 8601 stamp as Qonto writes it ("2024-01-16T14:22:00Z", with or without
    milliseconds or an offset), made timezone-aware."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


# -- webhooks ------------------------------------------------------------------------------

SIGNATURE_HEADER = "X-Qonto-Signature"
INVOICE_EVENTS = "v1/client-invoices"
SIGNATURE_MAX_AGE = 5 * 60  # seconds; docs: reject a `t` older than 5 minutes


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """Hex HMAC-SHA256 with the subscription secret over `{t}.{raw body}`."""
    message = timestamp.encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_holds(header: str, body: bytes, secret: str, *, now: float) -> bool:
    """Whether `X-Qonto-Signature` signs `body` with `secret` and is at most 5 minutes old
    (nor as far ahead, which only a forger's clock would be)."""
    parts = dict(part.strip().partition("=")[::2] for part in header.split(",") if "=" in part)
    timestamp, given = parts.get("t", ""), parts.get("v1", "")
    if not timestamp.isdigit() or not given or not secret:
        return False
    if abs(now - int(timestamp)) > SIGNATURE_MAX_AGE:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), given.strip().lower())


def envelope(body: bytes) -> dict[str, Any]:
    """A webhook delivery's envelope `{id, organization_id, type, created_at, data, ...}`."""
    try:
        event = json.loads(body)
    except ValueError:
        raise errors.PermanentError("The Qonto event is not JSON.") from None
    if (
        not isinstance(event, dict)
        or not isinstance(event.get("data"), dict)
        or not all(isinstance(event.get(key), str) for key in ("id", "type", "organization_id"))
    ):
        raise errors.PermanentError("The Qonto event lacks its id, type, organization or data.")
    return event


def incoming_event(event: dict[str, Any]) -> IncomingEvent:
    """The event for the product; a client invoice event names the invoice, its status and
    the event's time as the marker (a repeated delivery of the same event has the same)."""
    occurred_at = _moment(event.get("created_at"))
    data = event["data"]
    change = None
    if event["type"] == INVOICE_EVENTS and data.get("id"):
        marker = f"{data.get('status') or ''}@{event.get('created_at') or event['id']}"
        change = DocumentChange(DocumentKind.INVOICE, str(data["id"]), marker=marker)
    return IncomingEvent(
        account_id=event["organization_id"],
        event_type=event["type"],
        event_id=event["id"],
        payload=event,
        change=change,
        occurred_at=occurred_at,
    )
