"""Celery tasks: thin interfaces that load by id and call one service."""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.db.models import Q
from django.utils import timezone

from sync.models import Transfer
from sync.services import events, imports, maintenance, notices, transfers

# Late acknowledgement and reject-on-worker-lost are set globally (settings/queue.py): a
# task whose worker dies is delivered again, and every task below is safe to run twice.


# A busy or briefly unreachable database is worth another try; everything else is handled
# (and shown to the customer) by the services themselves.
_DATABASE_HICCUPS = (OperationalError, InterfaceError)


@shared_task(
    name="sync.process_events", autoretry_for=_DATABASE_HICCUPS, retry_backoff=1, max_retries=8
)
def process_events(tenant_id: str, event_ids: list[str]) -> None:
    events.events_process(tenant_id=tenant_id, event_ids=event_ids, enqueue=enqueue_transfer)


@shared_task(
    name="sync.run_transfer", autoretry_for=_DATABASE_HICCUPS, retry_backoff=1, max_retries=8
)
def run_transfer(transfer_id: str) -> None:
    transfers.run_transfer(transfer_id, enqueue=_enqueue_transfer_later)


@shared_task(
    name="sync.run_import", autoretry_for=_DATABASE_HICCUPS, retry_backoff=1, max_retries=8
)
def run_import(job_id: str) -> None:
    imports.import_run(job_id, enqueue=enqueue_import)


def enqueue_import(job_id: str, seconds: float) -> None:
    run_import.apply_async((job_id,), countdown=seconds)


@shared_task(name="sync.resume_due_transfers")
def resume_due_transfers() -> int:
    """Picks up transfers whose wait was too long for a Celery countdown, and transfers whose
    worker was lost (lease expired)."""
    now = timezone.now()
    due = (
        Transfer.objects.filter(state__in=Transfer.ACTIVE_STATES)
        .filter(Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True))
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
    )
    # Fresh transfers were enqueued when they were created; only stale ones need a nudge.
    quiet_since = now - dt.timedelta(seconds=settings.TRANSFER_RESUME_AFTER_SECONDS)
    stale = due.filter(updated_at__lte=quiet_since)
    ids = [str(pk) for pk in stale.values_list("pk", flat=True)[:500]]
    for transfer_id in ids:
        run_transfer.delay(transfer_id)
    return len(ids)


@shared_task(name="sync.send_notices")
def send_notices() -> int:
    return notices.notices_send()


@shared_task(name="sync.purge_expired_records")
def purge_expired_records() -> dict[str, int]:
    return maintenance.records_purge()


def enqueue_transfer(transfer_id: str) -> None:
    run_transfer.delay(transfer_id)


def _enqueue_transfer_later(transfer_id: str, seconds: float) -> None:
    run_transfer.apply_async((transfer_id,), countdown=seconds)


def enqueue_events(tenant_id: str, event_ids: list[str]) -> None:
    process_events.delay(tenant_id, event_ids)
