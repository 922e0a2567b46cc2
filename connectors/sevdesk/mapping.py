"""sevDesk's JSON: pure functions from the neutral shapes to its bodies and back, and how its
error bodies read.

Its quirks: `{id, objectName}` references with integer ids, addresses and e-mail addresses as
separate objects (`ContactAddress`, `CommunicationWay`), `orderNumber` required on quotes,
the `taxRule` of sevdesk-Update 2.0 next to the required `taxType`, lists wrapped as
`{"objects": [...]}`, and errors as `{"error": {"message": ...}}`.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import requests

from connectors import documents, errors
from connectors.http import error_reader, first_text
from connectors.rules import fit_title
from connectors.shapes import (
    Address,
    Company,
    CustomerKind,
    CustomerRef,
    DocumentKind,
    Person,
    Quote,
    QuotePosition,
    QuoteRef,
)
from connectors.text import normalized

CATEGORY_CUSTOMER = 3  # contact categories: 2 supplier, 3 customer, 4 partner, 28 prospect
COMMUNICATION_KEY_WORK = 2  # "ID: 2 - Arbeit" (getCommunicationWayKeys)
ORDER_TYPE_QUOTE = "AN"
ORDER_TYPE_CONFIRMATION = "AB"  # "Auftragsbestätigung": an order confirmation
ORDER_TYPES = {DocumentKind.QUOTE: ORDER_TYPE_QUOTE, DocumentKind.ORDER: ORDER_TYPE_CONFIRMATION}
ORDER_STATUS_DRAFT = 100
INVOICE_TYPE_REGULAR = "RE"
INVOICE_TYPE_CANCELLATION = "SR"  # "Stornorechnung": cancels the invoice named as its origin
INVOICE_STATUS_DRAFT = "100"  # the spec types the invoice status as a string
ORDER_CONFIRMATION_WORDS = {
    documents.GERMAN: "Auftragsbestätigung",
    documents.ENGLISH: "Order confirmation",
    documents.FRENCH: "Confirmation de commande",
}
# Prices are net; taxType `default` ("Umsatzsteuer ausweisen") is required by the spec, the
# tax rule 1 ("Umsatzsteuerpflichtige Umsaetze", rates 0/7/19) is what sevdesk-Update 2.0
# accounts need instead. Both are sent; see the module's report for what is unverified.
TAX_TYPE = "default"
TAX_RULE = {"id": "1", "objectName": "TaxRule"}
TAX_TEXT = "Umsatzsteuer ausweisen"
# The position rates tax rule 1 allows (the patched spec's `taxRule`, the fact sheet:
# "taxRate 0/7/19"); the API has no list of them. sevDesk refuses any other with 422.
TAX_RULE_RATES = frozenset({Decimal(0), Decimal(7), Decimal(19)})
TAX_RATE_REFUSED = re.compile(r"Tax rate (?P<rate>[0-9.,]+) is not allowed for tax rule")
DEFAULT_COUNTRY = "de"  # sevDesk's home country, for documents whose contact has no address
LIST_LIMIT = 1000  # "limit must be between 1 and 1000" (official spec 2026-05)
LIST_PAGES_MAX = 10  # 10,000 rows; a match beyond that is not worth more calls

# sevDesk's units by the translation code third-party code looks them up by (the spec's
# Unity model: UNITY_PIECE, UNITY_HOUR, UNITY_DAYS, ...), then by their German short name;
# the unit's own name in any of the product's languages finds its meaning
# (connectors.documents). sevDesk prints its unit, so a French quote reads sevDesk's "Stk".
UNIT_PIECE = ("UNITY_PIECE", "Stk")
UNIT_HOUR = ("UNITY_HOUR", "Std")
UNIT_DAY = ("UNITY_DAYS", "Tag")
UNITS_BY_MEANING: dict[str, tuple[str, str]] = {
    documents.PIECE: UNIT_PIECE,
    documents.HOUR: UNIT_HOUR,
    documents.DAY: UNIT_DAY,
}


def error_words(body: Mapping[str, Any]) -> str:
    """sevDesk's own words from `{"error": {"message": ..., "code": ..., "data": ...}}`."""
    error = body.get("error")
    if isinstance(error, Mapping):
        return first_text(error, "message") or first_text(body, "message")
    return first_text(body, "error", "message")


read_error = error_reader(error_words)


@dataclass(frozen=True, slots=True)
class Country:
    id: int
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class Unity:
    id: int
    name: str
    translation_code: str


