"""The path every run of a transfer takes, whatever its kind and whoever starts it (its task,
the resume task, an import): claim it under a lease, let its handler work, and end it: done,
skipped, failed for the customer to see, or back in the queue to try again later.

Each step is persisted before the next, so that a lost worker, a lost answer or a vendor
outage ends in exactly one effect or a visible, retryable failure."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import random
from collections.abc import Callable
from contextlib import suppress
from typing import Any, Protocol

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Tenant
from apiup.locks import LockTimeout
from apiup.outages import OUTAGES
from connectors import errors
from sync.messages import Message, Refusal, error_fields, tax_rate_refused, verbatim
from sync.models import Transfer, TransferAttempt
from sync.services import pacing
from sync.services.transitions import transfer_transition

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 12
MAX_BACKOFF = dt.timedelta(hours=1)
INLINE_COUNTDOWN_LIMIT = 60  # seconds; longer waits are picked up by the periodic task


class CustomerBusy(errors.TransientError):
    """The customer's lock is held by another transfer (or by a worker that died with it)."""


@dataclasses.dataclass
class Run:
    transfer: Transfer
    attempt: TransferAttempt
    tenant: Tenant


class Retry(Protocol):
    """What a run does with a failure that may pass: wait and try again."""

    def __call__(self, *, run: Run, failure: errors.ConnectorError) -> None: ...


