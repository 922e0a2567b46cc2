"""The import of contacts and companies applies the customer mapping like a customer's own
transfer, over HTTP against the sandboxes: the properties its rules read come with the page
reads, and each imported customer's transfer records the version it used."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache

from sync.mapping import services
from sync.models import ImportJob, Transfer
from sync.services import imports
from tests.mapper.helpers import define_property
from tests.sync.conftest import PORTAL

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _nothing_remembered() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def test_an_imported_company_arrives_with_its_mapped_custom_property(world_factory: Any) -> None:
    world = world_factory("lexoffice", subscriptions=[])
    define_property(world, "companies", "buchungsname", "Name in der Buchhaltung")
    version = services.mapping_save(
        tenant=world.tenant,
        system="lexoffice",
        flow="customer",
        user=None,
        data={
            "fields": {
                "customer.name": {"kind": "property", "property": "buchungsname"},
                "customer.vat_id": {"kind": "template", "value": "DE{ust_nummer}"},
            }
        },
    )
    mapped_id = world.hubspot_sandbox.seed_object(
        PORTAL, "companies",
        {"name": "Muster", "buchungsname": "Muster Handels GmbH", "ust_nummer": "123456789",
         "city": "Berlin", "country": "Germany"},
    )  # fmt: skip
    plain_id = world.hubspot_sandbox.seed_object(
        PORTAL, "companies", {"name": "Ohne Zusatz", "city": "Berlin", "country": "Germany"}
    )
    jobs = imports.import_start(tenant=world.tenant, enqueue=lambda job_id, seconds: None)
    job = next(j for j in jobs if j.object_type == Transfer.ObjectType.COMPANY)

    imports.import_run(str(job.pk), enqueue=lambda job_id, seconds: None)

    job.refresh_from_db()
    assert job.state == ImportJob.State.DONE, job.error
    sandbox: Any = world.accounting.sandbox
    created = {
        c.request_body["company"]["name"]: c.request_body["company"]
        for c in sandbox.api_calls()
        if (c.method, c.path) == ("POST", "/v1/contacts") and c.status < 300
    }
    assert set(created) == {"Muster Handels GmbH", "Ohne Zusatz"}  # empty value: the standard
    assert created["Muster Handels GmbH"]["vatRegistrationId"] == "DE123456789"
    # The mapped properties came with the page read: no read of a single company.
    reads = list(world.hubspot_sandbox.api_calls(path_prefix="/crm/v3/objects/companies"))
    assert [c.path for c in reads if c.method == "GET"] == ["/crm/v3/objects/companies"]
    transfers = {
        t.object_id: t
        for t in Transfer.objects.filter(tenant=world.tenant, kind=Transfer.Kind.CUSTOMER)
    }
    assert transfers[mapped_id].state == Transfer.State.DONE, transfers[mapped_id].error
    assert any(n["code"] == "mapping.field.customer.name" for n in transfers[mapped_id].notes)
    assert transfers[plain_id].state == Transfer.State.DONE, transfers[plain_id].error
    assert not any(n["code"] == "mapping.field.customer.name" for n in transfers[plain_id].notes)
    for transfer in transfers.values():
        assert services.mapping_used(transfer=transfer) == {"customer": version.number}


def test_the_import_keeps_out_contacts_by_the_mapping_s_exclusion_property(
    world_factory: Any,
) -> None:
    world = world_factory("lexoffice", subscriptions=[])
    define_property(world, "contacts", "nicht_buchen", "Nicht buchen")
    services.mapping_save(
        tenant=world.tenant, system="lexoffice", flow="customer", user=None,
        data={"exclusion_property": "nicht_buchen"},
    )  # fmt: skip
    kept_out, taken = (
        world.hubspot_sandbox.seed_object(
            PORTAL, "contacts", {"lastname": name, "email": f"{name}@x.de", "nicht_buchen": flag}
        )
        for name, flag in (("aus", "true"), ("drin", "false"))
    )
    jobs = imports.import_start(tenant=world.tenant, enqueue=lambda job_id, seconds: None)
    job = next(j for j in jobs if j.object_type == Transfer.ObjectType.CONTACT)

    imports.import_run(str(job.pk), enqueue=lambda job_id, seconds: None)

    states = {
        t.object_id: t for t in Transfer.objects.filter(tenant=world.tenant, object_type="contact")
    }
    assert states[kept_out].state == Transfer.State.SKIPPED
    assert (states[kept_out].error_message or {}).get("params") == {"name": "nicht_buchen"}
    assert states[taken].state == Transfer.State.DONE, states[taken].error
