"""Connections are named as the customer knows the account: the HubSpot portal by its name,
not its technical domain (bexio, whose API names no account, in
tests/onboarding/test_bexio_oauth.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from django.test import Client
from flask import Flask, Response

from accounts.models import User
from connectors.models import Connection
from sandbox.core import RunningSandbox, running
from sandbox.hubspot.app import HubSpotSandbox
from tests.onboarding.conftest import PORTAL
from tests.onboarding.test_hubspot_step import _consent, _decide

pytestmark = pytest.mark.django_db


class HubSpotRefusingAccountInfo(HubSpotSandbox):
    """Answers `GET /account-info/v3/details` as HubSpot does for a token without the scope."""

    def register_routes(self, app: Flask) -> None:
        super().register_routes(app)
        app.view_functions["account_info_details"] = self._refuse

    def _refuse(self) -> Response:
        return self.json(
            {
                "status": "error",
                "message": "This app hasn't been granted all required scopes to make this call.",
                "correlationId": "8d2f3c1e-0000-4000-8000-000000000000",
                "category": "MISSING_SCOPES",
            },
            status=403,
        )


def _serve(settings, sandbox: HubSpotSandbox) -> Iterator[RunningSandbox]:  # type: ignore[no-untyped-def]
    with running(sandbox) as handle:
        settings.VENDOR_API_URLS = {
            **settings.VENDOR_API_URLS,
            "hubspot": handle.url,
            "hubspot_oauth": handle.url,
        }
        yield handle


@pytest.fixture
def hubspot_with_names(settings) -> Iterator[RunningSandbox]:  # type: ignore[no-untyped-def]
    yield from _serve(
        settings,
        HubSpotSandbox(
            client_id=settings.HUBSPOT_CLIENT_ID, client_secret=settings.HUBSPOT_CLIENT_SECRET
        ),
    )


@pytest.fixture
def hubspot_refusing_names(settings) -> Iterator[RunningSandbox]:  # type: ignore[no-untyped-def]
    yield from _serve(
        settings,
        HubSpotRefusingAccountInfo(
            client_id=settings.HUBSPOT_CLIENT_ID, client_secret=settings.HUBSPOT_CLIENT_SECRET
        ),
    )


def test_the_hubspot_portal_is_named_as_in_hubspot(
    browser: Client, owner: User, hubspot_with_names: RunningSandbox
) -> None:
    action, fields = _consent(browser, hubspot_with_names)
    response = browser.get(_decide(action, fields, "approve"), follow=True)

    connection = Connection.objects.get(tenant=owner.tenant, system="hubspot")
    assert connection.account_name == "Beispiel GmbH"
    assert connection.external_account_id == str(PORTAL)
    assert "Beispiel GmbH" in response.content.decode()
    (details,) = hubspot_with_names.sandbox.api_calls(path_prefix="/account-info/")
    assert (details.method, details.status) == ("GET", 200)


class HubSpotWithoutPortalName(HubSpotSandbox):
    """Leaves out `portalName`, which only the spec's example answer has."""

    def register_routes(self, app: Flask) -> None:
        super().register_routes(app)
        details = app.view_functions["account_info_details"]

        def nameless() -> Response:
            answer = details()
            body = json.loads(answer.get_data())
            del body["portalName"]
            return self.json(body)

        app.view_functions["account_info_details"] = nameless


@pytest.fixture
def hubspot_without_names(settings) -> Iterator[RunningSandbox]:  # type: ignore[no-untyped-def]
    yield from _serve(
        settings,
        HubSpotWithoutPortalName(
            client_id=settings.HUBSPOT_CLIENT_ID, client_secret=settings.HUBSPOT_CLIENT_SECRET
        ),
    )


def test_without_the_name_the_portal_keeps_its_domain(
    browser: Client, owner: User, hubspot_without_names: RunningSandbox
) -> None:
    # `portalName` is optional (only the spec's example has it): without it, the domain.
    action, fields = _consent(browser, hubspot_without_names)
    browser.get(_decide(action, fields, "approve"))
    connection = Connection.objects.get(tenant=owner.tenant, system="hubspot")
    assert connection.status == Connection.Status.CONNECTED
    assert connection.account_name == "beispiel-gmbh.example"


def test_a_refused_name_read_leaves_the_connection_connected(
    browser: Client, owner: User, hubspot_refusing_names: RunningSandbox
) -> None:
    action, fields = _consent(browser, hubspot_refusing_names)
    browser.get(_decide(action, fields, "approve"))
    connection = Connection.objects.get(tenant=owner.tenant, system="hubspot")
    assert connection.status == Connection.Status.CONNECTED
    assert connection.account_name == "beispiel-gmbh.example"
    (details,) = hubspot_refusing_names.sandbox.api_calls(path_prefix="/account-info/")
    assert details.status == 403
