"""The dispatcher: due transfers are handed to the workers from the database, in the order of
their turns, one at a time per tenant's account at a vendor, all accounts side by side.

A transfer with work left gets a turn on its account's line when the dispatcher first sees
it: right after the account's last booked turn, by as many calls as it will make at the
vendor's rate (`Provider.calls_budget` and `rate`), or, when the account's line is empty,
where the workers are now (start-time fair queueing: the oldest turn still waiting, or now). A round
(`transfers_dispatch`) then hands out, for every account with nothing in the workers' hands,
the first transfer of its line that is due, oldest turn first, as long as fewer than
`TRANSFER_DISPATCH_LIMIT` transfers are in the workers' hands. The broker carries only
"something is due" (a round) and the hand-outs of one round, which a worker takes at once.

Why not a countdown message per transfer: a countdown that comes late, behind a backlog,
runs on the turn it booked long ago, and the late transfers of one tenant meet on its limit
together (answers of 429); and the queue is first in, first out, so the tenant that won a
hundred deals a second before another holds the other's first quote behind its hundred.
Here a tenant's transfers run one after another, each as soon as the one before has
finished, and a turn decides only who goes first when the workers are busy.

Exactly once does not depend on the dispatcher: a transfer handed out twice (a lost hand-out
found again after `TRANSFER_DISPATCH_HOLD_SECONDS`, or two rounds at once) is still run once,
under its claim and lease (runs.run_claim)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import cache

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Min, Q
from django.utils import timezone

from billing.selectors import system_paid_for
from connectors.registry import provider
from sync.models import Transfer

HandOut = Callable[[list[str]], None]

# What a transfer books when its system declares no budget for its kind.
CALLS_PER_TRANSFER = 2
# New transfers given a turn per round at most; the rest get theirs in the next rounds.
BOOK_BATCH = 2000
# A round reads due transfers in turn order, at most this many pages of at most PAGE_LIMIT;
# accounts whose transfers were all further down wait for the next round.
PAGE_LIMIT = 2000
PAGES_PER_ROUND = 5

Account = tuple[object, str]  # (tenant id, system)


@cache
def turn_length(system: str, kind: str) -> float:
    """Seconds of the account's line a transfer of this kind takes at the vendor's rate."""
    try:
        declared = provider(system)
    except KeyError:
        return 0.0
    if declared.rate is None:
        return 0.0
    return declared.calls_budget.get(kind, CALLS_PER_TRANSFER) / declared.rate.per_second


def turns_book(*, now: dt.datetime) -> int:
    """Gives every transfer with work left and no turn yet its place in its account's line,
    in the order the transfers were made."""
    new = list(
        Transfer.objects.filter(state__in=Transfer.ACTIVE_STATES, turn_at__isnull=True)
        .order_by("created_at")
        .only("pk", "tenant_id", "system", "kind")[:BOOK_BATCH]
    )
    if not new:
        return 0
    # Where the line is now: the oldest turn still waiting to be handed out (the workers are
    # behind), else now. An account whose line is empty starts there, not at the end of
    # everyone's backlog, so that a tenant's first transfer does not wait for the others' tenth.
    oldest_waiting = (
        Transfer.objects.filter(state__in=Transfer.ACTIVE_STATES, turn_at__lte=now)
        .filter(Q(dispatched_until__isnull=True) | Q(dispatched_until__lte=now))
        .aggregate(oldest=Min("turn_at"))["oldest"]
    )
    line_now = min(now, oldest_waiting) if oldest_waiting else now
    tenants = {transfer.tenant_id for transfer in new}
    ends: dict[Account, dt.datetime] = {}
    booked = (
        Transfer.objects.filter(
            state__in=Transfer.ACTIVE_STATES, turn_at__isnull=False, tenant_id__in=tenants
        )
        .values("tenant_id", "system")
        .annotate(last=Max("turn_at"))
    )
    for row in booked:
        ends[(row["tenant_id"], row["system"])] = row["last"]
    for transfer in new:
        account = (transfer.tenant_id, transfer.system)
        length = dt.timedelta(seconds=turn_length(transfer.system, transfer.kind))
        last = ends.get(account)
        turn = line_now if last is None else max(line_now, last + length)
        transfer.turn_at = ends[account] = turn
    Transfer.objects.bulk_update(new, ["turn_at"], batch_size=500)
    return len(new)


def _busy_accounts(*, now: dt.datetime) -> set[Account]:
    """Accounts with a transfer in the workers' hands."""
    return {
        (tenant_id, system)
        for tenant_id, system in Transfer.objects.filter(
            state__in=Transfer.ACTIVE_STATES, dispatched_until__gt=now
        ).values_list("tenant_id", "system")
    }


def transfers_dispatch(*, hand_out: HandOut) -> int:
    """One round: books the turns of new transfers and hands out the due ones (at most one
    per account), oldest turn first; returns how many were handed out. The caller holds the
    dispatcher's lock, so that two rounds do not pick two transfers of one account."""
    now = timezone.now()
    turns_book(now=now)
    busy = _busy_accounts(now=now)
    room = settings.TRANSFER_DISPATCH_LIMIT - len(busy)
    if room <= 0:
        return 0
    due = (
        Transfer.objects.filter(state__in=Transfer.ACTIVE_STATES, turn_at__lte=now)
        .filter(system_paid_for())
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
        .filter(Q(dispatched_until__isnull=True) | Q(dispatched_until__lte=now))
        .order_by("turn_at", "created_at", "pk")
        .values_list("pk", "tenant_id", "system")
    )
    # Read in turn order along the index of turns, a page at a time, rather than ranking every
    # due transfer per account: the first due transfer of each account is the one it meets
    # first, and a round needs only `room` of them.
    page = min(PAGE_LIMIT, 4 * (room + len(busy)))
    seen = set(busy)
    chosen: list[str] = []
    for number in range(PAGES_PER_ROUND):
        rows = list(due[number * page : (number + 1) * page])
        for pk, tenant_id, system in rows:
            if (tenant_id, system) in seen:
                continue
            seen.add((tenant_id, system))
            chosen.append(str(pk))
            if len(chosen) >= room:
                break
        if len(chosen) >= room or len(rows) < page:
            break
    if not chosen:
        return 0
    hold = now + dt.timedelta(seconds=settings.TRANSFER_DISPATCH_HOLD_SECONDS)
    with transaction.atomic():
        Transfer.objects.filter(pk__in=chosen).update(dispatched_until=hold)
        transaction.on_commit(lambda: hand_out(chosen))
    return len(chosen)


def next_due_in(*, now: dt.datetime | None = None) -> float | None:
    """Seconds until the next booked turn or retry time of a transfer with work left, or None
    when none lies ahead. (A lease or hold that runs out is found by beat's round.)"""
    now = now or timezone.now()
    active = Transfer.objects.filter(state__in=Transfer.ACTIVE_STATES)
    ahead = [
        active.filter(turn_at__gt=now)
        .order_by("turn_at")
        .values_list("turn_at", flat=True)
        .first(),
        active.filter(next_attempt_at__gt=now)
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first(),
    ]
    times = [at for at in ahead if at is not None]
    return (min(times) - now).total_seconds() if times else None


def transfer_dispatch_end(transfer_id: str) -> None:
    """The worker has finished with a handed-out transfer (whatever the outcome): its account
    may have the next one."""
    Transfer.objects.filter(pk=transfer_id).update(dispatched_until=None)
