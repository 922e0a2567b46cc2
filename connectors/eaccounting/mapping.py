"""Visma eAccounting's JSON: customers (`CustomerApi`), quotes, orders and invoice drafts with
their rows, customer invoices read back, articles (`ArticleApi`) and the error body.

Field names, limits and value lists are those of `eaccounting-openapi.normalized.json`:
- A row has no VAT field: eAccounting takes the rate from the article's account coding
  (`CodingId`); a row can only be marked `IsVatFree`. A position without an article of its
  own stands on a generic article of its tax rate (`GENERIC_ARTICLE_PREFIX`), its own text
  and price on the row.
- A document's currency is its customer's (`CustomerApi.CurrencyCode`; read-only on quotes).
- Quotes carry our reference in `CompanyReference`, orders and invoices in `OurReference`
  (the spec names them equivalent, 100 characters each).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.http import error_reader, first_text
from connectors.shapes import (
    Article,
    Customer,
    CustomerKind,
    CustomerRef,
    DocumentChange,
    DocumentKind,
    DocumentState,
    DocumentStatus,
    Quote,
    QuotePosition,
    QuoteRef,
)

REFERENCE_MAX = 100  # CompanyReference, OurReference
GENERIC_ARTICLE_PREFIX = "HUBSPOT-"  # + the tax rate: the article of positions without one
CENT = Decimal("0.01")

# QuoteApi.Status: 0 Draft, 1 Ongoing, 2 Approved, 3 Invoiced, 4 OrderCreated.
QUOTE_STATUSES = {
    0: DocumentStatus.DRAFT,
    1: DocumentStatus.OPEN,  # Ongoing: issued, whether sent or not
    2: DocumentStatus.ACCEPTED,
    3: DocumentStatus.ACCEPTED,
    4: DocumentStatus.ACCEPTED,
}
QUOTE_APPROVED = 2
# OrderApi.Status: 1 Draft, 2 Ongoing, 3 Shipped, 4 Invoiced.
ORDER_STATUSES = {
    1: DocumentStatus.DRAFT,
    2: DocumentStatus.OPEN,
    3: DocumentStatus.ACCEPTED,
    4: DocumentStatus.ACCEPTED,
}
ORDER_ONGOING = 2
QUOTE_CONVERT_TO_ORDER = 1  # QuoteConversionApi.Type: 0 OrderDraft, 1 Order
PAYMENT_PAID = 0  # CustomerInvoiceApi.PaymentStatus: 0 Paid, 1 Unpaid, 2 Overdue


def error_words(body: Mapping[str, Any]) -> str:
    """`{ErrorCode, DeveloperErrorMessage, Errors: [{Field, Message}]}` (fact sheet)."""
    words = first_text(body, "DeveloperErrorMessage", "Message", "error_description", "error")
    details = body.get("Errors")
    if isinstance(details, list):
        fields = [
            f"{e.get('Field')}: {e.get('Message')}" for e in details if isinstance(e, Mapping)
        ]
        words = "; ".join([words, *fields]) if words else "; ".join(fields)
    return words


read_error = error_reader(error_words)


def odata_text(value: str) -> str:
    """A string literal of Visma's `$filter` (OData): quoted, inner quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def customer_body(customer: Customer, *, terms_of_payment_id: str) -> dict[str, Any]:
    """CustomerApi: a company (with its contact person's fields) or a private person."""
    address = customer.address
    body: dict[str, Any] = {
        "Name": customer.display_name[:50],
        "IsPrivatePerson": customer.kind is CustomerKind.PERSON,
        "IsActive": True,
        "TermsOfPaymentId": terms_of_payment_id,
        "InvoiceAddress1": address.street_line[:50] or None,
        "InvoicePostalCode": address.postcode[:10],
        "InvoiceCity": address.city[:50],
        "InvoiceCountryCode": address.country_code.upper()[:2] or None,
        "EmailAddress": customer.lookup_email[:255] or None,
    }
    if customer.kind is CustomerKind.COMPANY:
        company = customer.require_company()
        body["Telephone"] = company.phone[:50] or None
        body["VatNumber"] = company.vat_id.replace(" ", "")[:20] or None
        body["WwwAddress"] = company.domain[:255] or None
        person = company.contact_person
        if person is not None:
            name = f"{person.first_name} {person.last_name}".strip()
            body["ContactPersonName"] = name[:100] or None
            body["ContactPersonEmail"] = person.email[:255] or None
            body["ContactPersonPhone"] = person.phone[:50] or None
    else:
        body["Telephone"] = customer.require_person().phone[:50] or None
    return {key: value for key, value in body.items() if value is not None}


