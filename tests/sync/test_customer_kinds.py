"""A contact's customer transfer never takes over the company that has the contact as its
contact person: a look-up by e-mail finds only customers of the same kind (company or
person). Runs the sequence that the end-to-end test meets only when the company's transfer
happens to come first, against the lexware office sandbox over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from accounts.models import Tenant
from connectors.lexoffice.client import LexofficeConnector
from connectors.rules import Placeholder, customer_for_deal
from connectors.shapes import Address, Company, Customer, Person
from sandbox.core import RunningSandbox, running
from sandbox.lexoffice.app import LexofficeSandbox
from sync.models import ObjectLink, Transfer
from sync.services.customers import customer_resolve
from tests.factories import ConnectionFactory, TenantFactory

COMPANY_ID, CONTACT_ID = "101", "201"  # the HubSpot ids
ANNA = "anna@beispiel.de"

pytestmark = pytest.mark.django_db


@pytest.fixture
def api_key(request: pytest.FixtureRequest) -> str:
    # One key (and so one rate bucket) per test, so tests do not wait for each other.
    return f"lx-kinds-{request.node.name}"[:120]


@pytest.fixture
def vendor(api_key: str) -> Iterator[RunningSandbox]:
    with running(LexofficeSandbox(api_keys={api_key: "Beispiel Buchhaltung"})) as handle:
        yield handle


@pytest.fixture
def sandbox(vendor: RunningSandbox) -> LexofficeSandbox:
    assert isinstance(vendor.sandbox, LexofficeSandbox)
    return vendor.sandbox


@pytest.fixture
def connector(vendor: RunningSandbox, api_key: str) -> LexofficeConnector:
    connection = ConnectionFactory(
        tenant=TenantFactory(), system="lexoffice", credentials={"api_key": api_key}
    )
    return LexofficeConnector(connection=connection, base_url=vendor.url)


@pytest.fixture
def tenant(connector: LexofficeConnector) -> Tenant:
    return connector.connection.tenant


def _anna() -> Person:
    return Person(first_name="Anna", last_name="Muster", email=ANNA, hubspot_id=CONTACT_ID)


def _company_customer() -> Customer:
    """HubSpot's "Beispiel GmbH", which has no e-mail address of its own, with Anna as its
    contact person: what a won deal's quote transfer resolves."""
    company = Company(
        name="Beispiel GmbH",
        domain="beispiel.de",
        address=Address("Hauptstraße", "5", "10115", "Berlin", "DE"),
        hubspot_id=COMPANY_ID,
    )
    return customer_for_deal(
        company=company, contact=_anna(), placeholder=Placeholder(), default_country="DE"
    )


def _person_customer() -> Customer:
    """The HubSpot contact Anna on her own: what her contact transfer resolves."""
    return customer_for_deal(
        company=None, contact=_anna(), placeholder=Placeholder(), default_country="DE"
    )


def _resolve(
    tenant: Tenant, connector: LexofficeConnector, customer: Customer, object_type: str
) -> tuple[str, str]:
    object_id = COMPANY_ID if object_type == Transfer.ObjectType.COMPANY else CONTACT_ID
    ref, how = customer_resolve(
        tenant=tenant,
        connector=connector,
        customer=customer,
        object_type=object_type,
        object_id=object_id,
        update_existing=object_type == Transfer.ObjectType.CONTACT,
    )
    return ref.vendor_id, how


def _linked(tenant: Tenant, object_type: str, object_id: str) -> str:
    link = ObjectLink.objects.for_tenant(tenant).get(
        system="lexoffice", object_type=object_type, object_id=object_id
    )
    return link.vendor_id


def test_the_contacts_transfer_after_the_companys_leaves_the_company_a_company(
    tenant: Tenant, connector: LexofficeConnector, sandbox: LexofficeSandbox
) -> None:
    company_id, how = _resolve(tenant, connector, _company_customer(), Transfer.ObjectType.COMPANY)
    assert how == "created"
    assert _linked(tenant, Transfer.ObjectType.COMPANY, COMPANY_ID) == company_id
    # lexware office's e-mail filter finds this company by Anna's address.
    assert sandbox.contacts[company_id]["company"]["contactPersons"][0]["emailAddress"] == ANNA
    version = sandbox.contacts[company_id]["version"]

    anna_id, how = _resolve(tenant, connector, _person_customer(), Transfer.ObjectType.CONTACT)

    assert how == "created"
    assert anna_id != company_id
    company = sandbox.contacts[company_id]
    assert "person" not in company
    assert company["company"]["name"] == "Beispiel GmbH"
    assert company["company"]["contactPersons"][0]["emailAddress"] == ANNA
    assert company["version"] == version  # never written over
    anna = sandbox.contacts[anna_id]
    assert "company" not in anna
    assert (anna["person"]["firstName"], anna["person"]["lastName"]) == ("Anna", "Muster")
    assert anna["emailAddresses"] == {"business": [ANNA]}
    assert _linked(tenant, Transfer.ObjectType.COMPANY, COMPANY_ID) == company_id
    assert _linked(tenant, Transfer.ObjectType.CONTACT, CONTACT_ID) == anna_id
    assert not [c for c in sandbox.api_calls() if c.method == "PUT"]

    # Delivered again (at least once): each finds its own link, nothing changes kind.
    assert _resolve(tenant, connector, _company_customer(), Transfer.ObjectType.COMPANY) == (
        company_id,
        "linked",
    )
    assert _resolve(tenant, connector, _person_customer(), Transfer.ObjectType.CONTACT) == (
        anna_id,
        "linked",
    )
    assert sandbox.contacts[company_id]["company"]["name"] == "Beispiel GmbH"
    assert "person" not in sandbox.contacts[company_id]
    assert len(sandbox.contacts) == 2
