"""HubSpot webhook intake: the signature is verified on the raw body (in
`connectors.hubspot.webhooks`) before anything here runs; store every event of the
batch with one statement (deduplicated by the database), and hand the new ones to the workers
after commit.

Nothing here calls HubSpot or a vendor, so the answer goes back well inside HubSpot's
5-second limit."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db import connections
from django.db.models import Exists, OuterRef
from django.utils import timezone

from billing.selectors import transferring_tenant_ids
from connectors.models import Connection
from sync.models import WebhookEvent

logger = logging.getLogger(__name__)

MAX_BATCH = 100
_REQUIRED = ("subscriptionType", "objectId", "portalId", "occurredAt", "eventId")
# Ids are stored as the database's signed 64-bit integer (eventId) or compared with ones that
# are (portalId, objectId); HubSpot's are far below.
_MAX_ID = 2**63 - 1
# 9999-12-31T23:59:59.999Z in milliseconds: datetime's last instant.
_MAX_OCCURRED_AT = 253_402_300_799_999
_MAX_ATTEMPT = 2**31 - 1  # PositiveIntegerField's bound on every database
# In a body with an integer over Python's digit limit (int() stops at 4,300 digits), longer
# integer literals are kept as their text, so that the one event is rejected alone instead of
# json.loads refusing the whole batch.
_MAX_INT_DIGITS = 40


class MalformedBatch(ValueError):
    """The body as a whole is unusable (not JSON, not a list, too long): answered with 400."""


@dataclass
class RejectedEvent:
    """One event of an otherwise good batch that cannot be stored as an event to act on."""

    reason: str
    event: Any


@dataclass
class Batch:
    events: list[dict[str, Any]]
    rejected: list[RejectedEvent] = field(default_factory=list)


def _int_literal(text: str) -> int | str:
    return int(text) if len(text.lstrip("-")) <= _MAX_INT_DIGITS else text


def _float_literal(text: str) -> float | str:
    # 1e400 reads as infinity, which Postgres' jsonb refuses like NaN: kept as its text.
    number = float(text)
    return number if math.isfinite(number) else text


def _constant(name: str) -> str:
    # NaN and Infinity are not JSON, and Postgres' jsonb refuses them in the stored payload.
    return name


def _loads(body: bytes) -> Any:
    """The body's JSON. A hook on every integer costs a third of the parsing, so it runs only
    for a body that the plain parser refuses: one with an integer over Python's digit limit
    (a plain ValueError, where a syntax error is a JSONDecodeError). An integer that long
    but within the limit is read as one and fails the events' own checks all the same."""
    try:
        return json.loads(body, parse_float=_float_literal, parse_constant=_constant)
    except json.JSONDecodeError:
        raise
    except ValueError:
        return json.loads(
            body, parse_int=_int_literal, parse_float=_float_literal, parse_constant=_constant
        )


def parse_batch(body: bytes) -> Batch:
    """Parses a signed body. A problem of the whole body raises MalformedBatch; a problem of
    one event rejects that event alone, because an error answer makes HubSpot send the whole
    batch again, good events and all, and the bad one would fail every time."""
    try:
        events = _loads(body)
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise MalformedBatch(f"The body is not JSON: {exc}") from exc
    if not isinstance(events, list) or not events:
        raise MalformedBatch("The body must be a non-empty JSON array of events.")
    if len(events) > MAX_BATCH:
        raise MalformedBatch(f"At most {MAX_BATCH} events per request, got {len(events)}.")
    batch = Batch(events=[])
    for index, event in enumerate(events):
        problem = _event_problem(event)
        if problem:
            batch.rejected.append(RejectedEvent(reason=f"Event {index} {problem}.", event=event))
        else:
            batch.events.append(event)
    return batch


def _bounded_int(value: Any, maximum: int) -> int | None:
    """The value as an int in 0..maximum, from an int or a string of ASCII digits; else None.
    (bool is an int to Python, and str.isdigit() accepts "²" and "٣".)"""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        value = int(value)
    if isinstance(value, int) and 0 <= value <= maximum:
        return value
    return None


