"""Qonto's rules for the bodies of clients, quotes and client invoices, and the objects it answers.

`NEW_DOCUMENTS` makes the record a create stores from a body the spec accepted, or raises
`refused(...)` with the JSON:API error objects of the rules the spec cannot express. Qonto
documents the error shape and a few codes (`invalid_format`, `not_in_list`, `invalid_client_id`,
`invoice_number_already_exists`); missing and too-long fields use `invalid_format` as in its
"currency is missing for this client" example.
"""

from __future__ import annotations

import unicodedata
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from sandbox.core import Refusal
from sandbox.qonto.state import Organization, amounts, timestamp
from sandbox.store import Filter, Record, Records

Problem = dict[str, Any]


CLIENT_FIELDS = (
    *("email", "vat_number", "tax_identification_number", "e_invoicing_address", "address"),
    *("city", "zip_code", "province_code", "country_code", "recipient_code"),
    *("currency", "locale", "extra_emails", "billing_address", "delivery_address"),
)


def problem(
    code: str, detail: str, *, pointer: str | None = None, parameter: str | None = None
) -> Problem:
    error: Problem = {"code": code, "detail": detail}
    if pointer is not None:
        error["source"] = {"pointer": pointer}
    elif parameter is not None:
        error["source"] = {"parameter": parameter}
    return error


def refused(*problems: Problem, status: int = 422) -> Refusal:
    """A body or an action Qonto refuses, answered with its error objects: 422, or the status
    the refusal names (a used number is a 409)."""
    return Refusal(status, problems[0]["detail"], errors=list(problems))


def _refuse_any(problems: list[Problem]) -> None:
    if problems:
        raise refused(*problems)


def _sent(body: dict[str, Any], *keys: str) -> dict[str, Any]:
    """The fields of `keys` the body has a value for."""
    return {key: body[key] for key in keys if body.get(key) is not None}


def _missing(name: str, pointer: str) -> Problem:
    return problem("invalid_format", f"{name} is missing", pointer=pointer)


def parse_decimal(value: Any) -> Decimal | None:
    """Qonto sends and takes amounts, quantities and rates as decimal strings."""
    if not isinstance(value, str):
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


# -- clients --------------------------------------------------------------------------------


def client_kind(body: dict[str, Any]) -> Any:
    """`type` is an alias of `kind`; when both are sent, `kind` wins (docs). The derived
    spec rejects a body whose two disagree; the sandbox follows the docs."""
    return body.get("kind") if body.get("kind") is not None else body.get("type")


def new_client(body: dict[str, Any], organization: Organization) -> Record:
    # Kind, names, lengths, e-mails and addresses are the spec's (ClientCreateRequest).
    kind = client_kind(body)
    if kind == "freelancer" and organization.legal_country != "IT":
        # Qonto's create-a-client docs: freelancer is for Italian organizations only.
        pointer = "/kind" if body.get("kind") is not None else "/type"
        detail = "freelancer clients are only available for Italian organizations"
        raise refused(problem("not_in_list", detail, pointer=pointer))
    # The spec requires the names but allows them empty; the create-a-client docs ("company
    # needs name", individual and freelancer need first + last name) count "" as missing.
    names = ("name",) if kind == "company" else ("first_name", "last_name")
    _refuse_any([_missing(name, f"/{name}") for name in names if body.get(name) == ""])
    name = body.get("name")
    if kind != "company" and not name:
        # For individuals and freelancers Qonto's name is "first_name last_name".
        name = f"{body['first_name']} {body['last_name']}"
    return {
        "id": str(uuid.uuid4()),
        "name": name,
        **_sent(body, "first_name", "last_name", "phone"),
        "kind": kind,
        "type": kind,
        **_sent(body, *CLIENT_FIELDS),
        "created_at": timestamp(),
    }


def _same_text(field_name: str) -> Filter:
    def matches(client: dict[str, Any], wanted: str) -> bool:
        return str(client.get(field_name) or "").casefold() == wanted.casefold()

    return matches


def _name_contains(client: dict[str, Any], wanted: str) -> bool:
    return _folded(wanted) in _folded(client.get("name") or "")


