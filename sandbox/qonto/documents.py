"""Qonto's rules for the bodies of clients, quotes and client invoices, and the objects it answers.

Each `*_problems` function returns the JSON:API error objects of a body (empty when valid).
Qonto documents the error shape and a few codes (`invalid_format`, `not_in_list`,
`invalid_client_id`, `invoice_number_already_exists`); missing and too-long fields use
`invalid_format` as in its "currency is missing for this client" example.
"""

from __future__ import annotations

import re
import time
import uuid
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from sandbox.qonto.state import Organization, money, timestamp, to_cents

Problem = dict[str, Any]

CLIENT_KINDS = ("company", "individual", "freelancer")
QUOTE_STATUSES = ("pending_approval", "approved", "canceled")
INVOICE_CURRENCIES = ("EUR",)  # docs: "Currently, only value allowed is EUR"
DISCOUNT_TYPES = ("percentage", "absolute")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
CURRENCY = re.compile(r"^[A-Z]{3}$")

CLIENT_TEXT_FIELDS = (
    "email",
    "vat_number",
    "tax_identification_number",
    "e_invoicing_address",
    "address",
    "city",
    "zip_code",
    "province_code",
    "country_code",
    "recipient_code",
    "currency",
    "locale",
)
ADDRESS_FIELDS = ("street_address", "city", "zip_code", "province_code", "country_code")


def problem(
    code: str, detail: str, *, pointer: str | None = None, parameter: str | None = None
) -> Problem:
    error: Problem = {"code": code, "detail": detail}
    if pointer is not None:
        error["source"] = {"pointer": pointer}
    elif parameter is not None:
        error["source"] = {"parameter": parameter}
    return error


def _missing(name: str, pointer: str) -> Problem:
    return problem("invalid_format", f"{name} is missing", pointer=pointer)


def _text(
    body: dict[str, Any],
    name: str,
    *,
    required: bool = False,
    max_length: int | None = None,
    prefix: str = "",
) -> list[Problem]:
    pointer = f"{prefix}/{name}"
    value = body.get(name)
    if value is None or value == "":
        return [_missing(name, pointer)] if required else []
    if not isinstance(value, str):
        return [problem("invalid_format", f"{name} must be a string", pointer=pointer)]
    if max_length is not None and len(value) > max_length:
        detail = f"{name} is too long (maximum is {max_length} characters)"
        return [problem("invalid_format", detail, pointer=pointer)]
    return []


def _date(body: dict[str, Any], name: str, *, required: bool = True) -> list[Problem]:
    value = body.get(name)
    if value is None:
        return [_missing(name, f"/{name}")] if required else []
    if parse_date(value) is None:
        detail = f"{name} must be a date formatted as YYYY-MM-DD"
        return [problem("invalid_format", detail, pointer=f"/{name}")]
    return []


