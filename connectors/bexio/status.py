"""bexio's document statuses and changes: `kb_item_status_id` and the payment totals read
into the neutral DocumentState, and the `updated_at` stamps polling runs on."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from connectors.bexio.mapping import CURRENCY, decimal
from connectors.shapes import DocumentChange, DocumentKind, DocumentState, DocumentStatus

# `kb_item_status_id`. bexio's docs do not list the values: these are third-party code's
# (gigerIT/bexio-api-client InvoiceStatus.php / QuoteStatus.php), UNVERIFIED against a real
# account (fact sheet; another third-party tool maps them differently).
INVOICE_STATUSES = {
    7: DocumentStatus.DRAFT,
    8: DocumentStatus.OPEN,  # "pending": issued; bexio does not tell sent from open
    9: DocumentStatus.PAID,
    16: DocumentStatus.PARTIALLY_PAID,
    19: DocumentStatus.VOIDED,  # cancelled (storniert)
    31: DocumentStatus.OPEN,  # "unpaid": overdue, still open
}
QUOTE_STATUSES = {
    1: DocumentStatus.DRAFT,
    2: DocumentStatus.OPEN,  # "pending": issued, waiting for the customer
    3: DocumentStatus.ACCEPTED,  # "confirmed"
    4: DocumentStatus.REJECTED,  # "declined"
}
# A search criterion's `value` (SearchCriteriaList) and bexio's stamps: "2019-04-08 13:17:32",
# the company's local time without a zone, so they are only compared with bexio's own.
STAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
EARLIEST_STAMP = "1970-01-01 00:00:00"


def document_status(kind: DocumentKind, document: Mapping[str, Any]) -> DocumentStatus:
    """The status of a kb_offer or kb_invoice; an id the mapping does not know reads as open
    (issued and not settled), the one state that promises nothing."""
    known = QUOTE_STATUSES if kind is DocumentKind.QUOTE else INVOICE_STATUSES
    return known.get(document.get("kb_item_status_id"), DocumentStatus.OPEN)  # type: ignore[arg-type]


def is_known_status(kind: DocumentKind, document: Mapping[str, Any]) -> bool:
    known = QUOTE_STATUSES if kind is DocumentKind.QUOTE else INVOICE_STATUSES
    return document.get("kb_item_status_id") in known


def document_state(
    kind: DocumentKind,
    document: Mapping[str, Any],
    *,
    currency: str,
    paid_date: dt.date | None = None,
) -> DocumentState:
    """What a kb_offer or kb_invoice says of itself; for an invoice also what is still open
    (`total_remaining_payments`)."""
    is_invoice = kind is DocumentKind.INVOICE
    return DocumentState(
        status=document_status(kind, document),
        number=str(document.get("document_nr") or ""),
        url=str(document.get("network_link") or ""),
        currency=currency,
        total=decimal(document.get("total")),
        open_amount=decimal(document.get("total_remaining_payments")) if is_invoice else None,
        paid_date=paid_date if is_invoice else None,
    )


def currency_code(document: Mapping[str, Any], currencies: Mapping[str, int]) -> str:
    """The ISO code of the document's `currency_id`; the base currency when bexio does not
    list its currencies, "" for an id it does not list."""
    if not currencies:
        return CURRENCY
    by_id = {currency_id: code for code, currency_id in currencies.items()}
    return by_id.get(document.get("currency_id"), "")  # type: ignore[arg-type]


def last_payment_date(payments: Any) -> dt.date | None:
    """The date of the latest payment in `GET /2.0/kb_invoice/{id}/payment`: when the invoice
    was paid in full, once it is."""
    dates = []
    for payment in payments if isinstance(payments, list) else []:
        try:
            dates.append(dt.date.fromisoformat(str(payment.get("date"))))
        except (AttributeError, ValueError):
            continue
    return max(dates, default=None)


def changed_criteria(since: str) -> list[dict[str, str]]:
    """The invoice search for what changed after `since` (the spec's way to poll)."""
    return [{"field": "updated_at", "value": since, "criteria": ">"}]


def stamp_of(document: Mapping[str, Any]) -> str:
    """`updated_at` as bexio wrote it, "" when it does not read as a stamp."""
    text = str(document.get("updated_at") or "")
    try:
        dt.datetime.strptime(text, STAMP_FORMAT)
    except ValueError:
        return ""
    return text


def stamp_before(stamp: str, overlap: dt.timedelta) -> str:
    """The stamp `overlap` earlier (the stamps sort as text and as times alike)."""
    at = dt.datetime.strptime(stamp, STAMP_FORMAT) - overlap
    return max(at.strftime(STAMP_FORMAT), EARLIEST_STAMP)


def document_change(kind: DocumentKind, document: Mapping[str, Any]) -> DocumentChange:
    """A changed document; the marker (update stamp and status) is new with each change."""
    marker = f"{stamp_of(document)}|{document.get('kb_item_status_id')}"
    return DocumentChange(kind=kind, vendor_id=str(document["id"]), marker=marker)


def documents_of(listing: Any) -> list[Mapping[str, Any]]:
    rows = listing if isinstance(listing, list) else []
    return [d for d in rows if isinstance(d, Mapping) and "id" in d]


def newest_stamp(documents: Iterable[Mapping[str, Any]], *, after: str = "") -> str:
    """The latest of the documents' stamps and `after`."""
    return max([after, *(stamp_of(d) for d in documents)])
