"""The customer's browser is Django's test client; every vendor is its sandbox, reached over
real HTTP by the product (token exchange, verification, Stripe's SDK) and by the test where a
browser would talk to the vendor directly (consent page, hosted checkout)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client

from accounts.models import User
from sandbox.core import RunningSandbox, running
from sandbox.hubspot.app import HubSpotSandbox
from sandbox.lexoffice.app import LexofficeSandbox
from sandbox.stripe.app import StripeSandbox
from tests.factories import UserFactory

PORTAL = 4711
GOOD_LEXOFFICE_KEY = "lx-onboarding-good-key-0123456789"
STRIPE_KEY = "sk_test_apiup_onboarding"


@pytest.fixture
def owner(db) -> User:  # type: ignore[no-untyped-def]
    return UserFactory(email="owner@beispiel.de")  # type: ignore[return-value]


@pytest.fixture
def browser(owner: User, settings) -> Client:  # type: ignore[no-untyped-def]
    # Callbacks and Stripe's return URLs are built from the public address.
    settings.PUBLIC_BASE_URL = "http://testserver"
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(owner)
    return client


@pytest.fixture
def hubspot_sandbox(settings) -> Iterator[RunningSandbox]:  # type: ignore[no-untyped-def]
    sandbox = HubSpotSandbox(
        client_id=settings.HUBSPOT_CLIENT_ID, client_secret=settings.HUBSPOT_CLIENT_SECRET
    )
    with running(sandbox) as handle:
        settings.VENDOR_API_URLS = {
            **settings.VENDOR_API_URLS,
            "hubspot": handle.url,
            "hubspot_oauth": handle.url,
        }
        yield handle


@pytest.fixture
def lexoffice_sandbox(settings) -> Iterator[RunningSandbox]:  # type: ignore[no-untyped-def]
    sandbox = LexofficeSandbox(api_keys={GOOD_LEXOFFICE_KEY: "Beispiel Buchhaltung GmbH"})
    with running(sandbox) as handle:
        settings.VENDOR_API_URLS = {**settings.VENDOR_API_URLS, "lexoffice": handle.url}
        yield handle


@pytest.fixture
def stripe_sandbox(settings) -> Iterator[RunningSandbox]:  # type: ignore[no-untyped-def]
    with running(StripeSandbox(secret_keys=[STRIPE_KEY])) as handle:
        settings.VENDOR_API_URLS = {**settings.VENDOR_API_URLS, "stripe": handle.url}
        settings.STRIPE_SECRET_KEY = STRIPE_KEY
        yield handle
