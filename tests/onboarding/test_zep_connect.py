"""The ZEP plan in the wizard: chosen on the plan page, connected with instance, REST token and
SOAP token, verified live against the ZEP sandbox (REST and SOAP) before anything is stored."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from billing.models import Subscription
from connectors.models import Connection
from sandbox.core import RunningSandbox, running
from sandbox.zep.app import ZepSandbox
from tests.factories import ConnectionFactory
from tests.onboarding.conftest import PORTAL

pytestmark = pytest.mark.django_db

INSTANCE = "beispiel"
REST_TOKEN, SOAP_TOKEN = "zep-rest-onboarding", "zep-soap-onboarding"


@pytest.fixture
def zep_sandbox(settings) -> Iterator[RunningSandbox]:  # type: ignore[no-untyped-def]
    with running(ZepSandbox(instances={INSTANCE: (REST_TOKEN, SOAP_TOKEN)})) as handle:
        settings.VENDOR_API_URLS = {
            **settings.VENDOR_API_URLS,
            "zep": handle.url + "/{instance}/next/api/v1",
        }
        yield handle


@pytest.fixture
def hubspot_connected(owner: User) -> Connection:
    return ConnectionFactory(  # type: ignore[return-value]
        tenant=owner.tenant,
        system="hubspot",
        external_account_id=str(PORTAL),
        account_name="beispiel-gmbh.example",
        credentials={"access_token": "t", "refresh_token": "r", "expires_at": 0},
    )


def _choose_zep(browser: Client) -> None:
    response = browser.post(reverse("billing:plan"), {"plan": "zep"})
    assert response["Location"] == reverse("setup:accounting")


def test_the_plan_page_offers_zep_with_its_price(
    browser: Client, hubspot_connected: Connection
) -> None:
    page = browser.get(reverse("billing:plan")).content.decode()
    assert 'value="zep"' in page
    assert "19 € / month plus VAT" in page
    assert "deals in the stages you choose become ZEP projects" in page
    assert 'value="lexoffice"' in page  # the accounting plans stay


def test_zep_is_connected_over_http_with_its_instance_and_both_tokens(
    browser: Client, owner: User, hubspot_connected: Connection, zep_sandbox: RunningSandbox
) -> None:
    _choose_zep(browser)
    assert Subscription.objects.get(tenant=owner.tenant).plan == "zep"
    form = browser.get(reverse("setup:accounting")).content.decode()
    for label in ("ZEP instance", "REST token", "SOAP token"):
        assert label in form
    assert "Sign in with" not in form  # tokens only

    response = browser.post(
        reverse("setup:accounting"),
        {"instance": INSTANCE, "api_token": REST_TOKEN, "soap_token": SOAP_TOKEN},
        follow=True,
    )
    assert "ZEP account “ZEP beispiel” is connected." in response.content.decode()
    connection = Connection.objects.get(tenant=owner.tenant, system="zep")
    assert connection.external_account_id == INSTANCE
    assert connection.credentials == {
        "instance": INSTANCE,
        "api_token": REST_TOKEN,
        "soap_token": SOAP_TOKEN,
    }
    # Both APIs were asked: the REST page of customers and SOAP's readKunde.
    paths = [call.path for call in zep_sandbox.sandbox.api_calls()]
    assert any(path.endswith("/customers") for path in paths), paths
    assert any("soap" in path for path in paths), paths
    # The next step is the payment.
    assert browser.get(reverse("setup:continue"))["Location"] == reverse("billing:payment")


@pytest.mark.parametrize(
    ("credentials", "said"),
    [
        ({"instance": INSTANCE, "api_token": "wrong", "soap_token": SOAP_TOKEN}, "Unauthenticated"),
        (
            {"instance": INSTANCE, "api_token": REST_TOKEN, "soap_token": "wrong"},
            "authorizationToken",
        ),
        (
            {"instance": "andere", "api_token": REST_TOKEN, "soap_token": SOAP_TOKEN},
            "Unauthenticated",
        ),
    ],
)
def test_a_refused_token_is_explained_and_nothing_is_stored(
    browser: Client,
    owner: User,
    hubspot_connected: Connection,
    zep_sandbox: RunningSandbox,
    credentials: dict[str, str],
    said: str,
) -> None:
    _choose_zep(browser)
    response = browser.post(reverse("setup:accounting"), credentials)
    page = response.content.decode()
    assert response.status_code == 200
    assert "ZEP did not accept the instance or one of the tokens." in page
    assert said in page
    assert not Connection.objects.filter(tenant=owner.tenant, system="zep").exists()
    for token in (REST_TOKEN, SOAP_TOKEN):
        assert token not in page  # secrets are not rendered back


def test_an_unreachable_zep_is_told_apart_from_a_refusal(
    browser: Client, owner: User, hubspot_connected: Connection, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.VENDOR_API_URLS = {
        **settings.VENDOR_API_URLS,
        "zep": "http://127.0.0.1:9/{instance}/next/api/v1",  # nothing listens there
    }
    _choose_zep(browser)
    response = browser.post(
        reverse("setup:accounting"),
        {"instance": INSTANCE, "api_token": REST_TOKEN, "soap_token": SOAP_TOKEN},
    )
    page = response.content.decode()
    assert "ZEP cannot be reached just now" in page
    assert "did not accept" not in page
    assert not Connection.objects.filter(tenant=owner.tenant, system="zep").exists()
