"""Work whose task was lost (a dead worker, a broker restarted empty) is found in the
database and handed to the workers again; work that is merely under way is left alone."""

import datetime as dt
import uuid
from typing import Any

import pytest
import redis.exceptions
from django.utils import timezone
from kombu import Queue

from apiup.celery import app, queued_messages
from apiup.locks import LockTimeout
from billing.models import Subscription
from connectors import ratelimit
from sync.models import ImportJob, Transfer, WebhookEvent
from sync.services import handlers, imports, recovery, transfers
from tests.factories import ConnectionFactory, TenantFactory, TransferFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("every_tenant_pays")]


@pytest.fixture(autouse=True)
def quiet_time(settings) -> None:  # type: ignore[no-untyped-def]
    settings.TRANSFER_RESUME_AFTER_SECONDS = 30


def ago(seconds: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(seconds=seconds)


def event(tenant, *, received_seconds_ago: float, state: str = WebhookEvent.State.RECEIVED):  # type: ignore[no-untyped-def]
    stored = WebhookEvent.objects.create(
        tenant=tenant,
        portal_id="4711",
        subscription_type="deal.propertyChange",
        object_id="1",
        occurred_at=timezone.now(),
        event_id=1,
        payload={},
        dedupe_key=uuid.uuid4().hex,
        state=state,
    )
    # received_at is set on insert; move it back in time.
    WebhookEvent.objects.filter(pk=stored.pk).update(received_at=ago(received_seconds_ago))
    return stored


def test_events_left_unprocessed_are_handed_out_again_per_tenant() -> None:
    first, second = TenantFactory(), TenantFactory()
    lost = [event(first, received_seconds_ago=60), event(first, received_seconds_ago=45)]
    lost_elsewhere = event(second, received_seconds_ago=120)
    event(first, received_seconds_ago=5)  # just arrived: its task is on its way
    event(first, received_seconds_ago=60, state=WebhookEvent.State.PROCESSED)
    event(first, received_seconds_ago=60, state=WebhookEvent.State.ON_HOLD)
    sent: dict[str, list[str]] = {}

    count = recovery.events_resume(enqueue=lambda tenant_id, ids: sent.update({tenant_id: ids}))

    assert count == 3
    assert sorted(sent[str(first.pk)]) == sorted(str(e.pk) for e in lost)
    assert sent[str(second.pk)] == [str(lost_elsewhere.pk)]


def test_overdue_and_abandoned_transfers_are_resumed_but_not_those_under_way() -> None:
    tenant = TenantFactory()

    def transfer(updated: dt.datetime | None = None, **fields):  # type: ignore[no-untyped-def]
        made = TransferFactory(tenant=tenant, state=Transfer.State.PENDING, **fields)
        Transfer.objects.filter(pk=made.pk).update(updated_at=updated or ago(120))
        return made

    overdue = transfer(next_attempt_at=ago(60))
    abandoned = transfer(lease_until=ago(10), next_attempt_at=None)
    transfer(next_attempt_at=ago(1))  # due just now: its countdown task is arriving
    transfer(next_attempt_at=timezone.now() + dt.timedelta(seconds=60))  # waits its turn
    transfer(lease_until=timezone.now() + dt.timedelta(seconds=60))  # a worker has it
    transfer(updated=ago(5))  # fresh: enqueued when it was made
    sent: list[str] = []

    recovery.transfers_resume(enqueue=sent.append)

    assert sorted(sent) == sorted([str(overdue.pk), str(abandoned.pk)])
    # Sent once per quiet time: the next round, seconds later, leaves them to their tasks.
    again: list[str] = []
    recovery.transfers_resume(enqueue=again.append)
    assert again == []


def test_work_waiting_behind_a_long_queue_is_not_taken_for_lost() -> None:
    tenant = TenantFactory()
    waiting = TransferFactory(tenant=tenant, state=Transfer.State.PENDING, next_attempt_at=ago(60))
    Transfer.objects.filter(pk=waiting.pk).update(updated_at=ago(120))
    waiting_event = event(tenant, received_seconds_ago=60)
    sent: list[object] = []

    # 3,000 messages in front take minutes to drain: a minute of quiet proves nothing yet.
    recovery.transfers_resume(enqueue=sent.append, queued=3000)
    recovery.events_resume(enqueue=lambda *args: sent.append(args), queued=3000)
    assert sent == []
    # With the queue drained, they are lost after all, and sent again.
    recovery.transfers_resume(enqueue=sent.append, queued=0)
    recovery.events_resume(enqueue=lambda *args: sent.append(args), queued=0)
    assert sent == [str(waiting.pk), (str(tenant.pk), [str(waiting_event.pk)])]


def test_the_broker_counts_the_messages_waiting_in_a_queue() -> None:
    queue = f"apiup-test-{uuid.uuid4().hex}"
    with app.connection_for_write() as connection:
        producer = connection.Producer()
        for number in range(3):
            producer.publish({"n": number}, routing_key=queue, declare=[Queue(queue)])
        try:
            assert queued_messages(queue) == 3
        finally:
            channel: Any = connection.default_channel
            channel.queue_purge(queue)
            channel.queue_delete(queue)


def test_an_import_without_progress_for_two_slices_is_resumed() -> None:
    tenant = TenantFactory()
    stalled = ImportJob.objects.create(
        tenant=tenant, object_type=Transfer.ObjectType.CONTACT, state=ImportJob.State.RUNNING
    )
    moving = ImportJob.objects.create(
        tenant=tenant, object_type=Transfer.ObjectType.COMPANY, state=ImportJob.State.RUNNING
    )
    ImportJob.objects.filter(pk=stalled.pk).update(updated_at=ago(imports.SLICE_SECONDS * 2 + 10))
    sent: list[tuple[str, float]] = []

    recovery.imports_resume(enqueue=lambda job_id, seconds: sent.append((job_id, seconds)))

    assert sent == [(str(stalled.pk), 0)]
    assert str(moving.pk) not in dict(sent)


class RedisDown:
    def try_take(self, key: str, rate: object) -> float:
        raise redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379")

    book = try_take


def test_a_transfer_that_meets_a_redis_outage_is_not_failed_but_left_for_another_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tenant = TenantFactory()
    ConnectionFactory(
        tenant=tenant,
        system="hubspot",
        external_account_id="4711",
        credentials={"access_token": "hubspot-token", "refresh_token": "", "expires_at": 0},
    )
    ConnectionFactory(tenant=tenant, system="lexoffice")
    Subscription.objects.update_or_create(
        tenant=tenant, defaults={"plan": "lexoffice", "status": "active"}
    )
    transfer = TransferFactory(tenant=tenant, state=Transfer.State.PENDING, error="")
    monkeypatch.setattr(ratelimit, "limiter", RedisDown)

    with pytest.raises(redis.exceptions.ConnectionError):
        transfers.run_transfer(str(transfer.pk), enqueue=lambda *a, **k: None, paced=True)

    transfer.refresh_from_db()
    assert transfer.state == Transfer.State.PENDING
    assert transfer.lease_until is None  # free for the task's retry or the resume task
    assert transfer.error == ""


def test_a_customer_lock_held_elsewhere_makes_the_transfer_wait_not_fail(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A worker killed while resolving a customer holds its lock until the lock expires.
    tenant = TenantFactory()
    transfer = TransferFactory(tenant=tenant, state=Transfer.State.PENDING, error="")

    def locked(self: object, run: object) -> None:
        raise LockTimeout("customer:...")

    monkeypatch.setattr(handlers.DocumentTransfer, "run", locked)
    later: list[tuple[str, float]] = []

    transfers.run_transfer(
        str(transfer.pk), enqueue=lambda tid, s, **_: later.append((tid, s)), paced=True
    )

    transfer.refresh_from_db()
    assert transfer.state == Transfer.State.PENDING
    assert transfer.error_retryable
    assert transfer.next_attempt_at is not None
    assert transfer.lease_until is None
