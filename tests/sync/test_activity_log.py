"""The activity log: retry of a failed transfer, and retention of payloads and log lines."""

import datetime as dt
from unittest import mock

import pytest
from django.test import Client, TestCase
from django.urls import reverse
from django.utils import timezone

from sync.models import Transfer, TransferAttempt, WebhookEvent
from sync.services.maintenance import records_purge
from tests.factories import TransferFactory, UserFactory


@pytest.mark.django_db
def test_a_failed_transfer_can_be_retried_by_its_tenant() -> None:
    user = UserFactory()
    failed = TransferFactory(tenant=user.tenant, sent_payload={"reference": "HubSpot-Deal 1-2"})
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    page = client.get(reverse("sync:transfer_detail", args=[failed.pk])).content.decode()
    assert "Retry" in page
    assert failed.error in page
    with (
        mock.patch("sync.tasks.enqueue_transfer") as enqueue,
        TestCase.captureOnCommitCallbacks(execute=True),
    ):
        client.post(reverse("sync:transfer_retry", args=[failed.pk]))
    enqueue.assert_called_once_with(str(failed.pk))
    failed.refresh_from_db()
    # A quote that may have been sent is looked up before it is created again.
    assert failed.state == Transfer.State.QUOTE_IN_FLIGHT
    with mock.patch("sync.tasks.enqueue_transfer") as enqueue:
        client.post(reverse("sync:transfer_retry", args=[failed.pk]))
    enqueue.assert_not_called()


@pytest.mark.django_db
def test_the_log_filters_by_state() -> None:
    user = UserFactory()
    TransferFactory(tenant=user.tenant, title="Gescheitert", state=Transfer.State.FAILED)
    TransferFactory(tenant=user.tenant, title="Erledigt", state=Transfer.State.DONE)
    client = Client(HTTP_ACCEPT_LANGUAGE="de")
    client.force_login(user)
    page = client.get(reverse("sync:transfer_list"), {"state": "done"}).content.decode()
    assert "Erledigt" in page
    assert "Gescheitert" not in page


@pytest.mark.django_db
def test_payloads_go_after_30_days_and_log_lines_after_90() -> None:
    now = timezone.now()
    recent = TransferFactory(state=Transfer.State.DONE, source_payload={"a": 1})
    month_old = TransferFactory(state=Transfer.State.DONE, source_payload={"a": 1})
    quarter_old = TransferFactory(state=Transfer.State.DONE, source_payload={"a": 1})
    failed_old = TransferFactory(state=Transfer.State.FAILED, source_payload={"a": 1})
    TransferAttempt.objects.create(tenant=quarter_old.tenant, transfer=quarter_old, number=1)
    Transfer.objects.filter(pk=month_old.pk).update(updated_at=now - dt.timedelta(days=31))
    Transfer.objects.filter(pk__in=[quarter_old.pk, failed_old.pk]).update(
        updated_at=now - dt.timedelta(days=91)
    )
    TransferAttempt.objects.update(started_at=now - dt.timedelta(days=91))
    WebhookEvent.objects.create(
        tenant=recent.tenant, portal_id="1", subscription_type="deal.creation", object_id="1",
        occurred_at=now, event_id=1, payload={}, dedupe_key="k",
    )  # fmt: skip
    WebhookEvent.objects.update(received_at=now - dt.timedelta(days=31))

    purged = records_purge(now=now)

    assert purged == {
        "payloads": 3, "events": 1, "vendor_events": 0, "stripe_events": 0, "attempts": 1,
        "transfers": 1,
    }  # fmt: skip
    assert Transfer.objects.get(pk=recent.pk).source_payload == {"a": 1}
    assert Transfer.objects.get(pk=month_old.pk).source_payload is None
    assert not Transfer.objects.filter(pk=quarter_old.pk).exists()
    # A failed transfer stays visible (without its payload) until someone deals with it.
    assert Transfer.objects.get(pk=failed_old.pk).source_payload is None


@pytest.mark.django_db
def test_the_import_is_started_from_the_log_and_its_progress_shown() -> None:
    from billing.models import Subscription
    from sync.models import ImportJob

    user = UserFactory()
    Subscription.objects.create(tenant=user.tenant, plan="lexoffice", status="active")
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    with (
        mock.patch("sync.tasks.enqueue_import") as enqueue,
        TestCase.captureOnCommitCallbacks(execute=True),
    ):
        client.post(reverse("sync:import_start"))
    assert enqueue.call_count == 2  # companies and contacts
    ImportJob.objects.filter(tenant=user.tenant).update(processed=300)
    page = client.get(reverse("sync:transfer_list")).content.decode()
    assert "300" in page
    assert "Import all contacts and companies" in page