def _event_problem(event: Any) -> str | None:
    if not isinstance(event, dict):
        return "is not an object"
    # The docs table calls the type field eventType; the signed examples use
    # subscriptionType. Both are accepted.
    if "subscriptionType" not in event and "eventType" in event:
        event["subscriptionType"] = event["eventType"]
    missing = [key for key in _REQUIRED if event.get(key) in (None, "")]
    if missing:
        return f"lacks {', '.join(missing)}"
    if not isinstance(event["subscriptionType"], str):
        return "has a subscriptionType that is not a string"
    for key in ("portalId", "objectId", "eventId"):
        if _bounded_int(event[key], _MAX_ID) is None:
            return f"has a malformed {key} (expected an integer of at most 63 bits)"
    occurred_at = event["occurredAt"]
    if isinstance(occurred_at, bool) or not isinstance(occurred_at, int):
        return "has a malformed occurredAt (expected milliseconds since 1970)"
    if not 0 <= occurred_at <= _MAX_OCCURRED_AT:
        return "has an occurredAt out of range"
    attempt = event.get("attemptNumber")
    if attempt is not None and _bounded_int(attempt, _MAX_ATTEMPT) is None:
        return "has a malformed attemptNumber"
    return None


# json.dumps with an argument builds a new encoder on every call; this one is built once.
_IDENTITY_JSON = json.JSONEncoder(default=str)


def _dedupe_key(event: dict[str, Any]) -> str:
    # .get throughout: a rejected event may lack any of these.
    identity = [
        event.get("portalId"),
        event.get("subscriptionType"),
        event.get("objectId"),
        event.get("propertyName", ""),
        event.get("propertyValue", ""),
        event.get("occurredAt"),
        event.get("eventId"),
    ]
    return hashlib.sha256(_IDENTITY_JSON.encode(identity).encode()).hexdigest()


@dataclass
class IntakeResult:
    stored: int = 0
    duplicates: int = 0
    unknown_portal: int = 0
    on_hold: int = 0
    rejected: int = 0
    to_process: dict[str, list[str]] = field(default_factory=dict)  # tenant id -> event ids


@dataclass(frozen=True)
class _Portal:
    tenant_id: str
    transferring: bool


def _portals_query(portal_ids: list[str]) -> Any:
    transferring = transferring_tenant_ids().filter(tenant_id=OuterRef("tenant_id"))
    return (
        Connection.objects.filter(system="hubspot", external_account_id__in=portal_ids)
        .annotate(transferring=Exists(transferring))
        .values_list("external_account_id", "tenant_id", "transferring")
    )


@functools.lru_cache(maxsize=16)
def _portals_statement(alias: str, count: int) -> tuple[str, tuple[Any, ...], tuple[int, ...]]:
    """The SQL of `_portals_query` for `count` portals, compiled once per process: building
    and compiling the query through the ORM took longer than the database took to answer it.
    Returns the SQL, its parameters, and where the portal ids go among them."""
    # Stand-ins that no portal id can equal (those are ASCII digits), to find their places.
    markers = [f"\x00portal {n}" for n in range(count)]
    sql, params = _portals_query(markers).query.get_compiler(using=alias).as_sql()
    return sql, tuple(params), tuple(params.index(marker) for marker in markers)


def _portals(portal_ids: set[str]) -> dict[str, _Portal]:
    """The tenant of each portal and whether it may transfer now, in one query: billing's
    rule (`transferring_tenant_ids`) comes in as a subquery."""
    if not portal_ids:
        return {}
    alias = Connection.objects.db
    sql, template, slots = _portals_statement(alias, len(portal_ids))
    params = list(template)
    for slot, portal in zip(slots, sorted(portal_ids), strict=True):
        params[slot] = portal
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchall()
    # A UUID comes back as one on PostgreSQL and as 32 hex digits on SQLite.
    return {
        portal: _Portal(str(uuid.UUID(str(tenant))), bool(transferring))
        for portal, tenant, transferring in found
    }


