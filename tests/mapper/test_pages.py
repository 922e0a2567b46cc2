"""The mapping and preview pages, as the customer's browser (Django's test client) uses them
against the sandboxes: save a mapping as a new version, see a refusal with its reason,
export and import it, find a deal by name and preview it, preview a failed transfer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from sync.mapping.models import FieldMapping, MappingVersion
from sync.models import Transfer
from tests.factories import TenantFactory, UserFactory
from tests.mapper.helpers import define_property, transfer_quote
from tests.sync.conftest import PORTAL

pytestmark = pytest.mark.django_db(transaction=True)
QUOTES = reverse("dashboard:mapping") + "?flow=quote"


@pytest.fixture(autouse=True)
def _nothing_remembered() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def _browser(world: Any) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(UserFactory(tenant=world.tenant, email="owner@beispiel.de"))
    return client


def test_a_custom_property_is_mapped_saved_and_previewed(world_factory: Any) -> None:
    world = world_factory("lexoffice")
    define_property(world, "deals", "angebotstext", "Angebotstext")
    browser = _browser(world)
    page = browser.get(QUOTES)
    assert page.status_code == 200
    html = page.content.decode()
    assert "angebotstext" in html
    assert "paymentConditions.paymentTermDuration" in html
    assert "<script>" not in html
    assert "onclick" not in html

    saved = browser.post(
        QUOTES,
        {
            "quote.introduction-kind": "property",
            "quote.introduction-property": "angebotstext",
            "tax_rates": "AT = 20",
        },
    )

    assert saved.status_code == 302
    version = MappingVersion.objects.get(tenant=world.tenant)
    assert version.rules["fields"]["quote.introduction"]["property"] == "angebotstext"
    assert version.created_by is not None
    assert version.created_by.email == "owner@beispiel.de"

    deal_id = world.won_deal("Relaunch Shop", properties={"angebotstext": "Wie besprochen"})
    found = browser.get(reverse("dashboard:mapping_preview"), {"object": "deal", "q": "Relaunch"})
    assert f"id={deal_id}" in found.content.decode()
    shown = browser.get(
        reverse("dashboard:mapping_preview"), {"object": "deal", "q": "Relaunch", "id": deal_id}
    )
    html = shown.content.decode()
    assert shown.status_code == 200
    assert "Wie besprochen" in html
    assert "/v1/quotations" in html
    assert "Relaunch Shop" in html


def test_a_mapping_the_vendor_would_refuse_is_not_saved(world_factory: Any) -> None:
    world = world_factory("lexoffice")
    browser = _browser(world)

    refused = browser.post(
        QUOTES,
        {"quote.title-kind": "constant", "quote.title-value": "Ein Titel, der zu lang ist"},
    )

    assert refused.status_code == 400
    assert "at most 25" in refused.content.decode()
    assert not MappingVersion.objects.filter(tenant=world.tenant).exists()
    unknown = browser.post(
        reverse("dashboard:mapping") + "?flow=customer",
        {"customer.name-kind": "property", "customer.name-property": "gibt_es_nicht"},
    )
    assert unknown.status_code == 400
    assert "gibt_es_nicht" in unknown.content.decode()
    too_long = browser.post(
        QUOTES,
        {
            "quote.title-kind": "template",
            "quote.title-value": "Unser Angebot für Ihr Projekt {dealname}",
        },
    )
    assert too_long.status_code == 400
    assert "fixed text alone is 29 characters long" in too_long.content.decode()
    assert not MappingVersion.objects.filter(tenant=world.tenant).exists()


def test_export_and_import_through_the_page(world_factory: Any) -> None:
    world = world_factory("lexoffice")
    browser = _browser(world)
    browser.post(
        QUOTES,
        {"quote.remark-kind": "constant", "quote.remark-value": "Danke."},
    )
    exported = browser.get(reverse("dashboard:mapping_export") + "?flow=quote")
    data = json.loads(exported.content)
    assert data["version"] == 1
    assert "attachment" in exported["Content-Disposition"]

    upload = SimpleUploadedFile("m.json", exported.content, content_type="application/json")
    imported = browser.post(QUOTES, {"import": upload})

    assert imported.status_code == 302
    assert MappingVersion.objects.filter(tenant=world.tenant).count() == 2


def test_a_failed_transfer_shows_what_would_be_sent_now(world_factory: Any) -> None:
    world = world_factory("lexoffice")
    empty = world.hubspot_sandbox.seed_deal(
        PORTAL, name="Noch leer", stage="closedwon", company={"name": "Leer GmbH"}
    )
    failed = transfer_quote(world, empty)
    assert failed.state == Transfer.State.FAILED
    browser = _browser(world)

    detail = browser.get(reverse("sync:transfer_detail", args=[failed.pk])).content.decode()
    shown = browser.get(reverse("dashboard:transfer_preview", args=[failed.pk]))

    assert reverse("dashboard:transfer_preview", args=[failed.pk]) in detail
    assert shown.status_code == 200
    assert "no line items" in shown.content.decode()


def test_rules_are_tried_on_a_deal_before_they_are_saved(world_factory: Any) -> None:
    world = world_factory("lexoffice")
    define_property(world, "deals", "angebotstext", "Angebotstext")
    world.won_deal("Relaunch Shop", properties={"angebotstext": "Wie besprochen"})
    browser = _browser(world)

    tried = browser.post(
        QUOTES,
        {
            "quote.introduction-kind": "property",
            "quote.introduction-property": "angebotstext",
            "preview_deal": "Relaunch",
            "action": "preview",
        },
    )

    html = tried.content.decode()
    assert tried.status_code == 200
    assert "Wie besprochen" in html
    assert "not saved yet" in html
    assert not MappingVersion.objects.filter(tenant=world.tenant).exists()


def test_a_flow_the_product_does_not_have_is_not_found(world_factory: Any) -> None:
    browser = _browser(world_factory("lexoffice"))

    assert browser.get(reverse("dashboard:mapping") + "?flow=invoice").status_code == 404
    assert browser.get(reverse("dashboard:mapping")).status_code == 200  # quotes by default


def test_a_transfer_shows_the_mapping_version_it_used_and_links_its_export(
    world_factory: Any,
) -> None:
    world = world_factory("lexoffice")
    browser = _browser(world)
    browser.post(QUOTES, {"quote.remark-kind": "constant", "quote.remark-value": "Danke."})
    transfer = transfer_quote(world, world.won_deal("Relaunch"))
    assert transfer.state == Transfer.State.DONE, transfer.error
    browser.post(QUOTES, {"quote.remark-kind": "constant", "quote.remark-value": "Später."})

    detail = browser.get(reverse("sync:transfer_detail", args=[transfer.pk]))

    html = detail.content.decode()
    assert "Data mapping used" in html
    assert "owner@beispiel.de" in html
    export_url = (
        reverse("dashboard:mapping_export") + "?flow=quote&amp;system=lexoffice&amp;version=1"
    )
    assert export_url in html
    exported = browser.get(export_url.replace("&amp;", "&"))
    assert exported.status_code == 200
    data = json.loads(exported.content)
    # The version the transfer used, not the newer one in force.
    assert (data["version"], data["rules"]["fields"]["quote.remark"]["value"]) == (1, "Danke.")
    assert "Standard mapping" in html  # the customer flow was never changed
    missing = reverse("dashboard:mapping_export") + "?flow=quote&version=9"
    assert browser.get(missing).status_code == 404


def test_another_tenant_s_mapping_version_is_not_exported(world_factory: Any) -> None:
    world = world_factory("lexoffice")
    other = TenantFactory()
    mapping = FieldMapping.objects.create(tenant=other, system="lexoffice", flow="quote")
    MappingVersion.objects.create(
        tenant=other, mapping=mapping, number=1,
        rules={"fields": {"quote.remark": {"kind": "constant", "value": "Geheim."}}},
    )  # fmt: skip
    export = reverse("dashboard:mapping_export") + "?flow=quote&system=lexoffice&version=1"

    answer = _browser(world).get(export)

    assert answer.status_code == 404
    assert b"Geheim" not in answer.content
