"""Retention: stored payloads go after 30 days, log entries after 90 (configurable).

Events kept on hold for billing and Stripe's events follow the same rule as every stored
payload: a subscription unpaid for longer than the retention loses the events of that time."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone

from billing.services import stripe_events_purge
from sync.models import Transfer, TransferAttempt, VendorEvent, WebhookEvent


def records_purge(*, now: dt.datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    payload_cutoff = now - dt.timedelta(days=settings.PAYLOAD_RETENTION_DAYS)
    log_cutoff = now - dt.timedelta(days=settings.LOG_RETENTION_DAYS)
    payloads = (
        Transfer.objects.filter(updated_at__lt=payload_cutoff)
        .exclude(source_payload=None, sent_payload=None)
        .update(source_payload=None, sent_payload=None)
    )
    events, _ = WebhookEvent.objects.filter(received_at__lt=payload_cutoff).delete()
    vendor_events, _ = VendorEvent.objects.filter(received_at__lt=payload_cutoff).delete()
    stripe_events = stripe_events_purge(received_before=payload_cutoff)
    attempts, _ = TransferAttempt.objects.filter(started_at__lt=log_cutoff).delete()
    transfers, _ = Transfer.objects.filter(
        updated_at__lt=log_cutoff, state__in=[Transfer.State.DONE, Transfer.State.SKIPPED]
    ).delete()
    return {
        "payloads": payloads,
        "events": events,
        "vendor_events": vendor_events,
        "stripe_events": stripe_events,
        "attempts": attempts,
        "transfers": transfers,
    }
