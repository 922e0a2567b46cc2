"""Revenue accounts per customer country, only where the vendor's spec has an account field
on a quote's positions (bexio's `account_id`; lexware office, sevDesk and Qonto have none):
checked on save, offered on the mapping page only there, and sent on each position."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from sync.mapping import rules, services, targets
from sync.mapping.rules import MappingInvalid, rules_from
from sync.models import Transfer
from tests.factories import UserFactory
from tests.mapper.helpers import sent_quotes, transfer_quote

State = Transfer.State
QUOTES = reverse("dashboard:mapping") + "?flow=quote"


@pytest.fixture(autouse=True)
def _nothing_remembered() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def test_only_bexio_s_spec_has_a_revenue_account_on_a_position() -> None:
    offered = {
        s for s in ("lexoffice", "bexio", "sevdesk", "qonto") if targets.revenue_account_spec(s)
    }
    assert offered == {"bexio"}
    spec = targets.revenue_account_spec("bexio")
    assert spec is not None
    assert spec.type == "integer"


def test_a_revenue_account_is_refused_where_the_vendor_has_none_or_of_the_wrong_type() -> None:
    accounts = rules_from({"revenue_accounts": {"de": "3400"}})
    assert accounts.revenue_accounts == {"DE": "3400"}
    rules.check(accounts, system="bexio")
    for system in ("lexoffice", "sevdesk", "qonto"):
        with pytest.raises(MappingInvalid, match="no revenue account"):
            rules.check(accounts, system=system)
    with pytest.raises(MappingInvalid, match="not an account id"):
        rules.check(rules_from({"revenue_accounts": {"CH": "Erlöse"}}), system="bexio")
    with pytest.raises(MappingInvalid, match="country code"):
        rules_from({"revenue_accounts": {"Schweiz": "3400"}})


@pytest.mark.django_db(transaction=True)
def test_a_customer_in_a_mapped_country_gets_the_revenue_account_on_each_position(
    world_factory: Any,
) -> None:
    world = world_factory("bexio")
    services.mapping_save(
        tenant=world.tenant,
        system="bexio",
        flow="quote",
        user=None,
        data={"revenue_accounts": {"DE": "3400", "AT": "3410"}},
    )

    transfer = transfer_quote(world, world.won_deal(properties={"deal_currency_code": "CHF"}))

    assert transfer.state == State.DONE, transfer.error
    [body] = sent_quotes(world)
    assert [p["account_id"] for p in body["positions"]] == [3400, 3400, 3400]
    assert any(n["code"] == "mapping.revenue_account_from_country" for n in transfer.notes)


@pytest.mark.django_db(transaction=True)
def test_a_customer_in_another_country_keeps_the_vendor_s_account(world_factory: Any) -> None:
    world = world_factory("bexio")
    services.mapping_save(
        tenant=world.tenant, system="bexio", flow="quote", user=None,
        data={"revenue_accounts": {"AT": "3410"}},
    )  # fmt: skip

    transfer = transfer_quote(world, world.won_deal(properties={"deal_currency_code": "CHF"}))

    assert transfer.state == State.DONE, transfer.error
    [body] = sent_quotes(world)
    assert all("account_id" not in p for p in body["positions"])


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("system", ["bexio", "lexoffice"])
def test_the_mapping_page_offers_revenue_accounts_only_where_the_vendor_has_them(
    world_factory: Any, system: str
) -> None:
    world = world_factory(system)
    browser = Client(HTTP_ACCEPT_LANGUAGE="en")
    browser.force_login(UserFactory(tenant=world.tenant))

    html = browser.get(QUOTES).content.decode()
    saved = browser.post(QUOTES, {"revenue_accounts": "DE = 3400"})

    assert ('name="revenue_accounts"' in html) is (system == "bexio")
    if system == "bexio":
        assert saved.status_code == 302
        in_force = services.mapping_in_force(tenant=world.tenant, system=system, flow="quote")
        assert in_force.rules.revenue_accounts == {"DE": "3400"}
    else:
        # A field the page does not show is not read from the form either.
        assert saved.status_code == 302
        in_force = services.mapping_in_force(tenant=world.tenant, system=system, flow="quote")
        assert in_force.rules.revenue_accounts == {}
