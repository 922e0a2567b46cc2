"""Step "payment": Stripe Checkout in the Stripe sandbox; activation only by the webhook."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from billing.models import Subscription
from sandbox.core import RunningSandbox
from tests.factories import ConnectionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ready_to_pay(owner: User) -> Subscription:
    ConnectionFactory(tenant=owner.tenant, system="hubspot", external_account_id="4711")
    ConnectionFactory(tenant=owner.tenant, system="lexoffice")
    return Subscription.objects.create(tenant=owner.tenant, plan="lexoffice")


def test_the_payment_button_opens_stripe_checkout(
    browser: Client, ready_to_pay: Subscription, stripe_sandbox: RunningSandbox
) -> None:
    assert browser.get(reverse("setup:continue"))["Location"] == reverse("billing:payment")
    page = browser.get(reverse("billing:payment")).content.decode()
    assert "The first 14 days are free" in page

    response = browser.post(reverse("billing:checkout"))
    assert response.status_code == 302
    assert response["Location"].startswith(stripe_sandbox.url)
    (session,) = stripe_sandbox.sandbox.checkout_sessions.values()  # type: ignore[attr-defined]
    assert session["success_url"] == "http://testserver" + reverse("billing:payment_pending")
    assert session["cancel_url"] == "http://testserver" + reverse("billing:payment")
    assert session["customer_email"] == "owner@beispiel.de"
    # Opening Checkout activates nothing.
    ready_to_pay.refresh_from_db()
    assert ready_to_pay.status == Subscription.Status.INCOMPLETE


def test_the_success_page_waits_for_the_webhook(
    browser: Client, ready_to_pay: Subscription
) -> None:
    waiting = browser.get(reverse("billing:payment_pending"))
    assert waiting.status_code == 200
    body = waiting.content.decode()
    assert "Payment is being confirmed" in body
    assert 'http-equiv="refresh"' in body

    # What the webhook does (tested in tests/billing): the page then moves on.
    Subscription.objects.filter(pk=ready_to_pay.pk).update(status=Subscription.Status.TRIALING)
    done = browser.get(reverse("billing:payment_pending"))
    assert done["Location"] == reverse("dashboard:home")
    assert browser.get(reverse("setup:continue"))["Location"] == reverse("dashboard:home")