# CustomerApi fields an update does not send back: the spec's read-only ones, and the terms
# of payment as an object (its id is sent).
CUSTOMER_NOT_WRITTEN = frozenset({
    "Id", "PayToAccountId", "LastInvoiceDate", "ChangedUtc", "MessageThreads", "Notes",
    "IsFutureInvoiceDateAllowed", "UnpaidInvoicesAmount", "TermsOfPayment",
})  # fmt: skip


def customer_ref(record: Mapping[str, Any]) -> CustomerRef:
    return CustomerRef(vendor_id=str(record["Id"]), number=str(record.get("CustomerNumber") or ""))


def is_private_person(record: Mapping[str, Any]) -> bool:
    return bool(record.get("IsPrivatePerson"))


def money(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)).quantize(CENT) if value is not None else None
    except InvalidOperation:
        return None


def percent(fraction: Any) -> Decimal:
    """0.21 as 21, 0.095 as 9.5."""
    value = (Decimal(str(fraction or 0)) * 100).quantize(CENT)
    return value.to_integral() if value == value.to_integral() else value.normalize()


def _row(position: QuotePosition) -> dict[str, Any]:
    text = position.name if not position.description else f"{position.name}\n{position.description}"
    row: dict[str, Any] = {
        "Text": text[:2000],
        "Quantity": float(position.quantity),
        "UnitPrice": float(position.unit_net_price.quantize(CENT)),
        # A fraction in eAccounting (the sandbox and Visma's docs: 0.1 = 10 %).
        "DiscountPercentage": float(position.discount_percent / 100),
    }
    if position.article is not None and position.article.vendor_id:
        row["ArticleId"] = position.article.vendor_id
    return row


def rows(quote: Quote, kind: DocumentKind | None) -> list[dict[str, Any]]:
    """The document's rows: positions, and per kind the row fields its schema requires
    (`OrderRowApi`: LineNumber, IsTextRow, IsWorkCost, EligibleForReverseChargeOnVat;
    `CustomerInvoiceDraftRowApi`: IsTextRow, ReversedConstructionServicesVatFree)."""
    result = []
    for line, position in enumerate(quote.positions, start=1):
        row = _row(position)
        is_text = "ArticleId" not in row
        if kind is None and not is_text:
            # The coding decides the rate; a position the tax rules made tax-free is marked
            # so (only quote rows have `IsVatFree`).
            row["IsVatFree"] = position.tax_rate == 0
        elif kind is DocumentKind.ORDER:
            row.update(
                LineNumber=line, IsTextRow=is_text, IsWorkCost=False,
                EligibleForReverseChargeOnVat=False,
            )  # fmt: skip
        elif kind is DocumentKind.INVOICE:
            row.update(IsTextRow=is_text, ReversedConstructionServicesVatFree=False)
        result.append(row)
    return result


def _day(value: dt.date) -> str:
    """A date, which the spec types as a date-time (its text asks for YYYY-MM-DD)."""
    return f"{value.isoformat()}T00:00:00Z"


def quote_body(quote: Quote) -> dict[str, Any]:
    """QuoteApi (only `CustomerId` required)."""
    return {
        "CustomerId": quote.customer_id,
        "QuoteDate": _day(quote.valid_from),
        "DueDate": _day(quote.valid_until),
        "CompanyReference": quote.reference[:REFERENCE_MAX],
        "EuThirdParty": False,
        "RotReducedInvoicingType": 0,
        "Rows": rows(quote, None),
    }


def order_body(quote: Quote, *, currency: str, terms_of_payment_id: str) -> dict[str, Any]:
    """OrderApi, an ongoing order (its required fields named in the spec)."""
    body: dict[str, Any] = {
        "CustomerId": quote.customer_id,
        "CurrencyCode": currency,
        "Status": ORDER_ONGOING,
        "EuThirdParty": False,
        "ReverseChargeOnConstructionServices": False,
        "RotReducedInvoicingType": 0,
        "OrderDate": _day(quote.valid_from),
        "OurReference": quote.reference[:REFERENCE_MAX],
        "Rows": rows(quote, DocumentKind.ORDER),
    }
    if terms_of_payment_id:
        body["TermsOfPaymentId"] = terms_of_payment_id
    return body


def draft_body(quote: Quote, *, terms_of_payment_id: str) -> dict[str, Any]:
    """CustomerInvoiceDraftApi; the due date follows the terms of payment."""
    body: dict[str, Any] = {
        "CustomerId": quote.customer_id,
        "EuThirdParty": False,
        "RotReducedInvoicingType": 0,
        "InvoiceDate": _day(quote.valid_from),
        "OurReference": quote.reference[:REFERENCE_MAX],
        "Rows": rows(quote, DocumentKind.INVOICE),
    }
    if terms_of_payment_id:
        body["TermsOfPaymentId"] = terms_of_payment_id
    return body


