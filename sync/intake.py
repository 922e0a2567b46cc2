"""HubSpot webhook intake: the signature is verified on the raw body (in
`connectors.hubspot.webhooks`) before anything here runs; store every event of the
batch in one transaction (deduplicated), and hand the new ones to the workers after commit.

Nothing here calls HubSpot or a vendor, so the answer goes back well inside HubSpot's
5-second limit."""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db import transaction

from accounts.models import Tenant
from billing.selectors import may_transfer
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
# Longer integer literals are kept as their text, so that one event with a 5,000-digit number
# is rejected alone instead of json.loads refusing the whole batch (int() stops at 4,300).
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


def _constant(name: str) -> str:
    # NaN and Infinity are not JSON, and Postgres' jsonb refuses them in the stored payload.
    return name


def parse_batch(body: bytes) -> Batch:
    """Parses a signed body. A problem of the whole body raises MalformedBatch; a problem of
    one event rejects that event alone, because an error answer makes HubSpot send the whole
    batch again, good events and all, and the bad one would fail every time."""
    try:
        events = json.loads(body, parse_int=_int_literal, parse_constant=_constant)
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
    return hashlib.sha256(json.dumps(identity, default=str).encode()).hexdigest()


@dataclass
class IntakeResult:
    stored: int = 0
    duplicates: int = 0
    unknown_portal: int = 0
    on_hold: int = 0
    rejected: int = 0
    to_process: dict[str, list[str]] = field(default_factory=dict)  # tenant id -> event ids


def _tenants_by_portal(portal_ids: set[str]) -> dict[str, Tenant]:
    links = (
        Connection.objects.filter(system="hubspot", external_account_id__in=portal_ids)
        .select_related("tenant")
        .defer("credentials")  # not needed here, and decrypting them costs time per request
    )
    return {link.external_account_id: link.tenant for link in links}


def _portal_of(event: Any) -> str | None:
    if not isinstance(event, dict):
        return None
    portal = _bounded_int(event.get("portalId"), _MAX_ID)
    return None if portal is None else str(portal)


def _rejected_row(tenant: Tenant, portal: str, rejected: RejectedEvent) -> WebhookEvent:
    """Kept where the tenant can be told, with what could be read of the event: a rejected
    event is never acted on, but it shows what HubSpot sent."""
    event = rejected.event
    occurred_at = event.get("occurredAt")
    valid_time = (
        isinstance(occurred_at, int)
        and not isinstance(occurred_at, bool)
        and 0 <= occurred_at <= _MAX_OCCURRED_AT
    )
    return WebhookEvent(
        tenant=tenant,
        portal_id=portal,
        subscription_type=str(event.get("subscriptionType") or "")[:64],
        object_id=str(event.get("objectId") or "")[:64],
        property_name=str(event.get("propertyName") or "")[:128],
        property_value=str(event.get("propertyValue") or ""),
        occurred_at=(datetime.fromtimestamp(occurred_at / 1000, tz=UTC) if valid_time else None),
        event_id=_bounded_int(event.get("eventId"), _MAX_ID),
        attempt_number=_bounded_int(event.get("attemptNumber"), _MAX_ATTEMPT) or 0,
        payload=event,
        dedupe_key=_dedupe_key(event),
        state=WebhookEvent.State.REJECTED,
        note=rejected.reason,
    )


def store_batch(batch: Batch) -> IntakeResult:
    """Stores the batch in one transaction; returns which new events to process."""
    result = IntakeResult(rejected=len(batch.rejected))
    for rejected in batch.rejected:
        # The reason names the field, never its value: a value may be thousands of digits.
        logger.warning("webhook: %s Rejected, the rest of the batch is kept.", rejected.reason)
    events = batch.events
    rejected_portals = {
        portal for portal in (_portal_of(rejected.event) for rejected in batch.rejected) if portal
    }
    tenants = _tenants_by_portal(
        {str(int(event["portalId"])) for event in events} | rejected_portals
    )
    rows: list[WebhookEvent] = []
    for rejected in batch.rejected:
        portal_of_rejected = _portal_of(rejected.event)
        if portal_of_rejected and portal_of_rejected in tenants:
            rows.append(_rejected_row(tenants[portal_of_rejected], portal_of_rejected, rejected))
    transferring: dict[str, bool] = {}
    for event in events:
        portal = str(int(event["portalId"]))
        tenant = tenants.get(portal)
        if tenant is None:
            result.unknown_portal += 1
            continue
        if portal not in transferring:
            transferring[portal] = may_transfer(tenant=tenant)
        rows.append(
            WebhookEvent(
                tenant=tenant,
                portal_id=portal,
                subscription_type=str(event["subscriptionType"])[:64],
                object_id=str(int(event["objectId"])),
                property_name=str(event.get("propertyName") or "")[:128],
                property_value=str(event.get("propertyValue") or ""),
                occurred_at=datetime.fromtimestamp(event["occurredAt"] / 1000, tz=UTC),
                event_id=int(event["eventId"]),
                attempt_number=int(event.get("attemptNumber") or 0),
                payload=event,
                dedupe_key=_dedupe_key(event),
                state=(
                    WebhookEvent.State.RECEIVED
                    if transferring[portal]
                    else WebhookEvent.State.ON_HOLD
                ),
            )
        )
    if result.unknown_portal:
        logger.warning("webhook: %d event(s) of unknown portals ignored", result.unknown_portal)
    if not rows:
        return result
    with transaction.atomic():
        keys_by_tenant: dict[str, set[str]] = defaultdict(set)
        for row in rows:
            keys_by_tenant[str(row.tenant_id)].add(row.dedupe_key)
        existing = {
            (str(tenant_id), key)
            for tenant_id, key in WebhookEvent.objects.filter(
                tenant_id__in=list(keys_by_tenant),
                dedupe_key__in={key for keys in keys_by_tenant.values() for key in keys},
            ).values_list("tenant_id", "dedupe_key")
        }
        new_rows = []
        seen: set[tuple[str, str]] = set()
        for row in rows:
            identity = (str(row.tenant_id), row.dedupe_key)
            if identity in existing or identity in seen:
                if row.state != WebhookEvent.State.REJECTED:
                    result.duplicates += 1
                continue
            seen.add(identity)
            new_rows.append(row)
        # A concurrent delivery of the same batch may insert between the read and the write;
        # the unique constraint then drops the second copy instead of failing the request.
        WebhookEvent.objects.bulk_create(new_rows, ignore_conflicts=True)
    for row in new_rows:
        if row.state == WebhookEvent.State.REJECTED:
            continue
        if row.state == WebhookEvent.State.ON_HOLD:
            result.on_hold += 1
        else:
            result.to_process.setdefault(str(row.tenant_id), []).append(str(row.id))
        result.stored += 1
    return result