@dataclass(frozen=True, slots=True)
class DocumentAddress:
    country_id: int
    text: str  # the recipient block printed on the document; "" leaves it to sevDesk


# -- answers -------------------------------------------------------------------------------


def objects(response: requests.Response) -> list[dict[str, Any]]:
    """The rows of `{"objects": [...]}`; a single object where a list is expected counts as
    a list of one."""
    try:
        body = response.json()
    except ValueError:
        return []
    rows = body.get("objects") if isinstance(body, Mapping) else None
    if isinstance(rows, Mapping):
        rows = [rows]
    if not isinstance(rows, list):
        return []
    return [row for row in rows if isinstance(row, dict)]


def first(response: requests.Response) -> dict[str, Any] | None:
    rows = objects(response)
    return rows[0] if rows else None


def saved(response: requests.Response, key: str) -> dict[str, Any]:
    """The document of a `saveOrder` / `saveInvoice` answer: sevDesk wraps it as
    `{"objects": {"order": ...}}`, the spec's response model leaves the wrapper out."""
    try:
        body = response.json()
    except ValueError:
        body = None
    wrapped = body.get("objects", body) if isinstance(body, Mapping) else None
    if isinstance(wrapped, list):
        wrapped = wrapped[0] if wrapped else None
    document = wrapped.get(key) if isinstance(wrapped, Mapping) else None
    if not isinstance(document, dict) or not is_id(str(document.get("id", ""))):
        # The document was stored (2xx), but the answer does not say which it is.
        raise errors.UnknownOutcome(f"sevDesk saved the {key} but did not return it")
    return document


def to_ref(contact: Mapping[str, Any]) -> CustomerRef:
    return CustomerRef(
        vendor_id=str(contact["id"]), number=str(contact.get("customerNumber") or "")
    )


def newest_quote(
    orders: list[dict[str, Any]], number: str, order_type: str = ORDER_TYPE_QUOTE
) -> QuoteRef | None:
    """The newest order of that type (AN: a quote) with exactly that order number."""
    quotes = [
        order
        for order in orders
        if str(order.get("orderNumber") or "") == number
        and str(order.get("orderType") or ORDER_TYPE_QUOTE) == order_type
        and is_id(str(order.get("id") or ""))
    ]
    if not quotes:
        return None
    newest = max(quotes, key=lambda order: int(order["id"]))
    return QuoteRef(vendor_id=str(newest["id"]), number=number)


# -- system lists --------------------------------------------------------------------------


def sev_user(users: list[dict[str, Any]]) -> dict[str, Any]:
    """The token's user: the first one that is not hidden."""
    visible = [u for u in users if str(u.get("hidden") or "0") in ("0", "false", "False")]
    user = next(iter(visible or users), None)
    if user is None or not is_id(str(user.get("id", ""))):
        raise errors.PermanentError("sevDesk lists no user for this API token.")
    return user


def countries(rows: list[dict[str, Any]]) -> tuple[Country, ...]:
    return tuple(
        Country(int(r["id"]), str(r.get("code") or "").lower(), str(r.get("name") or ""))
        for r in rows
        if is_id(str(r.get("id", "")))
    )


def unities(rows: list[dict[str, Any]]) -> tuple[Unity, ...]:
    return tuple(
        Unity(int(r["id"]), str(r.get("name") or ""), str(r.get("translationCode") or ""))
        for r in rows
        if is_id(str(r.get("id", "")))
    )


def country(code: str, known: tuple[Country, ...]) -> Country:
    wanted = code.strip().lower()
    for candidate in known:
        if candidate.code == wanted:
            return candidate
    raise errors.UnsupportedByVendor(f"sevDesk knows no country with the code “{code}”.")


# -- contacts ------------------------------------------------------------------------------


def organisation_fields(company: Company) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "name": company.name.strip(),
        "category": {"id": CATEGORY_CUSTOMER, "objectName": "Category"},
    }
    if company.vat_id.strip():
        fields["vatNumber"] = company.vat_id.strip()
    return fields


def person_fields(person: Person) -> dict[str, Any]:
    """A person: `surename` is the first name ("not quite right in literally every way").
    Empty when the person has no name at all."""
    fields: dict[str, Any] = {}
    if person.first_name.strip():
        fields["surename"] = person.first_name.strip()
    if person.last_name.strip():
        fields["familyname"] = person.last_name.strip()
    if fields:
        fields["category"] = {"id": CATEGORY_CUSTOMER, "objectName": "Category"}
    return fields