def _portal_of(event: Any) -> str | None:
    if not isinstance(event, dict):
        return None
    portal = _bounded_int(event.get("portalId"), _MAX_ID)
    return None if portal is None else str(portal)


# The columns the intake writes (by attribute name); processed_at stays empty.
# tests/sync/test_intake.py checks that this covers every column of the model.
_COLUMNS = (
    "id",
    "tenant_id",
    "portal_id",
    "subscription_type",
    "object_id",
    "property_name",
    "property_value",
    "occurred_at",
    "event_id",
    "attempt_number",
    "payload",
    "dedupe_key",
    "state",
    "note",
    "received_at",
)
_Row = dict[str, Any]  # column -> value


def _new_ids(count: int) -> list[str]:
    """Random (version 4) UUIDs: one call for the randomness of the whole batch, and the text
    formatted directly, at a third of the cost of str(uuid.uuid4()) per row."""
    raw = bytearray(os.urandom(16 * count))
    ids = []
    for start in range(0, 16 * count, 16):
        raw[start + 6] = (raw[start + 6] & 0x0F) | 0x40  # version 4
        raw[start + 8] = (raw[start + 8] & 0x3F) | 0x80  # RFC 4122 variant
        digits = raw[start : start + 16].hex()
        ids.append(f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}")
    return ids


def _rejected_row(tenant_id: str, portal: str, rejected: RejectedEvent, now: datetime) -> _Row:
    """Kept where the tenant can be told, with what could be read of the event: a rejected
    event is never acted on, but it shows what HubSpot sent."""
    event = rejected.event
    occurred_at = event.get("occurredAt")
    valid_time = (
        isinstance(occurred_at, int)
        and not isinstance(occurred_at, bool)
        and 0 <= occurred_at <= _MAX_OCCURRED_AT
    )
    return {
        "tenant_id": tenant_id,
        "portal_id": portal,
        "subscription_type": str(event.get("subscriptionType") or "")[:64],
        "object_id": str(event.get("objectId") or "")[:64],
        "property_name": str(event.get("propertyName") or "")[:128],
        "property_value": str(event.get("propertyValue") or ""),
        "occurred_at": datetime.fromtimestamp(occurred_at / 1000, tz=UTC) if valid_time else None,
        "event_id": _bounded_int(event.get("eventId"), _MAX_ID),
        "attempt_number": _bounded_int(event.get("attemptNumber"), _MAX_ATTEMPT) or 0,
        "payload": event,
        "dedupe_key": _dedupe_key(event),
        "state": WebhookEvent.State.REJECTED.value,
        "note": rejected.reason,
        "received_at": now,
    }


def _event_row(
    tenant_id: str, portal: str, state: str, event: dict[str, Any], now: datetime
) -> _Row:
    return {
        "tenant_id": tenant_id,
        "portal_id": portal,
        "subscription_type": str(event["subscriptionType"])[:64],
        "object_id": str(int(event["objectId"])),
        "property_name": str(event.get("propertyName") or "")[:128],
        "property_value": str(event.get("propertyValue") or ""),
        "occurred_at": datetime.fromtimestamp(event["occurredAt"] / 1000, tz=UTC),
        "event_id": int(event["eventId"]),
        "attempt_number": int(event.get("attemptNumber") or 0),
        "payload": event,
        "dedupe_key": _dedupe_key(event),
        "state": state,
        "note": "",
        "received_at": now,
    }


# Rows travel to PostgreSQL as one JSON document; datetimes as ISO 8601 with their offset.
_ROWS_JSON = json.JSONEncoder(default=datetime.isoformat)


