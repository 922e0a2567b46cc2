"""Events from the accounting systems: a vendor's signed webhook, or a change found by polling
with a cursor. Like HubSpot's (intake.py), each is stored before anything is done with it,
once, and handed to the workers after commit; a worker gives it to the handler registered for
its system and type.

A type without a handler is acknowledged and marked ignored, not failed: a vendor that adds
event types must not make its deliveries fail, nor send them again and again.

A tenant whose subscription is not in its trial or paid (billing.selectors.may_transfer) has
its events stored and held: they wait, received, and are handed out when the subscription is
active again (recovery.work_release).

The events about a document (a quote accepted, an invoice paid; payload "change") go to the
status of its deal (statuses.py), whatever the vendor calls them."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, TypeVar

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Tenant
from apiup.outages import OUTAGES
from billing.selectors import may_transfer, system_paid_for
from connectors.models import Connection
from sync.models import VendorEvent

logger = logging.getLogger(__name__)

EnqueueVendorEvents = Callable[[str, list[str]], None]
# Returns a note for the log ("" for none); raises EventIgnored for an event it need not act
# on (an echo of the product's own change, say). Only database work belongs here: calls to a
# vendor or to HubSpot run in a transfer that the handler requests.
VendorEventHandler = Callable[[VendorEvent], str]
H = TypeVar("H", bound=VendorEventHandler)

HANDLERS: dict[tuple[str, str], VendorEventHandler] = {}

_KEY_LENGTH = VendorEvent._meta.get_field("dedupe_key").max_length or 255


class EventIgnored(Exception):
    """Raised by a handler for an event that needs nothing done; the message is the note."""


def register(*, system: str, event_type: str) -> Callable[[H], H]:
    """Registers the handler of one type of event of one system: one line per type."""

    def add(handler: H) -> H:
        if (system, event_type) in HANDLERS:
            raise ValueError(f"{system} {event_type} has a handler already")
        HANDLERS[(system, event_type)] = handler
        return handler

    return add


def _dedupe_key(*, dedupe_key: str, event_id: str, event_type: str, payload: Any) -> str:
    key = dedupe_key or event_id
    if key and len(key) <= _KEY_LENGTH:
        return key
    # No id, or one too long to store: the same content is the same event.
    content = key or json.dumps([event_type, payload], sort_keys=True, default=str)
    return "sha256:" + hashlib.sha256(content.encode()).hexdigest()


def vendor_event_store(
    *,
    connection: Connection,
    event_type: str,
    payload: dict[str, Any],
    enqueue: EnqueueVendorEvents,
    event_id: str = "",
    dedupe_key: str = "",
    occurred_at: dt.datetime | None = None,
) -> tuple[VendorEvent, bool]:
    """Stores the event once and hands a new one to the workers after commit; returns its row
    and whether it is new. The signature must have been checked before: nothing unsigned is
    stored. `dedupe_key` where the vendor gives no event id (a polling cursor's position)."""
    key = _dedupe_key(
        dedupe_key=dedupe_key, event_id=event_id, event_type=event_type, payload=payload
    )
    try:
        # The unique constraint decides, not a look-up first: a second delivery at the same
        # moment in another process finds the first one's row, "already stored", no error.
        with transaction.atomic():
            event = VendorEvent.objects.create(
                tenant=connection.tenant,
                system=connection.system,
                connection=connection,
                event_type=event_type[:100],
                event_id=event_id[:255],
                dedupe_key=key,
                occurred_at=occurred_at,
                payload=payload,
            )
    except IntegrityError:
        stored = (
            VendorEvent.objects.for_tenant(connection.tenant)
            .filter(system=connection.system, dedupe_key=key)
            .first()
        )
        if stored is None:
            raise  # another constraint: not a duplicate
        return stored, False
    if may_transfer(tenant=connection.tenant, system=connection.system):
        transaction.on_commit(
            partial(_hand_off, enqueue, str(connection.tenant_id), [str(event.pk)])
        )
    return event, True


def _hand_off(enqueue: EnqueueVendorEvents, tenant_id: str, event_ids: list[str]) -> None:
    try:
        enqueue(tenant_id, event_ids)
    except OUTAGES:
        # The event is stored, so the vendor gets its success; the resume task hands it out.
        logger.warning(
            "broker unreachable: %d vendor event(s) wait for the resume task", len(event_ids)
        )


def vendor_events_process(
    *,
    tenant_id: str,
    event_ids: Iterable[str],
    on_document_change: VendorEventHandler | None = None,
) -> None:
    """The task's service: each stored event that still waits, oldest first.
    `on_document_change`: the handler of events about a document (payload "change") whose
    type has no handler of its own."""
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None or not may_transfer(tenant=tenant):
        return  # held: the events stay received until the subscription is active again
    waiting = (
        VendorEvent.objects.for_tenant(tenant)
        .filter(pk__in=list(event_ids), state=VendorEvent.State.RECEIVED)
        .filter(system_paid_for())
        .select_related("tenant", "connection")
        .order_by("occurred_at", "received_at")
    )
    for event in waiting:
        vendor_event_process(event=event, on_document_change=on_document_change)


def vendor_event_process(
    *, event: VendorEvent, on_document_change: VendorEventHandler | None = None
) -> str:
    """Hands the event to the handler of its system and type; returns the state it ends in
    (or is already in, when another worker had it first)."""
    rows = VendorEvent.objects.for_tenant(event.tenant).filter(pk=event.pk)
    waiting = rows.filter(state=VendorEvent.State.RECEIVED)
    handler = HANDLERS.get((event.system, event.event_type))
    if handler is None and isinstance(event.payload, dict) and event.payload.get("change"):
        handler = on_document_change
    if handler is None:
        logger.info("vendor event %s %s: no handler, ignored", event.system, event.event_type)
        waiting.update(
            state=VendorEvent.State.IGNORED,
            note="No handler for this type of event.",
            processed_at=timezone.now(),
        )
        return _state_of(rows)
    try:
        with transaction.atomic():
            # The claim and the handler's work commit together: a worker lost in between
            # leaves the event RECEIVED, and it is processed again.
            if not waiting.update(state=VendorEvent.State.PROCESSED, processed_at=timezone.now()):
                return _state_of(rows)  # another worker had it
            note = handler(event)
            if note:
                rows.update(note=note)
    except EventIgnored as ignored:
        waiting.update(
            state=VendorEvent.State.IGNORED, note=str(ignored), processed_at=timezone.now()
        )
    except OUTAGES:
        raise  # the event stays RECEIVED; the task runs it again
    except Exception as failure:
        # Kept for someone to look at; the vendor is not asked to send it again.
        logger.exception("vendor event %s failed", event.pk)
        waiting.update(
            state=VendorEvent.State.FAILED,
            note=f"{type(failure).__name__}: {failure}"[:1000],
            processed_at=timezone.now(),
        )
    return _state_of(rows)


def _state_of(rows: QuerySet[VendorEvent]) -> str:
    return str(rows.values_list("state", flat=True).first() or "")
