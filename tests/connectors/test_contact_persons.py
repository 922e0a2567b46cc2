# The tests take tests/sync's end-to-end world as a fixture imported here, which ruff reads
# as a redefinition.
# ruff: noqa: F811
"""A deal's contact becomes the contact person of the company's customer, where the vendor
has contact persons, and never a second customer: lexware office keeps contact persons inside
the company contact, sevDesk as person contacts whose `parent` is the organisation, bexio as a
person contact named on the company's documents (`contact_sub_id`). Qonto has none. End to end:
the quote transfer runs in this process against the HubSpot and accounting sandboxes."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.lexoffice import mapping as lexoffice_mapping
from connectors.registry import provider
from connectors.shapes import Address, Company, Customer, CustomerKind, Person
from sync.models import Transfer
from sync.services import context

# The end-to-end world of tests/sync (its conftest is not this directory's).
from tests.sync.conftest import World, run_here, world_factory  # noqa: F401

BEISPIEL = Company(
    name="Beispiel GmbH",
    address=Address("Hauptstraße", "5", "10115", "Berlin", "DE"),
)


def run_quote(world: World, **deal: Any) -> Transfer:
    deal_id = world.won_deal(**deal)
    transfer = run_here(world, Transfer.Kind.QUOTE, deal_id)
    assert transfer.state == Transfer.State.DONE, transfer.error
    return transfer


def read(world: World, path: str, **params: Any) -> Any:
    return context.accounting_connector(tenant=world.tenant).request("GET", path, params=params)


def test_qonto_says_it_has_no_contact_persons() -> None:
    assert provider("qonto").capabilities.contact_persons is False  # type: ignore[union-attr]
    for system in ("lexoffice", "bexio", "sevdesk"):
        assert provider(system).capabilities.contact_persons is True  # type: ignore[union-attr]


def test_lexware_office_adds_a_contact_person_and_keeps_the_others() -> None:
    held = [
        {
            "firstName": "Max",
            "lastName": "Mann",
            "emailAddress": "max@beispiel.de",
            "primary": True,
        },
        {"lastName": "Muster", "emailAddress": "ANNA@beispiel.de", "salutation": "Frau"},
    ]
    anna = Person(first_name="Anna", last_name="Muster", email="anna@beispiel.de", phone="030 1")
    persons = lexoffice_mapping.contact_persons(anna, held)
    assert persons == [
        held[0],
        {
            "lastName": "Muster",
            "firstName": "Anna",
            "emailAddress": "anna@beispiel.de",
            "phoneNumber": "030 1",
            "salutation": "Frau",
        },
    ]
    bea = Person(first_name="Bea", last_name="Beispiel", email="bea@beispiel.de")
    assert lexoffice_mapping.contact_persons(bea, held)[2] == {
        "primary": False,
        "firstName": "Bea",
        "lastName": "Beispiel",
        "emailAddress": "bea@beispiel.de",
    }
    assert lexoffice_mapping.contact_persons(bea, [])[0]["primary"] is True


@pytest.mark.django_db(transaction=True)
def test_lexware_office_the_deal_contact_joins_an_existing_company(world_factory) -> None:  # type: ignore[no-untyped-def]
    world: World = world_factory("lexoffice", subscriptions=[])
    connector = context.accounting_connector(tenant=world.tenant)
    existing = connector.create_customer(Customer(kind=CustomerKind.COMPANY, company=BEISPIEL))

    transfer = run_quote(world)
    run_quote(world, name="Zweites Projekt")  # the same contact person is not added twice

    assert transfer.customer_vendor_id == existing.vendor_id
    contacts = read(world, "/v1/contacts", customer="true", page=0, size=250).json()["content"]
    assert [c["id"] for c in contacts] == [existing.vendor_id]  # no customer of her own
    company = read(world, f"/v1/contacts/{existing.vendor_id}").json()["company"]
    assert [
        (p["firstName"], p["lastName"], p["emailAddress"]) for p in company["contactPersons"]
    ] == [("Anna", "Muster", "anna@beispiel.de")]
    assert "customer.contact_person" in {n["code"] for n in transfer.notes}


@pytest.mark.django_db(transaction=True)
def test_bexio_names_the_contact_person_on_the_quote_without_a_second_company(
    world_factory,
) -> None:  # type: ignore[no-untyped-def]
    world: World = world_factory("bexio", subscriptions=[])
    chf = {"properties": {"deal_currency_code": "CHF"}}
    first = run_quote(world, **chf)
    second = run_quote(world, name="Zweites Projekt", **chf)

    contacts = read(world, "/2.0/contact").json()
    companies = [c for c in contacts if c["contact_type_id"] == 1]
    persons = [c for c in contacts if c["contact_type_id"] == 2]
    assert [c["name_1"] for c in companies] == ["Beispiel GmbH"]
    assert [(c["name_1"], c["name_2"], c["mail"]) for c in persons] == [
        ("Muster", "Anna", "anna@beispiel.de")
    ]
    for transfer in (first, second):
        offer = read(world, f"/2.0/kb_offer/{transfer.vendor_id}").json()
        assert offer["contact_id"] == companies[0]["id"]
        assert offer["contact_sub_id"] == persons[0]["id"]


@pytest.mark.django_db(transaction=True)
def test_sevdesk_the_deal_contact_becomes_a_contact_person_of_the_organisation(
    world_factory,
) -> None:  # type: ignore[no-untyped-def]
    world: World = world_factory("sevdesk", subscriptions=[])
    connector = context.accounting_connector(tenant=world.tenant)
    existing = connector.create_customer(Customer(kind=CustomerKind.COMPANY, company=BEISPIEL))

    first = run_quote(world)
    run_quote(world, name="Zweites Projekt")

    assert first.customer_vendor_id == existing.vendor_id
    rows = read(world, "/Contact", depth="1").json()["objects"]
    persons = [c for c in rows if c.get("familyname")]
    assert [(p["surename"], p["familyname"]) for p in persons] == [("Anna", "Muster")]
    assert str(persons[0]["parent"]["id"]) == existing.vendor_id
    # She is the organisation's contact person, not a person customer of her own.
    anna = Customer(kind=CustomerKind.PERSON, person=Person(first_name="Anna", last_name="Muster"))
    assert connector.find_customer_by_name(anna) is None
