"""bexio's rules for contacts, searches, lists and sales documents (quotes, invoices), kept
apart from the HTTP layer: each check returns the problems as "field: message" lines, the way
the sandbox's 422 body lists them."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import partial
from typing import TYPE_CHECKING, Any

from sandbox.core import Refusal

if TYPE_CHECKING:
    from sandbox.bexio.app import BexioSandbox

Record = dict[str, Any]


def invalid(*problems: str) -> Refusal:
    """bexio's 422 "Validation error", with the problems as "field: message" lines."""
    return Refusal(422, "Validation error", errors=list(problems))


def check(problems: list[str]) -> None:
    if problems:
        raise invalid(*problems)


# What a new contact keeps of its body (the docs' create fields the sandbox models).
_CONTACT_FIELDS = (
    "nr", "contact_type_id", "name_1", "name_2", "street_name", "house_number",
    "address_addition", "postcode", "city", "mail", "mail_second", "phone_fixed",
    "phone_mobile", "url", "remarks", "contact_group_ids", "country_id", "language_id",
    "user_id", "owner_id",
)  # fmt: skip
_SIX_PLACES = Decimal("0.000001")
_FIVE_RAPPEN = Decimal("0.05")


def now_text() -> str:
    """bexio's timestamp format: "2019-04-08 13:17:32"."""
    return datetime.now().strftime("%Y-%m-%d %H:%M:%S")


def public(record: Record) -> Record:
    """The record without the sandbox's own fields (named with a leading underscore)."""
    return {k: v for k, v in record.items() if not k.startswith("_")}


def contact_problems(body: Record, user_ids: tuple[int, ...]) -> list[str]:
    """What the spec cannot say about a contact (its required fields, types, the contact
    types and the e-mail format are the spec step's): the users it names must exist."""
    return [
        f"{name}: References no user of this company."
        for name in ("user_id", "owner_id")
        if body[name] not in user_ids
    ]


def new_contact(body: Record) -> Record:
    contact = {name: body.get(name) for name in _CONTACT_FIELDS}
    # bexio answers an unset salutation with 0, not null (artnum/BizCuit-Bexio APIBug.md,
    # third-party); clients must treat 0 as "none".
    contact["salutation_id"] = body.get("salutation_id") or 0
    contact["updated_at"] = now_text()
    return contact


# -- searches and lists -----------------------------------------------------------------------


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


_NEGATED = {"!=": "=", "not_equal": "=", "not_like": "like", "not_null": "is_null", "not_in": "in"}
_ORDERED = {">": operator.gt, "greater_than": operator.gt, ">=": operator.ge,
            "greater_equal": operator.ge, "<": operator.lt, "less_than": operator.lt,
            "<=": operator.le, "less_equal": operator.le}  # fmt: skip


def matches(record: Record, criterion: Record) -> bool:
    criteria = criterion.get("criteria", "like")
    if criteria in _NEGATED:
        return not matches(record, {**criterion, "criteria": _NEGATED[criteria]})
    field_name, value = criterion["field"], criterion["value"]
    # The docs' sample answers carry `address`; the spec splits it into street and number.
    actual = (
        " ".join(filter(None, (record.get("street_name"), record.get("house_number"))))
        if field_name == "address"
        else record.get(field_name)
    )
    if criteria in ("=", "equal"):
        return bool(comparable(actual) == comparable(value))
    if criteria == "like":
        return _like(actual, value)
    if criteria == "is_null":
        return actual in (None, "")
    if criteria == "in":
        # The spec types `value` as a string; the sandbox reads a comma-separated list.
        return comparable(actual) in {comparable(v.strip()) for v in value.split(",")}
    left, right = comparable(actual), comparable(value)
    if type(left) is not type(right):
        left, right = str(left), str(right)
    return bool(_ORDERED[criteria](left, right))


def ordered(rows: list[Record], order_by: str, fields: frozenset[str]) -> list[Record]:
    """Rows in the order `order_by` asks for: `fields` joined with commas, each with `_asc`
    (the default) or `_desc`."""
    keys = []
    for part in filter(None, (p.strip() for p in (order_by or "id").split(","))):
        name, _, direction = part.rpartition("_")
        if direction not in ("asc", "desc"):
            name, direction = part, "asc"
        if name not in fields:
            raise invalid(f"order_by: {name} is no sort field.")
        keys.append((name, direction == "desc"))
    for name, descending in reversed(keys):
        rows = sorted(rows, key=partial(_sort_key, name), reverse=descending)
    return rows


def _sort_key(name: str, record: Record) -> tuple[bool, Decimal, str]:
    """Numbers before texts (stamps sort as text)."""
    known = comparable(record.get(name))
    if isinstance(known, Decimal):
        return False, known, ""
    return True, Decimal(0), str(known)


