"""Pacing: a transfer books its vendor calls on the tenant's rate limit before it takes a
worker, and waits for its turn in the queue rather than in the worker.

Without it, a tenant who wins a hundred deals at once fills every worker with transfers that
sleep on that tenant's limit (lexware office: 2 calls per second), and the other tenants'
transfers wait behind them. With it, those hundred transfers are spread over the tenant's
own time line, and a worker waits for its turn half a second at most.

A vendor that is down (its circuit breaker is open, connectors/breaker.py) is waited for the
same way: in the queue, not in a worker, and without counting an attempt."""

from __future__ import annotations

import datetime as dt
import random
from typing import Protocol

from django.db.models import Q
from django.utils import timezone

from connectors import errors
from sync.messages import Message, error_fields
from sync.models import Transfer
from sync.services import context

# What a transfer books when its system declares no budget for its kind (the provider's
# `calls_budget`: a quote for a linked customer needs one call, for a customer found by
# e-mail two).
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
    try:
        connector = context.system_connector(tenant=transfer.tenant, system=transfer.system)
    except errors.ConnectorError:
        return False  # the run records why it cannot reach the vendor
    outage = connector.client.outage()
    if outage is not None and outage.retry_in > 0:
        _hand_back(
            transfer,
            vendor_wait(outage.retry_in),
            now=now,
            enqueue=enqueue,
            error=vendor_unreachable_message(vendor=connector.provider.label),
        )
        return True
    if transfer.next_attempt_at is not None:
        # It has waited its turn (or a retry's backoff): it runs on the booking it holds, even
        # when it comes late. Booking again would put it back at the end of the line each
        # time a busy queue made it late, and it might never run.
        return False
    seconds = connector.book_calls(
        connector.provider.calls_budget.get(transfer.kind, CALLS_PER_TRANSFER)
    )
    if seconds <= WORKER_WAIT_SECONDS:
        return False
    _hand_back(transfer, seconds - EARLY_BY_SECONDS, now=now, enqueue=enqueue, paced=True)
    return True


def _hand_back(
    transfer: Transfer,
    due_in: float,
    *,
    now: dt.datetime,
    enqueue: EnqueuePaced,
    paced: bool = False,
    error: Message | None = None,
) -> None:
    # The due time is stored, so that the resume task does not take the transfer for lost.
    changes: dict[str, object] = {"next_attempt_at": now + dt.timedelta(seconds=due_in)}
    if error is not None:
        changes.update(**error_fields(error), error_retryable=True)
    Transfer.objects.filter(pk=transfer.pk).update(**changes, updated_at=now)
    if due_in <= LONGEST_COUNTDOWN_SECONDS:
        enqueue(str(transfer.pk), due_in, paced=paced)


def vendor_wait(seconds: float) -> float:
    """How long a transfer waits for a vendor whose breaker lets a call through in `seconds`:
    a little longer, by a random share, so that the transfers waiting for it do not all come
    back at the same moment (one of them is the probe, the others wait for its answer)."""
    return seconds * random.uniform(1.0, 1.5) + 0.1  # noqa: S311


def vendor_unreachable_message(*, vendor: str) -> Message:
    return Message("vendor.circuit_open", {"vendor": vendor})
