"""Steps "choose plan" and "connect the accounting system" (lexware office sandbox)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from billing import services as billing_services
from billing.models import Subscription
from connectors.models import Connection
from connectors.registry import provider, vendor_url
from sandbox.core import RunningSandbox
from tests.factories import ConnectionFactory
from tests.onboarding.conftest import GOOD_LEXOFFICE_KEY, PORTAL

pytestmark = pytest.mark.django_db


@pytest.fixture
def hubspot_connected(owner: User) -> Connection:
    return ConnectionFactory(  # type: ignore[return-value]
        tenant=owner.tenant,
        system="hubspot",
        external_account_id=str(PORTAL),
        account_name="beispiel-gmbh.example",
        credentials={"access_token": "t", "refresh_token": "r", "expires_at": 0},
    )


def test_plan_page_shows_each_system_with_net_price_and_trial_in_every_language(
    browser: Client, hubspot_connected: Connection
) -> None:
    english = browser.get(reverse("billing:plan")).content.decode()
    for name in ("lexware office", "bexio", "sevDesk", "Qonto"):
        assert name in english
    assert "29 € / month plus VAT, 14 days free trial" in english
    assert "Won deals become quote drafts in lexware office" in english
    german = browser.get(reverse("billing:plan"), HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "29 € / Monat zzgl. MwSt., 14 Tage kostenlos testen" in german
    french = browser.get(reverse("billing:plan"), HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "29 € HT / mois, 14 jours d\u2019essai gratuit" in french


def test_choosing_a_plan_stores_it_and_leads_to_the_accounting_step(
    browser: Client, owner: User, hubspot_connected: Connection
) -> None:
    response = browser.post(reverse("billing:plan"), {"plan": "lexoffice"})
    assert response["Location"] == reverse("setup:accounting")
    subscription = Subscription.objects.get(tenant=owner.tenant)
    assert subscription.plan == "lexoffice"
    assert subscription.status == Subscription.Status.INCOMPLETE

    # Changing one's mind keeps one subscription row.
    browser.post(reverse("billing:plan"), {"plan": "bexio"})
    assert Subscription.objects.get(tenant=owner.tenant).plan == "bexio"

    refused = browser.post(reverse("billing:plan"), {"plan": "datev"})
    assert refused.status_code == 200
    assert Subscription.objects.get(tenant=owner.tenant).plan == "bexio"


def test_the_accounting_step_without_a_plan_sends_to_the_plan(browser: Client) -> None:
    assert browser.get(reverse("setup:accounting"))["Location"] == reverse("billing:plan")


def test_a_good_lexware_office_key_is_verified_and_the_account_shown(
    browser: Client,
    owner: User,
    hubspot_connected: Connection,
    lexoffice_sandbox: RunningSandbox,
) -> None:
    billing_services.plan_choose(tenant=owner.tenant, plan="lexoffice")  # type: ignore[arg-type]
    page = browser.get(reverse("setup:accounting")).content.decode()
    assert "API key" in page
    assert "Sign in with" not in page  # lexware office offers no OAuth

    response = browser.post(
        reverse("setup:accounting"), {"api_key": GOOD_LEXOFFICE_KEY}, follow=True
    )
    body = response.content.decode()
    assert "Beispiel Buchhaltung GmbH" in body
    assert GOOD_LEXOFFICE_KEY not in body
    connection = Connection.objects.get(tenant=owner.tenant, system="lexoffice")
    assert connection.credentials == {"api_key": GOOD_LEXOFFICE_KEY}
    assert connection.account_name == "Beispiel Buchhaltung GmbH"
    assert connection.external_account_id
    # The next unfinished step is the payment.
    assert browser.get(reverse("setup:continue"))["Location"] == reverse("billing:payment")


def test_a_wrong_key_shows_the_vendors_reason_and_stores_nothing(
    browser: Client,
    owner: User,
    hubspot_connected: Connection,
    lexoffice_sandbox: RunningSandbox,
) -> None:
    billing_services.plan_choose(tenant=owner.tenant, plan="lexoffice")  # type: ignore[arg-type]
    wrong = "lx-wrong-key-9876543210"
    response = browser.post(reverse("setup:accounting"), {"api_key": wrong})
    body = response.content.decode()
    assert response.status_code == 200
    assert "lexware office did not accept these credentials: Unauthorized" in body
    assert wrong not in body  # not even back into the field
    assert not Connection.objects.filter(tenant=owner.tenant, system="lexoffice").exists()


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("en", "The key contains a line break, space or other invisible character."),
        ("de", "Der Schlüssel enthält einen Zeilenumbruch, ein Leerzeichen oder ein anderes"),
    ],
)
@pytest.mark.parametrize("pasted", ["lx-pasted-\nkey-0123456789", "lx-pasted key\t0123456789"])
def test_a_key_pasted_with_a_line_break_or_space_is_refused_in_the_users_language(
    browser: Client,
    owner: User,
    hubspot_connected: Connection,
    language: str,
    message: str,
    pasted: str,
) -> None:
    # A line break in an HTTP header made the vendor call fail with a 500 whose traceback
    # held the key; the form refuses it before any call.
    billing_services.plan_choose(tenant=owner.tenant, plan="lexoffice")  # type: ignore[arg-type]
    browser.defaults["HTTP_ACCEPT_LANGUAGE"] = language
    response = browser.post(reverse("setup:accounting"), {"api_key": pasted})
    body = response.content.decode()
    assert response.status_code == 200
    assert message in body
    assert "pasted" not in body  # not even back into the field
    assert not Connection.objects.filter(tenant=owner.tenant, system="lexoffice").exists()


def test_bexio_offers_its_consent_page_and_a_token_form(
    browser: Client, owner: User, hubspot_connected: Connection, settings
) -> None:  # type: ignore[no-untyped-def]
    billing_services.plan_choose(tenant=owner.tenant, plan="bexio")  # type: ignore[arg-type]
    page = browser.get(reverse("setup:accounting")).content.decode()
    assert "Sign in with bexio" in page
    assert "Personal access token" in page
    started = browser.post(reverse("setup:accounting_connect"))
    assert started["Location"].startswith(vendor_url(provider("bexio"), "oauth"))
    assert "code_challenge=" in started["Location"]


def test_a_paid_plan_is_not_switched_by_the_plan_page(browser: Client, owner: User) -> None:
    Subscription.objects.create(
        tenant=owner.tenant, plan="lexoffice", status=Subscription.Status.ACTIVE
    )
    response = browser.post(reverse("billing:plan"), {"plan": "bexio"})
    assert response.status_code == 200
    assert "already paid for" in response.content.decode()
    assert Subscription.objects.get(tenant=owner.tenant).plan == "lexoffice"
