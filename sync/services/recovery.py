"""Work whose task was lost: a worker that died, or a broker that lost its queue (Redis
restarted empty). Every piece of work has a row in the database, so the periodic tasks
find it there and hand it to the workers again; running it twice is safe everywhere.

Work of a tenant whose subscription is not in its trial or paid (billing.selectors) is held:
left as it is, not handed out, until the subscription is active again (work_release)."""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import Tenant
from apiup.outages import OUTAGES
from billing.selectors import system_paid_for, transferring_tenant_ids
from sync.models import ImportJob, Transfer, VendorEvent, WebhookEvent
from sync.services import imports

logger = logging.getLogger(__name__)

BATCH = 500
# Work counts as lost only when it has been quiet for longer than the queue in front of it
# takes to drain: a task still waiting behind a backlog is not lost, and sending it again
# would only lengthen the backlog. A low guess of the workers' pace keeps this on the safe side.
ASSUMED_TASKS_PER_SECOND = 10


def _quiet_since(queued: int) -> dt.datetime:
    seconds = settings.TRANSFER_RESUME_AFTER_SECONDS + queued / ASSUMED_TASKS_PER_SECOND
    return timezone.now() - dt.timedelta(seconds=seconds)


def transfers_resume(*, enqueue: Callable[[str], None], queued: int = 0) -> int:
    """Transfers overdue by more than the quiet time: their countdown task was lost, or their
    worker died (lease expired). Transfers that are just due now have a task on its way.
    `queued`: the messages waiting in the broker."""
    now = timezone.now()
    quiet_since = _quiet_since(queued)
    stale = (
        Transfer.objects.filter(state__in=Transfer.ACTIVE_STATES, updated_at__lte=quiet_since)
        .filter(system_paid_for())
        .filter(Q(next_attempt_at__lte=quiet_since) | Q(next_attempt_at__isnull=True))
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
    )
    ids = [str(pk) for pk in stale.values_list("pk", flat=True)[:BATCH]]
    # Touched, so that a transfer that is only waiting in a long queue is sent once per quiet
    # time, not on every round of this task.
    Transfer.objects.filter(pk__in=ids).update(updated_at=now)
    for transfer_id in ids:
        enqueue(transfer_id)
    return len(ids)


def events_resume(*, enqueue: Callable[[str, list[str]], None], queued: int = 0) -> int:
    """Events stored but not processed within the quiet time (their task was lost)."""
    waiting = WebhookEvent.objects.filter(
        state=WebhookEvent.State.RECEIVED,
        received_at__lte=_quiet_since(queued),
        tenant_id__in=transferring_tenant_ids(),
    )
    return _enqueue_by_tenant(waiting, enqueue=enqueue)


def vendor_events_resume(*, enqueue: Callable[[str, list[str]], None], queued: int = 0) -> int:
    """Vendor events stored but not processed within the quiet time (their task was lost)."""
    waiting = VendorEvent.objects.filter(
        system_paid_for(),
        state=VendorEvent.State.RECEIVED,
        received_at__lte=_quiet_since(queued),
    )
    return _enqueue_by_tenant(waiting, enqueue=enqueue)


def _enqueue_by_tenant(waiting: QuerySet[Any], *, enqueue: Callable[[str, list[str]], None]) -> int:
    """Hands out one batch of waiting events, one task per tenant."""
    by_tenant: dict[str, list[str]] = defaultdict(list)
    for tenant, event in waiting.values_list("tenant_id", "pk")[:BATCH]:
        by_tenant[str(tenant)].append(str(event))
    for tenant_id, event_ids in by_tenant.items():
        enqueue(tenant_id, event_ids)
    return sum(len(ids) for ids in by_tenant.values())


def imports_resume(*, enqueue: Callable[[str, float], None]) -> int:
    """Import jobs with no progress for two slices: their task was lost. A job that is only
    slow keeps its lock, and the extra task leaves again at once."""
    quiet_since = timezone.now() - dt.timedelta(seconds=imports.SLICE_SECONDS * 2)
    ids = [
        str(pk)
        for pk in ImportJob.objects.filter(
            state__in=imports.UNFINISHED,
            updated_at__lte=quiet_since,
            tenant_id__in=transferring_tenant_ids(),
        ).values_list("pk", flat=True)[:BATCH]
    ]
    for job_id in ids:
        enqueue(job_id, 0)
    return len(ids)


def work_release(
    *,
    tenant: Tenant,
    enqueue_events: Callable[[str, list[str]], None],
    enqueue_vendor_events: Callable[[str, list[str]], None],
    enqueue_transfer: Callable[[str], None],
    enqueue_import: Callable[[str, float], None],
) -> int:
    """The subscription is active again: the work held meanwhile (waiting events, transfers
    with work left, unfinished imports) is handed to the workers once the caller's
    transaction commits. Events held at intake are released by events_release_on_hold."""
    events = [
        str(pk)
        for pk in WebhookEvent.objects.for_tenant(tenant)
        .filter(state=WebhookEvent.State.RECEIVED)
        .values_list("pk", flat=True)
    ]
    vendor_events = [
        str(pk)
        for pk in VendorEvent.objects.for_tenant(tenant)
        .filter(state=VendorEvent.State.RECEIVED)
        .values_list("pk", flat=True)
    ]
    # A transfer waiting for its retry time keeps it: its countdown task or the resume task
    # brings it when it is due.
    transfers = [
        str(pk)
        for pk in Transfer.objects.for_tenant(tenant)
        .filter(state__in=Transfer.ACTIVE_STATES)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=timezone.now()))
        .values_list("pk", flat=True)
    ]
    jobs = [
        str(pk)
        for pk in ImportJob.objects.for_tenant(tenant)
        .filter(state__in=imports.UNFINISHED)
        .values_list("pk", flat=True)
    ]

    def hand_out() -> None:
        tenant_id = str(tenant.pk)
        try:
            for start in range(0, len(events), BATCH):
                enqueue_events(tenant_id, events[start : start + BATCH])
            for start in range(0, len(vendor_events), BATCH):
                enqueue_vendor_events(tenant_id, vendor_events[start : start + BATCH])
            for transfer_id in transfers:
                enqueue_transfer(transfer_id)
            for job_id in jobs:
                enqueue_import(job_id, 0)
        except OUTAGES:
            # The tenant may transfer now, so the resume tasks find what is left.
            logger.warning("broker unreachable: released work waits for the resume tasks")

    transaction.on_commit(hand_out)
    return len(events) + len(vendor_events) + len(transfers) + len(jobs)
