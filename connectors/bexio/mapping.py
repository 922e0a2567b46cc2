"""bexio's JSON: pure functions from the neutral shapes to its contacts, documents (kb_offer,
kb_invoice) and positions and back, and how its error bodies read.

- Contacts need a `user_id` and an `owner_id` (a bexio user); a contact is a company
  (`contact_type_id` 1) or a person (2, `name_1` last name, `name_2` first name).
- Amounts travel as strings; every position needs the id of an active sales tax.
- The company's currencies come from `GET /2.0/currencies` (the unofficial file; it gives no
  schema, so each entry is read as bexio's `{id, name}` with the ISO code as `name`). Where
  bexio does not list them, a quote is created in the company's base currency without a
  `currency_id`, assumed to be CHF. The spec maps no ISO country codes and has no units:
  contacts get no `country_id` and positions no `unit_id`.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from connectors import errors
from connectors.http import error_reader, first_text
from connectors.rules import fit_title
from connectors.shapes import (
    Customer,
    CustomerKind,
    CustomerRef,
    Person,
    Quote,
    QuotePosition,
    QuoteRef,
)
from connectors.text import clean, normalized

# The company's base currency, used without a `currency_id` when bexio does not list its
# currencies: CHF for a Swiss bexio company (assumption).
CURRENCY = "CHF"
CONTACT_COMPANY, CONTACT_PERSON = 1, 2
MWST_EXCLUDING_TAXES = 1  # positions are net; bexio adds the VAT
DEFAULT_USER_ID = 1  # the first user of a bexio company
SEARCH_TEXT_MAX = 255  # `field` and `value` of a contact search
AMOUNT_PLACES = Decimal("0.000001")  # the spec's samples: "5.000000"
RATE_PLACES = Decimal("0.01")
QUOTE_PAGE_SIZE = 500  # bexio's default page; at most 2000
QUOTE_PAGES_MAX = 40  # 20,000 quotes; beyond that a lost quote is not worth more calls
# What POST /2.0/contact takes (ContactCreate); the read model adds id and updated_at.
CONTACT_WRITABLE = (
    "nr",
    "contact_type_id",
    "name_1",
    "name_2",
    "salutation_id",
    "street_name",
    "house_number",
    "address_addition",
    "postcode",
    "city",
    "country_id",
    "mail",
    "mail_second",
    "phone_fixed",
    "phone_mobile",
    "url",
    "remarks",
    "language_id",
    "contact_group_ids",
    "user_id",
    "owner_id",
)


def error_words(body: Mapping[str, Any]) -> str:
    """bexio's words from `{error_code, message, errors}`; the token endpoint answers
    `{error, error_description}` (Keycloak)."""
    message = first_text(body, "message", "error_description", "error")
    details = _error_details(body.get("errors"))
    return f"{message}: {details}" if message and details else message or details


read_error = error_reader(error_words)


def _error_details(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "; ".join(d for d in (_error_details(v) for v in value) if d)
    if isinstance(value, Mapping):
        return "; ".join(f"{key}: {_error_details(v)}" for key, v in value.items())
    return "" if value is None else str(value)


# -- contacts ----------------------------------------------------------------------------


def criterion(field: str, value: str) -> dict[str, str]:
    return {"field": field, "value": value, "criteria": "="}


def contact_type(kind: CustomerKind) -> int:
    return CONTACT_COMPANY if kind is CustomerKind.COMPANY else CONTACT_PERSON


def email_criteria(customer: Customer) -> list[dict[str, str]] | None:
    """The search for a contact of the customer's type whose `mail` is the look-up address;
    None for an empty or too long address."""
    email = customer.lookup_email.strip()
    if not email or len(email) > SEARCH_TEXT_MAX:
        return None
    return [
        criterion("contact_type_id", str(contact_type(customer.kind))),
        criterion("mail", email),
    ]


def has_email(contact: Mapping[str, Any], customer: Customer) -> bool:
    """The search's answer checked once more: a company that carries its contact person's
    address as its `mail` is no person customer."""
    wanted = customer.lookup_email.strip().casefold()
    return (
        contact.get("contact_type_id") == contact_type(customer.kind)
        and str(contact.get("mail") or "").strip().casefold() == wanted
    )


def _names(customer: Customer) -> tuple[str, str]:
    """`name_1` and `name_2`: the company name, or the person's last and first name."""
    if customer.kind is CustomerKind.COMPANY:
        return clean(customer.require_company().name), ""
    person = customer.require_person()
    return clean(person.last_name), clean(person.first_name)


