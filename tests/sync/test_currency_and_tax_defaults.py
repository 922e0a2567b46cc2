"""First customers in Switzerland: a deal without a currency takes the HubSpot account's
company currency (or the tenant's choice), and the default tax rate is one the connected
account allows. Over HTTP against the HubSpot and accounting sandboxes."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import translation

from connectors import errors
from sandbox.hubspot import account_info
from sync.messages import Message, render
from sync.models import Transfer, TransferSettings
from sync.services import runs, transfers
from tests.factories import TransferFactory
from tests.sync.conftest import PORTAL, World

State = Transfer.State
SETTINGS_URL = "https://app.example" + reverse("dashboard:settings")


@pytest.fixture(autouse=True)
def _nothing_remembered() -> Iterator[None]:
    # The HubSpot company currency is remembered per portal id, which every world shares:
    # neither an earlier test's currency nor this one's may reach another test.
    cache.clear()
    yield
    cache.clear()


def _transfer_quote(world: World, deal_id: str) -> Transfer:
    transfer = Transfer.objects.get(
        pk=TransferFactory(
            tenant=world.tenant,
            kind=Transfer.Kind.QUOTE,
            object_id=deal_id,
            system=world.system,
            state=State.PENDING,
            error="",
        ).pk
    )
    transfers.run_transfer(str(transfer.pk), enqueue=lambda *a, **k: None, paced=True)
    transfer.refresh_from_db()
    return transfer


def _swiss(world: World) -> World:
    world.tenant.country = "CH"
    world.tenant.save()
    return world


def _sent_offers(world: World) -> list[Any]:
    sandbox: Any = world.accounting.sandbox
    return [c.request_body for c in sandbox.api_calls(path_prefix="/2.0/kb_offer")]


@pytest.mark.django_db(transaction=True)
def test_a_swiss_tenant_on_sevdesk_gets_its_first_quote_at_a_rate_the_account_allows(
    world_factory: Any,
) -> None:
    world = _swiss(world_factory("sevdesk"))
    deal_id = world.won_deal()

    transfer = _transfer_quote(world, deal_id)

    assert transfer.state == State.DONE, transfer.error
    sandbox: Any = world.accounting.sandbox
    rates = {Decimal(str(p["taxRate"])) for p in sandbox.order_positions.values()}
    assert rates == {Decimal(19)}  # tax rule 1 allows 0, 7 and 19; 8.1 is refused


@pytest.mark.django_db(transaction=True)
def test_a_chosen_default_rate_the_account_does_not_allow_is_explained_with_the_setting(
    world_factory: Any, settings: Any
) -> None:
    settings.PUBLIC_BASE_URL = "https://app.example"
    world = _swiss(world_factory("sevdesk"))
    TransferSettings.objects.create(tenant=world.tenant, default_tax_rate=Decimal("8.1"))

    transfer = _transfer_quote(world, world.won_deal())

    assert transfer.state == State.FAILED
    sandbox: Any = world.accounting.sandbox
    assert sandbox.orders == {}  # refused before sevDesk was asked
    with translation.override("de"):
        text = transfer.error_text
    assert "8.1 %" in text
    assert "0 %, 7 %, 19 %" in text
    assert SETTINGS_URL in text
    with translation.override("en"):
        assert "Choose another default tax rate" in transfer.error_text


@pytest.mark.django_db(transaction=True)
def test_a_bexio_deal_without_a_currency_takes_the_hubspot_company_currency(
    world_factory: Any,
) -> None:
    world = world_factory("bexio")
    account_info.set_company_currency(world.hubspot_sandbox, PORTAL, "CHF")

    transfer = _transfer_quote(world, world.won_deal())  # no deal_currency_code

    assert transfer.state == State.DONE, transfer.error
    assert (transfer.sent_payload or {})["currency"] == "CHF"
    (offer,) = _sent_offers(world)
    # bexio's standard rate: 8.1 % is an active sales tax of the sandbox company.
    assert len(offer["positions"]) == 3


@pytest.mark.django_db(transaction=True)
def test_a_bexio_deal_without_a_currency_follows_the_tenants_choice_and_is_explained(
    world_factory: Any, settings: Any
) -> None:
    settings.PUBLIC_BASE_URL = "https://app.example"
    world = world_factory("bexio")  # HubSpot's company currency: EUR
    TransferSettings.objects.create(tenant=world.tenant, fallback_currency="CHF")
    assert _transfer_quote(world, world.won_deal()).state == State.DONE

    TransferSettings.objects.filter(tenant=world.tenant).update(fallback_currency="")
    refused = _transfer_quote(world, world.won_deal(name="Zweiter Auftrag"))

    assert refused.state == State.FAILED
    with translation.override("en"):
        text = refused.error_text
    assert "has no currency, so EUR was used" in text
    assert "only CHF" in text  # the currencies the account has
    assert SETTINGS_URL in text
    assert len(_sent_offers(world)) == 1


@pytest.mark.django_db(transaction=True)
def test_a_deal_in_a_currency_the_account_lacks_names_the_accounts_currencies(
    world_factory: Any,
) -> None:
    world = world_factory("bexio")
    transfer = _transfer_quote(world, world.won_deal(properties={"deal_currency_code": "USD"}))
    assert transfer.state == State.FAILED
    with translation.override("en"):
        assert "The deal is in USD, but your bexio account has only CHF" in transfer.error_text
    assert _sent_offers(world) == []


def test_a_vendors_refusal_of_a_rate_is_told_with_the_allowed_rates_and_the_setting(
    settings: Any,
) -> None:
    settings.PUBLIC_BASE_URL = "https://app.example"
    refusal = errors.TaxRateRefused(
        "sevDesk answered 422",
        rate=Decimal("8.1"),
        allowed=frozenset({Decimal(0), Decimal(7), Decimal(19)}),
        vendor_message="Tax rate 8.1 is not allowed for tax rule 1",
        status=422,
    )

    message = runs.failure_message(failure=refusal)

    assert isinstance(message, Message)
    stored = message.as_json()  # what a transfer keeps: a code with its parameters
    with translation.override("en"):
        text = render(stored)
    assert "refused the tax rate of 8.1 %" in text
    assert "Tax rate 8.1 is not allowed for tax rule 1" in text
    assert "0 %, 7 %, 19 %" in text
    assert SETTINGS_URL in text