def parse_date(value: Any) -> date | None:
    if not isinstance(value, str) or not ISO_DATE.match(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def parse_decimal(value: Any) -> Decimal | None:
    """Qonto sends and takes amounts, quantities and rates as decimal strings."""
    if not isinstance(value, str):
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


# -- clients --------------------------------------------------------------------------------


def client_kind(body: dict[str, Any]) -> Any:
    """`type` is an alias of `kind`; when both are sent, `kind` wins (docs). The derived
    spec rejects a body whose two disagree; the sandbox follows the docs."""
    return body.get("kind") if body.get("kind") is not None else body.get("type")


def client_problems(body: dict[str, Any], organization: Organization) -> list[Problem]:
    kind = client_kind(body)
    pointer = "/kind" if body.get("kind") is not None else "/type"
    if kind is None:
        return [_missing("kind", "/kind")]
    if kind not in CLIENT_KINDS:
        detail = f"kind must be one of: {', '.join(CLIENT_KINDS)}"
        return [problem("not_in_list", detail, pointer=pointer)]
    problems: list[Problem] = []
    if kind == "freelancer" and organization.legal_country != "IT":
        detail = "freelancer clients are only available for Italian organizations"
        problems.append(problem("not_in_list", detail, pointer=pointer))
    if kind == "company":
        problems += _text(body, "name", required=True, max_length=250)
        problems += _text(body, "first_name", max_length=60)
        problems += _text(body, "last_name", max_length=60)
    else:
        problems += _text(body, "first_name", required=True, max_length=60)
        problems += _text(body, "last_name", required=True, max_length=60)
        problems += _text(body, "name", max_length=250)
    problems += _text(body, "vat_number", max_length=20)
    problems += _text(body, "tax_identification_number", max_length=30)
    for name in CLIENT_TEXT_FIELDS:
        if name not in ("vat_number", "tax_identification_number"):
            problems += _text(body, name)
    email = body.get("email")
    if isinstance(email, str) and email and not EMAIL.match(email):
        problems.append(problem("invalid_format", "email is invalid", pointer="/email"))
    problems += _extra_emails(body.get("extra_emails"))
    for name in ("billing_address", "delivery_address"):
        problems += _address(body.get(name), name)
    phone = body.get("phone")
    if phone is not None and not isinstance(phone, dict):
        problems.append(problem("invalid_format", "phone must be an object", pointer="/phone"))
    return problems


def _extra_emails(value: Any) -> list[Problem]:
    if value is None:
        return []
    if not isinstance(value, list):
        return [problem("invalid_format", "extra_emails must be a list", pointer="/extra_emails")]
    if len(value) > 100:
        detail = "extra_emails is too long (maximum is 100 emails)"
        return [problem("invalid_format", detail, pointer="/extra_emails")]
    return [
        problem("invalid_format", "email is invalid", pointer=f"/extra_emails/{index}")
        for index, email in enumerate(value)
        if not isinstance(email, str) or not EMAIL.match(email)
    ]


def _address(value: Any, name: str) -> list[Problem]:
    if value is None:
        return []
    if not isinstance(value, dict):
        return [problem("invalid_format", f"{name} must be an object", pointer=f"/{name}")]
    problems: list[Problem] = []
    for field_name in ADDRESS_FIELDS:
        problems += _text(value, field_name, prefix=f"/{name}")
    return problems


def client_object(body: dict[str, Any]) -> dict[str, Any]:
    kind = client_kind(body)
    name = body.get("name")
    if kind != "company" and not name:
        # For individuals and freelancers Qonto's name is "first_name last_name".
        name = f"{body['first_name']} {body['last_name']}"
    client: dict[str, Any] = {"id": str(uuid.uuid4()), "name": name}
    for key in ("first_name", "last_name", "phone"):
        if body.get(key) is not None:
            client[key] = body[key]
    client["kind"] = kind
    client["type"] = kind
    for key in (*CLIENT_TEXT_FIELDS, "extra_emails", "billing_address", "delivery_address"):
        if body.get(key) is not None:
            client[key] = body[key]
    client["created_at"] = timestamp()
    return client


def client_matches(client: dict[str, Any], filters: dict[str, str]) -> bool:
    for key in ("email", "vat_number", "tax_identification_number"):
        # Exact, case-insensitive matches (docs).
        wanted = filters.get(key)
        if wanted is not None and str(client.get(key) or "").casefold() != wanted.casefold():
            return False
    wanted_name = filters.get("name")
    # Exact and partial matches, case- and accent-insensitive (docs).
    return wanted_name is None or _folded(wanted_name) in _folded(client.get("name") or "")


def _folded(text: str) -> str:
    import unicodedata

    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


# -- quotes and invoices --------------------------------------------------------------------


def _discount(value: Any, pointer: str) -> list[Problem]:
    if value is None:
        return []
    if not isinstance(value, dict):
        return [problem("invalid_format", "discount must be an object", pointer=pointer)]
    if value.get("type") not in DISCOUNT_TYPES:
        detail = f"type must be one of: {', '.join(DISCOUNT_TYPES)}"
        return [problem("not_in_list", detail, pointer=f"{pointer}/type")]
    if parse_decimal(value.get("value")) is None:
        detail = "value must be a decimal number as a string"
        return [problem("invalid_format", detail, pointer=f"{pointer}/value")]
    return []


def _items(value: Any, *, at_least_one: bool) -> list[Problem]:
    if value is None:
        return [_missing("items", "/items")]
    if not isinstance(value, list):
        return [problem("invalid_format", "items must be a list", pointer="/items")]
    if at_least_one and not value:
        return [problem("invalid_format", "items must contain at least 1 item", pointer="/items")]
    problems: list[Problem] = []
    for index, item in enumerate(value):
        prefix = f"/items/{index}"
        if not isinstance(item, dict):
            problems.append(problem("invalid_format", "item must be an object", pointer=prefix))
            continue
        problems += _text(item, "title", required=True, prefix=prefix)
        for name in ("quantity", "vat_rate"):
            if item.get(name) is None:
                problems.append(_missing(name, f"{prefix}/{name}"))
            elif parse_decimal(item[name]) is None:
                detail = f"{name} must be a decimal number as a string"
                problems.append(problem("invalid_format", detail, pointer=f"{prefix}/{name}"))
        price = item.get("unit_price")
        if price is None:
            problems.append(_missing("unit_price", f"{prefix}/unit_price"))
        elif not isinstance(price, dict) or parse_decimal(price.get("value")) is None:
            detail = "unit_price.value must be a decimal number as a string"
            problems.append(problem("invalid_format", detail, pointer=f"{prefix}/unit_price"))
        for name in ("description", "unit", "vat_exemption_reason"):
            problems += _text(item, name, prefix=prefix)
        problems += _discount(item.get("discount"), f"{prefix}/discount")
    return problems


def quote_problems(body: dict[str, Any], organization: Organization) -> list[Problem]:
    problems: list[Problem] = []
    client_id = body.get("client_id")
    if client_id is None:
        problems.append(_missing("client_id", "/client_id"))
    elif not is_uuid(client_id) or str(client_id) not in organization.clients:
        problems.append(problem("invalid_client_id", "client_id is invalid", pointer="/client_id"))
    problems += _date(body, "issue_date")
    problems += _date(body, "expiry_date")
    problems += _text(body, "terms_and_conditions", required=True, max_length=3000)
    problems += _currency(body, allowed=None)
    # The items of a quote have no documented required fields; the invoice ones (title,
    # quantity, unit_price, vat_rate) are assumed, without them there is no total to show.
    problems += _items(body.get("items"), at_least_one=True)
    # Required only when the organization numbers its quotes by hand (Qonto's default).
    problems += _text(body, "number", required=not organization.automatic_numbering, max_length=40)
    problems += _text(body, "header", max_length=1000)
    problems += _text(body, "footer", max_length=1000)
    problems += _discount(body.get("discount"), "/discount")
    return problems


def invoice_problems(
    body: dict[str, Any], organization: Organization, ibans: tuple[str, ...]
) -> list[Problem]:
    problems: list[Problem] = []
    client = None
    client_id = body.get("client_id")
    if client_id is None:
        problems.append(_missing("client_id", "/client_id"))
    elif not is_uuid(client_id) or str(client_id) not in organization.clients:
        problems.append(problem("invalid_client_id", "client_id is invalid", pointer="/client_id"))
    else:
        client = organization.clients[str(client_id)]
    problems += _date(body, "issue_date")
    problems += _date(body, "due_date")
    problems += _date(body, "performance_start_date", required=False)
    problems += _date(body, "performance_end_date", required=False)
    start, end = body.get("performance_start_date"), body.get("performance_end_date")
    if end is not None and start is None:
        problems.append(_missing("performance_start_date", "/performance_start_date"))
    elif start and end and parse_date(start) and parse_date(end) and start > end:
        detail = "performance_start_date must be before or equal to performance_end_date"
        problems.append(problem("invalid_format", detail, pointer="/performance_start_date"))
    problems += _currency(body, allowed=INVOICE_CURRENCIES)
    methods = body.get("payment_methods")
    if methods is None:
        problems.append(_missing("payment_methods", "/payment_methods"))
    elif not isinstance(methods, dict) or methods.get("iban") not in ibans:
        detail = "iban must be the IBAN of a Qonto account of the organization"
        problems.append(problem("invalid_format", detail, pointer="/payment_methods/iban"))
    problems += _items(body.get("items"), at_least_one=False)
    status = body.get("status", "draft")
    if status not in ("draft", "unpaid"):
        detail = "status must be one of: draft, unpaid"
        problems.append(problem("not_in_list", detail, pointer="/status"))
    for name in ("number", "purchase_order", "terms_and_conditions", "header", "footer"):
        problems += _text(body, name)
    if client is not None:
        problems += invoicing_problems(client)
    return problems


def invoicing_problems(client: dict[str, Any]) -> list[Problem]:
    """Invoice creation validates the client again (docs). Only the currency error is shown
    in Qonto's material; locale and address follow its pattern."""
    problems: list[Problem] = []
    if not client.get("currency"):
        problems.append(
            problem(
                "invalid_format",
                "currency is missing for this client",
                pointer="/data/attributes/currency",
            )
        )
    if not client.get("locale"):
        problems.append(
            problem(
                "invalid_format",
                "locale is missing for this client",
                pointer="/data/attributes/locale",
            )
        )
    if not client.get("billing_address") and not client.get("address"):
        problems.append(
            problem(
                "invalid_format",
                "address is missing for this client",
                pointer="/data/attributes/billing_address",
            )
        )
    return problems


def _currency(body: dict[str, Any], *, allowed: tuple[str, ...] | None) -> list[Problem]:
    value = body.get("currency")
    if value is None:
        return [_missing("currency", "/currency")]
    if allowed is not None and value not in allowed:
        detail = f"currency must be one of: {', '.join(allowed)}"
        return [problem("not_in_list", detail, pointer="/currency")]
    if not isinstance(value, str) or not CURRENCY.match(value):
        return [problem("invalid_format", "currency is invalid", pointer="/currency")]
    return []


def priced_items(
    items: list[dict[str, Any]],
    currency: str,
    *,
    rate_scale: Decimal,
    discount: dict[str, Any] | None,
) -> tuple[list[dict[str, Any]], Decimal, Decimal, dict[str, Any] | None]:
    """Items with their amounts, the total incl. VAT, the VAT, and the document discount.

    `rate_scale` turns a vat_rate or percentage into a fraction: the quote examples write
    percent ("20"), the invoice examples a fraction ("0.2"); which scale each endpoint
    really expects is unverified, so each follows its own examples.
    """
    lines = []
    for item in items:
        quantity = Decimal(item["quantity"])
        unit_price = Decimal(item["unit_price"]["value"])
        subtotal = quantity * unit_price
        subtotal -= _discount_amount(item.get("discount"), subtotal, rate_scale)
        lines.append((item, unit_price, subtotal, Decimal(item["vat_rate"]) * rate_scale))
    net = sum((line[2] for line in lines), Decimal(0))
    document_discount = _discount_amount(discount, net, rate_scale)
    share = (net - document_discount) / net if net else Decimal(1)
    priced, total, vat = [], Decimal(0), Decimal(0)
    for item, unit_price, subtotal, rate in lines:
        subtotal *= share
        item_vat = subtotal * rate
        line = {
            key: item[key]
            for key in ("title", "description", "quantity", "unit", "vat_rate")
            if item.get(key) is not None
        }
        if item.get("vat_exemption_reason"):
            line["vat_exemption_reason"] = item["vat_exemption_reason"]
        line |= {
            "unit_price": money(unit_price, currency),
            "unit_price_cents": to_cents(unit_price),
            "total_amount": money(subtotal + item_vat, currency),
            "total_amount_cents": to_cents(subtotal + item_vat),
            "total_vat": money(item_vat, currency),
            "total_vat_cents": to_cents(item_vat),
            "subtotal": money(subtotal, currency),
            "subtotal_cents": to_cents(subtotal),
        }
        if item.get("discount"):
            line["discount"] = {
                "type": item["discount"]["type"],
                "value": item["discount"]["value"],
            }
        priced.append(line)
        total += subtotal + item_vat
        vat += item_vat
    discount_out = None
    if discount:
        discount_out = {
            "type": discount["type"],
            "value": discount["value"],
            "amount": money(document_discount, currency),
            "amount_cents": to_cents(document_discount),
        }
    return priced, total, vat, discount_out


def _discount_amount(discount: dict[str, Any] | None, base: Decimal, scale: Decimal) -> Decimal:
    if not discount:
        return Decimal(0)
    value = Decimal(discount["value"])
    return base * value * scale if discount["type"] == "percentage" else value


def quote_object(
    body: dict[str, Any], organization: Organization, *, number: str
) -> dict[str, Any]:
    currency = body["currency"]
    items, total, vat, discount = priced_items(
        body["items"], currency, rate_scale=Decimal("0.01"), discount=body.get("discount")
    )
    quote_id = str(uuid.uuid4())
    quote: dict[str, Any] = {
        "id": quote_id,
        "organization_id": organization.id,
        "number": number,
        "status": "pending_approval",  # Qonto has no draft quotes
        "currency": currency,
        "total_amount": money(total, currency),
        "total_amount_cents": to_cents(total),
        "vat_amount": money(vat, currency),
        "vat_amount_cents": to_cents(vat),
        "issue_date": body["issue_date"],
        "expiry_date": body["expiry_date"],
        "created_at": timestamp(),
        "approved_at": None,
        "canceled_at": None,
        "items": items,
        "client": organization.clients[body["client_id"]],
        "attachment_id": None,
        "quote_url": f"https://portal.qonto.com/quotes/{quote_id}",
        "terms_and_conditions": body["terms_and_conditions"],
        "invoice_ids": [],
    }
    for key in ("header", "footer"):
        if body.get(key) is not None:
            quote[key] = body[key]
    if discount is not None:
        quote["discount"] = discount
    return quote


def invoice_object(body: dict[str, Any], organization: Organization) -> dict[str, Any]:
    currency = body["currency"]
    items, total, vat, _ = priced_items(
        body["items"], currency, rate_scale=Decimal(1), discount=None
    )
    invoice_id = str(uuid.uuid4())
    status = body.get("status", "draft")
    invoice: dict[str, Any] = {"id": invoice_id, "organization_id": organization.id}
    if body.get("number"):
        invoice["number"] = body["number"]
    invoice |= {
        "status": status,
        "invoice_url": f"https://pay.qonto.com/invoices/{invoice_id}",
        "currency": currency,
        "total_amount": money(total, currency),
        "total_amount_cents": to_cents(total),
        "vat_amount": money(vat, currency),
        "vat_amount_cents": to_cents(vat),
        "issue_date": body["issue_date"],
        "due_date": body["due_date"],
        "performance_start_date": body.get("performance_start_date"),
        "performance_end_date": body.get("performance_end_date"),
        "created_at": timestamp(),
        "finalized_at": timestamp() if status == "unpaid" else None,
        "paid_at": None,
        "attachment_id": None,
        "items": items,
        "client": organization.clients[body["client_id"]],
    }
    for key in ("purchase_order", "terms_and_conditions", "header", "footer"):
        if body.get(key) is not None:
            invoice[key] = body[key]
    return invoice


def finalize(invoice: dict[str, Any], organization: Organization) -> None:
    invoice["status"] = "unpaid"
    invoice["finalized_at"] = timestamp(time.time())
    if not invoice.get("number"):
        invoice["number"] = organization.next_number("INV")
