"""sevDesk's documents read back: their status in the product's words, what is still open
on an invoice, the changes a poll lists, and our reference on an invoice, which has no
number to derive from it while it is a draft."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from connectors.sevdesk.mapping import INVOICE_TYPE_REGULAR, ORDER_TYPES, is_id
from connectors.shapes import (
    DocumentChange,
    DocumentKind,
    DocumentState,
    DocumentStatus,
    QuoteRef,
)

# "Types and status of orders" (the spec's tag text): 750 / 1000 mean partly / fully
# invoiced, which only an accepted order is.
ORDER_STATUSES = {
    "100": DocumentStatus.DRAFT,
    "200": DocumentStatus.SENT,
    "300": DocumentStatus.REJECTED,
    "500": DocumentStatus.ACCEPTED,
    "750": DocumentStatus.ACCEPTED,
    "1000": DocumentStatus.ACCEPTED,
}
# "Types and status of invoices": 200 is open or due (sent, or not told apart); 750 exists
# since release 4.181 (fact sheet), earlier partial payments stay at 200 with `paidAmount`.
INVOICE_STATUSES = {
    "50": DocumentStatus.VOIDED,  # a deactivated recurring invoice
    "100": DocumentStatus.DRAFT,
    "200": DocumentStatus.OPEN,
    "750": DocumentStatus.PARTIALLY_PAID,
    "1000": DocumentStatus.PAID,
}


def newest_invoice(invoices: list[dict[str, Any]], reference: str) -> QuoteRef | None:
    """The newest regular invoice whose head text or header carries our reference as a whole
    word: a draft has no number to derive from it, and an invoice made from an order
    carries the order's texts."""
    mark = re.compile(
        r"(?<![0-9A-Za-z])" + re.escape(html.escape(reference, quote=False)) + r"(?![0-9A-Za-z-])"
    )
    found = [
        invoice
        for invoice in invoices
        if str(invoice.get("invoiceType") or INVOICE_TYPE_REGULAR) == INVOICE_TYPE_REGULAR
        and is_id(str(invoice.get("id") or ""))
        and any(mark.search(str(invoice.get(f) or "")) for f in ("headText", "header"))
    ]
    if not found:
        return None
    newest = max(found, key=lambda invoice: int(invoice["id"]))
    return QuoteRef(vendor_id=str(newest["id"]), number=str(newest.get("invoiceNumber") or ""))


def document_state(
    kind: DocumentKind, row: Mapping[str, Any], *, cancelled: bool = False
) -> DocumentState:
    """What an order or invoice of `GET /Order/{id}` / `GET /Invoice/{id}` says of itself.
    `cancelled`: a cancellation invoice names the invoice as its origin."""
    status = str(row.get("status") or "")
    total = _decimal(row.get("sumGross"))
    currency = str(row.get("currency") or "")
    if kind is not DocumentKind.INVOICE:
        return DocumentState(
            status=ORDER_STATUSES.get(status, DocumentStatus.OPEN),
            number=str(row.get("orderNumber") or ""),
            currency=currency,
            total=total,
        )
    paid = _decimal(row.get("paidAmount")) or Decimal(0)
    mapped = INVOICE_STATUSES.get(status, DocumentStatus.OPEN)
    if mapped is DocumentStatus.OPEN and paid > 0:
        mapped = DocumentStatus.PARTIALLY_PAID  # partly paid before 750 existed
    if cancelled:
        mapped = DocumentStatus.VOIDED
    open_amount = None if total is None else max(total - paid, Decimal(0))
    if mapped in (DocumentStatus.PAID, DocumentStatus.VOIDED):
        open_amount = Decimal(0)
    paid_at = moment(row.get("payDate")) if mapped is DocumentStatus.PAID else None
    return DocumentState(
        status=mapped,
        number=str(row.get("invoiceNumber") or ""),
        currency=currency,
        total=total,
        open_amount=open_amount,
        paid_date=paid_at.date() if paid_at else None,
    )


def order_kind(row: Mapping[str, Any]) -> DocumentKind | None:
    """A quote (AN) or an order confirmation (AB); None for a delivery note (LI)."""
    order_type = str(row.get("orderType") or "")
    return next((kind for kind, code in ORDER_TYPES.items() if code == order_type), None)


def document_change(kind: DocumentKind, row: Mapping[str, Any]) -> DocumentChange | None:
    """The change a listed document stands for: its update stamp and status tell one change
    from the next."""
    document_id = str(row.get("id") or "")
    if not is_id(document_id):
        return None
    marker = f"{row.get('update') or ''}|{row.get('status') or ''}"
    return DocumentChange(kind=kind, vendor_id=document_id, marker=marker)


def moment(value: Any) -> dt.datetime | None:
    """A sevDesk date as it answers them: ISO date-time ("2026-07-01 10:00:00+02:00"), a
    Unix timestamp or dd.mm.yyyy; None when it is none of them."""
    text = str(value or "").strip()
    try:
        if re.fullmatch(r"[0-9]{9,11}", text):
            return dt.datetime.fromtimestamp(int(text), dt.UTC)
        if found := re.fullmatch(r"([0-9]{1,2})\.([0-9]{1,2})\.([0-9]{4})", text):
            day, month, year = (int(part) for part in found.groups())
            return dt.datetime(year, month, day, tzinfo=dt.UTC)
        return dt.datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None and str(value).strip() else None
    except ArithmeticError:
        return None
