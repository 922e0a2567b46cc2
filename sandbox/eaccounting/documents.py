"""eAccounting's sales documents: quotes, orders, customer invoice drafts and customer invoices,
with the customer's details copied in, their numbers, priced rows and totals, the conversions
(quote → order → invoice, draft → invoice) and payments. Amounts: `TotalAmount` of a quote,
draft and invoice includes VAT and an invoice's `RemainingAmount` starts from it; an order's
`Amount` excludes VAT (the spec does not say; assumptions of the sandbox)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from flask import abort

from sandbox.eaccounting.query import day, shaped
from sandbox.store import Record

if TYPE_CHECKING:
    from sandbox.eaccounting.app import EAccountingSandbox

# What a copy into another document leaves behind: the new one gets its own.
NOT_COPIED = ("Id", "Number", "Status", "CreatedUtc", "ModifiedUtc", "Rows")
ROW_DEFAULTS = {"Quantity": 0.0, "UnitPrice": 0.0, "DiscountPercentage": 0.0, "IsWorkCost": False,
                "EligibleForReverseChargeOnVat": False,
                "ReversedConstructionServicesVatFree": False}  # fmt: skip


def copied(record: Record) -> Record:
    rows = [{k: v for k, v in row.items() if k != "Id"} for row in record.get("Rows") or []]
    return {**{k: v for k, v in record.items() if k not in NOT_COPIED}, "Rows": rows}


def article(sandbox: EAccountingSandbox, owner: str, record: Record) -> Record:
    """The article with its coding's and unit's names and both prices."""
    coding = sandbox.store.find("articleaccountcodings", owner, record["CodingId"])
    unit = sandbox.store.find("units", owner, record["UnitId"])
    if coding is None or unit is None:
        sandbox.refuse("CodingId and UnitId must name an article account coding and a unit")
    rate, net, gross = coding["VatRatePercent"], record.get("NetPrice"), record.get("GrossPrice")
    net = round(gross / (1 + rate), 2) if net is None and gross is not None else net or 0.0
    return {**record, "NetPrice": net, "GrossPrice": round(net * (1 + rate), 2),
            "CodingName": coding["Name"], "UnitName": unit["Name"],
            "UnitAbbreviation": unit["Abbreviation"]}  # fmt: skip


def document(sandbox: EAccountingSandbox, resource: str, record: Record) -> Record:
    """A quote, order or draft as stored: the customer's details, number, rows and totals."""
    customer = sandbox.lookup("customers", record["CustomerId"], "CustomerId")
    rows, net, vat = priced(sandbox, record.get("Rows") or [])
    now = datetime.now(UTC)
    filled = {
        "CurrencyCode": customer.get("CurrencyCode") or "EUR", "EuThirdParty": False,
        "RotReducedInvoicingType": 0, "InvoiceCity": customer["InvoiceCity"],
        "InvoicePostalCode": customer["InvoicePostalCode"], **record,
        "CustomerName": customer["Name"], "CustomerNumber": customer["CustomerNumber"],
        "CustomerIsPrivatePerson": customer["IsPrivatePerson"], "Rows": rows,
    }  # fmt: skip
    if resource == "quotes":
        filled.update(TotalAmount=round(net + vat, 2), VatAmount=vat)
        filled.setdefault("QuoteDate", day(now))
        filled.setdefault("DueDate", day(now + timedelta(days=30)))
        filled.setdefault("Status", 1)  # Ongoing
    elif resource == "orders":
        filled.update(Amount=net, VatAmount=vat, ReverseChargeOnConstructionServices=False)
        filled.setdefault("OrderDate", day(now))
    else:
        filled.update(TotalAmount=round(net + vat, 2), TotalVatAmount=vat,
                      TotalAmountBaseCurrency=round(net + vat, 2))  # fmt: skip
    if resource in ("quotes", "orders") and not filled.get("Number"):
        filled["Number"] = sandbox.next_number(resource)
    return filled


def priced(sandbox: EAccountingSandbox, rows: list[Record]) -> tuple[list[Record], float, float]:
    """The rows numbered and priced (an article row takes the article's defaults and VAT)."""
    result, net_total, vat_total = [], 0.0, 0.0
    for line, sent in enumerate(rows, start=1):
        row, rate = {**ROW_DEFAULTS, **sent, "IsTextRow": not sent.get("ArticleId")}, 0.0
        if sent.get("ArticleId"):
            item = sandbox.lookup("articles", sent["ArticleId"], "Rows.ArticleId")
            coding = sandbox.store.get("articleaccountcodings", sandbox.owner(), item["CodingId"])
            rate = 0.0 if sent.get("IsVatFree") else coding["VatRatePercent"]
            defaults = {"Text": item["Name"], "UnitPrice": item["NetPrice"], "Quantity": 1.0}
            row = {**ROW_DEFAULTS, **defaults, **sent, "IsTextRow": False,
                   "ArticleNumber": item["Number"], "UnitId": item["UnitId"]}  # fmt: skip
        net = round(row["Quantity"] * row["UnitPrice"] * (1 - row["DiscountPercentage"]), 2)
        row.update(LineNumber=line, VatRate=rate, Amount=net, AmountNoVat=net)
        result.append({**row, "Id": row.get("Id") or str(uuid.uuid4())})
        net_total, vat_total = net_total + net, vat_total + round(net * rate, 2)
    return result, round(net_total, 2), round(vat_total, 2)


