"""Pacing: a transfer books its vendor calls on the tenant's rate limit before it takes a
worker, and waits for its turn in the queue rather than in the worker.

Without it, a tenant who wins a hundred deals at once fills every worker with transfers that
sleep on that tenant's limit (lexware office: 2 calls per second), and the other tenants'
transfers wait behind them. With it, those hundred transfers are spread over the tenant's
own time line, and a worker waits for its turn half a second at most."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from django.db.models import Q
from django.utils import timezone

from connectors import errors
from sync.models import Transfer
from sync.services import context

# What a transfer books when its system declares no budget for its kind (the provider's
# `calls_budget`: a quote usually needs two calls, find the customer and create the quote).
# A transfer that needs more than it booked waits a little in its worker.
CALLS_PER_TRANSFER = 2
# A transfer whose turn comes within this many seconds runs now; a worker may sleep that long.
WORKER_WAIT_SECONDS = 0.5
# A handed-back transfer comes back this much before its turn and waits the rest in the
# worker, so that a worker that is a little late does not leave the turn unused.
EARLY_BY_SECONDS = 0.1
# Celery holds a counted-down task in the worker until it is due; beyond this the periodic
# resume task picks the transfer up instead (Redis would deliver it again after an hour).
LONGEST_COUNTDOWN_SECONDS = 3000.0


class EnqueuePaced(Protocol):
    def __call__(self, transfer_id: str, seconds: float, *, paced: bool = False) -> None: ...


def transfer_pace(transfer_id: str, *, enqueue: EnqueuePaced) -> bool:
    """Books the transfer's vendor calls; returns True when its turn is later and it has been
    handed back to the queue until then, False when it should run now."""
    now = timezone.now()
    transfer = (
        Transfer.objects.select_related("tenant")
        .filter(pk=transfer_id, state__in=Transfer.ACTIVE_STATES)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
        .first()
    )
    if transfer is None:
        return False  # finished, not yet due, or running elsewhere: the claim says so
    if transfer.next_attempt_at is not None:
        # It has waited its turn (or a retry's backoff): it runs on the booking it holds, even
        # when it comes late. Booking again would put it back at the end of the line each
        # time a busy queue made it late, and it might never run.
        return False
    try:
        connector = context.accounting_connector(tenant=transfer.tenant)
    except errors.ConnectorError:
        return False  # the run records why it cannot reach the vendor
    seconds = connector.book_calls(
        connector.provider.calls_budget.get(transfer.kind, CALLS_PER_TRANSFER)
    )
    if seconds <= WORKER_WAIT_SECONDS:
        return False
    due_in = seconds - EARLY_BY_SECONDS
    # The due time is stored, so that the resume task does not take the transfer for lost.
    Transfer.objects.filter(pk=transfer.pk).update(
        next_attempt_at=now + dt.timedelta(seconds=due_in), updated_at=now
    )
    if due_in <= LONGEST_COUNTDOWN_SECONDS:
        enqueue(str(transfer.pk), due_in, paced=True)
    return True
