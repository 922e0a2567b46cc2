"""Quotes (`Order/Factory/saveOrder`) and invoices (`Invoice/Factory/saveInvoice`): the
references and tax rules the spec leaves to its descriptions, positions and sevDesk's sums."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sandbox.sevdesk import catalog
from sandbox.sevdesk.master_data import One
from sandbox.sevdesk.payloads import (
    SevdeskError,
    amount,
    document_date,
    flag,
    number,
    optional_number,
    optional_reference,
    ref,
    reference,
    texts,
    timestamp,
)
from sandbox.store import Record


def updated_after(record: Record, value: str) -> bool:
    """`updateAfter={timestamp}`: "updated last after timestamp" (the spec's filter texts)."""
    try:
        return datetime.fromisoformat(record["update"]).timestamp() > float(value)
    except (KeyError, ValueError):
        raise SevdeskError(400, "updateAfter must be a timestamp") from None


def document(
    kind: str, body: Record, *, sev_user_id: int, sev_client: int, one: One
) -> tuple[Record, list[Record]]:
    """The order or invoice (`kind`) a save request makes, with the lines of its positions
    (optional: "an order to which positions can be added later")."""
    document = body[kind]
    fields = header(document, sev_user_id=sev_user_id, sev_client=sev_client, one=one)
    rule = tax_rule(document)
    lines = [position(p, rule, one) for p in body.get(f"{kind}PosSave") or []]
    fields.update(sums(lines))
    return (order(document, fields, one) if kind == "order" else invoice(document, fields)), lines


def header(document: Record, *, sev_user_id: int, sev_client: int, one: One) -> Record:
    """The fields an order and an invoice share, with their references checked.

    The spec types a reference's id as any integer; the ids must name the account's own
    contact (`Model_Order_contact`: "The contact used in the order"), one of its users
    (`GET /SevUser`) and a country of `GET /StaticCountry` (both lists from sevDesk's
    earlier Swagger docs, see vendor-specs/README.md)."""
    contact_id = reference(document, "contact", "Contact")
    one("contacts", contact_id, "Contact does not exist")
    user_id = reference(document, "contactPerson", "SevUser")
    if user_id != sev_user_id:
        raise SevdeskError(400, f"SevUser {user_id} does not exist")
    country_id = catalog.known(
        catalog.STATIC_COUNTRIES, reference(document, "addressCountry", "StaticCountry")
    )
    currency = document["currency"]
    # The spec types the currency as any string; its description asks for "currency code
    # according to ISO-4217".
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise SevdeskError(400, "currency must be an ISO 4217 code")
    fields: Record = {
        "contact": ref(contact_id, "Contact"),
        "contactPerson": ref(user_id, "SevUser"),
        "createUser": ref(sev_user_id, "SevUser"),
        "addressCountry": ref(country_id, "StaticCountry"),
        "currency": currency,
        "taxRate": amount(number(document, "taxRate")),
        "taxText": str(document["taxText"]),
        "taxType": str(document["taxType"]),
        "smallSettlement": flag(document, "smallSettlement"),
        "showNet": flag(document, "showNet", default=True),
        **texts(document, "header", "headText", "footText", "address", "customerInternalNote"),
        "sevClient": ref(sev_client, "SevClient"),
    }
    if document.get("sendType") is not None:
        fields["sendType"] = document["sendType"]
    rule = tax_rule(document)
    if rule is not None:
        # Not in the 2023 response model; sevDesk answers it since Update 2.0.
        fields["taxRule"] = ref(rule, "TaxRule")
    return fields


def tax_rule(document: Record) -> int | None:
    # The patched spec enumerates the tax rule ids, so the spec step refuses others.
    if document.get("taxRule") is None:
        return None
    return reference(document, "taxRule", "TaxRule")


def position(position: Record, rule: int | None, one: One) -> Record:
    """One position as sent, its numbers read and its unit, tax rate and part checked."""
    tax_rate = number(position, "taxRate")
    # The spec only types the id; the units are the account's list (`GET /Unity`, from
    # sevDesk's earlier Swagger docs, see vendor-specs/README.md).
    unity_id = catalog.known(catalog.UNITIES, reference(position, "unity", "Unity"))
    allowed = catalog.TAX_RATES_BY_RULE.get(rule or 0)
    if allowed is not None and float(tax_rate) not in allowed:
        # sevdesk-Update 2.0 refuses a rate the tax rule does not allow with 422 (the
        # patched spec's `taxRule` description and the fact sheet in vendor-specs/README.md).
        raise SevdeskError(422, f"Tax rate {amount(tax_rate)} is not allowed for tax rule {rule}")
    part_id = optional_reference(position, "part", "Part")
    if part_id is not None:  # `Model_OrderPos.part`: "Part from your inventory"
        one("parts", part_id, "Part was not found")
    return {
        "quantity": number(position, "quantity"),
        "price": optional_number(position, "price") or Decimal(0),
        "discount": optional_number(position, "discount"),
        "taxRate": tax_rate,
        "unity": unity_id,
        "name": position.get("name"),
        "text": position.get("text"),
        "positionNumber": position.get("positionNumber"),
        "optional": flag(position, "optional"),
        "part": part_id,
    }


def sums(lines: Iterable[Record]) -> Record:
    net = tax = discounts = Decimal(0)
    for line in lines:
        if line["optional"]:
            continue  # optional positions are left out of the totals
        gross_line = line["quantity"] * line["price"]
        discount = gross_line * (line["discount"] or 0) / 100
        line_net = gross_line - discount
        net += line_net
        tax += line_net * line["taxRate"] / 100
        discounts += discount
    totals = {"Net": net, "Tax": tax, "Gross": net + tax, "Discounts": discounts}
    return {
        **{f"sum{name}": amount(value) for name, value in totals.items()},
        **{f"sum{name}ForeignCurrency": amount(value) for name, value in totals.items()},
    }


def order(document: Record, fields: Record, one: One) -> Record:
    origin = optional_reference(document, "origin", "Order")
    if origin is not None:  # "Object from which the order was created", e.g. the quote
        one("orders", origin, "Order was not found")
        fields = {**fields, "origin": ref(origin, "Order")}
    return {
        "objectName": "Order",
        "orderNumber": str(document["orderNumber"]),
        "orderDate": timestamp(document_date(document, "orderDate")),
        "status": str(document["status"]),
        "orderType": document.get("orderType", "AN"),
        "version": amount(number(document, "version")),
        **fields,
        **texts(document, "deliveryTerms", "paymentTerms"),
    }


def invoice(document: Record, fields: Record) -> Record:
    record: Record = {
        "objectName": "Invoice",
        "invoiceDate": timestamp(document_date(document, "invoiceDate")),
        "status": document["status"],
        "invoiceType": document["invoiceType"],
        "discount": amount(number(document, "discount")),
        **fields,
        **accounting(fields),
        "paidAmount": 0,
    }
    # A draft has no number until it is sent, unless the client sets one.
    if document.get("invoiceNumber"):
        record["invoiceNumber"] = str(document["invoiceNumber"])
    if document.get("timeToPay") is not None:
        record["timeToPay"] = amount(number(document, "timeToPay"))
    if document.get("deliveryDate"):
        record["deliveryDate"] = timestamp(document_date(document, "deliveryDate"))
    return record


def accounting(sums: Record) -> Record:
    """An invoice's sums for bookkeeping, the same as its own."""
    return {f"sum{name}Accounting": sums.get(f"sum{name}", "0") for name in ("Net", "Tax", "Gross")}


def position_record(parent: Record, line: Record, index: int) -> Record:
    """A stored `OrderPos` or `InvoicePos` of `parent`, the `index`th of its positions."""
    parent_field = parent["objectName"].lower()
    price: Decimal = line["price"]
    tax = price * line["taxRate"] / 100
    record: Record = {
        "objectName": f"{parent['objectName']}Pos",
        parent_field: ref(int(parent["id"]), parent["objectName"]),
        "quantity": amount(line["quantity"]),
        "price": amount(price),
        "priceNet": amount(price),
        "priceTax": amount(tax),
        "priceGross": amount(price + tax),
        "unity": ref(line["unity"], "Unity"),
        "sevClient": dict(parent["sevClient"]),
        "taxRate": amount(line["taxRate"]),
        "positionNumber": str(
            line["positionNumber"] if line["positionNumber"] is not None else index
        ),
    }
    if line["discount"] is not None:
        record["discount"] = amount(line["discount"])
    if line["part"] is not None:
        record["part"] = ref(line["part"], "Part")
    record.update(texts(line, "name", "text"))
    if parent_field == "order":
        record["optional"] = line["optional"]
    return record


# -- an invoice from an order, and what the web app does to a document -------------------------

# Copied from the order onto the invoice sevDesk makes of it.
FROM_ORDER = (
    "contact", "contactPerson", "createUser", "addressCountry", "sevClient", "currency",
    "taxRate", "taxText", "taxType", "taxRule", "smallSettlement", "showNet", "header",
    "headText", "footText", "address", "sumNet", "sumTax", "sumGross", "sumDiscounts",
    "sumNetForeignCurrency", "sumTaxForeignCurrency", "sumGrossForeignCurrency",
    "sumDiscountsForeignCurrency",
)  # fmt: skip
ORDER_STATUS_CALCULATED = "1000"  # "one or more invoices ... covering the whole order"
ORDER_STATUS_BY_CHANGE = {"open": "200", "rejected": "300", "accepted": "500"}


def derived_invoice(source: Record, *, today: str, **fields: Any) -> Record:
    """An invoice sevDesk makes of `source` (an order, or the invoice it cancels), its origin:
    the source's header and sums."""
    kept = {field: source[field] for field in FROM_ORDER if field in source}
    origin = ref(int(source["id"]), source["objectName"])
    invoice = {"objectName": "Invoice", "invoiceDate": today, "discount": "0", "origin": origin}
    return {**kept, **invoice, **fields}


def invoice_from_order(order: Record, *, today: str) -> Record:
    """`createInvoiceFromOrder` without `type` / `amount`: a draft final invoice (RE) for the
    whole order (partial invoices are not modelled)."""
    return derived_invoice(
        order, today=today, status="100", invoiceType="RE", **accounting(order), paidAmount=0
    )


def invoice_position_from(order_position: Record, invoice: Record) -> Record:
    kept = {
        key: value
        for key, value in order_position.items()
        if key not in ("id", "create", "update", "order", "optional", "objectName")
    }
    return {**kept, "objectName": "InvoicePos", "invoice": ref(int(invoice["id"]), "Invoice")}


def invoice_changes(invoice: Record, status: str, paid: str, *, stamp: str) -> Record:
    """A payment booked in full or in part, or an invoice sent (`open`), as the web app
    changes it. A part payment keeps status 200: the saved spec's status enum predates 750
    (fact sheet), and invoices partly paid before it stayed at 200 with their `paidAmount`."""
    gross = Decimal(str(invoice.get("sumGross") or 0))
    sent = {"sendDate": invoice.get("sendDate") or stamp}
    if status == "open":
        return {"status": "200", **sent}
    if status == "paid":
        return {"status": "1000", "paidAmount": float(gross), "payDate": stamp, **sent}
    if status == "partially_paid":
        part = Decimal(paid) if paid else gross / 2  # the inspection page may leave it empty
        if not 0 < part < gross:
            raise SevdeskError(400, "a part payment is more than 0 and less than the total")
        return {"status": "200", "paidAmount": float(part), **sent}
    raise SevdeskError(400, f"an invoice cannot become {status}")


def cancellation(invoice: Record, *, today: str) -> Record:
    """The cancellation invoice (SR) `cancelInvoice` makes: paid at once, the sums negated."""
    negated = {
        field: amount(-Decimal(str(invoice[field])))
        for field in ("sumNet", "sumTax", "sumGross")
        if field in invoice
    }
    paid = float(-Decimal(str(invoice.get("sumGross") or 0)))
    return derived_invoice(
        invoice, today=today, **negated, invoiceType="SR", status="1000", paidAmount=paid
    )
