"""The dispatcher: due transfers leave the database in the order of their turns, one at a time
per tenant's account, every account side by side, and no more at once than the workers take."""

import datetime as dt
import itertools

import pytest
from django.utils import timezone

from billing.models import Subscription
from connectors.lexoffice.provider import PROVIDER as LEXOFFICE
from sync.models import Transfer
from sync.services import dispatch, transfers
from tests.factories import TenantFactory, TransferFactory

pytestmark = pytest.mark.django_db(transaction=True)

# lexware office: 1.95 calls per second, the calls a quote books (one, a linked customer).
STEP = LEXOFFICE.calls_budget["quote"] / LEXOFFICE.rate.per_second  # type: ignore[union-attr]


class HandOut:
    """Stands in for the workers: records what was handed out, round by round."""

    def __init__(self) -> None:
        self.rounds: list[list[str]] = []

    def __call__(self, transfer_ids: list[str]) -> None:
        self.rounds.append(list(transfer_ids))

    def round(self) -> list[str]:
        before = len(self.rounds)
        dispatch.transfers_dispatch(hand_out=self)
        return self.rounds[-1] if len(self.rounds) > before else []


def paying_tenant(status: str = "active"):  # type: ignore[no-untyped-def]
    tenant = TenantFactory()
    Subscription.objects.create(tenant=tenant, plan="lexoffice", status=status)
    return tenant


def pending(tenant, **fields):  # type: ignore[no-untyped-def]
    return TransferFactory(
        tenant=tenant, system="lexoffice", state=Transfer.State.PENDING, **fields
    )


def finish(transfer: Transfer) -> None:
    """What a worker's run leaves behind: the transfer done, its account free again."""
    Transfer.objects.filter(pk=transfer.pk).update(state=Transfer.State.DONE, turn_at=None)
    dispatch.transfer_dispatch_end(str(transfer.pk))


def test_turns_follow_the_accounts_rate_in_the_order_the_transfers_came() -> None:
    tenant = paying_tenant()
    backlog = [pending(tenant) for _ in range(4)]
    now = timezone.now()

    assert dispatch.turns_book(now=now) == 4

    turns = [Transfer.objects.get(pk=t.pk).turn_at or now for t in backlog]
    assert turns[0] == now
    for before, after in itertools.pairwise(turns):
        assert after - before == dt.timedelta(seconds=STEP)
    # A transfer that comes later queues behind the line, not at its own arrival time.
    late = pending(tenant)
    dispatch.turns_book(now=now + dt.timedelta(seconds=0.1))
    assert Transfer.objects.get(pk=late.pk).turn_at == turns[-1] + dt.timedelta(seconds=STEP)


def test_one_transfer_per_account_and_every_account_at_once() -> None:
    busy, quiet = paying_tenant(), paying_tenant()
    backlog = [pending(busy) for _ in range(5)]
    other = pending(quiet)
    hand_out = HandOut()

    first_round = hand_out.round()

    assert sorted(first_round) == sorted([str(backlog[0].pk), str(other.pk)])
    # The busy tenant's next transfer waits for the first to finish and for its turn.
    assert hand_out.round() == []
    finish(backlog[0])
    Transfer.objects.filter(pk=backlog[1].pk).update(turn_at=timezone.now())
    assert hand_out.round() == [str(backlog[1].pk)]


def test_a_transfer_whose_turn_is_later_waits_and_the_round_says_when() -> None:
    tenant = paying_tenant()
    first, second = pending(tenant), pending(tenant)
    hand_out = HandOut()
    assert hand_out.round() == [str(first.pk)]
    finish(first)

    assert hand_out.round() == []  # its turn is STEP after the first's
    due_in = dispatch.next_due_in()
    assert due_in is not None
    assert 0 < due_in <= STEP
    Transfer.objects.filter(pk=second.pk).update(
        turn_at=timezone.now() - dt.timedelta(seconds=0.01)
    )
    assert hand_out.round() == [str(second.pk)]


