"""lexware office's JSON: pure functions from the neutral shapes to its bodies and back,
and how its error bodies read."""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from connectors import documents, errors
from connectors.http import error_reader, first_text
from connectors.rules import fit_title
from connectors.shapes import (
    Address,
    Customer,
    CustomerKind,
    CustomerRef,
    DocumentKind,
    DocumentState,
    DocumentStatus,
    Person,
    Quote,
    QuotePosition,
)
from connectors.text import normalized

logger = logging.getLogger(__name__)

BERLIN = ZoneInfo("Europe/Berlin")
CURRENCY = "EUR"  # "Currently only EUR is supported"
TITLE_MAX = 25
INTRODUCTION_MAX = 2000
LINE_ITEM_NAME_MAX = 255
LINE_ITEM_DESCRIPTION_MAX = 2000
MAX_LINE_ITEMS = 300
AMOUNT_PLACES = Decimal("0.0001")  # quantities and unit prices: at most 4 decimals
FILTER_MIN_LENGTH = 3
CONTACT_PAGE_SIZE = 250  # the maximum for contacts
CONTACT_PAGES_MAX = 4  # an exact match beyond 1,000 substring hits is not worth more calls
# What PUT /v1/contacts/{id} takes; the rest of the read model (id, archived, ...) is read-only.
CONTACT_WRITABLE = (
    "version",
    "roles",
    "company",
    "person",
    "addresses",
    "xRechnung",
    "emailAddresses",
    "phoneNumbers",
    "note",
)
EMAIL_KIND = "business"
PHONE_KIND = "business"
REMARK_MAX = 2000
# The languages a voucher is printed in (`language`: de or en); a French customer reads the
# English one.
VOUCHER_LANGUAGES = frozenset({"de", "en"})
# A quote whose answer was lost is looked for among the customer's newest quotations.
QUOTES_LOOKED_AT = 100
VOUCHERLIST_PAGE = 250
# Per document kind: its endpoint, its voucher list type and the statuses a document we made
# can have (fact sheet "Quotation status", "Invoice status").
VOUCHER_PATHS = {DocumentKind.QUOTE: "quotations", DocumentKind.INVOICE: "invoices"}
VOUCHERLIST_TYPES = {DocumentKind.QUOTE: "quotation", DocumentKind.INVOICE: "invoice"}
VOUCHER_STATUSES = {
    DocumentKind.QUOTE: {
        "draft": DocumentStatus.DRAFT,
        "open": DocumentStatus.OPEN,
        "accepted": DocumentStatus.ACCEPTED,
        "rejected": DocumentStatus.REJECTED,
    },
    DocumentKind.INVOICE: {
        "draft": DocumentStatus.DRAFT,
        "open": DocumentStatus.OPEN,
        "paid": DocumentStatus.PAID,
        "voided": DocumentStatus.VOIDED,
    },
}


def error_words(body: Mapping[str, Any]) -> str:
    """The vendor's own words from either of its error formats: the regular body
    (`details[].field/message`) or the legacy `IssueList` of the contacts endpoint."""
    issues = body.get("IssueList")
    if isinstance(issues, list) and issues:
        parts = []
        for issue in issues:
            if isinstance(issue, Mapping):
                key, source = issue.get("i18nKey") or "", issue.get("source") or ""
                parts.append(f"{source}: {key}" if source and key else str(key or source))
        return "; ".join(p for p in parts if p) or "IssueList"
    details = body.get("details")
    if isinstance(details, list) and details:
        parts = []
        for detail in details:
            if isinstance(detail, Mapping):
                field, message = detail.get("field") or "", detail.get("message") or ""
                parts.append(f"{field}: {message}" if field else str(message))
        if any(parts):
            return "; ".join(p for p in parts if p)
    return first_text(body, "message", "error")


read_error = error_reader(error_words)


