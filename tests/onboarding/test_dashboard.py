"""The dashboard: systems with health, the transfer chart, settings, disconnect, team
invitations, the Billing Portal and closing the account."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import Tenant, User
from billing import services as billing_services
from billing.models import Subscription
from connectors.models import Connection
from sandbox.core import RunningSandbox
from sandbox.hubspot.app import HubSpotSandbox, RefreshToken
from sync.models import Transfer, TransferSettings
from tests.factories import ConnectionFactory, TransferFactory, UserFactory
from tests.onboarding.conftest import STRIPE_KEY

pytestmark = pytest.mark.django_db


@pytest.fixture
def live_customer(owner: User) -> Subscription:
    ConnectionFactory(
        tenant=owner.tenant,
        system="hubspot",
        external_account_id="4711",
        account_name="beispiel-gmbh.example",
    )
    ConnectionFactory(tenant=owner.tenant, system="lexoffice", account_name="Meine Buchhaltung")
    return Subscription.objects.create(
        tenant=owner.tenant, plan="lexoffice", status=Subscription.Status.ACTIVE
    )


def test_overview_lists_systems_health_and_the_chart(
    browser: Client, owner: User, live_customer: Subscription
) -> None:
    TransferFactory(tenant=owner.tenant, state=Transfer.State.DONE)
    TransferFactory(tenant=owner.tenant, state=Transfer.State.FAILED)
    body = browser.get(reverse("dashboard:home")).content.decode()
    for name in ("HubSpot", "lexware office", "bexio", "sevDesk", "Qonto"):
        assert name in body
    assert "Meine Buchhaltung" in body
    assert body.count('class="badge connected"') >= 2
    assert 'class="chart-bar done"' in body
    assert 'class="chart-bar failed"' in body
    assert '<span class="chart-total">2</span>' in body
    assert reverse("sync:transfer_list") in body
    assert "Continue setup" not in body

    # Payment overdue: the connections are paused for billing.
    Subscription.objects.filter(pk=live_customer.pk).update(status=Subscription.Status.PAST_DUE)
    assert "paused for billing" in browser.get(reverse("dashboard:home")).content.decode()
    Connection.objects.filter(system="lexoffice").update(status=Connection.Status.NEEDS_RECONNECT)
    assert "needs reconnecting" in browser.get(reverse("dashboard:home")).content.decode()


def test_the_chart_says_so_when_nothing_was_transferred(
    browser: Client, live_customer: Subscription
) -> None:
    body = browser.get(reverse("dashboard:home")).content.decode()
    assert "No transfers in the last 14 days." in body
    assert 'class="chart"' not in body


def test_overview_in_german(browser: Client, live_customer: Subscription) -> None:
    body = browser.get(reverse("dashboard:home"), HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Aktive Verbindungen" in body
    assert "Verfügbare Systeme" in body
    assert "verbunden" in body


def test_an_unfinished_setup_is_offered_on_the_overview(browser: Client) -> None:
    body = browser.get(reverse("dashboard:home")).content.decode()
    assert "Continue setup" in body
    assert reverse("setup:hubspot") in body


def test_disconnecting_deletes_the_connection_and_says_what_remains(
    browser: Client, owner: User, live_customer: Subscription
) -> None:
    connection = Connection.objects.get(tenant=owner.tenant, system="lexoffice")
    response = browser.post(reverse("connectors:disconnect", args=[connection.pk]), follow=True)
    assert "is disconnected" in response.content.decode()
    assert not Connection.objects.filter(pk=connection.pk).exists()
    assert browser.get(reverse("setup:continue"))["Location"] == reverse("setup:accounting")


def test_the_disconnect_confirmation_says_where_qontos_access_is_removed_by_hand(
    browser: Client, owner: User, live_customer: Subscription
) -> None:
    # Qonto documents no revocation call: the customer removes APIUP's access there.
    Connection.objects.filter(tenant=owner.tenant, system="lexoffice").update(system="qonto")
    body = browser.get(reverse("dashboard:home")).content.decode()
    hint = "Remove APIUP&#x27;s access in Qonto under Settings → Integrations."
    assert f"Transfers stop until it is connected again. {hint}" in body  # the confirmation
    assert "Qonto: Remove APIUP&#x27;s access in Qonto under Settings → Integrations." in body


def test_transfer_settings_are_saved_and_checked(browser: Client, owner: User) -> None:
    page = browser.get(reverse("dashboard:settings")).content.decode()
    assert "Musterfirma" in page
    response = browser.post(
        reverse("dashboard:settings"),
        {
            "won_stages": "closedwon, 12345678, closedwon",
            "placeholder_name": "Beispielkunde",
            "placeholder_street": "Musterweg 1",
            "placeholder_city": "Musterhausen",
            "default_tax_rate": "7",
            "validity_days": "14",
            "contact_transfer_enabled": "",
            "exclusion_property": "nicht_uebertragen",
        },
    )
    assert response["Location"] == reverse("dashboard:settings")
    saved = TransferSettings.objects.get(tenant=owner.tenant)
    assert saved.won_stage_ids == ["closedwon", "12345678"]
    assert saved.placeholder_name == "Beispielkunde"
    assert saved.default_tax_rate == Decimal("7")
    assert saved.validity_days == 14
    assert saved.contact_transfer_enabled is False
    assert saved.exclusion_property == "nicht_uebertragen"
    assert "closedwon, 12345678" in browser.get(reverse("dashboard:settings")).content.decode()

    refused = browser.post(
        reverse("dashboard:settings"),
        {
            "placeholder_name": "X",
            "placeholder_street": "Y",
            "placeholder_city": "Z",
            "default_tax_rate": "150",
            "validity_days": "0",
            "exclusion_property": "p",
        },
    )
    assert refused.status_code == 200
    assert TransferSettings.objects.get(tenant=owner.tenant).default_tax_rate == Decimal("7")


def test_a_colleague_is_invited_and_nothing_exists_before_they_accept(
    browser: Client,
    owner: User,
    django_capture_on_commit_callbacks,  # type: ignore[no-untyped-def]
) -> None:
    # The whole invitation flow is in tests/accounts/test_invitations.py.
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(
            reverse("dashboard:team"), {"email": "Kollegin@Beispiel.de", "role": "member"}
        )
    assert response["Location"] == reverse("dashboard:team")
    assert not User.objects.filter(email="kollegin@beispiel.de").exists()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["kollegin@beispiel.de"]
    page = browser.get(reverse("dashboard:team")).content.decode()
    assert "kollegin@beispiel.de" in page
    assert "If this address can be invited, an invitation was sent." in page


def test_closing_the_account_cancels_at_stripe_and_deletes_everything(
    browser: Client, owner: User, stripe_sandbox: RunningSandbox
) -> None:
    tenant = owner.tenant
    assert tenant is not None
    colleague = UserFactory(tenant=tenant)
    ConnectionFactory(tenant=tenant, system="lexoffice")
    # A real subscription in the Stripe sandbox, paid through its hosted page.
    billing_services.plan_choose(tenant=tenant, plan="lexoffice")
    checkout = billing_services.checkout_start(
        tenant=tenant,
        system="lexoffice",
        price_id="price_lexoffice_monthly",
        email=owner.email,
        success_url="http://testserver/done",
        cancel_url="http://testserver/cancel",
    )
    paid = requests.post(
        checkout, data={"action": "card", "card_number": "4242424242424242"},
        allow_redirects=False, timeout=10,
    )  # fmt: skip
    assert paid.status_code == 303
    (subscription_id,) = stripe_sandbox.sandbox.subscriptions  # type: ignore[attr-defined]
    Subscription.objects.filter(tenant=tenant).update(
        stripe_subscription_id=subscription_id, status=Subscription.Status.TRIALING
    )

    unconfirmed = browser.post(reverse("dashboard:close_account"), {})
    assert unconfirmed.status_code == 200
    assert Tenant.objects.filter(pk=tenant.pk).exists()

    response = browser.post(reverse("dashboard:close_account"), {"confirm": "on"})
    assert response["Location"] == reverse("account_login")
    stripe_state = stripe_sandbox.sandbox.subscriptions[subscription_id]  # type: ignore[attr-defined]
    assert stripe_state["status"] == "canceled"
    assert not Tenant.objects.filter(pk=tenant.pk).exists()
    assert not User.objects.filter(pk__in=[owner.pk, colleague.pk]).exists()
    assert not Connection.objects.filter(tenant_id=tenant.pk).exists()
    assert not Subscription.objects.filter(tenant_id=tenant.pk).exists()
    # Logged out.
    assert browser.get(reverse("dashboard:home"))["Location"].startswith(reverse("account_login"))


def test_the_billing_portal_button_opens_stripes_portal(
    browser: Client, owner: User, stripe_sandbox: RunningSandbox
) -> None:
    customer = requests.post(
        f"{stripe_sandbox.url}/v1/customers",
        data={"email": owner.email},
        auth=(STRIPE_KEY, ""),
        timeout=10,
    ).json()
    Subscription.objects.create(
        tenant=owner.tenant, plan="lexoffice", stripe_customer_id=customer["id"]
    )
    response = browser.post(reverse("billing:portal"))
    assert response.status_code == 302
    assert response["Location"].startswith(stripe_sandbox.url)


def test_disconnecting_hubspot_revokes_the_refresh_token_at_hubspot(
    browser: Client, owner: User, hubspot_sandbox: RunningSandbox
) -> None:
    hubspot: HubSpotSandbox = hubspot_sandbox.sandbox  # type: ignore[assignment]
    hubspot.refresh_tokens["r-disconnect"] = RefreshToken(
        4711, "", client_id="apiup-sandbox-client"
    )
    connection = ConnectionFactory(
        tenant=owner.tenant,
        system="hubspot",
        credentials={"access_token": "a", "refresh_token": "r-disconnect", "expires_at": 1.0},
    )
    response = browser.post(reverse("connectors:disconnect", args=[connection.pk]), follow=True)
    assert "access at HubSpot is withdrawn" in response.content.decode()
    assert "r-disconnect" not in hubspot.refresh_tokens
    assert not Connection.objects.filter(pk=connection.pk).exists()
    revoked = [c for c in hubspot.api_calls() if c.method == "DELETE"]
    assert len(revoked) == 1
    assert revoked[0].status == 204


def test_a_failed_revocation_still_disconnects_and_says_what_remains(
    browser: Client, owner: User, hubspot_sandbox: RunningSandbox
) -> None:
    hubspot_sandbox.sandbox.faults.update({"down_for_seconds": 30})
    connection = ConnectionFactory(
        tenant=owner.tenant,
        system="hubspot",
        credentials={"access_token": "a", "refresh_token": "r-unknown", "expires_at": 1.0},
    )
    response = browser.post(reverse("connectors:disconnect", args=[connection.pk]), follow=True)
    assert "remove the APIUP app or key in your HubSpot account" in response.content.decode()
    assert not Connection.objects.filter(pk=connection.pk).exists()