def address_body(
    contact_id: str, country_id: int, *, name: str, address: Address
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "contact": reference(contact_id, "Contact"),
        "country": {"id": country_id, "objectName": "StaticCountry"},
    }
    for field, value in (
        ("name", name),
        ("street", address.street_line),
        ("zip", address.postcode),
        ("city", address.city),
    ):
        if value.strip():
            body[field] = value.strip()
    return body


def communication_way_body(contact_id: str, kind: str, value: str) -> dict[str, Any]:
    return {
        "contact": reference(contact_id, "Contact"),
        "type": kind,
        "value": value,
        "key": {"id": COMMUNICATION_KEY_WORK, "objectName": "CommunicationWayKey"},
        "main": True,
    }


def name_of(contact: Mapping[str, Any], kind: CustomerKind) -> str | None:
    """The name to compare, or None when the contact is of the other kind (sevDesk tells an
    organisation from a person only by `name` versus `surename`/`familyname`)."""
    is_person = bool(contact.get("surename") or contact.get("familyname"))
    if kind is CustomerKind.COMPANY:
        return None if is_person else normalized(str(contact.get("name") or ""))
    if not is_person or id_of(contact.get("parent")):
        return None
    return normalized(f"{contact.get('surename') or ''} {contact.get('familyname') or ''}")


def is_contact_person_of(contact: Mapping[str, Any], parent_id: str, name: str) -> bool:
    """The contact is a person called `name` (normalized) under the organisation
    `parent_id`."""
    if id_of(contact.get("parent")) != parent_id:
        return False
    own = normalized(f"{contact.get('surename') or ''} {contact.get('familyname') or ''}")
    return own == name


def is_of_kind(contact: Mapping[str, Any], kind: CustomerKind) -> bool:
    """The contact is a customer of that kind: an organisation, or a person who is not the
    contact person of one (the rule `find_customer_by_name` goes by)."""
    return name_of(contact, kind) is not None


def is_id(value: str) -> bool:
    return bool(re.fullmatch(r"[0-9]+", value))


def require_id(value: str, what: str) -> str:
    if not is_id(value.strip()):
        raise errors.PermanentError(f"“{value}” is not the id of a sevDesk {what}.")
    return value.strip()


def reference(object_id: str, object_name: str) -> dict[str, Any]:
    """A reference as the spec types it: `{id: integer, objectName}`."""
    return {"id": int(object_id), "objectName": object_name}


def id_of(ref: Any) -> str:
    """The id of a `{id, objectName}` reference as read (sevDesk answers it as a string in
    most models and as an integer in a few); "" when there is none."""
    if isinstance(ref, Mapping):
        value = str(ref.get("id") if ref.get("id") is not None else "")
        return value if is_id(value) else ""
    return ""


# -- documents -----------------------------------------------------------------------------


def order_number(reference: str) -> str:
    """The quote's order number, derived from our reference so `find_quote` can look for it:
    "HubSpot-Deal 4711-123" becomes "HubSpot-Deal-4711-123"."""
    number = re.sub(r"[^0-9A-Za-z]+", "-", reference).strip("-")
    if not number:
        raise errors.PermanentError("A quote needs a reference to derive its number from.")
    return number


def currency_of(quote: Quote) -> str:
    currency = quote.currency.strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise errors.PermanentError(f"“{quote.currency}” is not an ISO 4217 currency code.")
    return currency


def document_address(
    rows: list[dict[str, Any]], contact_id: str, known: tuple[Country, ...]
) -> DocumentAddress | None:
    """The contact's first address (of a country sevDesk knows) as the document's recipient;
    rows of other contacts are skipped, so an ignored filter cannot pick a stranger's
    address."""
    for row in rows:
        if id_of(row.get("contact")) != contact_id:
            continue
        country_id = id_of(row.get("country"))
        found = next((c for c in known if str(c.id) == country_id), None)
        if found is None:
            continue
        lines = [
            str(row.get("name") or "").strip(),
            str(row.get("street") or "").strip(),
            f"{row.get('zip') or ''} {row.get('city') or ''}".strip(),
            "" if found.code == DEFAULT_COUNTRY else found.name,
        ]
        text = "\n".join(line for line in lines if line) if lines[0] else ""
        return DocumentAddress(country_id=found.id, text=text)
    return None