def voucher_body(quote: Quote) -> dict[str, Any]:
    currency = quote.currency.strip().upper()
    if currency != CURRENCY:
        raise errors.UnsupportedByVendor(
            f"lexware office accepts quotes in EUR only; this deal is in {currency or '?'}."
        )
    if len(quote.positions) > MAX_LINE_ITEMS:
        raise errors.UnsupportedByVendor(
            f"lexware office accepts at most {MAX_LINE_ITEMS} positions per voucher; "
            f"this deal has {len(quote.positions)}."
        )
    title, shortened = fit_title(quote.title, TITLE_MAX)
    body: dict[str, Any] = {
        "voucherDate": lexoffice_datetime(quote.valid_from),
        "address": {"contactId": quote.customer_id},
        "lineItems": [line_item(position, quote.language) for position in quote.positions],
        "totalPrice": {"currency": CURRENCY},
        "taxConditions": {"taxType": "net"},
    }
    if quote.language:
        body["language"] = quote.language if quote.language in VOUCHER_LANGUAGES else "en"
    if title:
        body["title"] = title
    introduction = to_introduction(
        quote.introduction,
        full_title=re.sub(r"\s+", " ", quote.title).strip() if shortened else "",
        reference=quote.reference,
        label=documents.text(quote.language, "reference_label"),
    )
    if introduction:
        body["introduction"] = introduction
    if quote.remark.strip():
        body["remark"] = _cut(quote.remark.strip(), REMARK_MAX)
    if quote.payment_term_days is not None:
        # `PaymentConditions` of the spec: the term in days and the words printed for it.
        conditions: dict[str, Any] = {"paymentTermDuration": quote.payment_term_days}
        if quote.payment_term_label.strip():
            conditions["paymentTermLabel"] = quote.payment_term_label.strip()
        body["paymentConditions"] = conditions
    return body


# -- mapping helpers ---------------------------------------------------------------------


def lexoffice_datetime(day: dt.date) -> str:
    """`yyyy-MM-ddTHH:mm:ss.SSSXXX` at the start of the day in German time; any other form
    is refused with 406."""
    moment = dt.datetime.combine(day, dt.time(), tzinfo=BERLIN)
    return moment.isoformat(timespec="milliseconds")


def _number(value: Decimal) -> int | float:
    """A JSON number with at most 4 decimals (quantities and unit prices)."""
    rounded = value.quantize(AMOUNT_PLACES, rounding=ROUND_HALF_UP)
    if rounded == rounded.to_integral_value():
        return int(rounded)
    return float(rounded)


def line_item(position: QuotePosition, language: str = "") -> dict[str, Any]:
    name = re.sub(r"\s+", " ", position.name).strip()
    description = position.description.strip()
    if len(name) > LINE_ITEM_NAME_MAX:
        # The whole name stays readable in the description.
        description = f"{name}\n{description}".strip()
        name = name[: LINE_ITEM_NAME_MAX - 1].rstrip() + "…"
    item: dict[str, Any] = {
        "type": "custom",
        "name": name,
        "quantity": _number(position.quantity),
        # Free text, "created on the fly if unknown": the unit in the customer's language.
        "unitName": documents.unit_name(position.unit, language),
        "unitPrice": {
            "currency": CURRENCY,
            "netAmount": _number(position.unit_net_price),
            "taxRatePercentage": _number(position.tax_rate),
        },
    }
    if description:
        item["description"] = _cut(description, LINE_ITEM_DESCRIPTION_MAX)
    if position.discount_percent:
        item["discountPercentage"] = _number(position.discount_percent)
    article = position.article
    if article is not None and article.vendor_id:
        # The article the line item's SKU names: referenced by id, with its own unit.
        item["type"] = "service" if article.service else "material"
        item["id"] = article.vendor_id
        item["unitName"] = article.unit or item["unitName"]
    return item


def to_introduction(text: str, *, full_title: str, reference: str, label: str) -> str:
    """The introduction with the full deal name (when the title had to be shortened) in
    front and our reference at the end, each only if it is not there already."""
    text = text.strip()
    head = full_title if full_title and full_title not in text else ""
    tail = f"{label}: {reference}" if reference and reference not in text else ""
    room = INTRODUCTION_MAX - sum(len(p) + 2 for p in (head, tail) if p)
    return "\n\n".join(p for p in (head, _cut(text, max(room, 0)), tail) if p)


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)].rstrip() + "…" if limit else ""


