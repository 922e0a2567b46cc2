"""bexio's rules for contacts, searches and sales documents (quotes, invoices), kept apart
from the HTTP layer: each check returns the problems as "field: message" lines, the way
the sandbox's 422 body lists them."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any


@dataclass(frozen=True)
class Rules:
    """What a check needs to know of the company: its users, taxes and contacts."""

    user_ids: tuple[int, ...]
    tax: Callable[[Any], dict[str, Any] | None]
    has_contact: Callable[[Any], bool]


# What a new contact keeps of its body (the docs' create fields the sandbox models).
_CONTACT_FIELDS = (
    *("nr", "contact_type_id", "name_1", "name_2", "street_name", "house_number"),
    *("address_addition", "postcode", "city", "mail", "mail_second", "phone_fixed"),
    *("phone_mobile", "url", "remarks", "contact_group_ids", "country_id", "language_id"),
    *("user_id", "owner_id"),
)
# The search fields the docs list for POST /2.0/contact/search.
CONTACT_SEARCH_FIELDS = frozenset(
    {
        *("id", "name_1", "name_2", "nr", "address", "mail", "mail_second", "postcode"),
        *("city", "country_id", "contact_group_ids", "contact_type_id", "updated_at"),
        *("user_id", "phone_fixed", "phone_mobile", "fax"),
    }
)
_SIX_PLACES = Decimal("0.000001")
_FIVE_RAPPEN = Decimal("0.05")


def now_text() -> str:
    """bexio's timestamp format: "2019-04-08 13:17:32"."""
    return datetime.now().strftime("%Y-%m-%d %H:%M:%S")


def contact_problems(body: dict[str, Any], user_ids: tuple[int, ...]) -> list[str]:
    """What the spec cannot say about a contact (its required fields, types, the contact
    types and the e-mail format are the spec step's): the users it names must exist."""
    return [
        f"{name}: References no user of this company."
        for name in ("user_id", "owner_id")
        if body[name] not in user_ids
    ]


def new_contact(body: dict[str, Any]) -> dict[str, Any]:
    """The contact as stored; without a `nr`, the sandbox numbers it by its id."""
    contact = {name: body.get(name) for name in _CONTACT_FIELDS}
    # bexio answers an unset salutation with 0, not null (artnum/BizCuit-Bexio APIBug.md,
    # third-party); clients must treat 0 as "none".
    contact["salutation_id"] = body.get("salutation_id") or 0
    contact["updated_at"] = now_text()
    return contact


def search_problems(body: list[dict[str, Any]]) -> list[str]:
    """What the spec cannot say about a search (its shape, lengths and criteria are the spec
    step's): the searchable fields, which only the docs' text lists."""
    return [
        f"{index} [field]: {criterion['field']} is not a searchable field."
        for index, criterion in enumerate(body)
        if criterion["field"] not in CONTACT_SEARCH_FIELDS
    ]


