"""Step "payment": Stripe Checkout in the Stripe sandbox; activation only by the webhook."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests
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
    assert (
        session["cancel_url"] == "http://testserver" + reverse("billing:payment") + "?cancelled=1"
    )
    # The Stripe customer exists before Checkout, with the company's name and address.
    ready_to_pay.refresh_from_db()
    assert session["customer"] == ready_to_pay.stripe_customer_id
    assert session["customer_email"] is None
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


def test_the_stripe_customer_carries_the_company_name_and_address(
    browser: Client, owner: User, ready_to_pay: Subscription, stripe_sandbox: RunningSandbox
) -> None:
    tenant = owner.tenant
    assert tenant is not None
    tenant.company_name = "Beispiel GmbH"
    tenant.street, tenant.house_number = "Hauptstraße", "5a"
    tenant.postcode, tenant.city, tenant.country = "80331", "München", "DE"
    tenant.save()

    browser.post(reverse("billing:checkout"))
    browser.post(reverse("billing:checkout"))  # a second click creates no second customer

    (created,) = [
        call
        for call in stripe_sandbox.sandbox.api_calls(path_prefix="/v1/customers")
        if call.method == "POST"
    ]
    assert created.status == 200
    assert created.request_body == {
        "email": "owner@beispiel.de",
        "name": "Beispiel GmbH",
        "address[line1]": "Hauptstraße 5a",
        "address[postal_code]": "80331",
        "address[city]": "München",
        "address[country]": "DE",
        "metadata[tenant]": str(tenant.pk),
    }
    ready_to_pay.refresh_from_db()
    assert ready_to_pay.stripe_customer_id == created.response_body["id"]
    sessions = stripe_sandbox.sandbox.checkout_sessions.values()  # type: ignore[attr-defined]
    assert {session["customer"] for session in sessions} == {ready_to_pay.stripe_customer_id}


def test_cancelling_at_stripe_is_said_on_the_payment_page(
    browser: Client, ready_to_pay: Subscription, stripe_sandbox: RunningSandbox
) -> None:
    assert "nothing was charged" not in browser.get(reverse("billing:payment")).content.decode()
    checkout = browser.post(reverse("billing:checkout"))["Location"]
    back = requests.post(checkout, data={"action": "cancel"}, allow_redirects=False, timeout=10)
    assert back.status_code == 303
    returned = urlsplit(back.headers["Location"])
    page = browser.get(f"{returned.path}?{returned.query}").content.decode()
    assert "You cancelled the payment; nothing was charged." in page
    ready_to_pay.refresh_from_db()
    assert ready_to_pay.status == Subscription.Status.INCOMPLETE