def _folded(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


# Exact, case-insensitive matches; the name also partial and accent-blind (docs, list clients).
CLIENT_FILTERS = {
    **{
        f"filter[{name}]": _same_text(name)
        for name in ("email", "vat_number", "tax_identification_number")
    },
    "filter[name]": _name_contains,
}


# -- quotes and invoices --------------------------------------------------------------------


def _not_decimal(name: str, pointer: str) -> Problem:
    # The spec types amounts, quantities and rates as strings; the totals need decimals.
    return problem(
        "invalid_format", f"{name} must be a decimal number as a string", pointer=pointer
    )


def _discount(value: Any, pointer: str) -> list[Problem]:
    if value is None or parse_decimal(value.get("value")) is not None:
        return []
    return [_not_decimal("value", f"{pointer}/value")]


def _items(items: list[dict[str, Any]]) -> list[Problem]:
    """What the totals need of each item. The spec requires title, quantity, unit_price and
    vat_rate of an invoice item but nothing of a quote item; the quote docs show no item
    without them, so they are assumed here too."""
    problems: list[Problem] = []
    for index, item in enumerate(items):
        prefix = f"/items/{index}"
        names = ("title", "quantity", "vat_rate")
        problems += [_missing(n, f"{prefix}/{n}") for n in names if item.get(n) is None]
        problems += [
            _not_decimal(n, f"{prefix}/{n}")
            for n in ("quantity", "vat_rate")
            if item.get(n) is not None and parse_decimal(item[n]) is None
        ]
        price = item.get("unit_price")
        if price is None:
            problems.append(_missing("unit_price", f"{prefix}/unit_price"))
        elif parse_decimal(price.get("value")) is None:
            problems.append(_not_decimal("unit_price.value", f"{prefix}/unit_price"))
        problems += _discount(item.get("discount"), f"{prefix}/discount")
    return problems


def _client_id(body: dict[str, Any], organization: Organization) -> list[Problem]:
    # The spec asks for a UUID; Qonto's documented `invalid_client_id` is for an unknown one.
    if str(body["client_id"]) in organization.clients:
        return []
    return [problem("invalid_client_id", "client_id is invalid", pointer="/client_id")]


def _unused(kind: str, number: str | None, documents: Records) -> None:
    # Numbers are unique per organization. The quote's conflict code is not documented; the
    # invoice one is `invoice_number_already_exists`.
    if number and any(d.get("number") == number for d in documents.values()):
        detail, code = f"The {kind} number is already used.", f"{kind}_number_already_exists"
        raise refused(problem(code, detail, pointer="/number"), status=409)


def invoicing_problems(client: dict[str, Any]) -> list[Problem]:
    """Invoice creation validates the client again (docs). Only the currency error is shown
    in Qonto's material; locale and address follow its pattern."""
    lacks = {
        "currency": not client.get("currency"),
        "locale": not client.get("locale"),
        "billing_address": not client.get("billing_address") and not client.get("address"),
    }
    return [
        problem(
            "invalid_format",
            f"{name.removeprefix('billing_')} is missing for this client",
            pointer=f"/data/attributes/{name}",
        )
        for name, missing in lacks.items()
        if missing
    ]


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
        line = _sent(item, "title", "description", "quantity", "unit", "vat_rate")
        if item.get("vat_exemption_reason"):
            line["vat_exemption_reason"] = item["vat_exemption_reason"]
        line |= amounts(
            currency,
            unit_price=unit_price,
            total_amount=subtotal + item_vat,
            total_vat=item_vat,
            subtotal=subtotal,
        )
        if item.get("discount"):
            line["discount"] = {key: item["discount"][key] for key in ("type", "value")}
        priced.append(line)
        total += subtotal + item_vat
        vat += item_vat
    discount_out = None
    if discount:
        discount_out = {key: discount[key] for key in ("type", "value")}
        discount_out |= amounts(currency, amount=document_discount)
    return priced, total, vat, discount_out


def _discount_amount(discount: dict[str, Any] | None, base: Decimal, scale: Decimal) -> Decimal:
    if not discount:
        return Decimal(0)
    value = Decimal(discount["value"])
    return base * value * scale if discount["type"] == "percentage" else value


def new_quote(body: dict[str, Any], organization: Organization) -> Record:
    # Required fields, dates, lengths and the discount type are the spec's (QuoteCreateRequest).
    problems = _client_id(body, organization) + _items(body["items"])
    # Required only when the organization numbers its quotes by hand (Qonto's default; the
    # create-a-quote docs), which the spec cannot say.
    if not organization.automatic_numbering and not body.get("number"):
        problems.append(_missing("number", "/number"))
    _refuse_any(problems + _discount(body.get("discount"), "/discount"))
    number = body.get("number") or organization.next_number("Q")
    _unused("quote", number, organization.quotes)
    currency = body["currency"]
    items, total, vat, discount = priced_items(
        body["items"], currency, rate_scale=Decimal("0.01"), discount=body.get("discount")
    )
    quote_id = str(uuid.uuid4())
    return {
        "id": quote_id,
        "organization_id": organization.id,
        "number": number,
        "status": "pending_approval",  # Qonto has no draft quotes
        "currency": currency,
        **amounts(currency, total_amount=total, vat_amount=vat),
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
        **_sent(body, "header", "footer"),
        **({} if discount is None else {"discount": discount}),
    }


def new_invoice(body: dict[str, Any], organization: Organization) -> Record:
    # Required fields, dates, EUR and the status are the spec's (ClientInvoiceCreateRequest).
    problems = _client_id(body, organization)
    start, end = body.get("performance_start_date"), body.get("performance_end_date")
    # Create-a-client-invoice docs: an end date needs a start date, not before it.
    if end is not None and start is None:
        problems.append(_missing("performance_start_date", "/performance_start_date"))
    elif start and end and start > end:
        detail = "performance_start_date must be before or equal to performance_end_date"
        problems.append(problem("invalid_format", detail, pointer="/performance_start_date"))
    if body["payment_methods"].get("iban") != organization.iban:
        # Docs: the IBAN of one of the organization's Qonto accounts.
        detail = "iban must be the IBAN of a Qonto account of the organization"
        problems.append(problem("invalid_format", detail, pointer="/payment_methods/iban"))
    client = organization.clients.get(str(body["client_id"]))
    problems += _items(body["items"]) + (invoicing_problems(client) if client else [])
    _refuse_any(problems)
    _unused("invoice", body.get("number"), organization.invoices)
    currency = body["currency"]
    items, total, vat, _ = priced_items(
        body["items"], currency, rate_scale=Decimal(1), discount=None
    )
    invoice_id = str(uuid.uuid4())
    status = body.get("status", "draft")
    invoice = {
        "id": invoice_id,
        "organization_id": organization.id,
        **({"number": body["number"]} if body.get("number") else {}),
        "status": status,
        "invoice_url": f"https://pay.qonto.com/invoices/{invoice_id}",
        "currency": currency,
        **amounts(currency, total_amount=total, vat_amount=vat),
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
        **_sent(body, "purchase_order", "terms_and_conditions", "header", "footer"),
    }
    if status == "unpaid" and "number" not in invoice:
        invoice["number"] = organization.next_number("INV")
    return invoice


# What a create of each document stores, or refused.
NEW_DOCUMENTS = {"clients": new_client, "quotes": new_quote, "invoices": new_invoice}


# -- invoice status actions -----------------------------------------------------------------

# Action: the statuses it may start from, the status it leads to (fact sheet; mark_as_paid on
# a paid invoice only moves `paid_at`).
INVOICE_ACTIONS = {
    "finalize": (("draft",), "unpaid"),
    "mark_as_paid": (("unpaid", "paid"), "paid"),
    "unmark_as_paid": (("paid",), "unpaid"),
    "mark_as_canceled": (("unpaid",), "canceled"),
}


def invoice_changes(
    invoice: dict[str, Any], action: str, organization: Organization, *, paid_at: str | None
) -> dict[str, Any]:
    """What `action` changes on the invoice (numbered in the organization's sequence when it is
    finalized). The error codes of a refused action are not documented: `invalid_format` as
    elsewhere."""
    starts, status = INVOICE_ACTIONS[action]
    if invoice["status"] not in starts:
        detail = f"A {invoice['status']} invoice cannot be {action.replace('_', ' ')}"
        raise refused(problem("invalid_format", detail, pointer="/status"))
    changes: dict[str, Any] = {"status": status}
    if action == "finalize":
        changes["finalized_at"] = timestamp()
        changes["number"] = invoice.get("number") or organization.next_number("INV")
    elif action == "mark_as_paid":
        today = timestamp()[:10]
        if paid_at is not None and paid_at > today:
            raise refused(problem("invalid_format", "paid_at is in the future", pointer="/paid_at"))
        changes["paid_at"] = f"{paid_at}T00:00:00.000Z" if paid_at else timestamp()
    elif action == "unmark_as_paid":
        changes["paid_at"] = None
    return changes
