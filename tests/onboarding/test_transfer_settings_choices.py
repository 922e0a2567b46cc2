"""The transfer settings offer only what the connected accounts allow: the tax rates of the
accounting system and, for deals without a currency, the HubSpot company currency."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from accounts.models import User
from billing.models import Subscription
from sandbox.core import RunningSandbox
from sandbox.hubspot import account_info
from sandbox.hubspot.app import HubSpotSandbox
from sync.models import TransferSettings
from tests.factories import ConnectionFactory

PORTAL = 4711
FORM = {
    "placeholder_name": "Musterfirma",
    "placeholder_street": "Musterstraße",
    "placeholder_city": "Musterstadt",
    "validity_days": "30",
    "exclusion_property": "not_to_accounting",
}


@pytest.fixture(autouse=True)
def _no_currency_left_behind() -> Iterator[None]:
    # The CHF company currency set below is remembered per portal id, which others share.
    yield
    cache.clear()


def _swiss_sevdesk_customer(owner: User, hubspot: RunningSandbox) -> None:
    cache.clear()
    sandbox = hubspot.sandbox
    assert isinstance(sandbox, HubSpotSandbox)
    account_info.set_company_currency(sandbox, PORTAL, "CHF")
    owner.tenant.country = "CH"
    owner.tenant.save()
    ConnectionFactory(
        tenant=owner.tenant,
        system="hubspot",
        external_account_id=str(PORTAL),
        credentials={
            "access_token": sandbox.issue_token(PORTAL),
            "refresh_token": "",
            "expires_at": time.time() + 1800,
        },
    )
    ConnectionFactory(tenant=owner.tenant, system="sevdesk", credentials={"api_token": "x" * 32})
    Subscription.objects.create(
        tenant=owner.tenant, plan="sevdesk", status=Subscription.Status.ACTIVE
    )


def test_only_the_rates_the_account_allows_are_offered(
    browser: Client, owner: User, hubspot_sandbox: RunningSandbox
) -> None:
    _swiss_sevdesk_customer(owner, hubspot_sandbox)

    page = browser.get(reverse("dashboard:settings")).content.decode()

    assert '<select name="default_tax_rate"' in page
    for rate in ("0", "7", "19"):
        assert f'<option value="{rate}">{rate} %</option>' in page
    assert 'value="8.1"' not in page  # Switzerland's rate, which sevDesk's tax rule refuses
    assert "Standard rate (19 %)" in page
    assert "Company currency of your HubSpot account (CHF)" in page

    refused = browser.post(reverse("dashboard:settings"), {**FORM, "default_tax_rate": "8.1"})
    assert refused.status_code == 200
    assert not TransferSettings.objects.filter(tenant=owner.tenant).exists()

    saved = browser.post(
        reverse("dashboard:settings"),
        {**FORM, "default_tax_rate": "7", "fallback_currency": "EUR"},
    )
    assert saved.status_code == 302
    settings = TransferSettings.objects.get(tenant=owner.tenant)
    assert (settings.default_tax_rate, settings.fallback_currency) == (Decimal(7), "EUR")

    browser.post(reverse("dashboard:settings"), {**FORM, "default_tax_rate": ""})
    settings.refresh_from_db()
    assert settings.default_tax_rate is None  # the account's standard rate again