def name_criteria(customer: Customer) -> list[dict[str, str]] | None:
    """The search for the exact name of the right contact type; None when a name is empty or
    too long to search."""
    name_1, name_2 = _names(customer)
    if not name_1 or max(len(name_1), len(name_2)) > SEARCH_TEXT_MAX:
        return None
    criteria = [
        criterion("contact_type_id", str(contact_type(customer.kind))),
        criterion("name_1", name_1),
    ]
    if name_2:
        criteria.append(criterion("name_2", name_2))
    return criteria


def has_name(contact: Mapping[str, Any], customer: Customer) -> bool:
    """The search's answer compared once more, case and spacing aside."""
    wanted_type = contact_type(customer.kind)
    name_1, name_2 = _names(customer)
    if contact.get("contact_type_id") != wanted_type:
        return False
    if normalized(str(contact.get("name_1") or "")) != normalized(name_1):
        return False
    # A person's name_2 is the first name and must match too (also when empty); a company's
    # is an addition to its name that HubSpot does not know.
    first = normalized(str(contact.get("name_2") or ""))
    return wanted_type == CONTACT_COMPANY or first == normalized(name_2)


def contact_fields(customer: Customer) -> dict[str, Any]:
    """APIUP's fields of a contact; empty values are left out, so an update keeps what
    bexio holds. No `country_id`: the spec does not document bexio's country ids."""
    if customer.kind is CustomerKind.COMPANY:
        company = customer.require_company()
        fields: dict[str, Any] = {"contact_type_id": CONTACT_COMPANY, "name_1": company.name}
        phone = company.phone
    else:
        person = customer.require_person()
        fields = {
            "contact_type_id": CONTACT_PERSON,
            "name_1": person.last_name,
            "name_2": person.first_name,
        }
        phone = person.phone
    address = customer.address
    fields.update(
        street_name=address.street,
        house_number=address.house_number if address.street.strip() else "",
        postcode=address.postcode,
        city=address.city,
        mail=customer.email,
        phone_fixed=phone,
    )
    cleaned = {k: clean(v) if isinstance(v, str) else v for k, v in fields.items()}
    return {k: v for k, v in cleaned.items() if v not in ("", None)}


def person_customer(person: Person) -> Customer:
    """A company's contact person as the person contact bexio names on the company's
    documents (`contact_sub_id`). bexio ties the two together with contact relations, which
    the spec files do not describe (no endpoint, no field), so the link is the documents'."""
    return Customer(kind=CustomerKind.PERSON, person=person)


def contact_create_body(customer: Customer, *, user_id: int) -> dict[str, Any]:
    body = contact_fields(customer)
    body.update(user_id=user_id, owner_id=user_id)
    return body


def contact_edit_body(
    current: Mapping[str, Any], customer: Customer, *, user_id: int
) -> dict[str, Any]:
    """The contact as read with APIUP's fields changed: bexio's edit overwrites the whole
    contact, so what the customer keeps beyond them (second e-mail, remarks, groups, ...)
    is sent back as it was."""
    body = {
        key: current[key]
        for key in CONTACT_WRITABLE
        if current.get(key) is not None
        # An unset salutation reads as 0 (fact sheet quirk): not an id to send back.
        and not (key == "salutation_id" and current[key] == 0)
    }
    body.update(contact_fields(customer))
    body.setdefault("user_id", user_id)
    body.setdefault("owner_id", body["user_id"])
    return body


def contacts_of(found: Any) -> list[Mapping[str, Any]]:
    """A search's answer, oldest contact first."""
    contacts = [c for c in found if isinstance(c, Mapping)] if isinstance(found, list) else []
    return sorted(contacts, key=lambda c: int(c.get("id") or 0))