def test_a_retry_that_is_not_due_lets_the_next_of_its_account_go() -> None:
    tenant = paying_tenant()
    waiting = pending(tenant, next_attempt_at=timezone.now() + dt.timedelta(seconds=30))
    after = pending(tenant)
    dispatch.turns_book(now=timezone.now() - dt.timedelta(seconds=10))
    hand_out = HandOut()

    assert hand_out.round() == [str(after.pk)]
    finish(after)
    Transfer.objects.filter(pk=waiting.pk).update(next_attempt_at=timezone.now())
    assert hand_out.round() == [str(waiting.pk)]


def test_no_more_in_the_workers_hands_than_the_limit_oldest_turn_first(settings) -> None:  # type: ignore[no-untyped-def]
    settings.TRANSFER_DISPATCH_LIMIT = 3
    tenants = [paying_tenant() for _ in range(5)]
    now = timezone.now()
    firsts = []
    for age, tenant in enumerate(tenants):
        firsts.append(pending(tenant, turn_at=now - dt.timedelta(seconds=10 - age)))
    hand_out = HandOut()

    assert hand_out.round() == [str(t.pk) for t in firsts[:3]]
    assert hand_out.round() == []  # three in the workers' hands
    finish(firsts[1])
    assert hand_out.round() == [str(firsts[3].pk)]


def test_held_and_finished_work_is_not_handed_out() -> None:
    held = paying_tenant(status="canceled")
    paying = paying_tenant()
    pending(held)
    TransferFactory(tenant=paying, system="lexoffice", state=Transfer.State.DONE)
    leased = pending(paying, lease_until=timezone.now() + dt.timedelta(seconds=60))
    hand_out = HandOut()

    assert hand_out.round() == []
    Transfer.objects.filter(pk=leased.pk).update(lease_until=timezone.now())
    assert hand_out.round() == [str(leased.pk)]


def test_a_lost_hand_out_is_handed_out_again_after_its_hold() -> None:
    tenant = paying_tenant()
    transfer = pending(tenant)
    hand_out = HandOut()
    assert hand_out.round() == [str(transfer.pk)]
    assert hand_out.round() == []
    # The worker that had it died before it began: the hold runs out.
    Transfer.objects.filter(pk=transfer.pk).update(dispatched_until=timezone.now())
    assert hand_out.round() == [str(transfer.pk)]


def test_a_dispatched_run_frees_its_account_whatever_its_outcome() -> None:
    tenant = paying_tenant()  # no connection to lexware office: the run fails, visibly
    first, second = pending(tenant), pending(tenant)
    hand_out = HandOut()
    assert hand_out.round() == [str(first.pk)]

    transfers.run_transfer(str(first.pk), enqueue=lambda *a, **k: None, dispatched=True)

    first.refresh_from_db()
    assert first.dispatched_until is None
    assert first.state == Transfer.State.FAILED
    assert first.turn_at is None  # taken out of the line
    Transfer.objects.filter(pk=second.pk).update(turn_at=timezone.now())
    assert hand_out.round() == [str(second.pk)]


def test_a_tenant_that_comes_while_the_workers_are_behind_goes_before_the_others_backlog() -> None:
    busy, newcomer = paying_tenant(), paying_tenant()
    backlog = [pending(busy) for _ in range(10)]
    started = timezone.now() - dt.timedelta(seconds=5)
    dispatch.turns_book(now=started)
    hand_out = HandOut()
    assert hand_out.round() == [str(backlog[0].pk)]  # the first is in the workers' hands
    finish(backlog[0])
    # Five seconds later the workers are behind: the busy tenant's second turn still waits.
    first = pending(newcomer)
    dispatch.turns_book(now=timezone.now())

    turn = Transfer.objects.get(pk=first.pk).turn_at
    assert turn == Transfer.objects.get(pk=backlog[1].pk).turn_at
    assert turn is not None
    assert turn < Transfer.objects.get(pk=backlog[2].pk).turn_at  # type: ignore[operator]
