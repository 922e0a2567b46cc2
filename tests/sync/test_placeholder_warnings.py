"""A customer created with placeholder data (the reference's "Musterstraße, 00000 Musterstadt"
rule) is no plain success: the activity log, the chart and the dashboard warn about it, and a
tenant may hold such transfers until the data are complete in HubSpot. End to end against the
HubSpot and lexware office sandboxes, the transfers run in this process."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse

from sync.models import Transfer, TransferSettings
from sync.services import context, events, transfers
from tests.factories import UserFactory
from tests.sync.conftest import PORTAL, World, run_here
from web import dashboard

NO_ADDRESS = {"name": "Ohneadresse GmbH", "domain": "ohneadresse.de"}
COMPLETE = {
    "name": "Komplett GmbH",
    "address": "Hauptstraße 5",
    "zip": "10115",
    "city": "Berlin",
    "country": "Germany",
}


def win_deal(world: World, company: dict[str, str]) -> str:
    hubspot = world.hubspot_sandbox
    deal_id = hubspot.seed_deal(
        PORTAL,
        name="Wartung",
        stage="contractsent",
        company=company,
        contact={"firstname": "Anna", "lastname": "Muster", "email": "anna@ohneadresse.de"},
        line_items=[{"name": "Wartung", "quantity": "1", "price": "500.00"}],
    )
    hubspot.move_deal(PORTAL, deal_id, "closedwon")
    return deal_id


def run(world: World, kind: str, object_type: str, object_id: str) -> Transfer:
    return run_here(world, kind, object_id, object_type)


def run_quote(world: World, deal_id: str) -> Transfer:
    return run(world, Transfer.Kind.QUOTE, Transfer.ObjectType.DEAL, deal_id)


def today_bars(world: World) -> dict[str, int]:
    day = next(d for d in dashboard.transfer_chart(tenant=world.tenant) if d.day == dt.date.today())
    return {bar.outcome: bar.count for bar in day.bars if bar.count}


def customers_in_lexoffice(world: World) -> list[dict[str, object]]:
    connector = context.accounting_connector(tenant=world.tenant)
    listing = connector.request(
        "GET", "/v1/contacts", params={"customer": "true", "page": 0, "size": 250}
    ).json()
    return list(listing.get("content") or [])


def page(world: World, name: str) -> str:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(UserFactory(tenant=world.tenant))
    response = client.get(reverse(name))
    assert response.status_code == 200, response
    return response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_customer_made_with_placeholder_data_is_done_with_a_warning(world_factory) -> None:  # type: ignore[no-untyped-def]
    world: World = world_factory("lexoffice", subscriptions=[])
    complete = run_quote(world, win_deal(world, COMPLETE))
    incomplete = run_quote(world, win_deal(world, NO_ADDRESS))

    assert complete.state == incomplete.state == Transfer.State.DONE
    assert complete.placeholder_data is False
    assert incomplete.placeholder_data is True
    assert "rules.company_placeholder_address" in {n["code"] for n in incomplete.notes}
    [made_up] = [c for c in customers_in_lexoffice(world) if "Ohneadresse" in str(c)]
    assert made_up["addresses"]["billing"][0]["city"] == "Musterstadt"  # type: ignore[index]

    assert today_bars(world) == {"done": 1, "placeholder": 1}
    assert dashboard.placeholder_summary(tenant=world.tenant) == dashboard.PlaceholderSummary(
        customers=1, held=0
    )
    log = page(world, "sync:transfer_list")
    assert log.count("badge state-placeholder") == 1
    assert log.count("badge state-done") == 2
    home = page(world, "dashboard:home")
    assert "1 customer with placeholder data — complete it in HubSpot." in home
    assert "transferred with placeholder data" in home  # the chart's legend


@pytest.mark.django_db(transaction=True)
def test_a_held_transfer_waits_for_its_data_and_runs_once_they_are_complete(world_factory) -> None:  # type: ignore[no-untyped-def]
    world: World = world_factory("lexoffice", subscriptions=[])
    TransferSettings.objects.update_or_create(
        tenant=world.tenant, defaults={"hold_placeholder_data": True}
    )
    deal_id = win_deal(world, NO_ADDRESS)

    held = run_quote(world, deal_id)
    assert held.state == Transfer.State.FAILED
    assert held.needs_data
    assert (held.error_message or {})["code"] == "customer.needs_data"
    assert customers_in_lexoffice(world) == []  # nothing made up was written
    assert today_bars(world) == {"needs_data": 1}
    assert dashboard.placeholder_summary(tenant=world.tenant).held == 1
    assert "badge state-needs_data" in page(world, "sync:transfer_list")

    # The user's retry runs it again; the data are still incomplete, so it waits again.
    assert events.transfer_retry(transfer=held, enqueue=lambda *a, **k: None)
    transfers.run_transfer(str(held.pk), enqueue=lambda *a, **k: None, paced=True)
    held.refresh_from_db()
    assert held.needs_data

    # Completed in HubSpot: the company's own transfer releases the quote, which now runs.
    company_id = (held.source_payload or {})["company"]["hubspot_id"]
    world.hubspot_sandbox.update_object(
        PORTAL,
        "companies",
        company_id,
        {"address": "Hauptstraße 5", "zip": "10115", "city": "Berlin", "country": "Germany"},
        "CRM_UI",
    )
    company = run(world, Transfer.Kind.CUSTOMER, Transfer.ObjectType.COMPANY, company_id)
    assert company.state == Transfer.State.DONE
    assert company.placeholder_data is False
    held.refresh_from_db()
    assert held.state == Transfer.State.PENDING

    transfers.run_transfer(str(held.pk), enqueue=lambda *a, **k: None, paced=True)
    held.refresh_from_db()
    assert held.state == Transfer.State.DONE, held.error
    assert held.placeholder_data is False
    [customer] = customers_in_lexoffice(world)
    assert customer["addresses"]["billing"][0]["city"] == "Berlin"  # type: ignore[index]
    assert dashboard.placeholder_summary(tenant=world.tenant) == dashboard.PlaceholderSummary(
        customers=0, held=0
    )


@pytest.mark.django_db(transaction=True)
def test_a_held_contact_is_not_created_and_a_change_in_hubspot_runs_it_again(world_factory) -> None:  # type: ignore[no-untyped-def]
    world: World = world_factory("lexoffice", subscriptions=[])
    TransferSettings.objects.update_or_create(
        tenant=world.tenant, defaults={"hold_placeholder_data": True}
    )
    contact = world.hubspot_sandbox.create_object(
        PORTAL,
        "contacts",
        {"firstname": "Bea", "lastname": "Beispiel", "email": "bea@x.de"},
        "CRM_UI",
    )

    held = run(world, Transfer.Kind.CUSTOMER, Transfer.ObjectType.CONTACT, contact["id"])
    assert held.needs_data
    assert customers_in_lexoffice(world) == []

    world.hubspot_sandbox.update_object(
        PORTAL,
        "contacts",
        contact["id"],
        {"address": "Ring 1", "zip": "50667", "city": "Köln", "country": "Germany"},
        "CRM_UI",
    )
    again = run(world, Transfer.Kind.CUSTOMER, Transfer.ObjectType.CONTACT, contact["id"])
    assert again.state == Transfer.State.DONE, again.error
    assert again.placeholder_data is False
    assert len(customers_in_lexoffice(world)) == 1
