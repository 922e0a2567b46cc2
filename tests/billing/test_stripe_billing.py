"""Billing against the Stripe sandbox, through Stripe's SDK: checkout with a trial, the
subscription activated by the signed webhook (not by the redirect) and applied by a real
worker, duplicates and order."""

import json
import time
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
import requests
import stripe
from django.test import Client

from billing import services, tasks
from billing.models import StripeEvent, Subscription
from billing.signals import subscription_activated
from sandbox.core import RunningSandbox, running
from sandbox.stripe.app import StripeSandbox
from tests.factories import TenantFactory
from tests.processes import celery_worker, wait_until

SECRET_KEY = "sk_test_apiup_billing"
WEBHOOK_SECRET = "whsec_apiup_billing_test"


@pytest.fixture
def stripe_sandbox(settings, live_server) -> Iterator[RunningSandbox]:  # type: ignore[no-untyped-def]
    sandbox = StripeSandbox(
        secret_keys=[SECRET_KEY],
        webhook_endpoints=[(f"{live_server.url}/billing/stripe/webhook", WEBHOOK_SECRET)],
        webhook_retry_delays=(0.2, 0.5),
    )
    with running(sandbox) as handle:
        settings.VENDOR_API_URLS = {**settings.VENDOR_API_URLS, "stripe": handle.url}
        settings.STRIPE_SECRET_KEY = SECRET_KEY
        settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
        yield handle


@pytest.fixture
def stripe_worker(stripe_sandbox: RunningSandbox) -> Iterator[RunningSandbox]:
    """The webhook stores and acknowledges; a real worker applies the events."""
    with celery_worker(
        concurrency=1,
        vendor_urls={"stripe": stripe_sandbox.url},
        env={"STRIPE_SECRET_KEY": SECRET_KEY, "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET},
    ):
        yield stripe_sandbox


@pytest.fixture
def applied_in_process(stripe_sandbox: RunningSandbox) -> Iterator[RunningSandbox]:
    """The events are applied in this process (the live server's thread), where a test can
    listen to billing's signal."""
    with mock.patch(
        "billing.tasks.enqueue_stripe_event",
        side_effect=lambda event_id: tasks.apply_stripe_event.apply(args=(event_id,)),
    ):
        yield stripe_sandbox


def _checkout(tenant: Any) -> str:
    services.plan_choose(tenant=tenant, plan="lexoffice")
    return services.checkout_start(
        tenant=tenant,
        system="lexoffice",
        price_id="price_lexoffice_monthly",
        email="owner@beispiel.de",
        success_url="http://127.0.0.1/billing/done?session={CHECKOUT_SESSION_ID}",
        cancel_url="http://127.0.0.1/billing/cancelled",
    )


@pytest.mark.django_db(transaction=True)
def test_paying_starts_the_trial_through_the_signed_webhook(
    applied_in_process: RunningSandbox,
) -> None:
    announced: list[Any] = []

    def listener(*, tenant: Any, **kwargs: Any) -> None:
        announced.append(tenant.pk)

    subscription_activated.connect(listener, dispatch_uid="test.listener")
    try:
        _pay_and_wait_for_the_trial(applied_in_process)
    finally:
        subscription_activated.disconnect(dispatch_uid="test.listener")
    # The subscription became active once, however many of Stripe's events say so.
    assert announced == [Subscription.objects.get().tenant_id]


def _pay_and_wait_for_the_trial(stripe_sandbox: RunningSandbox) -> None:
    tenant = TenantFactory()
    url = _checkout(tenant)
    assert url.startswith(stripe_sandbox.url)
    assert Subscription.objects.get(tenant=tenant).status == Subscription.Status.INCOMPLETE

    paid = requests.post(
        url, data={"action": "card", "card_number": "4242424242424242"}, allow_redirects=False,
        timeout=10,
    )  # fmt: skip
    assert paid.status_code == 303
    # The redirect alone changes nothing; the webhook does.
    wait_until(
        lambda: Subscription.objects.get(tenant=tenant).status == Subscription.Status.TRIALING,
        timeout=15,
    )
    subscription = Subscription.objects.get(tenant=tenant)
    assert subscription.stripe_customer_id.startswith("cus_")
    assert subscription.stripe_subscription_id.startswith("sub_")
    assert subscription.trial_end is not None
    wait_until(lambda: StripeEvent.objects.filter(processed_at__isnull=False).count() >= 3)


@pytest.mark.django_db(transaction=True)
def test_events_delivered_three_times_and_out_of_order_end_in_the_right_state(
    stripe_worker: RunningSandbox,
) -> None:
    stripe_sandbox = stripe_worker
    tenant = TenantFactory()
    url = _checkout(tenant)
    requests.post(url, data={"action": "paypal"}, allow_redirects=False, timeout=10)
    wait_until(lambda: Subscription.objects.get(tenant=tenant).stripe_subscription_id != "")
    subscription_id = Subscription.objects.get(tenant=tenant).stripe_subscription_id
    admin = f"{stripe_sandbox.url}/_sandbox/subscriptions/{subscription_id}"
    assert requests.post(f"{admin}/fail_payment", timeout=10).status_code == 200
    wait_until(
        lambda: Subscription.objects.get(tenant=tenant).status == Subscription.Status.PAST_DUE
    )
    assert requests.post(f"{admin}/pay", timeout=10).status_code == 200
    wait_until(
        lambda: Subscription.objects.get(tenant=tenant).status != Subscription.Status.PAST_DUE
    )
    settled = Subscription.objects.get(tenant=tenant).status

    # Every event again, three times, oldest last: the state stays what Stripe holds.
    event_ids = list(StripeEvent.objects.order_by("-received_at").values_list("id", flat=True))
    for _ in range(3):
        for event_id in event_ids:
            requests.post(f"{stripe_sandbox.url}/_sandbox/events/{event_id}/resend", timeout=10)
    time.sleep(1.0)
    assert Subscription.objects.get(tenant=tenant).status == settled
    assert StripeEvent.objects.count() == len(event_ids)


@pytest.mark.django_db
def test_a_forged_webhook_gets_400_and_changes_nothing(settings) -> None:  # type: ignore[no-untyped-def]
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    tenant = TenantFactory()
    Subscription.objects.create(tenant=tenant, plan="lexoffice")
    body = json.dumps(
        {
            "id": "evt_forged",
            "object": "event",
            "type": "customer.subscription.updated",
            "data": {"object": {"id": "sub_x", "object": "subscription", "status": "active"}},
        }
    )
    timestamp = int(time.time())
    forged = stripe.WebhookSignature._compute_signature(f"{timestamp}.{body}", "whsec_wrong")
    for signature in ("", f"t={timestamp},v1={forged}", "garbage"):
        response = Client().post(
            "/billing/stripe/webhook",
            data=body,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=signature,
        )
        assert response.status_code == 400
    assert not StripeEvent.objects.exists()
    assert Subscription.objects.get(tenant=tenant).status == Subscription.Status.INCOMPLETE