# -- documents ---------------------------------------------------------------------------


def currencies_of(listing: Any) -> dict[str, int]:
    """ISO code → id of the currencies in `GET /2.0/currencies`. The unofficial file gives the
    answer no schema: each entry is read as `{id, name}` with the ISO code as `name`, and
    entries that do not read so are left out."""
    found: dict[str, int] = {}
    for entry in listing if isinstance(listing, list) else []:
        if not isinstance(entry, Mapping):
            continue
        code = str(entry.get("name") or "").strip().upper()
        currency_id = entry.get("id")
        if len(code) == 3 and code.isalpha() and isinstance(currency_id, int):
            found.setdefault(code, currency_id)
    return found


def currency_id(quote: Quote, currencies: Mapping[str, int]) -> int | None:
    """The `currency_id` of the quote's currency among the company's currencies; None (no id
    sent: the base currency) when bexio did not list them and the quote is in CHF.
    UnsupportedByVendor for a currency the company does not have."""
    return currency_id_of(quote.currency.strip().upper(), currencies)


def currency_id_of(currency: str, currencies: Mapping[str, int]) -> int | None:
    """`currency_id` above for an ISO code (an item's currency too)."""
    if currencies:
        if currency in currencies:
            return currencies[currency]
        known = ", ".join(sorted(currencies))
    elif currency == CURRENCY:
        return None
    else:
        known = CURRENCY
    raise errors.UnsupportedByVendor(
        f"The bexio company has no currency {currency or '?'} (it has {known})."
    )


def document_body(
    quote: Quote,
    *,
    contact_id: int,
    user_id: int,
    positions: list[dict[str, Any]],
    title_max_length: int | None,
    currency_id: int | None = None,
) -> dict[str, Any]:
    """A kb_offer or kb_invoice (the spec gives both the same shape), with our reference in
    `api_reference`, a field only the API reads and writes."""
    body: dict[str, Any] = {"contact_id": contact_id, "user_id": user_id}
    title, _ = fit_title(quote.title, title_max_length)
    if title:
        body["title"] = title
    if quote.introduction.strip():
        body["header"] = quote.introduction.strip()
    if currency_id is not None:
        body["currency_id"] = currency_id
    if quote.remark.strip():
        body["footer"] = quote.remark.strip()
    contact_sub_id = id_or_none(quote.contact_person_id)
    if contact_sub_id is not None:
        # The company's contact person, a person contact of its own (see `person_customer`).
        body["contact_sub_id"] = contact_sub_id
    body.update(
        mwst_type=MWST_EXCLUDING_TAXES,
        mwst_is_net=True,
        is_valid_from=quote.valid_from.isoformat(),
        is_valid_until=quote.valid_until.isoformat(),
        api_reference=quote.reference,
        positions=positions,
    )
    return body


def six(value: Decimal) -> str:
    return str(value.quantize(AMOUNT_PLACES, rounding=ROUND_HALF_UP))


def position(item: QuotePosition, tax_id: int) -> dict[str, Any]:
    """A custom position. bexio's units are ids the spec gives no list of, so the unit is
    left to bexio's default. bexio has article positions (`KbPositionArticle` with an
    `article_id`), but the spec files describe none, so a position that stands for an item
    stays custom and names the item by its number (`intern_code`) before its name."""
    text = clean(item.name)
    sku = item.article.sku.strip() if item.article is not None else ""
    if sku and not text.startswith(sku):
        text = f"{sku} {text}".strip()
    if item.description.strip():
        text = f"{text}\n{item.description.strip()}"
    body: dict[str, Any] = {
        "type": "KbPositionCustom",
        "amount": six(item.quantity),
        "unit_price": six(item.unit_net_price),
        "tax_id": tax_id,
        "text": text,
    }
    if item.discount_percent:
        body["discount_in_percent"] = six(item.discount_percent)
    if item.revenue_account.isdigit():
        body["account_id"] = int(item.revenue_account)  # the revenue account (an integer id)
    return body