def plain(value: Any) -> Any:
    """A JSON-safe copy of a shape for the activity log."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    return json.loads(json.dumps(value, default=str))


def run_claim(*, transfer_id: str) -> Run | None:
    """Takes the transfer for this worker, or returns None when there is nothing to do now
    (finished, not yet due, or being run by another worker)."""
    now = timezone.now()
    with transaction.atomic():
        transfer = (
            Transfer.objects.select_for_update()
            .select_related("tenant")
            .filter(pk=transfer_id)
            .first()
        )
        if transfer is None or transfer.state not in Transfer.ACTIVE_STATES:
            return None
        if transfer.next_attempt_at and transfer.next_attempt_at > now:
            return None
        if transfer.lease_until and transfer.lease_until > now:
            return None
        transfer.attempts += 1
        # Longer than the task time limit, so a live worker never loses its lease.
        transfer.lease_until = now + dt.timedelta(seconds=settings.TRANSFER_LEASE_SECONDS)
        transfer.next_attempt_at = None
        transfer.save(update_fields=["attempts", "lease_until", "next_attempt_at", "updated_at"])
        attempt = TransferAttempt.objects.create(
            tenant=transfer.tenant, transfer=transfer, number=transfer.attempts
        )
    return Run(transfer=transfer, attempt=attempt, tenant=transfer.tenant)


def run_save(run: Run, *fields: str) -> None:
    """Stores what the run has learnt so far."""
    if "state" in fields:
        raise ValueError("a transfer's state changes only through transfer_transition")
    run.transfer.save(update_fields=[*fields, "updated_at"])


def _end_attempt(run: Run, *, outcome: str, error: Message | str | None = None) -> None:
    run.attempt.outcome = outcome
    for name, value in error_fields(error).items():
        setattr(run.attempt, name, value)
    run.attempt.finished_at = timezone.now()
    run.attempt.save(update_fields=["outcome", "error", "error_message", "finished_at"])


def run_stop(*, run: Run) -> None:
    """The transfer's state was changed elsewhere while this run had it (its lease ran out,
    and another run took it over): this run leaves the transfer as it is now."""
    logger.warning("transfer %s was changed by another run; this run stops", run.transfer.pk)
    _end_attempt(
        run,
        outcome=TransferAttempt.Outcome.SKIPPED,
        error=Message("run.superseded"),
    )


def run_finish(
    *,
    run: Run,
    state: str,
    outcome: str,
    error: Message | str | None = None,
    retryable: bool = False,
    at_generation: int | None = None,
) -> bool:
    """Ends the run in a final state; returns False when the transfer may not take it (see
    transitions.py), which with `at_generation` means a newer change has come in: the
    caller then runs it again (run_again). `error` is a Message, or a str shown as it is."""
    moved = transfer_transition(
        transfer=run.transfer,
        to=state,
        at_generation=at_generation,
        **error_fields(error),
        error_retryable=retryable,
        lease_until=None,
        # A transfer opened again (a contact's next change, the customer's retry) takes a
        # new place at the end of its account's line (dispatch.py).
        turn_at=None,
        finished_at=timezone.now(),
    )
    if moved:
        _end_attempt(run, outcome=outcome, error=error)
    elif at_generation is None:
        run_stop(run=run)
    return moved


def run_again(*, run: Run) -> None:
    """A newer change of the HubSpot record came in while the run was under way: the
    transfer runs once more, with the new data (the resume task sends it)."""
    again = transfer_transition(
        transfer=run.transfer,
        to=Transfer.State.PENDING,
        only_from=Transfer.ACTIVE_STATES,
        lease_until=None,
    )
    if again:
        _end_attempt(run, outcome=TransferAttempt.Outcome.RETRY)
    else:
        run_stop(run=run)


def _backoff(attempts: int) -> dt.timedelta:
    base = min(MAX_BACKOFF.total_seconds(), 2 ** min(attempts, 12))
    return dt.timedelta(seconds=random.uniform(base / 2, base))  # noqa: S311


def run_retry_later(
    *, run: Run, failure: errors.ConnectorError, enqueue: pacing.EnqueuePaced
) -> None:
    """Frees the transfer to try again after a backoff (or the vendor's Retry-After), or
    fails it once it has tried often enough."""
    if isinstance(failure, errors.CircuitOpen):
        run_wait_for_vendor(run=run, failure=failure, enqueue=enqueue)
        return
    transfer = run.transfer
    delay = _backoff(transfer.attempts)
    if isinstance(failure, errors.RateLimited):
        delay = max(delay, dt.timedelta(seconds=failure.wait_seconds))
    message = failure_message(failure=failure)
    if transfer.attempts >= MAX_ATTEMPTS:
        run_finish(
            run=run,
            state=Transfer.State.FAILED,
            outcome=TransferAttempt.Outcome.FAILED,
            error=Message("run.gave_up", {"n": transfer.attempts, "error": message}),
            retryable=True,
        )
        return
    transfer.next_attempt_at = timezone.now() + delay
    transfer.lease_until = None
    _set_error(transfer, message)
    run_save(run, "next_attempt_at", "lease_until", "error", "error_message", "error_retryable")
    _end_attempt(run, outcome=TransferAttempt.Outcome.RETRY, error=message)
    seconds = delay.total_seconds()
    if seconds <= INLINE_COUNTDOWN_LIMIT:
        transaction.on_commit(lambda: enqueue(str(transfer.pk), seconds))


def run_wait_for_vendor(
    *, run: Run, failure: errors.CircuitOpen, enqueue: pacing.EnqueuePaced
) -> None:
    """The vendor's circuit breaker is open: the transfer waits for it, and this run does not
    count as an attempt, so that an outage of hours does not use up the attempts."""
    transfer = run.transfer
    transfer.attempts -= 1
    transfer.next_attempt_at = timezone.now() + dt.timedelta(
        seconds=pacing.vendor_wait(failure.wait_seconds)
    )
    transfer.lease_until = None
    _set_error(transfer, failure_message(failure=failure))
    run_save(
        run, "attempts", "next_attempt_at", "lease_until", "error", "error_message",
        "error_retryable",
    )  # fmt: skip
    run.attempt.delete()  # a wait, not an attempt
    seconds = (transfer.next_attempt_at - timezone.now()).total_seconds()
    if seconds <= pacing.LONGEST_COUNTDOWN_SECONDS:
        transaction.on_commit(lambda: enqueue(str(transfer.pk), max(0.0, seconds)))


def run_release(*, run: Run, failure: errors.ConnectorError) -> None:
    """Frees the transfer at once, for a caller that waits and comes back itself (an import
    slice resumes at the same contact)."""
    message = failure_message(failure=failure)
    transfer = run.transfer
    transfer.lease_until = None
    _set_error(transfer, message)
    run_save(run, "lease_until", "error", "error_message", "error_retryable")
    _end_attempt(run, outcome=TransferAttempt.Outcome.RETRY, error=message)


def _set_error(transfer: Transfer, message: Message) -> None:
    for name, value in error_fields(message).items():
        setattr(transfer, name, value)
    transfer.error_retryable = True


def failure_message(*, failure: errors.ConnectorError) -> Message:
    """What went wrong, in the customer's words (the vendor's own message kept verbatim)."""
    if isinstance(failure, Refusal):
        return failure.message
    if isinstance(failure, errors.TaxRateRefused):
        return tax_rate_refused(failure)
    if isinstance(failure, errors.ReconnectRequired | errors.AuthorizationExpired):
        return Message("vendor.refused_connection", {"reason": verbatim(failure.vendor_message)})
    if isinstance(failure, errors.RateLimited):
        return Message("vendor.rate_limited")
    if isinstance(failure, errors.CircuitOpen):
        return pacing.vendor_unreachable_message(vendor=failure.vendor)
    if isinstance(failure, errors.UnknownOutcome):
        return Message("vendor.unknown_outcome")
    if isinstance(failure, CustomerBusy):
        return Message("customer.busy")
    if isinstance(getattr(failure, "message", None), Message):
        return failure.message  # type: ignore[attr-defined]  # the product's own wait
    if isinstance(failure, errors.TransientError):
        return Message("vendor.unreachable", {"reason": verbatim(failure.vendor_message)})
    return verbatim(failure.vendor_message)


def run_guarded(*, run: Run, work: Callable[[Run], None], retry: Retry) -> None:
    """Lets `work` run the claimed transfer and maps what goes wrong onto it: a failure that
    may pass goes to `retry`, one that will not fails the transfer visibly (the customer may
    retry it), and an outage of the database or Redis frees the lease and is raised, for the
    task to run again."""
    try:
        work(run)
    except errors.ConnectorError as failure:
        if failure.retryable:
            retry(run=run, failure=failure)
        else:
            run_finish(
                run=run,
                state=Transfer.State.FAILED,
                outcome=TransferAttempt.Outcome.FAILED,
                error=failure_message(failure=failure),
                retryable=True,
            )
    except LockTimeout:
        # Another transfer has the same customer in hand, or a worker that died holds its
        # lock until the lock expires: this one waits and comes back.
        retry(run=run, failure=CustomerBusy("customer lock held elsewhere"))
    except OUTAGES:
        # A busy or unreachable database or Redis: free the lease and let the task (or, if the
        # broker is down too, the resume task) run it again.
        with suppress(*OUTAGES):
            Transfer.objects.for_tenant(run.tenant).filter(pk=run.transfer.pk).update(
                lease_until=None
            )
        raise
    except Exception:
        logger.exception("transfer %s failed unexpectedly", run.transfer.pk)
        run_finish(
            run=run,
            state=Transfer.State.FAILED,
            outcome=TransferAttempt.Outcome.FAILED,
            error=Message("run.unexpected"),
            retryable=True,
        )
