"""A second plan beside the first, for the other kind of system: a tenant that pays for its
accounting system adds ZEP from the dashboard (and a ZEP-only tenant an accounting system),
connects it, and buys it through Stripe Checkout as a subscription of its own, by the same
Stripe customer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from billing import stripe_gateway
from billing.models import Subscription
from connectors.models import Connection
from sandbox.core import RunningSandbox, running
from sandbox.zep.app import ZepSandbox
from tests.factories import ConnectionFactory
from tests.onboarding.conftest import PORTAL

pytestmark = pytest.mark.django_db

INSTANCE = "beispiel"
REST_TOKEN, SOAP_TOKEN = "zep-rest-second-plan", "zep-soap-second-plan"


@pytest.fixture
def zep_sandbox(settings) -> Iterator[RunningSandbox]:  # type: ignore[no-untyped-def]
    with running(ZepSandbox(instances={INSTANCE: (REST_TOKEN, SOAP_TOKEN)})) as handle:
        settings.VENDOR_API_URLS = {
            **settings.VENDOR_API_URLS,
            "zep": handle.url + "/{instance}/next/api/v1",
        }
        yield handle


def _paying_for(owner: User, system: str, kind: str, *, customer_id: str = "") -> Subscription:
    ConnectionFactory(tenant=owner.tenant, system="hubspot", external_account_id=str(PORTAL))
    ConnectionFactory(tenant=owner.tenant, system=system)
    return Subscription.objects.create(  # type: ignore[no-any-return]
        tenant=owner.tenant,
        plan=system,
        kind=kind,
        status=Subscription.Status.ACTIVE,
        stripe_customer_id=customer_id,
        stripe_subscription_id="sub_first_plan",
    )


def test_a_tenant_paying_for_lexware_office_adds_zep_connects_it_and_pays_for_it(
    browser: Client,
    owner: User,
    stripe_sandbox: RunningSandbox,
    zep_sandbox: RunningSandbox,
) -> None:
    customer_id = stripe_gateway.customer_create(
        tenant_id=str(owner.tenant.pk),
        email=owner.email,
        name="Beispiel GmbH",
        address={"line1": "Hauptstraße 5", "postal_code": "10115", "city": "Berlin",
                 "country": "DE"},
        idempotency_key="customer-first-plan",
    )  # fmt: skip
    first = _paying_for(owner, "lexoffice", Subscription.Kind.ACCOUNTING, customer_id=customer_id)
    overview = browser.get(reverse("dashboard:home")).content.decode()
    assert f"{reverse('billing:plan_add')}?plan=zep" in overview
    assert "Add ZEP" in overview
    # Other accounting systems are switched, not added: one plan per kind of system.
    assert f"{reverse('billing:plan_add')}?plan=sevdesk" not in overview

    offer = browser.get(reverse("billing:plan_add"), {"plan": "zep"}).content.decode()
    assert 'value="zep" checked' in offer
    assert 'value="sevdesk"' not in offer
    chosen = browser.post(reverse("billing:plan_add"), {"plan": "zep"})
    connect_url = reverse("setup:accounting") + "?system=zep"
    assert chosen["Location"] == connect_url
    second = Subscription.objects.get(tenant=owner.tenant, plan="zep")
    assert (second.kind, second.status) == (
        Subscription.Kind.TIME_TRACKING,
        Subscription.Status.INCOMPLETE,
    )
    # The wizard stays finished: the first plan is paid.
    assert browser.get(reverse("setup:continue"))["Location"] == reverse("dashboard:home")

    form = browser.get(connect_url).content.decode()
    assert "REST token" in form
    assert "Choose another system" in form
    connected = browser.post(
        connect_url,
        {"instance": INSTANCE, "api_token": REST_TOKEN, "soap_token": SOAP_TOKEN},
        follow=True,
    ).content.decode()
    assert "ZEP account “ZEP beispiel” is connected." in connected
    payment_url = reverse("billing:payment") + "?system=zep"
    assert f'href="{payment_url}"' in connected
    assert Connection.objects.filter(tenant=owner.tenant, system="zep").exists()

    page = browser.get(payment_url).content.decode()
    assert "Your plan: ZEP, 19 € / month plus VAT" in page
    checkout = browser.post(reverse("billing:checkout"), {"system": "zep"})
    assert checkout["Location"].startswith(stripe_sandbox.url)
    (session,) = stripe_sandbox.sandbox.checkout_sessions.values()  # type: ignore[attr-defined]
    assert session["metadata"] == {"tenant": str(owner.tenant.pk), "plan": "zep"}
    assert session["customer"] == customer_id  # the tenant's one Stripe customer
    assert session["success_url"].endswith(reverse("billing:payment_pending") + "?system=zep")
    assert session["cancel_url"].endswith(payment_url + "&cancelled=1")
    first.refresh_from_db()
    assert (first.plan, first.status) == ("lexoffice", Subscription.Status.ACTIVE)

    # Until Stripe's webhook says ZEP is paid, its confirmation page waits, though the
    # first plan is paid.
    assert browser.get(reverse("billing:payment_pending") + "?system=zep").status_code == 200


def test_a_zep_only_tenant_is_offered_an_accounting_system_beside_zep(
    browser: Client, owner: User
) -> None:
    _paying_for(owner, "zep", Subscription.Kind.TIME_TRACKING)
    overview = browser.get(reverse("dashboard:home")).content.decode()
    assert "Add an accounting system" in overview
    assert f"{reverse('billing:plan_add')}?plan=lexoffice" in overview
    offer = browser.get(reverse("billing:plan_add")).content.decode()
    assert 'value="lexoffice"' in offer
    assert 'value="zep"' not in offer

    # Choosing ZEP again, or a system not offered, adds nothing.
    browser.post(reverse("billing:plan_add"), {"plan": "zep"})
    assert Subscription.objects.filter(tenant=owner.tenant).count() == 1

    browser.post(reverse("billing:plan_add"), {"plan": "sevdesk"})
    plans = dict(Subscription.objects.filter(tenant=owner.tenant).values_list("plan", "kind"))
    assert plans == {"zep": "time_tracking", "sevdesk": "accounting"}


def test_the_first_plan_chosen_anew_for_the_other_kind_replaces_the_unpaid_one(
    browser: Client, owner: User
) -> None:
    ConnectionFactory(tenant=owner.tenant, system="hubspot", external_account_id=str(PORTAL))
    browser.post(reverse("billing:plan"), {"plan": "zep"})
    browser.post(reverse("billing:plan"), {"plan": "lexoffice"})
    assert list(Subscription.objects.filter(tenant=owner.tenant).values_list("plan", "kind")) == [
        ("lexoffice", "accounting")
    ]


def test_a_paid_plan_page_sends_a_system_of_the_other_kind_to_the_second_plan(
    browser: Client, owner: User
) -> None:
    _paying_for(owner, "lexoffice", Subscription.Kind.ACCOUNTING)
    response = browser.post(reverse("billing:plan"), {"plan": "zep"})
    assert response["Location"] == reverse("billing:plan_add") + "?plan=zep"
    assert Subscription.objects.filter(tenant=owner.tenant).count() == 1


def test_without_a_first_plan_the_second_plan_page_leads_to_the_wizard(
    browser: Client, owner: User
) -> None:
    assert browser.get(reverse("billing:plan_add"))["Location"] == reverse("billing:plan")
    browser.post(reverse("billing:plan_add"), {"plan": "zep"})
    assert not Subscription.objects.filter(tenant=owner.tenant).exists()
