"""Work whose task was lost: a worker that died, or a broker that lost its queue (Redis
restarted empty). Every piece of work has a row in the database, so the periodic tasks
find it there and hand it to the workers again; running it twice is safe everywhere."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from sync.models import ImportJob, Transfer, VendorEvent, WebhookEvent
from sync.services import imports

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
        state=WebhookEvent.State.RECEIVED, received_at__lte=_quiet_since(queued)
    )
    return _enqueue_by_tenant(waiting, enqueue=enqueue)


def vendor_events_resume(*, enqueue: Callable[[str, list[str]], None], queued: int = 0) -> int:
    """Vendor events stored but not processed within the quiet time (their task was lost)."""
    waiting = VendorEvent.objects.filter(
        state=VendorEvent.State.RECEIVED, received_at__lte=_quiet_since(queued)
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
            state__in=imports.UNFINISHED, updated_at__lte=quiet_since
        ).values_list("pk", flat=True)[:BATCH]
    ]
    for job_id in ids:
        enqueue(job_id, 0)
    return len(ids)