def invoice(sandbox: EAccountingSandbox, source: Record, **origin: Any) -> Record:
    """A customer invoice from a body, an order or a draft (`origin`: where it came from)."""
    source = shaped("CustomerInvoiceApi", copied(source))  # what an invoice has of it
    base = document(sandbox, "customerinvoices", source)
    customer = sandbox.lookup("customers", source["CustomerId"], "CustomerId")
    terms_id = source.get("TermsOfPaymentId") or customer["TermsOfPaymentId"]
    days = sandbox.lookup("termsofpayments", terms_id, "TermsOfPaymentId")["NumberOfDays"]
    now, total, number = datetime.now(UTC), base["TotalAmount"], sandbox.next_number("invoices")
    return {
        **base, **origin, "InvoiceNumber": number, "TermsOfPaymentId": terms_id,
        "InvoiceDate": source.get("InvoiceDate") or day(now),
        "DueDate": source.get("DueDate") or day(now + timedelta(days=days)),
        "TotalAmountInvoiceCurrency": total,
        "TotalVatAmountInvoiceCurrency": base["TotalVatAmount"],
        "RemainingAmount": total, "RemainingAmountInvoiceCurrency": total, "CurrencyRate": 1.0,
        "PaymentStatus": 1, "VoucherId": str(uuid.uuid4()), "VoucherNumber": f"V{number}",
    }  # fmt: skip


def order_from_quote(sandbox: EAccountingSandbox, quote: Record) -> Record:
    if quote["Status"] not in (1, 2):  # Ongoing or Approved
        sandbox.refuse("The quote has been converted already")  # CanNotBeCreatedOrUpdated
    order = {**shaped("OrderApi", copied(quote)), "Status": 1, "CreatedFromQuoteId": quote["Id"]}
    stored = sandbox.store.create("orders", sandbox.owner(), document(sandbox, "orders", order))
    sandbox.store.update("quotes", sandbox.owner(), quote["Id"], {"Status": 4})  # OrderCreated
    return stored


def invoice_from_order(sandbox: EAccountingSandbox, order: Record) -> Record:
    if order["Status"] == 4:
        sandbox.refuse("The order has been invoiced already")
    origin = {
        "CreatedFromOrderId": order["Id"],
        "CreatedFromQuoteId": order.get("CreatedFromQuoteId"),
    }
    created = sandbox.store.create(
        "customerinvoices", sandbox.owner(), invoice(sandbox, order, **origin)
    )
    sandbox.store.update("orders", sandbox.owner(), order["Id"], {"Status": 4})  # Invoiced
    return created


def invoice_from_draft(sandbox: EAccountingSandbox, draft: Record) -> Record:
    created = invoice(sandbox, draft, CreatedFromDraftId=draft["Id"])
    stored = sandbox.store.create("customerinvoices", sandbox.owner(), created)
    sandbox.store.delete("customerinvoicedrafts", sandbox.owner(), draft["Id"])
    return stored


def pay(
    sandbox: EAccountingSandbox, owner: str, paid: Record, amount: float, on: str | None = None
) -> Record:
    """Books a payment in the invoice's currency; paid in full, the invoice is Paid (0)."""
    left = max(round(paid["RemainingAmountInvoiceCurrency"] - amount, 2), 0.0)
    changes: Record = {"RemainingAmountInvoiceCurrency": left,
                       "RemainingAmount": round(left * paid["CurrencyRate"], 2)}  # fmt: skip
    if left == 0:
        changes.update(PaymentStatus=0, PaymentDate=on or day(datetime.now(UTC)))
    return sandbox.store.update("customerinvoices", owner, paid["Id"], changes)


def reopen(sandbox: EAccountingSandbox, owner: str, paid: Record) -> Record:
    total = paid["TotalAmountInvoiceCurrency"]
    return sandbox.store.update("customerinvoices", owner, paid["Id"], {
        "PaymentStatus": 1, "PaymentDate": None, "RemainingAmountInvoiceCurrency": total,
        "RemainingAmount": round(total * paid["CurrencyRate"], 2)})  # fmt: skip


# What the status hook's words mean in eAccounting: which documents, and what a user does.
DOCUMENT_KINDS = {"invoice": "customerinvoices", "quote": "quotes", "order": "orders"}


def status_set(
    sandbox: EAccountingSandbox, kind: str, document_id: str, status: str, amount: str
) -> Record | None:
    """A payment booked in eAccounting (in full or `amount`), taken back, or a quote accepted."""
    resource = DOCUMENT_KINDS.get(kind, "")
    rows = sandbox.store.everything(resource) if resource else []
    found = [(owner, record) for owner, record in rows if record["Id"] == document_id]
    if not found:
        return None
    owner, record = found[0]
    if kind == "invoice" and status in ("paid", "partially_paid"):
        left = record["RemainingAmountInvoiceCurrency"]
        return pay(sandbox, owner, record, float(amount) if status == "partially_paid" else left)
    if kind == "invoice" and status == "open":
        return reopen(sandbox, owner, record)
    if kind == "quote" and status == "accepted":
        changes = {"Status": 2, "ApprovedDate": day(datetime.now(UTC))}  # Approved
        return sandbox.store.update(resource, owner, document_id, changes)
    abort(sandbox.json({"error": f"eAccounting has no {status} {kind}"}, 409))
