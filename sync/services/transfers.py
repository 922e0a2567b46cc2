"""Running a transfer from its task: wait for its turn on the vendor's rate limit (given by
the dispatcher, dispatch.py, or booked here), claim it, and let the handler of its kind do
the work (handlers.py); runs.py ends the run, whatever happens."""

from __future__ import annotations

from contextlib import suppress
from functools import partial

from apiup.outages import OUTAGES
from billing.selectors import may_transfer
from sync.models import Transfer
from sync.services import dispatch, pacing, runs
from sync.services.handlers import handler_for


def _work(run: runs.Run) -> None:
    handler_for(kind=run.transfer.kind).run(run)


def run_transfer(
    transfer_id: str,
    *,
    enqueue: pacing.EnqueuePaced,
    paced: bool = False,
    dispatched: bool = False,
) -> None:
    """Runs the transfer's next step; `paced` when it has booked its turn on the vendor's
    rate limit already (pacing.py), `dispatched` when the dispatcher handed it out in its
    turn (dispatch.py): its account gets the next transfer once this run has ended."""
    try:
        _run(transfer_id, enqueue=enqueue, paced=paced or dispatched)
    finally:
        if dispatched:
            # Left to the hold's expiry when the database is out: the task runs again.
            with suppress(*OUTAGES):
                dispatch.transfer_dispatch_end(transfer_id)


def _run(transfer_id: str, *, enqueue: pacing.EnqueuePaced, paced: bool) -> None:
    transfer = Transfer.objects.select_related("tenant").filter(pk=transfer_id).first()
    if transfer is None or not may_transfer(tenant=transfer.tenant, system=transfer.system):
        # Held: the plan for its system lapsed after the task was enqueued. The transfer keeps its
        # state, untouched, and is sent again when it is active (recovery.work_release).
        return
    if not paced and pacing.transfer_pace(transfer_id, enqueue=enqueue):
        return
    run = runs.run_claim(transfer_id=transfer_id)
    if run is None:
        return
    runs.run_guarded(run=run, work=_work, retry=partial(runs.run_retry_later, enqueue=enqueue))