# -- contacts ----------------------------------------------------------------------------


def contact_body(body: dict[str, Any], customer: Customer) -> dict[str, Any]:
    """Writes APIUP's fields of `customer` into a contact body (a new one, or the current
    contact as read) and leaves every other field as it is."""
    roles = body.setdefault("roles", {})
    roles.setdefault("customer", {})
    if customer.kind is CustomerKind.COMPANY:
        company_data = customer.require_company()
        body.pop("person", None)
        company = body.setdefault("company", {})
        company["name"] = company_data.name.strip()
        if company_data.vat_id.strip():
            company["vatRegistrationId"] = company_data.vat_id.strip()
        if company_data.contact_person is not None:
            company["contactPersons"] = contact_persons(
                company_data.contact_person, company.get("contactPersons")
            )
        email, phone = company_data.email, company_data.phone
    else:
        person_data = customer.require_person()
        body.pop("company", None)
        person = body.setdefault("person", {})
        _set(person, "firstName", person_data.first_name)
        _set(person, "lastName", person_data.last_name)
        email, phone = person_data.email, person_data.phone
    address = _address(customer.address)
    if address:
        body.setdefault("addresses", {})["billing"] = [address]
    _add_to_list(body, "emailAddresses", EMAIL_KIND, email)
    _add_to_list(body, "phoneNumbers", PHONE_KIND, phone)
    return body


def contact_persons(person: Person, existing: Any) -> list[dict[str, Any]]:
    """The company's contact persons with `person` among them: the entry for the same person
    (by e-mail address, else by name) is brought up to date and keeps what lexware office
    holds beyond our fields (e.g. the salutation); the others stay as they are. A new person
    is the primary one only when there is no other."""
    entries = (
        [dict(e) for e in existing if isinstance(e, dict)] if isinstance(existing, list) else []
    )
    index = same_person_at(person, entries)
    entry = entries[index] if index is not None else {"primary": not entries}
    for key, value in (
        ("firstName", person.first_name),
        ("lastName", person.last_name),
        ("emailAddress", person.email),
        ("phoneNumber", person.phone),
    ):
        _set(entry, key, value)
    if index is None:
        entries.append(entry)
    return entries


def same_person_at(person: Person, entries: list[dict[str, Any]]) -> int | None:
    """Where `person` is among a company's contact persons: the same e-mail address, or
    (for entries without one) the same first and last name."""
    email = person.email.strip().casefold()
    name = normalized(f"{person.first_name} {person.last_name}")
    for index, entry in enumerate(entries):
        held = str(entry.get("emailAddress") or "").strip().casefold()
        if email and held:
            if held == email:
                return index
            continue
        if normalized(f"{entry.get('firstName', '')} {entry.get('lastName', '')}") == name:
            return index
    return None


def _set(target: dict[str, Any], key: str, value: str) -> None:
    """Sets a text field; an empty value removes it (lexware office refuses blank entries)."""
    if value.strip():
        target[key] = value.strip()
    else:
        target.pop(key, None)


def _address(address: Address) -> dict[str, str]:
    """A billing address; without a country code (required) none is sent."""
    if not address.country_code.strip():
        return {}
    fields = {
        "street": address.street_line,
        "zip": address.postcode.strip(),
        "city": address.city.strip(),
        "countryCode": address.country_code.strip().upper(),
    }
    return {key: value for key, value in fields.items() if value}


def _add_to_list(body: dict[str, Any], lists: str, kind: str, value: str) -> None:
    """One e-mail address or phone number per list is all the API writes; an entry that is
    already in any of the lists is left alone."""
    value = value.strip()
    if not value:
        return
    entries = body.setdefault(lists, {})
    held = {e.casefold() for values in entries.values() if isinstance(values, list) for e in values}
    if value.casefold() not in held:
        entries[kind] = [value]


def escape_wildcards(text: str) -> str:
    """`_` and `%` are wildcards in the contact filters; a backslash makes them literal."""
    return re.sub(r"([\\_%])", r"\\\1", text)


