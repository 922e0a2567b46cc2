"""Step "connect the accounting system" by OAuth, against the bexio sandbox."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from urllib.parse import urlsplit

import pytest
import requests
from django.test import Client
from django.urls import reverse

from accounts.models import User
from billing import services as billing_services
from connectors.models import Connection
from connectors.oauth import client_credentials
from connectors.registry import provider
from sandbox.bexio.app import BexioSandbox
from sandbox.core import RunningSandbox, running

pytestmark = pytest.mark.django_db

PERSONAL_TOKEN = "bexio-onboarding-personal-token"


@pytest.fixture
def bexio_sandbox(settings) -> Iterator[RunningSandbox]:  # type: ignore[no-untyped-def]
    sandbox = BexioSandbox()
    sandbox.add_company(name="Beispiel AG", personal_access_token=PERSONAL_TOKEN)
    sandbox.add_oauth_client(
        client_id=client_credentials(provider("bexio"))[0],
        client_secret=client_credentials(provider("bexio"))[1],
        redirect_uris=("http://testserver" + reverse("setup:accounting_callback"),),
    )
    with running(sandbox) as handle:
        settings.VENDOR_API_URLS = {
            **settings.VENDOR_API_URLS,
            "bexio": handle.url,
            "bexio_oauth": handle.url,
        }
        yield handle


def _consent_and_decide(browser: Client, sandbox: RunningSandbox, decision: str) -> str:
    started = browser.post(reverse("setup:accounting_connect"))
    authorize = started["Location"]
    assert authorize.startswith(sandbox.url)
    page = requests.get(authorize, timeout=10)
    assert page.status_code == 200
    fields = {
        unescape(k): unescape(v)
        for k, v in re.findall(r"<input type='hidden' name='([^']*)' value='([^']*)'>", page.text)
    }
    action = sandbox.url + urlsplit(authorize).path
    answer = requests.post(
        action,
        data={**fields, "company_id": "1", "decision": decision},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302
    callback = urlsplit(answer.headers["Location"])
    assert callback.path == reverse("setup:accounting_callback")
    return f"{callback.path}?{callback.query}"


def test_bexio_consent_connects_and_verifies_the_account(
    browser: Client, owner: User, bexio_sandbox: RunningSandbox
) -> None:
    billing_services.plan_choose(tenant=owner.tenant, plan="bexio")  # type: ignore[arg-type]
    callback = _consent_and_decide(browser, bexio_sandbox, "approve")
    body = browser.get(callback, follow=True).content.decode()
    # bexio's API does not name the account: no name rather than the system's own.
    assert "bexio is connected." in body
    assert "“bexio”" not in body
    connection = Connection.objects.get(tenant=owner.tenant, system="bexio")
    assert connection.account_name == ""
    assert connection.credentials["access_token"]
    assert connection.credentials["refresh_token"]
    assert connection.credentials["access_token"] not in body


def test_bexio_consent_refused_connects_nothing(
    browser: Client, owner: User, bexio_sandbox: RunningSandbox
) -> None:
    billing_services.plan_choose(tenant=owner.tenant, plan="bexio")  # type: ignore[arg-type]
    callback = _consent_and_decide(browser, bexio_sandbox, "deny")
    body = browser.get(callback, follow=True).content.decode()
    assert "You did not allow APIUP to access bexio" in body
    assert not Connection.objects.filter(tenant=owner.tenant, system="bexio").exists()


def test_bexio_personal_access_token(
    browser: Client, owner: User, bexio_sandbox: RunningSandbox
) -> None:
    billing_services.plan_choose(tenant=owner.tenant, plan="bexio")  # type: ignore[arg-type]
    wrong = browser.post(reverse("setup:accounting"), {"access_token": "not-a-bexio-token"})
    assert "bexio did not accept these credentials" in wrong.content.decode()
    assert not Connection.objects.filter(tenant=owner.tenant).exists()

    browser.post(reverse("setup:accounting"), {"access_token": PERSONAL_TOKEN})
    connection = Connection.objects.get(tenant=owner.tenant, system="bexio")
    assert connection.credentials == {"access_token": PERSONAL_TOKEN}


def test_disconnecting_a_bexio_sign_in_revokes_its_tokens_at_bexio(
    browser: Client, owner: User, bexio_sandbox: RunningSandbox
) -> None:
    billing_services.plan_choose(tenant=owner.tenant, plan="bexio")  # type: ignore[arg-type]
    browser.get(_consent_and_decide(browser, bexio_sandbox, "approve"))
    connection = Connection.objects.get(tenant=owner.tenant, system="bexio")
    tokens = dict(connection.credentials)
    contacts = bexio_sandbox.url + "/2.0/contact"
    headers = {"Accept": "application/json", "Authorization": f"Bearer {tokens['access_token']}"}
    assert requests.get(contacts, headers=headers, timeout=10).status_code == 200

    response = browser.post(reverse("connectors:disconnect", args=[connection.pk]), follow=True)

    assert "access at bexio is withdrawn" in response.content.decode()
    assert not Connection.objects.filter(pk=connection.pk).exists()
    assert requests.get(contacts, headers=headers, timeout=10).status_code == 401
    client_id, client_secret = client_credentials(provider("bexio"))
    refresh = requests.post(
        bexio_sandbox.url + provider("bexio").oauth.token_path,  # type: ignore[union-attr]
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": client_id,
            "client_secret": client_secret,
        },
        timeout=10,
    )
    assert refresh.json()["error"] == "invalid_grant"


def test_disconnecting_a_personal_access_token_says_where_to_delete_it(
    browser: Client, owner: User, bexio_sandbox: RunningSandbox
) -> None:
    billing_services.plan_choose(tenant=owner.tenant, plan="bexio")  # type: ignore[arg-type]
    browser.post(reverse("setup:accounting"), {"access_token": PERSONAL_TOKEN})
    connection = Connection.objects.get(tenant=owner.tenant, system="bexio")

    response = browser.post(reverse("connectors:disconnect", args=[connection.pk]), follow=True)

    body = unescape(response.content.decode())
    assert "remove the APIUP app or key in your bexio account" in body
    assert "deleted in bexio's developer portal under Personal access tokens" in body
    assert bexio_sandbox.sandbox.api_calls(path_prefix="/realms/") == []  # nothing to revoke
