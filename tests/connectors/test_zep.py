"""The ZEP connector against the ZEP sandbox over real HTTP: REST for customers and projects,
SOAP (zeep) for addresses and contact persons, one error hierarchy and one rate limit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import replace

import pytest
import requests

from connectors import errors
from connectors.models import Connection
from connectors.shapes import Address, Company, Person
from connectors.zep import mapping
from connectors.zep.client import ZepConnector
from connectors.zep.provider import PROVIDER
from sandbox.core import RunningSandbox, running
from sandbox.zep.app import ZepSandbox

INSTANCE = "musterfirma"
COMPANY = Company(
    name="Muster Consulting GmbH",
    domain="muster.example",
    email="info@muster.example",
    phone="+49 30 123456",
    address=Address("Hauptstraße", "5", "10115", "Berlin", "DE"),
    hubspot_id="4711",
)
ANNA = Person(first_name="Anna", last_name="Muster", email="anna@muster.example", phone="1")
BEN = Person(first_name="Ben", last_name="Beispiel", email="ben@muster.example")


@pytest.fixture
def tokens(request: pytest.FixtureRequest) -> tuple[str, str]:
    # One token pair (and so one client-side bucket) per test.
    return f"rest-{request.node.name}"[:100], f"soap-{request.node.name}"[:100]


@pytest.fixture
def vendor(tokens: tuple[str, str]) -> Iterator[RunningSandbox]:
    sandbox = ZepSandbox(instances={INSTANCE: tokens}, contract=True)
    with running(sandbox) as handle:
        yield handle
    assert sandbox.contract is not None
    assert sandbox.contract.violations == []


@pytest.fixture
def sandbox(vendor: RunningSandbox) -> ZepSandbox:
    assert isinstance(vendor.sandbox, ZepSandbox)
    return vendor.sandbox


def _connector(vendor: RunningSandbox, rest: str, soap: str) -> ZepConnector:
    connection = Connection(
        system="zep", credentials={"instance": INSTANCE, "api_token": rest, "soap_token": soap}
    )
    return ZepConnector(connection=connection, base_url=f"{vendor.url}/{INSTANCE}/next/api/v1")


@pytest.fixture
def zep(vendor: RunningSandbox, tokens: tuple[str, str]) -> ZepConnector:
    return _connector(vendor, *tokens)


def test_verify_proves_both_tokens(vendor: RunningSandbox, tokens: tuple[str, str]) -> None:
    account = _connector(vendor, *tokens).verify()
    assert (account.account_id, account.name) == (INSTANCE, "ZEP musterfirma")

    with pytest.raises(errors.AuthorizationExpired):
        _connector(vendor, "wrong", tokens[1]).verify()
    with pytest.raises(errors.AuthorizationExpired):
        _connector(vendor, tokens[0], "wrong").verify()


def test_a_customer_gets_its_address_and_contact_persons_over_soap(
    zep: ZepConnector, sandbox: ZepSandbox
) -> None:
    customer = zep.customer_create(COMPANY, number="4711", note="A note")
    zep.customer_details_write(customer, COMPANY.address, [ANNA, BEN])
    # A second write changes the same address and contact persons instead of adding them.
    zep.customer_details_write(customer, None, [Person("Anna", "Muster", ANNA.email, "2")])

    detail = zep.customer_by_number("4711")
    assert detail is not None
    assert (detail["name"], detail["website"], detail["comments"]) == (
        "Muster Consulting GmbH",
        "https://muster.example",
        "A note",
    )
    assert [(a["address"], a["zip_code"], a["city"]) for a in detail["addresses"]] == [
        ("Hauptstraße 5", "10115", "Berlin")
    ]
    stored = sandbox.store.get("customers", INSTANCE, "4711")["contacts"]
    assert sorted((c["vorname"], c.get("telefon")) for c in stored) == [
        ("Anna", "2"),
        ("Ben", None),
    ]


def test_a_customer_whose_number_changed_in_zep_is_still_found(
    zep: ZepConnector, sandbox: ZepSandbox
) -> None:
    customer = zep.customer_create(COMPANY, number="4711")
    sandbox.renumber_customer(INSTANCE, "4711", "K-0001")

    found = zep.customer_get(
        customer_id=customer.customer_id, number="4711", names=("Gone GmbH", COMPANY.name)
    )
    assert found is not None
    assert (found.customer_id, found.number) == (customer.customer_id, "K-0001")
    zep.customer_update(found, Company(name="Muster Consulting AG", phone="+49 30 9"))
    assert sandbox.store.get("customers", INSTANCE, "K-0001")["name"] == "Muster Consulting AG"


def test_a_project_names_its_customer_by_the_internal_id(
    zep: ZepConnector, sandbox: ZepSandbox
) -> None:
    customer = zep.customer_create(COMPANY, number="4711")
    project = zep.project_create(
        deal_id="9001", deal_name="Website relaunch", customer=customer, start=dt.date(2026, 3, 1)
    )
    assert (project.name, project.customer_id) == ("9001", customer.customer_id)
    assert zep.project_find("9001") == project
    assert zep.project_find("9002") is None

    zep.project_update(project, deal_name="Website relaunch 2027", customer=customer)
    assert zep.project_get(project.project_id) == mapping.ZepProject(
        project.project_id, "9001", "Website relaunch 2027", customer.customer_id
    )
    assert zep.project_get(99999) is None


def test_a_refusal_carries_zeps_own_words(zep: ZepConnector) -> None:
    zep.customer_create(COMPANY, number="4711")
    with pytest.raises(errors.PermanentError) as refused:
        zep.customer_create(COMPANY, number="4711")
    assert refused.value.vendor_message == "The customer number has already been taken."
    # A SOAP refusal reads the same way.
    with pytest.raises(errors.PermanentError) as unknown:
        zep._soap_call("updateKunde", kunde={"kundenNr": "nope", "name": "x"})
    assert "nicht gefunden" in unknown.value.vendor_message


def test_rest_and_soap_share_one_rate_limit_bucket(zep: ZepConnector) -> None:
    assert zep.soap_client._bucket == zep.client._bucket
    assert PROVIDER.rate is not None
    # The declared rate stays under the documented 1,000 calls in any 5 minutes.
    assert PROVIDER.rate.burst + PROVIDER.rate.per_second * 300 < 1000


def test_a_blocked_instance_is_rate_limited_with_the_wait(tokens: tuple[str, str]) -> None:
    with running(ZepSandbox(instances={INSTANCE: tokens}, limit=3, block_seconds=60)) as vendor:
        zep = _connector(vendor, *tokens)
        for _ in range(3):
            zep.customer_by_number("1")
        # Blocked for 60 s: longer than a worker waits, so the run is retried later.
        with pytest.raises(errors.RateLimited) as limited:
            zep.customer_by_number("1")
    assert limited.value.wait_seconds == 60


def test_an_instance_without_customers_is_refused_with_a_reason(tokens: tuple[str, str]) -> None:
    with running(ZepSandbox(instances={INSTANCE: tokens})) as vendor:
        zep = _connector(vendor, *tokens)
        # ZEP's answer where the module is missing: its 404 for an unknown route.
        zep.client.api = replace(zep.client.api, base_url=f"{zep.base_url}/clock-only")
        with pytest.raises(errors.PermanentError, match="no customers and projects"):
            zep.verify()


def test_laravel_error_bodies_are_read_field_by_field() -> None:
    response = requests.Response()
    response.status_code = 422
    response._content = (
        b'{"message": "The name field is required. (and 1 more error)", "errors": '
        b'{"name": ["The name field is required."], "phone": ["Too long."]}}'
    )
    assert mapping.read_error(response) == "The name field is required. Too long."


def test_contacts_are_matched_by_email_then_name() -> None:
    stored = [
        {"id": 7, "vorname": "Anna", "name": "Muster", "email": "ANNA@muster.example"},
        {"id": 8, "vorname": "Ben", "name": "Beispiel"},
    ]
    entries = mapping.contact_entries(
        [ANNA, BEN, Person(first_name="", last_name="", email="carla@x.example")], stored
    )
    assert [(e.get("id"), e["vorname"], e["name"]) for e in entries] == [
        (7, "Anna", "Muster"),
        (8, "Ben", "Beispiel"),
        (None, "carla", "carla"),
    ]
