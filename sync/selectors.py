"""Reads of the activity log, and of a deal's documents for the detail of their transfers."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDate
from django.utils import formats
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy

from accounts.models import Tenant
from connectors.hubspot import mapping as hubspot_mapping
from connectors.shapes import DocumentStatus
from sync.messages import Message, status_name
from sync.models import ImportJob, Transfer
from sync.payload_display import SEPARATOR, Readable


def transfers_filtered(
    queryset: QuerySet[Transfer],
    *,
    state: str = "",
    object_type: str = "",
    day: dt.date | None = None,
) -> QuerySet[Transfer]:
    if state:
        queryset = queryset.filter(state=state)
    if object_type:
        queryset = queryset.filter(object_type=object_type)
    if day:
        queryset = queryset.filter(created_at__date=day)
    return queryset.order_by("-created_at")


def transfers_per_day(*, tenant: Tenant, days: int = 14) -> list[dict[str, object]]:
    since = dt.date.today() - dt.timedelta(days=days - 1)
    rows = (
        Transfer.objects.for_tenant(tenant)
        .filter(created_at__date__gte=since)
        .annotate(day=TruncDate("created_at"))
        .values("day", "state", "placeholder_data")
        .annotate(count=Count("id"))
        .order_by("day")
    )
    return list(rows)


def imports_recent(*, tenant: Tenant) -> QuerySet[ImportJob]:
    return ImportJob.objects.for_tenant(tenant).order_by("-created_at")[:4]


# -- the documents of a deal (the activity detail of a document transfer) -------------------

_DOCUMENT_KINDS = (Transfer.Kind.QUOTE, Transfer.Kind.ORDER, Transfer.Kind.INVOICE)
_DEAL_KINDS = (*_DOCUMENT_KINDS, Transfer.Kind.DOCUMENT_STATUS)
_STATUSES = frozenset(status.value for status in DocumentStatus)


@dataclass(frozen=True)
class DealDocument:
    """One document transfer of a deal, with the status last read from the accounting
    system (empty until its status has been read)."""

    transfer: Transfer
    status: Message | None = None
    open_amount: str = ""
    paid_date: dt.date | None = None


@dataclass(frozen=True)
class DealDocuments:
    documents: list[DealDocument]
    # The deal's DOCUMENT_STATUS transfer: when the status was last read and written.
    status_transfer: Transfer | None


def deal_documents(*, transfer: Transfer) -> DealDocuments | None:
    """Every document of the deal of a document (or document status) transfer, in the order
    a sale goes through them; None for other transfers."""
    if transfer.object_type != Transfer.ObjectType.DEAL or transfer.kind not in _DEAL_KINDS:
        return None
    found = Transfer.objects.for_tenant(transfer.tenant).filter(
        object_type=Transfer.ObjectType.DEAL, object_id=transfer.object_id, kind__in=_DEAL_KINDS
    )
    by_kind = {row.kind: row for row in found}
    status_transfer = by_kind.get(Transfer.Kind.DOCUMENT_STATUS)
    read = (status_transfer.source_payload if status_transfer else None) or {}
    documents = []
    for kind in _DOCUMENT_KINDS:
        document = by_kind.get(kind)
        if document is None:
            continue
        # The status read is of the documents in the status transfer's system.
        same_system = status_transfer is not None and status_transfer.system == document.system
        state = read.get(kind) if same_system and isinstance(read, dict) else None
        documents.append(_with_state(document, state if isinstance(state, dict) else {}))
    return DealDocuments(documents=documents, status_transfer=status_transfer)


def _with_state(document: Transfer, state: dict[str, Any]) -> DealDocument:
    status = str(state.get("status") or "")
    open_amount = state.get("open_amount")
    return DealDocument(
        transfer=document,
        status=status_name(status) if status in _STATUSES else None,
        open_amount=(
            f"{open_amount} {state.get('currency') or ''}".strip()
            if open_amount is not None
            else ""
        ),
        paid_date=_date(state.get("paid_date")),
    )


def _date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


# The fields of a document's state as the status transfer reads them and writes them to the
# deal (sync.services.documents.status_properties), in the reader's words.
_STATE_LABELS = {
    "status": gettext_lazy("Status"),
    "number": gettext_lazy("Number"),
    "url": gettext_lazy("Link"),
    "total": gettext_lazy("Total (gross)"),
    "open_amount": gettext_lazy("Open amount"),
    "paid_date": gettext_lazy("Paid on"),
}
_DEAL_STAGE = "dealstage"


def document_status_payloads(*, transfer: Transfer) -> tuple[Readable | None, Readable | None]:
    """What a DOCUMENT_STATUS transfer read from the accounting system ({kind: state}) and
    what it wrote to the deal (its properties), as labelled rows with the raw data beside."""
    read = transfer.source_payload
    received = None
    if isinstance(read, dict):
        received = Readable(raw=_raw(read))
        for kind in _DOCUMENT_KINDS:
            state = read.get(kind)
            if not isinstance(state, dict):
                continue
            currency = str(state.get("currency") or "")
            for field, label in _STATE_LABELS.items():
                value = state.get(field)
                if value in (None, ""):
                    continue
                if field in ("total", "open_amount"):
                    value = f"{value} {currency}".strip()
                received.rows.append(_state_row(kind, label, field, value))
    written = transfer.sent_payload
    sent = None
    if isinstance(written, dict):
        sent = Readable(raw=_raw(written))
        properties = {
            hubspot_mapping.document_property(kind, field): (kind, field)
            for kind in _DOCUMENT_KINDS
            for field in _STATE_LABELS
        }
        for name, value in written.items():
            if name == _DEAL_STAGE:
                sent.rows.append((str(gettext_lazy("Deal moved to stage")), str(value)))
            elif name in properties:
                kind, field = properties[name]
                sent.rows.append(_state_row(kind, _STATE_LABELS[field], field, value))
            else:
                sent.rows.append((name, str(value)))
    return received, sent


def _state_row(kind: str, label: Any, field: str, value: Any) -> tuple[str, str]:
    heading = capfirst(str(Transfer.Kind(kind).label))
    if field == "status" and str(value) in _STATUSES:
        shown = str(status_name(str(value)))
    elif field == "paid_date" and value:
        paid_on = _date(value)
        shown = formats.date_format(paid_on, "SHORT_DATE_FORMAT") if paid_on else str(value)
    elif value == "":
        shown = "\u2013"  # written empty: e.g. no paid date yet
    else:
        shown = str(value)
    return f"{heading}{SEPARATOR}{label}", shown


def _raw(payload: dict[str, Any]) -> str:
    return json.dumps(payload, indent=2, ensure_ascii=False, sort_keys=True)