# -- taxes -------------------------------------------------------------------------------


def rate(value: Decimal) -> Decimal:
    return value.quantize(RATE_PLACES, rounding=ROUND_HALF_UP)


def percent(value: Decimal) -> str:
    """8.10 -> "8.1", 8.00 -> "8"."""
    return f"{value.normalize():f}"


def decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def sales_taxes(listing: Any) -> dict[str, int]:
    """Rate (as a string, so it can be cached) → id of the sales taxes in `GET /3.0/taxes`.
    Several taxes at one rate (0 % for exports and for exempt turnover): the first bexio
    lists wins."""
    taxes: dict[str, int] = {}
    for tax in listing if isinstance(listing, list) else []:
        value = decimal(tax.get("value"))
        if tax.get("type") == "sales_tax" and value is not None and "id" in tax:
            taxes.setdefault(str(rate(value)), int(tax["id"]))
    return taxes


def no_tax_at(wanted: Decimal, taxes: Mapping[Decimal, int]) -> errors.TaxRateRefused:
    known = ", ".join(f"{percent(r)} %" for r in sorted(taxes)) or "none"
    return errors.TaxRateRefused(
        f"bexio has no active sales tax at {percent(wanted)} % (active: {known}).",
        vendor_message=f"bexio has no active sales tax at {percent(wanted)} %.",
        rate=wanted,
        allowed=frozenset(taxes),
    )


# -- ids and references ------------------------------------------------------------------


def id_or_none(value: str) -> int | None:
    text = str(value).strip()
    return int(text) if text.isdigit() else None


def id_or_raise(value: str) -> int:
    return errors.vendor_id(value, id_or_none, what="a bexio id")


def user_id(credentials: Mapping[str, Any]) -> int:
    """The bexio user that owns what APIUP creates: stored with the connection, else the
    company's first user."""
    value = str(credentials.get("user_id") or "").strip()
    return int(value) if value.isdigit() else DEFAULT_USER_ID


def to_ref(contact: Mapping[str, Any]) -> CustomerRef:
    number = contact.get("nr")
    return CustomerRef(vendor_id=str(contact["id"]), number="" if number is None else str(number))


def document_ref(document: Mapping[str, Any]) -> QuoteRef:
    return QuoteRef(
        vendor_id=str(document["id"]),
        number=str(document.get("document_nr") or ""),
        url=str(document.get("network_link") or ""),
    )


# -- invoices made from quotes ----------------------------------------------------------

# The header fields of an invoice edit (InvoiceEdit) that are kept as bexio made them: the
# docs do not say whether an edit overwrites what it leaves out, so it leaves out nothing.
INVOICE_EDIT_KEPT = (
    *("title", "contact_id", "contact_sub_id", "user_id", "pr_project_id", "language_id"),
    *("bank_account_id", "currency_id", "payment_type_id", "header", "footer", "mwst_type"),
    *("mwst_is_net", "show_position_taxes", "is_valid_from", "is_valid_to", "reference"),
    *("api_reference", "template_slug"),
)


def reference_criteria(reference: str) -> list[dict[str, str]]:
    """The invoice search for our reference (`POST /2.0/kb_invoice/search`)."""
    return [criterion("api_reference", reference)]


def invoice_edit_body(
    invoice: Mapping[str, Any], document: Quote, *, title_max_length: int | None
) -> dict[str, Any]:
    """The edit that makes an invoice bexio copied from a quote the deal's invoice: our
    reference in `api_reference` (how `find_document` finds it), its own title, text, date
    and due date (`is_valid_to`); the rest as bexio made it."""
    body = {k: invoice[k] for k in INVOICE_EDIT_KEPT if invoice.get(k) is not None}
    title, _ = fit_title(document.title, title_max_length)
    if title:
        body["title"] = title
    if document.introduction.strip():
        body["header"] = document.introduction.strip()
    if document.remark.strip():
        body["footer"] = document.remark.strip()
    body.update(
        is_valid_from=document.valid_from.isoformat(),
        is_valid_to=document.valid_until.isoformat(),
        api_reference=document.reference,
    )
    return body
