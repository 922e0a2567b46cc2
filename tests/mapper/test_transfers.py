"""A saved mapping changes what the transfer sends, over HTTP against the sandboxes: a
custom HubSpot property lands in the vendor field it is mapped to, a template and a lookup
table work, tax rates follow the customer's country, documents of customers that cannot be
resolved go to the default customer, and each transfer records the version it used."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.utils import translation

from sync.mapping import preview, services
from sync.mapping.models import MappingUse
from sync.models import Transfer
from tests.factories import UserFactory
from tests.mapper.helpers import define_property, sent_quotes, transfer_quote
from tests.sync.conftest import PORTAL

pytestmark = pytest.mark.django_db(transaction=True)
State = Transfer.State


@pytest.fixture(autouse=True)
def _nothing_remembered() -> Iterator[None]:
    cache.clear()  # portal properties are remembered per portal id, which every world shares
    yield
    cache.clear()


def test_a_custom_property_a_template_and_a_lookup_arrive_in_the_quote(world_factory: Any) -> None:
    world = world_factory("lexoffice")
    define_property(world, "deals", "angebotstext", "Angebotstext")
    define_property(world, "deals", "zahlungsziel", "Zahlungsziel")
    user = UserFactory()
    version = services.mapping_save(
        tenant=world.tenant,
        system="lexoffice",
        flow="quote",
        user=user,
        data={
            "fields": {
                "quote.introduction": {"kind": "property", "property": "angebotstext"},
                "quote.title": {"kind": "template", "value": "{hs_object_id} {dealname}"},
                "quote.payment_term": {
                    "kind": "lookup",
                    "property": "zahlungsziel",
                    "table": [["Netto 14", "14"], ["Netto 30", "30"]],
                    "default": "30",
                },
            }
        },
        hubspot=_hubspot(world),
    )
    deal_id = world.won_deal(
        "Relaunch", properties={"angebotstext": "Wie besprochen:", "zahlungsziel": "Netto 14"}
    )

    transfer = transfer_quote(world, deal_id)

    assert transfer.state == State.DONE, transfer.error
    [body] = sent_quotes(world)
    assert body["title"] == f"{deal_id} Relaunch"
    assert body["introduction"].startswith("Wie besprochen:")
    assert f"HubSpot-Deal {PORTAL}-{deal_id}" in body["introduction"]  # our reference stays
    assert body["paymentConditions"] == {
        "paymentTermDuration": 14,
        "paymentTermLabel": "Zahlbar innerhalb von 14 Tagen",
    }
    use = MappingUse.objects.get(transfer=transfer, flow="quote")
    assert use.version == version
    assert version.number == 1
    assert version.created_by == user
    assert services.mapping_used(transfer=transfer) == {"quote": 1, "customer": 0}


def test_a_customer_in_a_mapped_country_gets_its_tax_rate(world_factory: Any) -> None:
    world = world_factory("lexoffice")
    services.mapping_save(
        tenant=world.tenant,
        system="lexoffice",
        flow="quote",
        user=None,
        data={"tax_rates": {"DE": "7"}},
    )

    transfer = transfer_quote(world, world.won_deal())

    assert transfer.state == State.DONE, transfer.error
    [body] = sent_quotes(world)
    rates = {item["unitPrice"]["taxRatePercentage"] for item in body["lineItems"]}
    assert rates == {7}
    assert any(n["code"] == "mapping.tax_rate_from_country" for n in transfer.notes)


def test_a_customer_that_cannot_be_resolved_goes_to_the_default_debtor(world_factory: Any) -> None:
    world = world_factory("lexoffice")
    first = transfer_quote(world, world.won_deal("Erstes Projekt"))
    assert first.state == State.DONE, first.error
    debtor = first.customer_vendor_id
    sandbox: Any = world.accounting.sandbox
    contacts_before = len(
        [c for c in sandbox.api_calls() if c.method == "POST" and c.path == "/v1/contacts"]
    )
    services.mapping_save(
        tenant=world.tenant,
        system="lexoffice",
        flow="quote",
        user=None,
        data={"default_debtor": debtor},
    )
    stranger = world.hubspot_sandbox.seed_deal(
        PORTAL,
        name="Unbekannt",
        stage="closedwon",
        company={"name": "Niemand AG", "address": "Weg 1", "zip": "10115", "city": "Berlin",
                 "country": "Germany"},
        line_items=[{"name": "Beratung", "quantity": "1", "price": "100"}],
    )  # fmt: skip

    transfer = transfer_quote(world, stranger)

    assert transfer.state == State.DONE, transfer.error
    assert transfer.customer_vendor_id == debtor
    assert sent_quotes(world)[-1]["address"] == {"contactId": debtor}
    contacts_after = len(
        [c for c in sandbox.api_calls() if c.method == "POST" and c.path == "/v1/contacts"]
    )
    assert contacts_after == contacts_before  # no customer was created
    assert any(n["code"] == "customer.default_debtor" for n in transfer.notes)


def test_a_mapping_is_exported_and_imported_as_a_new_version(world_factory: Any) -> None:
    world = world_factory("lexoffice")
    data = {"fields": {"quote.remark": {"kind": "constant", "value": "Danke."}}}
    services.mapping_save(
        tenant=world.tenant, system="lexoffice", flow="quote", user=None, data=data
    )
    exported = services.mapping_export(tenant=world.tenant, system="lexoffice", flow="quote")
    assert exported["version"] == 1
    assert exported["rules"]["fields"]["quote.remark"]["value"] == "Danke."

    imported = services.mapping_import(
        tenant=world.tenant, system="lexoffice", flow="quote", data=exported, user=None
    )

    assert (imported.number, imported.origin) == (2, "imported")
    with pytest.raises(services.MappingInvalid, match="bexio"):
        services.mapping_import(
            tenant=world.tenant, system="lexoffice", flow="quote", user=None,
            data={**exported, "system": "bexio"},
        )  # fmt: skip


def test_the_portal_properties_are_read_from_hubspot_and_remembered(world_factory: Any) -> None:
    world = world_factory("lexoffice")
    define_property(world, "deals", "angebotstext", "Angebotstext")
    hubspot = _hubspot(world)

    found = hubspot.portal_properties("deals")
    again = hubspot.portal_properties("deals")

    assert {"name": "angebotstext", "custom": True}.items() <= next(
        p for p in found if p["name"] == "angebotstext"
    ).items()
    assert any(p["name"] == "dealname" and not p["custom"] for p in found)
    assert again == found
    reads = list(world.hubspot_sandbox.api_calls(path_prefix="/crm/v3/properties/deals"))
    assert len([c for c in reads if c.method == "GET"]) == 1


def _hubspot(world: Any) -> Any:
    from connectors.hubspot.client import HubSpotClient
    from connectors.models import Connection

    return HubSpotClient(
        connection=Connection.objects.for_tenant(world.tenant).get(system="hubspot")
    )


def test_customer_rules_read_the_company_or_the_contact_that_is_the_customer(
    world_factory: Any,
) -> None:
    world = world_factory("lexoffice")
    define_property(world, "companies", "rechtsform", "Rechtsform")
    define_property(world, "contacts", "rechnungsmail", "Rechnungs-E-Mail")
    services.mapping_save(
        tenant=world.tenant,
        system="lexoffice",
        flow="customer",
        user=None,
        data={
            "fields": {
                "customer.name": {"kind": "template", "value": "{name} {rechtsform}"},
                "customer.email": {"kind": "property", "property": "rechnungsmail"},
            }
        },
        hubspot=_hubspot(world),
    )
    deal_id = world.hubspot_sandbox.seed_deal(
        PORTAL,
        name="Wartung",
        stage="closedwon",
        company={"name": "Beispiel", "rechtsform": "GmbH", "address": "Weg 1", "zip": "10115",
                 "city": "Berlin", "country": "Germany"},
        line_items=[{"name": "Wartung", "quantity": "1", "price": "90"}],
    )  # fmt: skip
    contact = world.hubspot_sandbox.create_object(
        PORTAL,
        "contacts",
        {"firstname": "Bea", "lastname": "Beispiel", "email": "bea@x.de",
         "rechnungsmail": "rechnung@x.de"},
        "CRM_UI",
    )  # fmt: skip

    transfer = transfer_quote(world, deal_id)
    with translation.override("en"):
        shown = preview.customer_preview(
            tenant=world.tenant, object_type="contact", object_id=contact["id"]
        )

    assert transfer.state == State.DONE, transfer.error
    sandbox: Any = world.accounting.sandbox
    [created] = [
        c.request_body
        for c in sandbox.api_calls()
        if (c.method, c.path) == ("POST", "/v1/contacts")
    ]
    assert created["company"]["name"] == "Beispiel GmbH"
    assert any(n["code"] == "mapping.field.customer.name" for n in transfer.notes)
    assert shown.request is not None
    assert shown.request["body"]["emailAddresses"] == {"business": ["rechnung@x.de"]}


def test_a_default_customer_the_accounting_system_does_not_have_is_refused(
    world_factory: Any,
) -> None:
    from sync.services import context

    world = world_factory("lexoffice")
    accounting = context.accounting_connector(tenant=world.tenant)

    # The message in English, whatever language an earlier test left this thread in.
    with (
        translation.override("en"),
        pytest.raises(services.MappingInvalid, match="no customer with the id"),
    ):
        services.mapping_save(
            tenant=world.tenant,
            system="lexoffice",
            flow="quote",
            user=None,
            data={"default_debtor": "5f0e1a2b-0000-4000-8000-000000000000"},
            accounting=accounting,
        )
    assert not services.mapping_versions(tenant=world.tenant, system="lexoffice", flow="quote")


def test_the_mapping_s_exclusion_property_keeps_a_contact_out(world_factory: Any) -> None:
    from sync.services import transfers
    from tests.factories import TransferFactory

    world = world_factory("lexoffice")
    define_property(world, "contacts", "nicht_buchen", "Nicht buchen")
    services.mapping_save(
        tenant=world.tenant,
        system="lexoffice",
        flow="customer",
        user=None,
        data={"exclusion_property": "nicht_buchen"},
    )
    kept_out, taken = (
        world.hubspot_sandbox.create_object(
            PORTAL, "contacts", {"lastname": name, "nicht_buchen": flag}, "CRM_UI"
        )["id"]
        for name, flag in (("Aus", "true"), ("Drin", "false"))
    )

    outcomes = {}
    for contact_id in (kept_out, taken):
        transfer = TransferFactory(
            tenant=world.tenant, kind=Transfer.Kind.CUSTOMER, object_type="contact",
            object_id=contact_id, system="lexoffice", state=State.PENDING, error="",
        )  # fmt: skip
        transfers.run_transfer(str(transfer.pk), enqueue=lambda *a, **k: None, paced=True)
        transfer.refresh_from_db()
        outcomes[contact_id] = transfer
    assert outcomes[kept_out].state == State.SKIPPED
    assert outcomes[kept_out].error_message["params"] == {"name": "nicht_buchen"}
    assert outcomes[taken].state == State.DONE, outcomes[taken].error
    assert services.mapping_used(transfer=outcomes[taken]) == {"customer": 1}


@pytest.mark.parametrize("system", ["lexoffice", "eaccounting"])
def test_a_shipping_cost_of_the_deal_becomes_a_position_of_its_own(
    world_factory: Any, system: str
) -> None:
    world = world_factory(system)
    define_property(world, "deals", "versandkosten", "Versandkosten")
    services.mapping_save(
        tenant=world.tenant,
        system=system,
        flow="quote",
        user=None,
        data={"fields": {"quote.shipping_cost": {"kind": "property", "property": "versandkosten"}}},
        hubspot=_hubspot(world),
    )
    deal_id = world.won_deal("Relaunch", properties={"versandkosten": "4,90"})

    transfer = transfer_quote(world, deal_id)

    assert transfer.state == State.DONE, transfer.error
    [body] = sent_quotes(world)
    if system == "lexoffice":
        last = body["lineItems"][-1]
        assert (last["name"], last["unitPrice"]["netAmount"]) == ("Versandkosten", 4.9)
    else:
        last = body["Rows"][-1]
        assert (last["Text"], last["UnitPrice"], last["Quantity"]) == ("Versandkosten", 4.9, 1)
    assert any(n["code"] == "mapping.field.quote.shipping_cost" for n in transfer.notes)


def test_a_shipping_cost_that_is_no_amount_is_refused_when_saved_and_noted_when_read(
    world_factory: Any,
) -> None:
    from sync.mapping.rules import MappingInvalid

    world = world_factory("lexoffice")
    with pytest.raises(MappingInvalid), translation.override("en"):
        services.mapping_save(
            tenant=world.tenant,
            system="lexoffice",
            flow="quote",
            user=None,
            data={"fields": {"quote.shipping_cost": {"kind": "constant", "value": "gratis"}}},
        )
    define_property(world, "deals", "versandkosten", "Versandkosten")
    services.mapping_save(
        tenant=world.tenant,
        system="lexoffice",
        flow="quote",
        user=None,
        data={"fields": {"quote.shipping_cost": {"kind": "property", "property": "versandkosten"}}},
        hubspot=_hubspot(world),
    )

    transfer = transfer_quote(world, world.won_deal(properties={"versandkosten": "auf Anfrage"}))

    assert transfer.state == State.DONE, transfer.error
    [body] = sent_quotes(world)
    assert all(item["name"] != "Versandkosten" for item in body["lineItems"])
    assert any(n["code"] == "mapping.shipping_cost_not_amount" for n in transfer.notes)