def html_encode(text: str) -> str:
    """The name filter wants `&`, `<` and `>` HTML-encoded (and then URL-encoded, which
    requests does)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def name_of(contact: Mapping[str, Any], kind: CustomerKind) -> str | None:
    if kind is CustomerKind.COMPANY:
        company = contact.get("company")
        return normalized(str(company.get("name", ""))) if isinstance(company, dict) else None
    person = contact.get("person")
    if not isinstance(person, dict):
        return None
    return normalized(f"{person.get('firstName', '')} {person.get('lastName', '')}")


def is_of_kind(contact: Mapping[str, Any], kind: CustomerKind) -> bool:
    """A company contact carries a `company` object, a person contact a `person` object."""
    key = "company" if kind is CustomerKind.COMPANY else "person"
    return isinstance(contact.get(key), dict)


def emails_of(contact: Mapping[str, Any]) -> list[str]:
    """The contact's own addresses and its contact persons' (the filter searches both)."""
    emails = [
        str(e)
        for values in (contact.get("emailAddresses") or {}).values()
        if isinstance(values, list)
        for e in values
    ]
    company = contact.get("company")
    if isinstance(company, dict):
        emails += [
            str(p["emailAddress"])
            for p in company.get("contactPersons") or []
            if isinstance(p, dict) and p.get("emailAddress")
        ]
    return emails


def customer_number(contact: Mapping[str, Any]) -> str:
    customer = (contact.get("roles") or {}).get("customer")
    number = customer.get("number") if isinstance(customer, dict) else None
    return "" if number is None else str(number)


def int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def to_ref(contact: Mapping[str, Any]) -> CustomerRef:
    return CustomerRef(
        vendor_id=str(contact["id"]),
        number=customer_number(contact),
        version=int_or_none(contact.get("version")),
    )


# -- vouchers as read ----------------------------------------------------------------------


def uuid_or_none(value: str) -> str | None:
    """lexware office's ids are UUIDs; anything else cannot name one of its vouchers."""
    try:
        return str(uuid.UUID(value.strip()))
    except (AttributeError, ValueError):
        return None


def decimal_or_none(value: Any) -> Decimal | None:
    """An amount as a number, or as text ("1337.00": one docs sample of `openAmount`)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def date_or_none(value: Any) -> dt.date | None:
    """The German calendar day of a lexware office date-time."""
    try:
        return dt.datetime.fromisoformat(str(value)).astimezone(BERLIN).date()
    except ValueError:
        return None


def document_state(
    kind: DocumentKind,
    voucher: Mapping[str, Any],
    *,
    payment: Mapping[str, Any] | None = None,
    url: str = "",
) -> DocumentState:
    """A quotation or invoice (`GET /v1/{quotations,invoices}/{id}`) with, for a finalized
    invoice, its payment (`GET /v1/payments/{id}`). An open invoice of which some but not
    all was paid is partially paid."""
    raw = str(voucher.get("voucherStatus") or "")
    status = VOUCHER_STATUSES[kind].get(raw)
    if status is None:
        # "Clients must accept unknown new types and statuses."
        logger.warning("lexware office: unknown %s status %r read as open", kind, raw)
        status = DocumentStatus.OPEN
    total_price = voucher.get("totalPrice") or {}
    total = decimal_or_none(total_price.get("totalGrossAmount"))
    open_amount: Decimal | None = None
    paid_date: dt.date | None = None
    if status is DocumentStatus.VOIDED and kind is DocumentKind.INVOICE:
        open_amount = Decimal(0)  # "Voided vouchers report balanced / 0"
    elif payment is not None:
        open_amount = decimal_or_none(payment.get("openAmount"))
        paid_date = date_or_none(payment.get("paidDate")) if payment.get("paidDate") else None
        partly = open_amount is not None and total is not None and 0 < open_amount < total
        if status is DocumentStatus.OPEN and partly:
            status = DocumentStatus.PARTIALLY_PAID
    return DocumentState(
        status=status,
        number=str(voucher.get("voucherNumber") or ""),
        url=url,
        currency=str(total_price.get("currency") or ""),
        total=total,
        open_amount=open_amount,
        paid_date=paid_date,
    )