def comparable(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Decimal(str(value))
    text = "" if value is None else str(value)
    try:
        return Decimal(text)
    except InvalidOperation:
        return text.casefold()


def _like(value: Any, pattern: str) -> bool:
    text = "" if value is None else str(value)
    # bexio searches "like" as SQL LIKE around the term; % inside the term is a wildcard.
    regex = ".*".join(re.escape(part) for part in pattern.split("%"))
    return re.search(regex, text, re.IGNORECASE) is not None


def _ordered(left: Any, right: Any, criteria: str) -> bool:
    a, b = comparable(left), comparable(right)
    if type(a) is not type(b):
        a, b = str(a), str(b)
    if criteria in (">", "greater_than"):
        return bool(a > b)
    if criteria in (">=", "greater_equal"):
        return bool(a >= b)
    if criteria in ("<", "less_than"):
        return bool(a < b)
    return bool(a <= b)


def matches(record: dict[str, Any], criterion: dict[str, Any]) -> bool:
    field_name = criterion["field"]
    value = criterion["value"]
    criteria = criterion.get("criteria", "like")
    # The docs' sample answers carry `address`; the spec splits it into street and number.
    actual = (
        " ".join(filter(None, (record.get("street_name"), record.get("house_number"))))
        if field_name == "address"
        else record.get(field_name)
    )
    if criteria in ("=", "equal"):
        return bool(comparable(actual) == comparable(value))
    if criteria in ("!=", "not_equal"):
        return bool(comparable(actual) != comparable(value))
    if criteria == "like":
        return _like(actual, value)
    if criteria == "not_like":
        return not _like(actual, value)
    if criteria == "is_null":
        return actual in (None, "")
    if criteria == "not_null":
        return actual not in (None, "")
    if criteria in ("in", "not_in"):
        # The spec types `value` as a string; the sandbox reads a comma-separated list.
        options = {comparable(v.strip()) for v in value.split(",")}
        found = comparable(actual) in options
        return found if criteria == "in" else not found
    return _ordered(actual, value, criteria)


# -- sales documents (kb_offer, kb_invoice) -------------------------------------------------


def decimal_or_none(value: Any) -> Decimal | None:
    if not isinstance(value, str):
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def document_problems(body: dict[str, Any], company: Rules) -> list[str]:
    """What the spec cannot say about a quote or invoice (its types, enums and dates are the
    spec step's)."""
    problems = []
    # The docs text marks no field of a quote required, but a live 422 reported by a
    # third party ("user_id: Pflichtfeld", "positions: 0 [tax_id [Pflichtfeld]]") shows
    # that user_id and each position's tax_id are.
    user_id = body.get("user_id")
    if user_id is None:
        problems.append("user_id: This field is required.")
    elif user_id not in company.user_ids:
        problems.append("user_id: References no user of this company.")
    contact_id = body.get("contact_id")
    if contact_id is not None and not company.has_contact(contact_id):
        problems.append("contact_id: References no contact.")
    for index, position in enumerate(body.get("positions", [])):
        problems.extend(f"positions: {index} {p}" for p in _position_problems(position, company))
    return problems


def _position_problems(position: dict[str, Any], company: Rules) -> list[str]:
    problems = []
    kind = position.get("type", "KbPositionCustom")
    if kind != "KbPositionCustom":
        # bexio has more position types (KbPositionArticle, KbPositionText, ...); the
        # sandbox models only the custom one the spec describes.
        problems.append(f"[type [{kind} is not modelled by the sandbox]]")
    tax_id = position.get("tax_id")
    if tax_id is None:
        problems.append("[tax_id [This field is required.]]")
    else:
        # Only active sales taxes (the spec's description of tax_id, not a schema rule).
        tax = company.tax(tax_id)
        if tax is None or tax["type"] != "sales_tax" or not tax["is_active"]:
            problems.append("[tax_id [Must be an active sales tax.]]")
    for name in ("amount", "unit_price", "discount_in_percent"):
        # The spec types amounts as strings ("5.000000"); that they hold a decimal number
        # only its examples show.
        if name in position and decimal_or_none(position[name]) is None:
            problems.append(f"[{name} [Must be a decimal number as a string.]]")
    return problems


def six(number: Decimal) -> str:
    return str(number.quantize(_SIX_PLACES, rounding=ROUND_HALF_UP))


def new_document(
    body: dict[str, Any],
    company: Rules,
    *,
    position_ids: Iterator[int],
    kb_item_status_id: int,
    validity_days: int,
) -> dict[str, Any]:
    today = date.today()
    mwst_type = body.get("mwst_type", 0)
    positions = []
    gross = Decimal(0)
    taxes = Decimal(0)
    for pos, given in enumerate(body.get("positions", []), start=1):
        amount = decimal_or_none(given.get("amount")) or Decimal(0)
        unit_price = decimal_or_none(given.get("unit_price")) or Decimal(0)
        discount = decimal_or_none(given.get("discount_in_percent")) or Decimal(0)
        tax = company.tax(given["tax_id"])
        rate = Decimal(str(tax["value"] if tax else 0)) / 100
        total = amount * unit_price * (1 - discount / 100)
        gross += total
        if mwst_type == 1:
            taxes += total * rate
        elif mwst_type == 0:
            taxes += total - total / (1 + rate)
        position: dict[str, Any] = {"id": next(position_ids), "type": "KbPositionCustom"}
        position["amount"] = six(amount)
        # Optional ids the client did not send are left out rather than answered as null:
        # the spec types them as non-nullable integers.
        for name in ("unit_id", "account_id"):
            if given.get(name) is not None:
                position[name] = given[name]
        position["tax_id"] = given["tax_id"]
        position["tax_value"] = f"{rate * 100:.2f}"
        position["text"] = given.get("text", "")
        position["unit_price"] = six(unit_price)
        position["discount_in_percent"] = six(discount)
        position["position_total"] = six(total)
        position["pos"] = pos
        position["internal_pos"] = pos
        position["is_optional"] = False
        position["parent_id"] = None
        positions.append(position)
    net = gross if mwst_type != 0 else gross - taxes
    payable = gross + taxes if mwst_type == 1 else gross
    # Swiss francs are rounded to 5 Rappen on the document total.
    total = (payable / _FIVE_RAPPEN).quantize(Decimal(1), rounding=ROUND_HALF_UP) * _FIVE_RAPPEN
    return {
        "document_nr": None,  # numbered by the sandbox once the id is known
        "title": body.get("title"),
        "contact_id": body.get("contact_id"),
        "contact_sub_id": body.get("contact_sub_id"),
        "user_id": body["user_id"],
        "pr_project_id": body.get("pr_project_id"),
        # bexio fills these from the company's settings when they are left out; the
        # sandbox company has id 1 for its language, bank account, currency (CHF) and
        # payment type.
        "language_id": body.get("language_id") or 1,
        "bank_account_id": body.get("bank_account_id") or 1,
        "currency_id": body.get("currency_id") or 1,
        "payment_type_id": body.get("payment_type_id") or 1,
        "header": body.get("header") or "",
        "footer": body.get("footer") or "",
        "total_gross": six(gross),
        "total_net": six(net),
        "total_taxes": six(taxes),
        "total": six(total),
        "mwst_type": mwst_type,
        "mwst_is_net": body.get("mwst_is_net", False),
        "show_position_taxes": body.get("show_position_taxes", False),
        "is_valid_from": body.get("is_valid_from") or today.isoformat(),
        "is_valid_until": body.get("is_valid_until")
        or (today + timedelta(days=validity_days)).isoformat(),
        "kb_item_status_id": kb_item_status_id,
        "api_reference": body.get("api_reference"),
        "template_slug": body.get("template_slug"),
        "network_link": "",
        "updated_at": now_text(),
        "positions": positions,
    }