# -- sales documents (kb_offer, kb_invoice) -------------------------------------------------


def decimal_or_none(value: Any) -> Decimal | None:
    if not isinstance(value, str):
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def document_problems(body: Record, company: BexioSandbox, *, edit: bool = False) -> list[str]:
    """What the spec cannot say about a new quote or invoice, or an invoice's edit (`edit`;
    the types, enums and dates are the spec step's)."""
    problems = []
    # The docs text marks no field of a quote required, but a live 422 reported by a
    # third party ("user_id: Pflichtfeld", "positions: 0 [tax_id [Pflichtfeld]]") shows
    # that user_id and each position's tax_id are.
    user_id = body.get("user_id")
    if user_id is None and not edit:
        problems.append("user_id: This field is required.")
    elif user_id is not None and user_id not in company.user_ids:
        problems.append("user_id: References no user of this company.")
    contact_id = body.get("contact_id")
    if contact_id is not None and not company.has_contact(contact_id):
        problems.append("contact_id: References no contact.")
    for index, position in enumerate([] if edit else body.get("positions", [])):
        problems.extend(f"positions: {index} {p}" for p in _position_problems(position, company))
    return problems


def _position_problems(position: Record, company: BexioSandbox) -> list[str]:
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


def _positions(
    body: Record, company: BexioSandbox, position_id: Callable[[], int]
) -> tuple[list[Record], Decimal, Decimal]:
    """The positions as stored, their sum and their taxes (`mwst_type` 0: included in the
    prices, 1: added to them, 2: exempt)."""
    mwst_type, positions, gross, taxes = body.get("mwst_type", 0), [], Decimal(0), Decimal(0)
    for pos, given in enumerate(body.get("positions", []), start=1):
        amount, unit_price, discount = (
            decimal_or_none(given.get(name)) or Decimal(0)
            for name in ("amount", "unit_price", "discount_in_percent")
        )
        tax = company.tax(given["tax_id"])
        rate = Decimal(str(tax["value"] if tax else 0)) / 100
        total = amount * unit_price * (1 - discount / 100)
        gross += total
        taxes += {0: total - total / (1 + rate), 1: total * rate}.get(mwst_type, Decimal(0))
        # Optional ids the client did not send are left out rather than answered as null:
        # the spec types them as non-nullable integers.
        ids = {
            name: given[name] for name in ("unit_id", "account_id") if given.get(name) is not None
        }
        positions.append({
            "id": position_id(), "type": "KbPositionCustom", "amount": six(amount), **ids,
            "tax_id": given["tax_id"], "tax_value": f"{rate * 100:.2f}",
            "text": given.get("text", ""), "unit_price": six(unit_price),
            "discount_in_percent": six(discount), "position_total": six(total), "pos": pos,
            "internal_pos": pos, "is_optional": False, "parent_id": None,
        })  # fmt: skip
    return positions, gross, taxes


def new_document(
    body: Record,
    company: BexioSandbox,
    *,
    position_id: Callable[[], int],
    kb_item_status_id: int,
    validity_days: int,
) -> Record:
    today, mwst_type = date.today(), body.get("mwst_type", 0)
    positions, gross, taxes = _positions(body, company, position_id)
    net = gross if mwst_type != 0 else gross - taxes
    payable = gross + taxes if mwst_type == 1 else gross
    # Swiss francs are rounded to 5 Rappen on the document total.
    total = (payable / _FIVE_RAPPEN).quantize(Decimal(1), rounding=ROUND_HALF_UP) * _FIVE_RAPPEN
    valid_until = (today + timedelta(days=validity_days)).isoformat()
    return {
        "document_nr": None,  # numbered by the sandbox once the id is known
        **{name: body.get(name) for name in ("title", "contact_id", "contact_sub_id")},
        "user_id": body["user_id"], "pr_project_id": body.get("pr_project_id"),
        # bexio fills these from the company's settings when they are left out; the
        # sandbox company has id 1 for its language, bank account, currency (CHF) and
        # payment type.
        **{name: body.get(name) or 1
           for name in ("language_id", "bank_account_id", "currency_id", "payment_type_id")},
        "header": body.get("header") or "", "footer": body.get("footer") or "",
        "total_gross": six(gross), "total_net": six(net), "total_taxes": six(taxes),
        "total": six(total), "mwst_type": mwst_type,
        "mwst_is_net": body.get("mwst_is_net", False),
        "show_position_taxes": body.get("show_position_taxes", False),
        "is_valid_from": body.get("is_valid_from") or today.isoformat(),
        "is_valid_until": body.get("is_valid_until") or valid_until,
        "kb_item_status_id": kb_item_status_id, "api_reference": body.get("api_reference"),
        "template_slug": body.get("template_slug"), "network_link": "",
        "updated_at": now_text(), "positions": positions,
    }  # fmt: skip
