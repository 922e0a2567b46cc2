"""Work of a tenant whose subscription is not in its trial or paid is held, not done: the
import, a retry, the resume tasks, vendor events and the transfer and import tasks all ask
billing.selectors.may_transfer. Held work is kept and released when the subscription is
active again; the customer is told why nothing starts."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from django.test import Client, TestCase
from django.urls import reverse
from django.utils import timezone

from accounts.models import Tenant
from billing.models import Subscription
from billing.signals import subscription_activated
from sync import tasks
from sync.models import ImportJob, Transfer, TransferAttempt, VendorEvent, WebhookEvent
from sync.services import context, imports, recovery, vendor_events
from sync.services.maintenance import records_purge
from tests.factories import ConnectionFactory, TenantFactory, TransferFactory, UserFactory

pytestmark = pytest.mark.django_db

PAUSED = "Your subscription is not active, so nothing is sent to your accounting system"


def subscribe(tenant: Tenant, status: str) -> None:
    Subscription.objects.update_or_create(
        tenant=tenant, defaults={"plan": "lexoffice", "status": status}
    )


def ago(seconds: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(seconds=seconds)


def activate(tenant: Tenant) -> dict[str, mock.MagicMock]:
    """What billing does when Stripe says the subscription is paid again; returns what was
    handed to the workers."""
    subscribe(tenant, Subscription.Status.ACTIVE)
    names = ("enqueue_events", "enqueue_vendor_events", "enqueue_transfer", "enqueue_import")
    with (
        mock.patch.object(tasks, names[0]) as events,
        mock.patch.object(tasks, names[1]) as vendor,
        mock.patch.object(tasks, names[2]) as transfer,
        mock.patch.object(tasks, names[3]) as job,
        # Innermost: the hand-off after commit runs while the stand-ins are in place.
        TestCase.captureOnCommitCallbacks(execute=True),
    ):
        subscription_activated.send(sender=Subscription, tenant=tenant)
    return dict(zip(names, (events, vendor, transfer, job), strict=True))


@pytest.fixture
def vendor_asked() -> Iterator[mock.MagicMock]:
    """Stands in for every way to a vendor or to HubSpot: nothing may call it."""
    asked = mock.MagicMock(side_effect=AssertionError("a vendor was called"))
    with (
        mock.patch.object(context, "accounting_connector", asked),
        mock.patch.object(context, "hubspot_connection", asked),
    ):
        yield asked


@pytest.mark.parametrize(
    "status",
    [Subscription.Status.INCOMPLETE, Subscription.Status.CANCELED, Subscription.Status.PAST_DUE],
)
def test_an_unpaid_tenant_starting_the_import_is_told_and_the_import_waits_for_payment(
    status: str,
) -> None:
    user = UserFactory()
    subscribe(user.tenant, status)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    with (
        mock.patch("sync.tasks.enqueue_import") as enqueue,
        TestCase.captureOnCommitCallbacks(execute=True),
    ):
        for _ in range(3):  # as often as it likes
            page = client.post(reverse("sync:import_start"), follow=True).content.decode()
            assert PAUSED in page
            assert "The import has started" not in page
    enqueue.assert_not_called()
    # Kept, once: contacts and companies.
    jobs = ImportJob.objects.filter(tenant=user.tenant)
    assert sorted(jobs.values_list("state", flat=True)) == [ImportJob.State.QUEUED] * 2

    released = activate(user.tenant)
    assert sorted(call.args[0] for call in released["enqueue_import"].call_args_list) == sorted(
        str(pk) for pk in jobs.values_list("pk", flat=True)
    )


def test_a_retry_by_an_unpaid_tenant_is_held_and_done_once_it_pays(vendor_asked) -> None:  # type: ignore[no-untyped-def]
    user = UserFactory()
    subscribe(user.tenant, Subscription.Status.CANCELED)
    failed = TransferFactory(tenant=user.tenant)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    queued: list[str] = []
    with (
        mock.patch("sync.tasks.enqueue_transfer", side_effect=queued.append),
        TestCase.captureOnCommitCallbacks(execute=True),
    ):
        page = client.post(reverse("sync:transfer_retry", args=[failed.pk]), follow=True)
    assert PAUSED in page.content.decode()
    assert "will be tried again in a moment" not in page.content.decode()

    # Whatever task arrives for it, nothing reaches the vendor.
    for transfer_id in queued or [str(failed.pk)]:
        tasks.run_transfer.apply(args=(transfer_id,), throw=True)
    vendor_asked.assert_not_called()
    failed.refresh_from_db()
    assert failed.state in Transfer.ACTIVE_STATES  # kept, with its work left
    assert failed.attempts == 0
    assert not TransferAttempt.objects.filter(transfer=failed).exists()

    released = activate(user.tenant)
    released["enqueue_transfer"].assert_called_once_with(str(failed.pk))


def test_a_transfer_task_of_a_tenant_that_stopped_paying_after_it_was_enqueued_calls_no_vendor(
    vendor_asked,  # type: ignore[no-untyped-def]
) -> None:
    tenant = TenantFactory()
    subscribe(tenant, Subscription.Status.ACTIVE)
    transfer = TransferFactory(tenant=tenant, state=Transfer.State.PENDING, error="")
    subscribe(tenant, Subscription.Status.PAST_DUE)  # the payment failed meanwhile

    tasks.run_transfer.apply(args=(str(transfer.pk),), throw=True)

    vendor_asked.assert_not_called()
    transfer.refresh_from_db()
    assert (transfer.state, transfer.attempts) == (Transfer.State.PENDING, 0)


def test_an_import_slice_of_a_tenant_that_stopped_paying_calls_no_vendor(vendor_asked) -> None:  # type: ignore[no-untyped-def]
    tenant = TenantFactory()
    subscribe(tenant, Subscription.Status.CANCELED)
    job = ImportJob.objects.create(
        tenant=tenant, object_type=Transfer.ObjectType.CONTACT, state=ImportJob.State.RUNNING
    )
    next_slices: list[str] = []

    with TestCase.captureOnCommitCallbacks(execute=True):
        imports.import_run(str(job.pk), enqueue=lambda job_id, seconds: next_slices.append(job_id))

    vendor_asked.assert_not_called()
    assert next_slices == []
    job.refresh_from_db()
    assert (job.state, job.processed, job.cursor) == (ImportJob.State.QUEUED, 0, "")


def _lost_work(tenant: Tenant) -> dict[str, str]:
    """A transfer, a HubSpot event, a vendor event and an import, each quiet long enough
    to count as lost."""
    transfer = TransferFactory(tenant=tenant, state=Transfer.State.PENDING, error="")
    Transfer.objects.filter(pk=transfer.pk).update(updated_at=ago(600))
    event = WebhookEvent.objects.create(
        tenant=tenant, portal_id="4711", subscription_type="deal.propertyChange",
        object_id="1", occurred_at=timezone.now(), event_id=1, payload={},
        dedupe_key=uuid.uuid4().hex,
    )  # fmt: skip
    WebhookEvent.objects.filter(pk=event.pk).update(received_at=ago(600))
    connection = ConnectionFactory(tenant=tenant, system="lexoffice")
    vendor_event = VendorEvent.objects.create(
        tenant=tenant, system="lexoffice", connection=connection, event_type="contact.changed",
        dedupe_key=uuid.uuid4().hex, payload={},
    )  # fmt: skip
    VendorEvent.objects.filter(pk=vendor_event.pk).update(received_at=ago(600))
    job = ImportJob.objects.create(tenant=tenant, object_type=Transfer.ObjectType.CONTACT)
    ImportJob.objects.filter(pk=job.pk).update(updated_at=ago(600))
    return {
        "transfer": str(transfer.pk),
        "event": str(event.pk),
        "vendor_event": str(vendor_event.pk),
        "job": str(job.pk),
    }


def test_the_resume_tasks_leave_the_work_of_unpaid_tenants_held(settings) -> None:  # type: ignore[no-untyped-def]
    settings.TRANSFER_RESUME_AFTER_SECONDS = 30
    paying, unpaid = TenantFactory(), TenantFactory()
    subscribe(paying, Subscription.Status.TRIALING)
    subscribe(unpaid, Subscription.Status.PAST_DUE)
    resumed = _lost_work(paying)
    held = _lost_work(unpaid)
    no_subscription = _lost_work(TenantFactory())
    transfers: list[str] = []
    events: list[str] = []
    vendor: list[str] = []
    jobs: list[str] = []

    recovery.transfers_resume(enqueue=transfers.append)
    recovery.events_resume(enqueue=lambda tenant_id, ids: events.extend(ids))
    recovery.vendor_events_resume(enqueue=lambda tenant_id, ids: vendor.extend(ids))
    recovery.imports_resume(enqueue=lambda job_id, seconds: jobs.append(job_id))

    assert (transfers, events, vendor, jobs) == (
        [resumed["transfer"]], [resumed["event"]], [resumed["vendor_event"]], [resumed["job"]]
    )  # fmt: skip

    # Payment resumes: all of the held work is handed out, none of the other tenant's.
    released = activate(unpaid)
    assert released["enqueue_transfer"].call_args_list == [mock.call(held["transfer"])]
    assert released["enqueue_events"].call_args_list == [mock.call(str(unpaid.pk), [held["event"]])]
    assert released["enqueue_vendor_events"].call_args_list == [
        mock.call(str(unpaid.pk), [held["vendor_event"]])
    ]
    assert released["enqueue_import"].call_args_list == [mock.call(held["job"], 0)]
    assert no_subscription  # made, and never handed out above


def test_vendor_events_of_an_unpaid_tenant_are_stored_and_held_until_payment() -> None:
    tenant = TenantFactory()
    subscribe(tenant, Subscription.Status.INCOMPLETE)
    connection = ConnectionFactory(tenant=tenant, system="lexoffice")
    handed_out: list[list[str]] = []

    with TestCase.captureOnCommitCallbacks(execute=True):
        event, created = vendor_events.vendor_event_store(
            connection=connection,
            event_type="contact.changed",
            payload={"resourceId": "c-1"},
            event_id="evt-1",
            enqueue=lambda tenant_id, ids: handed_out.append(ids),
        )
    assert created
    assert handed_out == []
    # A task that arrives anyway (sent before the subscription lapsed) leaves it waiting.
    vendor_events.vendor_events_process(tenant_id=str(tenant.pk), event_ids=[str(event.pk)])
    event.refresh_from_db()
    assert event.state == VendorEvent.State.RECEIVED

    released = activate(tenant)
    assert released["enqueue_vendor_events"].call_args_list == [
        mock.call(str(tenant.pk), [str(event.pk)])
    ]


def test_events_held_for_billing_are_purged_by_the_retention(settings) -> None:  # type: ignore[no-untyped-def]
    settings.PAYLOAD_RETENTION_DAYS = 30
    tenant = TenantFactory()
    subscribe(tenant, Subscription.Status.CANCELED)

    def held(days_ago: int) -> Any:
        event = WebhookEvent.objects.create(
            tenant=tenant, portal_id="4711", subscription_type="contact.creation",
            object_id="1", occurred_at=timezone.now(), event_id=1,
            payload={"email": "anna@beispiel.de"}, dedupe_key=uuid.uuid4().hex,
            state=WebhookEvent.State.ON_HOLD,
        )  # fmt: skip
        WebhookEvent.objects.filter(pk=event.pk).update(received_at=ago(days_ago * 86400))
        return event

    old, recent = held(31), held(5)

    assert records_purge()["events"] == 1
    assert list(WebhookEvent.objects.values_list("pk", flat=True)) == [recent.pk]
    assert old.pk != recent.pk