def terms_for_days(terms: list[Mapping[str, Any]], days: int | None) -> str:
    """The id of the sales terms of payment of exactly `days` days; "" when there is none
    (the customer's terms apply)."""
    if days is None:
        return ""
    for term in terms:
        if term.get("NumberOfDays") == days and term.get("AvailableForSales", True):
            return str(term["Id"])
    return ""


def document_ref(kind: DocumentKind, record: Mapping[str, Any]) -> QuoteRef:
    number = record.get("InvoiceNumber") if kind is DocumentKind.INVOICE else record.get("Number")
    return QuoteRef(vendor_id=str(record["Id"]), number=str(number or ""))


def document_state(kind: DocumentKind, record: Mapping[str, Any], *, draft: bool) -> DocumentState:
    if draft:
        total = money(record.get("TotalAmount"))
        return DocumentState(DocumentStatus.DRAFT, total=total, open_amount=total)
    if kind is DocumentKind.QUOTE:
        status = QUOTE_STATUSES.get(int(record.get("Status") or 0), DocumentStatus.OPEN)
        return DocumentState(status, number=str(record.get("Number") or ""),
                             currency=str(record.get("CurrencyCode") or ""),
                             total=money(record.get("TotalAmount")))  # fmt: skip
    if kind is DocumentKind.ORDER:
        status = ORDER_STATUSES.get(int(record.get("Status") or 0), DocumentStatus.OPEN)
        net, vat = money(record.get("Amount")), money(record.get("VatAmount"))
        total = net + vat if net is not None and vat is not None else net  # Amount: net
        number, currency = str(record.get("Number") or ""), str(record.get("CurrencyCode") or "")
        return DocumentState(status, number=number, currency=currency, total=total)
    total = money(record.get("TotalAmountInvoiceCurrency"))
    remaining = money(record.get("RemainingAmountInvoiceCurrency"))
    if record.get("PaymentStatus") == PAYMENT_PAID:
        status = DocumentStatus.PAID
    elif remaining is not None and total is not None and remaining < total:
        status = DocumentStatus.PARTIALLY_PAID
    else:
        status = DocumentStatus.OPEN
    paid_on = record.get("PaymentDate")
    return DocumentState(
        status,
        number=str(record.get("InvoiceNumber") or ""),
        currency=str(record.get("CurrencyCode") or ""),
        total=total,
        open_amount=remaining,
        paid_date=moment(paid_on).date() if status is DocumentStatus.PAID and paid_on else None,
    )


def change(kind: DocumentKind, record: Mapping[str, Any]) -> DocumentChange:
    marker = "|".join(
        str(record.get(f) or "")
        for f in ("ModifiedUtc", "Status", "PaymentStatus", "RemainingAmountInvoiceCurrency")
    )
    return DocumentChange(kind=kind, vendor_id=str(record["Id"]), marker=marker)


def moment(value: str) -> dt.datetime:
    """A Visma timestamp ("2026-01-01T10:00:00.000Z", or without zone: UTC)."""
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def visma_time(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- articles ---------------------------------------------------------------------------


def to_article(record: Mapping[str, Any], codings: Mapping[str, Decimal]) -> Article:
    """ArticleApi as an Article; `codings`: the VAT percent of each account coding id."""
    return Article(
        sku=str(record.get("Number") or ""),
        name=str(record.get("Name") or ""),
        long_description=str(record.get("Note") or ""),
        unit_price=money(record.get("NetPrice")),
        tax_rate=codings.get(str(record.get("CodingId") or "")),
        unit=str(record.get("UnitName") or ""),
        gtin=_barcode(record),
        vendor_id=str(record.get("Id") or ""),
        marker=str(record.get("ChangedUtc") or ""),
    )


def _barcode(record: Mapping[str, Any]) -> str:
    codes = record.get("Barcodes") or []
    first = codes[0] if codes and isinstance(codes[0], Mapping) else {}
    return str(first.get("Barcode") or "")


def article_body(
    article: Article, *, coding_id: str, unit_id: str, fields: frozenset[str]
) -> dict[str, Any]:
    """ArticleApi with its required fields; `fields`: the groups to write ("name",
    "descriptions", "price")."""
    body: dict[str, Any] = {
        "Number": article.sku[:40], "IsActive": True, "CodingId": coding_id, "UnitId": unit_id,
    }  # fmt: skip
    if "name" in fields:
        body["Name"] = article.name[:50]
    if "descriptions" in fields and article.long_description:
        body["Note"] = article.long_description[:4000]
    if "price" in fields and article.unit_price is not None:
        price = "GrossPrice" if article.price_is_gross else "NetPrice"
        body[price] = float(article.unit_price)
    return body
