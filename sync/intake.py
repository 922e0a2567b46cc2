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


class MalformedBatch(ValueError):
    pass


def parse_batch(body: bytes) -> list[dict[str, Any]]:
    try:
        events = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedBatch(f"The body is not JSON: {exc}") from exc
    if not isinstance(events, list) or not events:
        raise MalformedBatch("The body must be a non-empty JSON array of events.")
    if len(events) > MAX_BATCH:
        raise MalformedBatch(f"At most {MAX_BATCH} events per request, got {len(events)}.")
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            raise MalformedBatch(f"Event {index} is not an object.")
        # The docs table calls the type field eventType; the signed examples use
        # subscriptionType. Both are accepted.
        if "subscriptionType" not in event and "eventType" in event:
            event["subscriptionType"] = event["eventType"]
        missing = [key for key in _REQUIRED if event.get(key) in (None, "")]
        if missing:
            raise MalformedBatch(f"Event {index} lacks {', '.join(missing)}.")
        if not isinstance(event["occurredAt"], int) or not str(event["portalId"]).isdigit():
            raise MalformedBatch(f"Event {index} has a malformed occurredAt or portalId.")
    return events


def _dedupe_key(event: dict[str, Any]) -> str:
    identity = [
        event["portalId"],
        event["subscriptionType"],
        event["objectId"],
        event.get("propertyName", ""),
        event.get("propertyValue", ""),
        event["occurredAt"],
        event["eventId"],
    ]
    return hashlib.sha256(json.dumps(identity, default=str).encode()).hexdigest()


@dataclass
class IntakeResult:
    stored: int = 0
    duplicates: int = 0
    unknown_portal: int = 0
    on_hold: int = 0
    to_process: dict[str, list[str]] = field(default_factory=dict)  # tenant id -> event ids


def _tenants_by_portal(portal_ids: set[str]) -> dict[str, Tenant]:
    links = (
        Connection.objects.filter(system="hubspot", external_account_id__in=portal_ids)
        .select_related("tenant")
        .defer("credentials")  # not needed here, and decrypting them costs time per request
    )
    return {link.external_account_id: link.tenant for link in links}


def store_batch(events: list[dict[str, Any]]) -> IntakeResult:
    """Stores the batch in one transaction; returns which new events to process."""
    result = IntakeResult()
    tenants = _tenants_by_portal({str(event["portalId"]) for event in events})
    rows: list[WebhookEvent] = []
    transferring: dict[str, bool] = {}
    for event in events:
        portal = str(event["portalId"])
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
                object_id=str(event["objectId"])[:64],
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
                result.duplicates += 1
                continue
            seen.add(identity)
            new_rows.append(row)
        # A concurrent delivery of the same batch may insert between the read and the write;
        # the unique constraint then drops the second copy instead of failing the request.
        WebhookEvent.objects.bulk_create(new_rows, ignore_conflicts=True)
    for row in new_rows:
        if row.state == WebhookEvent.State.ON_HOLD:
            result.on_hold += 1
        else:
            result.to_process.setdefault(str(row.tenant_id), []).append(str(row.id))
    result.stored = len(new_rows)
    return result
