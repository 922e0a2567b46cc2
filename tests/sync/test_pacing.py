"""Pacing: transfers wait for their turn on the tenant's rate limit in the queue, not in a
worker, and one tenant's backlog does not hold up another tenant."""

import datetime as dt
import time
import uuid

import pytest
from django.utils import timezone

from billing.models import Subscription
from connectors.lexoffice.provider import PROVIDER as LEXOFFICE
from sync.models import Transfer
from sync.services import pacing
from tests.factories import ConnectionFactory, TenantFactory, TransferFactory

pytestmark = pytest.mark.django_db


class Queue:
    """Stands in for Celery: records what would be enqueued, and when."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, float, bool]] = []

    def __call__(self, transfer_id: str, seconds: float, *, paced: bool = False) -> None:
        self.sent.append((transfer_id, seconds, paced))


def lexoffice_tenant():  # type: ignore[no-untyped-def]
    tenant = TenantFactory()
    # A key of its own, so that the tenant has its own time line on the shared limiter.
    ConnectionFactory(
        tenant=tenant, system="lexoffice", credentials={"api_key": f"lx-{uuid.uuid4()}"}
    )
    Subscription.objects.create(tenant=tenant, plan="lexoffice", status="active")
    return tenant


def pending(tenant):  # type: ignore[no-untyped-def]
    # Customers: two calls each, so that the next one's turn is clearly beyond the time a
    # worker may wait for it.
    return TransferFactory(tenant=tenant, state=Transfer.State.PENDING, kind=Transfer.Kind.CUSTOMER)


def test_a_tenants_backlog_is_spread_over_its_rate_limit() -> None:
    tenant = lexoffice_tenant()
    transfers = [pending(tenant) for _ in range(5)]
    queue = Queue()

    deferred, booked_after = [], []
    started = time.monotonic()
    for transfer in transfers:
        deferred.append(pacing.transfer_pace(str(transfer.pk), enqueue=queue))
        booked_after.append(time.monotonic() - started)

    # lexware office: 1.95 calls per second, two calls per customer. The first runs at once;
    # the rest are handed back, each about 1.03 s after the one before (and come back a
    # little early, to wait the rest in the worker).
    assert deferred == [False, True, True, True, True]
    assert [paced for _, _, paced in queue.sent] == [True] * 4
    assert [transfer_id for transfer_id, _, _ in queue.sent] == [str(t.pk) for t in transfers[1:]]
    step = LEXOFFICE.calls_budget["customer"] / LEXOFFICE.rate.per_second  # type: ignore[union-attr]
    early = pacing.EARLY_BY_SECONDS
    for number, (_, wait, _) in enumerate(queue.sent, start=1):
        # Measured from its own booking, which came later than the first by booked_after.
        turn = number * step - early
        assert turn - booked_after[number] - 0.05 <= wait <= turn
    # The due time is stored, so the resume task does not take them for lost meanwhile.
    for transfer in transfers[1:]:
        transfer.refresh_from_db()
        assert transfer.next_attempt_at is not None
        assert transfer.next_attempt_at > timezone.now()


def test_another_tenant_runs_at_once_despite_the_first_ones_backlog() -> None:
    busy, other = lexoffice_tenant(), lexoffice_tenant()
    queue = Queue()
    for _ in range(20):
        pacing.transfer_pace(str(pending(busy).pk), enqueue=queue)

    assert pacing.transfer_pace(str(pending(other).pk), enqueue=queue) is False


def test_a_transfer_that_has_waited_its_turn_runs_without_booking_again() -> None:
    tenant = lexoffice_tenant()
    queue = Queue()
    first, second = pending(tenant), pending(tenant)
    pacing.transfer_pace(str(first.pk), enqueue=queue)
    assert pacing.transfer_pace(str(second.pk), enqueue=queue) is True
    Transfer.objects.filter(pk=second.pk).update(next_attempt_at=timezone.now())
    # Its countdown task arrives (maybe twice): it runs, and the time line stays as it was.
    assert pacing.transfer_pace(str(second.pk), enqueue=queue) is False
    assert pacing.transfer_pace(str(second.pk), enqueue=queue) is False
    third = pending(tenant)
    assert pacing.transfer_pace(str(third.pk), enqueue=queue) is True
    step = LEXOFFICE.calls_budget["customer"] / LEXOFFICE.rate.per_second  # type: ignore[union-attr]
    assert queue.sent[-1][1] <= 2 * step - pacing.EARLY_BY_SECONDS


def test_work_that_is_not_due_books_nothing() -> None:
    tenant = lexoffice_tenant()
    queue = Queue()
    finished = TransferFactory(tenant=tenant, state=Transfer.State.DONE)
    leased = TransferFactory(
        tenant=tenant,
        state=Transfer.State.PENDING,
        lease_until=timezone.now() + dt.timedelta(seconds=60),
    )
    for transfer in (finished, leased):
        assert pacing.transfer_pace(str(transfer.pk), enqueue=queue) is False
    # Nothing was booked by them: the next transfer still runs at once.
    assert pacing.transfer_pace(str(pending(tenant).pk), enqueue=queue) is False
    assert queue.sent == []


def test_a_tenant_without_a_connection_is_left_to_the_run_to_report() -> None:
    tenant = TenantFactory()
    Subscription.objects.create(tenant=tenant, plan="lexoffice", status="active")
    queue = Queue()
    assert pacing.transfer_pace(str(pending(tenant).pk), enqueue=queue) is False
    assert queue.sent == []