def document_fields(
    quote: Quote, *, contact_id: str, currency: str, user_id: str, address: DocumentAddress
) -> dict[str, Any]:
    """What quotes and invoices share: contact, the user as contact person, recipient,
    currency and tax."""
    fields: dict[str, Any] = {
        "mapAll": True,
        "contact": reference(contact_id, "Contact"),
        "contactPerson": reference(user_id, "SevUser"),
        "addressCountry": {"id": address.country_id, "objectName": "StaticCountry"},
        "currency": currency,
        # "Is overwritten by order position tax rates"; required all the same.
        "taxRate": _number(max((p.tax_rate for p in quote.positions), default=Decimal(0))),
        "taxText": TAX_TEXT,
        "taxType": TAX_TYPE,
        "taxRule": dict(TAX_RULE),
        "showNet": True,  # the positions' prices are net
    }
    if address.text:
        fields["address"] = address.text
    head_text = _head_text(quote)
    if head_text:
        fields["headText"] = head_text
    if quote.remark.strip():
        fields["footText"] = _html(quote.remark.strip())
    if quote.payment_term_label.strip():
        # `paymentTerms` of the order model is free text: the term in words.
        fields["paymentTerms"] = quote.payment_term_label.strip()
    return fields


def header(quote: Quote, fallback: str, *, max_length: int | None) -> str:
    title, _ = fit_title(quote.title, max_length)
    return title or fallback


def sevdesk_date(day: dt.date) -> str:
    """dd.mm.yyyy: what the field's description asks for ("timestamp or dd.mm.yyyy")."""
    return day.strftime("%d.%m.%Y")


def _number(value: Decimal) -> int | float:
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def _head_text(quote: Quote) -> str:
    """The introduction with our reference at the end (if it is not in it already), as the
    little HTML the field takes: escaped text, line breaks as <br>."""
    text = quote.introduction.strip()
    if quote.reference and quote.reference not in text:
        label = documents.text(quote.language, "reference_label")
        text = f"{text}\n{label}: {quote.reference}".strip()
    return _html(text)


def _html(text: str) -> str:
    """Escaped text with line breaks as <br>: the little HTML sevDesk's text fields take."""
    return "<br>".join(html.escape(line, quote=False) for line in text.splitlines())


def position(entry: QuotePosition, known: tuple[Unity, ...]) -> dict[str, Any]:
    """An order or invoice position. Without `objectName`: the patched spec marks it
    read-only on order positions (invoice positions add it). A position of an article
    references its part and takes the part's unit."""
    article_unit = entry.article.unit if entry.article is not None else ""
    body: dict[str, Any] = {
        "quantity": _number(entry.quantity),
        "price": _number(entry.unit_net_price),
        "name": re.sub(r"\s+", " ", entry.name).strip(),
        "taxRate": _number(entry.tax_rate),
        "unity": {"id": unity_id(article_unit or entry.unit, known), "objectName": "Unity"},
    }
    if entry.article is not None and is_id(entry.article.vendor_id):
        # The catalogue's part (`Model_OrderPos.part` / `Model_InvoicePos.part`).
        body["part"] = reference(entry.article.vendor_id, "Part")
    if entry.description.strip():
        body["text"] = entry.description.strip()
    if entry.discount_percent:
        body["discount"] = _number(entry.discount_percent)  # percent, as in the web app
    return body


def unity_id(unit: str, known: tuple[Unity, ...]) -> int:
    """sevDesk's unit for a position's unit: the same name, else piece, hour or day by its
    German, English or French word, else piece."""
    wanted = unit.strip().casefold()
    for unity in known:
        if wanted and unity.name.casefold() == wanted:
            return unity.id
    code, short = UNITS_BY_MEANING.get(documents.unit_meaning(wanted), UNIT_PIECE)
    for candidates in ((code, short), UNIT_PIECE):
        for unity in known:
            if unity.translation_code == candidates[0] or unity.name == candidates[1]:
                return unity.id
    raise errors.PermanentError("sevDesk lists no unit “Stk” (piece) for the positions.")


def tax_rate_refusal(refusal: errors.PermanentError) -> errors.TaxRateRefused | None:
    """sevDesk's 422 for a position rate its tax rule does not allow, as its own error;
    None for any other refusal."""
    found = TAX_RATE_REFUSED.search(refusal.vendor_message or "")
    if refusal.status != 422 or found is None:
        return None
    try:
        rate = Decimal(found["rate"].replace(",", "."))
    except ArithmeticError:
        return None
    return errors.TaxRateRefused(
        str(refusal),
        rate=rate,
        allowed=TAX_RULE_RATES,
        vendor_message=refusal.vendor_message,
        status=refusal.status,
    )
