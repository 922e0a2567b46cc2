"""The transfer's state machine: which state may follow which, and the one function through
which every state change of a transfer goes.

A change is a conditional UPDATE (... WHERE state IN the states it may come from), not a read
and a save: of two processes that disagree about a transfer's state, only the first moves
it, and the second learns that it did not instead of overwriting the first one's work."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.utils import timezone

from sync.models import Transfer

State = Transfer.State

ALLOWED: dict[str, frozenset[str]] = {
    # Work left. PENDING again: a newer change came in while the run was under way, so it
    # runs once more (with the lease freed).
    State.PENDING: frozenset(
        {State.PENDING, State.QUOTE_IN_FLIGHT, State.DONE, State.SKIPPED, State.FAILED}
    ),
    # The quote may exist at the vendor: the run looks it up, and sends it again (staying
    # in flight) only when it is not there. It never goes back to PENDING, which would
    # forget that it must be looked up first.
    State.QUOTE_IN_FLIGHT: frozenset(
        {State.QUOTE_IN_FLIGHT, State.DONE, State.SKIPPED, State.FAILED}
    ),
    # Finished. Only a new request from HubSpot reopens it, and only where the kind of
    # transfer allows (a quote that is done stays done: one quote per deal).
    State.DONE: frozenset({State.PENDING}),
    State.SKIPPED: frozenset({State.PENDING}),
    # The customer's retry, or a new request; a quote that may have been sent is retried
    # in flight, so that it is looked up before it is created again.
    State.FAILED: frozenset({State.PENDING, State.QUOTE_IN_FLIGHT}),
}


def transfer_sources(*, to: str) -> frozenset[str]:
    """The states a transfer may be in to move to `to`."""
    if to not in ALLOWED:
        raise ValueError(f"{to!r} is not a transfer state")
    return frozenset(state for state, targets in ALLOWED.items() if to in targets)


def transfer_transition(
    *,
    transfer: Transfer,
    to: str,
    only_from: Iterable[str] | None = None,
    at_generation: int | None = None,
    **fields: Any,
) -> bool:
    """Moves the transfer to `to`, writing `fields` in the same UPDATE, if its stored state
    may lead there; returns whether it moved. Nothing is written when it did not.

    `only_from` narrows the table's sources for one caller (a retry starts only from
    FAILED), never widens them. `at_generation`: move only if no newer change of the
    HubSpot record has come in since the run read it."""
    sources = transfer_sources(to=to)
    if only_from is not None:
        sources &= frozenset(only_from)
    rows = Transfer.objects.for_tenant(transfer.tenant).filter(pk=transfer.pk, state__in=sources)
    if at_generation is not None:
        rows = rows.filter(generation=at_generation)
    now = timezone.now()
    if not rows.update(state=to, updated_at=now, **fields):
        return False
    transfer.state = to
    transfer.updated_at = now
    computed = []
    for name, value in fields.items():
        if hasattr(value, "resolve_expression"):
            computed.append(name)  # F("generation") + 1 and the like: the database knows
        else:
            setattr(transfer, name, value)
    if computed:
        transfer.refresh_from_db(fields=computed)
    return True
