"""Step "connect HubSpot": OAuth with state and PKCE against the HubSpot sandbox."""

from __future__ import annotations

import re
import time
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client
from django.urls import reverse

from accounts.models import User
from connectors.models import Connection
from sandbox.core import RunningSandbox
from tests.factories import ConnectionFactory
from tests.onboarding.conftest import PORTAL
from web import oauth_state

pytestmark = pytest.mark.django_db


def _consent(browser: Client, sandbox: RunningSandbox) -> tuple[str, dict[str, str]]:
    """Starts the connection and opens HubSpot's consent page as a browser would: returns
    the form's address and its hidden fields."""
    started = browser.post(reverse("setup:hubspot_connect"))
    assert started.status_code == 302
    authorize = started["Location"]
    assert authorize.startswith(f"{sandbox.url}/oauth/authorize?")
    query = parse_qs(urlsplit(authorize).query)
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["state"][0]) >= 32
    page = requests.get(authorize, timeout=10)
    assert page.status_code == 200
    assert "Connect APIUP to HubSpot" in page.text
    hidden = {
        unescape(name): unescape(value)
        for name, value in re.findall(
            r"<input type='hidden' name='([^']*)' value='([^']*)'>", page.text
        )
    }
    return f"{sandbox.url}/oauth/authorize", hidden


def _decide(action: str, fields: dict[str, str], decision: str) -> str:
    """Posts the consent form; returns the callback path HubSpot redirects the browser to."""
    answer = requests.post(
        action,
        data={**fields, "portal_id": str(PORTAL), "decision": decision},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302
    callback = urlsplit(answer.headers["Location"])
    assert callback.path == reverse("setup:hubspot_callback")
    return f"{callback.path}?{callback.query}"


def test_consent_connects_the_portal_and_shows_its_name_and_id(
    browser: Client, owner: User, hubspot_sandbox: RunningSandbox
) -> None:
    action, fields = _consent(browser, hubspot_sandbox)
    callback = _decide(action, fields, "approve")

    response = browser.get(callback, follow=True)
    body = response.content.decode()
    assert response.redirect_chain[-1][0] == reverse("setup:hubspot")
    assert "Beispiel GmbH" in body  # the portal's name in HubSpot
    assert str(PORTAL) in body
    connection = Connection.objects.get(tenant=owner.tenant, system="hubspot")
    assert connection.external_account_id == str(PORTAL)
    assert connection.account_name == "Beispiel GmbH"
    assert connection.status == Connection.Status.CONNECTED
    assert connection.credentials["access_token"]
    assert connection.credentials["refresh_token"]
    assert connection.credentials["access_token"] not in body
    # The token works: HubSpot tells whose it is.
    info = requests.get(
        f"{hubspot_sandbox.url}/oauth/v1/access-tokens/{connection.credentials['access_token']}",
        timeout=10,
    )
    assert info.json()["hub_id"] == PORTAL

    # The state is single use: the same callback again connects nothing new.
    again = browser.get(callback, follow=True).content.decode()
    assert "not valid any more" in again
    assert Connection.objects.filter(tenant=owner.tenant).count() == 1

    # The next unfinished step is the plan.
    assert browser.get(reverse("setup:continue"))["Location"] == reverse("billing:plan")


def test_refused_consent_brings_the_customer_back_with_a_message(
    browser: Client, owner: User, hubspot_sandbox: RunningSandbox
) -> None:
    action, fields = _consent(browser, hubspot_sandbox)
    callback = _decide(action, fields, "deny")
    assert "error=access_denied" in callback

    body = browser.get(callback, follow=True).content.decode()
    assert "You did not allow APIUP to access HubSpot" in body
    assert not Connection.objects.filter(tenant=owner.tenant).exists()


def test_a_tampered_state_is_refused_before_any_code_is_exchanged(
    browser: Client, owner: User, hubspot_sandbox: RunningSandbox
) -> None:
    action, fields = _consent(browser, hubspot_sandbox)
    callback = _decide(action, fields, "approve")
    # Another first character: a state that happens to start with "x" must change too.
    tampered = re.sub(
        r"state=([^&]+)",
        lambda m: "state=" + ("y" if m.group(1)[0] == "x" else "x") + m.group(1)[1:],
        callback,
    )
    assert tampered != callback

    body = browser.get(tampered, follow=True).content.decode()
    assert "not valid any more" in body
    assert not Connection.objects.filter(tenant=owner.tenant).exists()
    # The code was never spent: HubSpot still holds it.
    code = parse_qs(urlsplit(callback).query)["code"][0]
    assert code in hubspot_sandbox.sandbox.codes  # type: ignore[attr-defined]


def test_a_portal_of_another_customer_is_refused(
    browser: Client, owner: User, hubspot_sandbox: RunningSandbox
) -> None:
    ConnectionFactory(system="hubspot", external_account_id=str(PORTAL))
    action, fields = _consent(browser, hubspot_sandbox)
    callback = _decide(action, fields, "approve")

    body = browser.get(callback, follow=True).content.decode()
    assert f"The HubSpot portal {PORTAL} is already connected to another APIUP account" in body
    assert not Connection.objects.filter(tenant=owner.tenant).exists()


def test_a_state_expires_after_ten_minutes_and_belongs_to_one_tenant(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    session = SessionStore()
    issued = oauth_state.state_issue(session=session, tenant_id="t1", vendor="hubspot")
    other = oauth_state.state_issue(session=session, tenant_id="t1", vendor="hubspot")
    with pytest.raises(oauth_state.StateInvalid):
        oauth_state.state_consume(
            session=session, tenant_id="t2", vendor="hubspot", state=other.state
        )
    now = time.time()
    monkeypatch.setattr(oauth_state.time, "time", lambda: now + oauth_state.LIFETIME_SECONDS + 1)
    with pytest.raises(oauth_state.StateInvalid):
        oauth_state.state_consume(
            session=session, tenant_id="t1", vendor="hubspot", state=issued.state
        )


def test_the_step_page_speaks_german_and_english(browser: Client) -> None:
    url = reverse("setup:hubspot")
    assert "Connect HubSpot" in browser.get(url).content.decode()
    german = browser.get(url, HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "HubSpot verbinden" in german