def _insert_new(rows: list[_Row]) -> set[str]:
    """Inserts the rows with one `INSERT … ON CONFLICT DO NOTHING RETURNING id` and returns
    the ids of those that were new. A row whose event is already stored (the same batch sent
    again, or a concurrent delivery of it) is dropped by the unique constraint, not by a read
    before the write, so two deliveries racing each other cannot both store it."""
    connection = connections[WebhookEvent.objects.db]
    meta = WebhookEvent._meta
    by_name = {f.attname: f for f in meta.concrete_fields}
    fields = [by_name[name] for name in _COLUMNS]
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    columns = ", ".join(quote(f.column) for f in fields)
    unique = ", ".join(quote(by_name[name].column) for name in ("tenant_id", "dedupe_key"))
    returning = quote(meta.pk.column)
    # Only names from the model's metadata, quoted by the backend, go into the SQL text;
    # every value is a parameter.
    if connection.vendor == "postgresql":
        # One parameter instead of 15 per row: PostgreSQL parses a hundred rows of VALUES
        # literals more slowly than it reads them from one JSON document, typed by the table.
        records = f"jsonb_populate_recordset(NULL::{table}, %s::jsonb)"
        source = f"SELECT {columns} FROM {records}"  # noqa: S608
        params: list[Any] = [_ROWS_JSON.encode(rows)]
        # As text, the form of the ids in `rows`: the driver would build a UUID object of each.
        returning += "::text"
    elif connection.features.can_return_rows_from_bulk_insert:  # SQLite from 3.35 on
        row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
        source = "VALUES " + ", ".join([row_sql] * len(rows))
        params = [f.get_db_prep_save(row[f.attname], connection) for row in rows for f in fields]
    else:
        raise NotImplementedError("The webhook intake needs INSERT … RETURNING.")
    sql = (
        f"INSERT INTO {table} ({columns}) {source} "
        f"ON CONFLICT ({unique}) DO NOTHING RETURNING {returning}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = [row_id for (row_id,) in cursor.fetchall()]
    if connection.vendor == "postgresql":
        return set(found)
    return {str(meta.pk.to_python(row_id)) for row_id in found}  # SQLite: 32 hex digits


def store_batch(batch: Batch) -> IntakeResult:
    """Stores the batch with one statement; returns which new events to process."""
    result = IntakeResult(rejected=len(batch.rejected))
    for rejected in batch.rejected:
        # The reason names the field, never its value: a value may be thousands of digits.
        logger.warning("webhook: %s Rejected, the rest of the batch is kept.", rejected.reason)
    events = batch.events
    portals_of_events = [str(int(event["portalId"])) for event in events]
    rejected_portals = [_portal_of(rejected.event) for rejected in batch.rejected]
    portals = _portals({*portals_of_events, *(p for p in rejected_portals if p)})
    now = timezone.now()
    rows: list[_Row] = []
    for rejected, portal in zip(batch.rejected, rejected_portals, strict=True):
        if portal and portal in portals:
            rows.append(_rejected_row(portals[portal].tenant_id, portal, rejected, now))
    received, on_hold = WebhookEvent.State.RECEIVED.value, WebhookEvent.State.ON_HOLD.value
    for event, portal in zip(events, portals_of_events, strict=True):
        link = portals.get(portal)
        if link is None:
            result.unknown_portal += 1
            continue
        state = received if link.transferring else on_hold
        rows.append(_event_row(link.tenant_id, portal, state, event, now))
    if result.unknown_portal:
        logger.warning("webhook: %d event(s) of unknown portals ignored", result.unknown_portal)
    # The same event twice in one batch is stored once, and counted as a duplicate.
    unique_rows: list[_Row] = []
    seen: set[tuple[str, str]] = set()
    for row in rows:
        identity = (row["tenant_id"], row["dedupe_key"])
        if identity in seen:
            result.duplicates += row["state"] != WebhookEvent.State.REJECTED
            continue
        seen.add(identity)
        unique_rows.append(row)
    if not unique_rows:
        return result
    for row, row_id in zip(unique_rows, _new_ids(len(unique_rows)), strict=True):
        row["id"] = row_id
    new_ids = _insert_new(unique_rows)
    for row in unique_rows:
        state = row["state"]
        if state == WebhookEvent.State.REJECTED:
            continue
        if row["id"] not in new_ids:
            result.duplicates += 1
            continue
        result.stored += 1
        if state == on_hold:
            result.on_hold += 1
        else:
            result.to_process.setdefault(row["tenant_id"], []).append(row["id"])
    return result
