"""Stripe's webhook is stored and acknowledged without a call to Stripe; a task applies the
event, once, reading the subscription from Stripe outside any database transaction, and a
failure is retried and shown on the event. A closed account leaves no Stripe event behind,
and Stripe events follow the retention of every stored payload."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
import requests
import stripe
from django.db import connection
from django.test import Client, TestCase
from django.utils import timezone

from accounts.models import Tenant
from billing import services, stripe_gateway, tasks
from billing.models import StripeEvent, Subscription
from billing.signals import subscription_activated
from sandbox.core import RunningSandbox, running
from sandbox.stripe.app import StripeSandbox
from tests.factories import TenantFactory

SECRET_KEY = "sk_test_apiup_events"
WEBHOOK_SECRET = "whsec_apiup_events_test"
# Nothing listens here: a call to Stripe fails at once.
UNREACHABLE = "http://127.0.0.1:9"


@pytest.fixture(autouse=True)
def stripe_settings(settings) -> None:  # type: ignore[no-untyped-def]
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.VENDOR_API_URLS = {**settings.VENDOR_API_URLS, "stripe": UNREACHABLE}


@pytest.fixture
def stripe_sandbox(settings) -> Iterator[RunningSandbox]:  # type: ignore[no-untyped-def]
    # No webhook endpoint: the tests deliver the events themselves.
    with running(StripeSandbox(secret_keys=[SECRET_KEY])) as handle:
        settings.VENDOR_API_URLS = {**settings.VENDOR_API_URLS, "stripe": handle.url}
        yield handle


def _event(event_id: str, event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {"id": event_id, "object": "event", "type": event_type, "data": {"object": obj}}


def _deliver(event: dict[str, Any]) -> Any:
    body = json.dumps(event)
    timestamp = int(time.time())
    signature = stripe.WebhookSignature._compute_signature(f"{timestamp}.{body}", WEBHOOK_SECRET)
    return Client().post(
        "/billing/stripe/webhook",
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=f"t={timestamp},v1={signature}",
    )


def _paid_subscription(handle: RunningSandbox, tenant: Tenant) -> str:
    """A subscription in its trial at the Stripe sandbox, paid by card; returns its id."""
    services.plan_choose(tenant=tenant, plan="lexoffice")
    url = services.checkout_start(
        tenant=tenant,
        system="lexoffice",
        price_id="price_lexoffice_monthly",
        email="owner@beispiel.de",
        success_url="http://127.0.0.1/billing/done",
        cancel_url="http://127.0.0.1/billing/cancelled",
    )
    paid = requests.post(
        url, data={"action": "card", "card_number": "4242424242424242"}, allow_redirects=False,
        timeout=10,
    )  # fmt: skip
    assert paid.status_code == 303
    sandbox: StripeSandbox = handle.sandbox  # type: ignore[assignment]
    (subscription,) = sandbox.inspect()["subscriptions"]
    return str(subscription["id"])


def _subscription_event(event_id: str, subscription_id: str, tenant: Tenant) -> dict[str, Any]:
    return _event(
        event_id,
        "customer.subscription.updated",
        {"id": subscription_id, "object": "subscription", "metadata": {"tenant": str(tenant.pk)}},
    )


@pytest.mark.django_db
def test_the_webhook_stores_and_acknowledges_without_calling_stripe() -> None:
    tenant = TenantFactory()
    Subscription.objects.create(tenant=tenant, plan="lexoffice")
    event = _subscription_event("evt_ack", "sub_1", tenant)
    with (
        mock.patch("billing.tasks.enqueue_stripe_event") as enqueue,
        TestCase.captureOnCommitCallbacks(execute=True),
    ):
        # Stripe cannot be reached: answering must not depend on it.
        response = _deliver(event)
    assert response.status_code == 200
    stored = StripeEvent.objects.get()
    assert stored.processed_at is None
    assert stored.tenant_id == tenant.pk
    enqueue.assert_called_once_with("evt_ack")


@pytest.mark.django_db(transaction=True)
def test_the_task_reads_stripe_outside_any_transaction_and_applies_the_event_once(
    stripe_sandbox: RunningSandbox,
) -> None:
    tenant = TenantFactory()
    subscription_id = _paid_subscription(stripe_sandbox, tenant)
    announced: list[Any] = []

    def listener(*, tenant: Tenant, **kwargs: Any) -> None:
        announced.append(tenant.pk)

    subscription_activated.connect(listener, dispatch_uid="test.announced")
    in_transaction: list[bool] = []
    read = stripe_gateway.subscription_state

    def spy(subscription: str) -> stripe_gateway.SubscriptionState:
        in_transaction.append(connection.in_atomic_block)
        return read(subscription)

    queued: list[str] = []
    try:
        with mock.patch("billing.tasks.enqueue_stripe_event", side_effect=queued.append):
            for _ in range(2):  # Stripe delivers an event more than once
                assert _deliver(_subscription_event("evt_1", subscription_id, tenant)).json() == {
                    "accepted": True
                }
        assert queued == ["evt_1", "evt_1"]
        with mock.patch.object(stripe_gateway, "subscription_state", spy):
            for event_id in queued:
                tasks.apply_stripe_event.apply(args=(event_id,), throw=True)
            again = _deliver(_subscription_event("evt_1", subscription_id, tenant))
    finally:
        subscription_activated.disconnect(dispatch_uid="test.announced")

    assert in_transaction == [False]  # read once, with no transaction (and no lock) open
    subscription = Subscription.objects.get(tenant=tenant)
    assert subscription.status == Subscription.Status.TRIALING
    assert subscription.stripe_subscription_id == subscription_id
    assert announced == [tenant.pk]
    stored = StripeEvent.objects.get()
    assert (stored.processed_at is not None, stored.attempts, stored.error) == (True, 1, "")
    assert again.json() == {"accepted": False}  # applied already: not handed out again


@pytest.mark.django_db
def test_a_failed_apply_is_shown_on_the_event_retried_by_the_task_and_resumed() -> None:
    tenant = TenantFactory()
    Subscription.objects.create(tenant=tenant, plan="lexoffice")
    with mock.patch("billing.tasks.enqueue_stripe_event"):
        _deliver(_subscription_event("evt_down", "sub_down", tenant))

    # Stripe unreachable: the task is to try again, and the event says why it waits.
    with (
        mock.patch.object(tasks.apply_stripe_event, "retry", side_effect=RuntimeError) as retry,
        pytest.raises(RuntimeError),
    ):
        tasks.apply_stripe_event.apply(args=("evt_down",), throw=True)
    (_args, options), *_ = retry.call_args_list
    assert isinstance(options["exc"], stripe.APIConnectionError)
    stored = StripeEvent.objects.get()
    assert stored.processed_at is None
    assert stored.attempts == 1
    assert stored.error.startswith("APIConnectionError")
    assert Subscription.objects.get(tenant=tenant).status == Subscription.Status.INCOMPLETE

    # A task lost for good (or given up): the resume task hands the event out again.
    StripeEvent.objects.update(
        received_at=timezone.now() - dt.timedelta(hours=1),
        attempted_at=timezone.now() - dt.timedelta(hours=1),
    )
    resumed: list[str] = []
    assert services.stripe_events_resume(enqueue=resumed.append) == 1
    assert resumed == ["evt_down"]


@pytest.mark.django_db
def test_closing_the_account_deletes_its_stripe_events() -> None:
    closing, staying = TenantFactory(), TenantFactory()
    Subscription.objects.create(tenant=closing, plan="lexoffice", stripe_customer_id="cus_closing")
    Subscription.objects.create(tenant=staying, plan="lexoffice", stripe_customer_id="cus_staying")
    customer = {"object": "customer", "email": "owner@beispiel.de"}
    with mock.patch("billing.tasks.enqueue_stripe_event"):
        _deliver(_event("evt_a", "customer.updated", {**customer, "id": "cus_closing"}))
        _deliver(
            _event("evt_b", "invoice.created", {"object": "invoice", "customer": "cus_closing"})
        )
        _deliver(_event("evt_c", "customer.updated", {**customer, "id": "cus_staying"}))
    assert StripeEvent.objects.count() == 3

    services.tenant_close(tenant=closing)

    assert list(StripeEvent.objects.values_list("id", flat=True)) == ["evt_c"]


@pytest.mark.django_db
def test_an_event_about_no_customer_of_the_product_keeps_no_payload() -> None:
    # Such as the cancellation Stripe sends after an account was closed and deleted.
    with mock.patch("billing.tasks.enqueue_stripe_event"):
        _deliver(
            _event(
                "evt_late",
                "customer.deleted",
                {"id": "cus_gone", "object": "customer", "email": "owner@beispiel.de"},
            )
        )
    assert services.stripe_event_apply(event_id="evt_late") is True
    stored = StripeEvent.objects.get()
    assert stored.processed_at is not None
    assert stored.payload == {}
    assert (stored.id, stored.type) == ("evt_late", "customer.deleted")


@pytest.mark.django_db
def test_stripe_events_follow_the_payload_retention(settings) -> None:  # type: ignore[no-untyped-def]
    from sync.services.maintenance import records_purge

    settings.PAYLOAD_RETENTION_DAYS = 30
    now = timezone.now()
    for event_id in ("evt_old_done", "evt_old_waiting", "evt_recent"):
        StripeEvent.objects.create(id=event_id, type="invoice.paid", payload={"email": "x@y.de"})
    StripeEvent.objects.filter(id="evt_old_done").update(
        received_at=now - dt.timedelta(days=31), processed_at=now - dt.timedelta(days=31)
    )
    StripeEvent.objects.filter(id="evt_old_waiting").update(received_at=now - dt.timedelta(days=31))

    assert records_purge(now=now)["stripe_events"] == 2
    assert list(StripeEvent.objects.values_list("id", flat=True)) == ["evt_recent"]
