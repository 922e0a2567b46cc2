"""The texts the product writes into a quote follow the customer's language (German, English
or French), and a tenant can write its own per language. End to end: a won deal in the HubSpot
sandbox, the quote transfer run in this process, the quote read back from the accounting
sandbox over its API."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from connectors import documents
from connectors.sevdesk import mapping as sevdesk_mapping
from sync.models import Transfer, TransferSettings
from sync.services import context
from tests.factories import UserFactory
from tests.sync.conftest import PORTAL, World, run_here

FRENCH_COMPANY = {
    "name": "Exemple SARL",
    "address": "Rue de la Paix 5",
    "zip": "75002",
    "city": "Paris",
    "country": "France",
}
AMERICAN_COMPANY = {
    "name": "Example Inc",
    "address": "5th Avenue 1",
    "zip": "10001",
    "city": "New York",
    "country": "USA",
}
GERMAN_COMPANY = {
    "name": "Beispiel GmbH",
    "address": "Hauptstraße 5",
    "zip": "10115",
    "city": "Berlin",
    "country": "Germany",
}


def quote_for(world: World, company: dict[str, str], **deal: Any) -> Transfer:
    """Wins a deal of `company` in HubSpot and runs its quote transfer here."""
    hubspot = world.hubspot_sandbox
    deal_id = hubspot.seed_deal(
        PORTAL,
        name="Maintenance",
        stage="contractsent",
        company=company,
        contact={"firstname": "Claire", "lastname": "Martin", "email": "claire@example.org"},
        line_items=[{"name": "Support", "quantity": "2", "price": "100.00"}],
        **deal,
    )
    hubspot.move_deal(PORTAL, deal_id, "closedwon")
    transfer = run_here(world, Transfer.Kind.QUOTE, deal_id)
    assert transfer.state == Transfer.State.DONE, transfer.error
    return transfer


def vendor_read(world: World, path: str) -> Any:
    connector = context.accounting_connector(tenant=world.tenant)
    assert connector.provider.key == world.system
    return connector.request("GET", path).json()


def qonto_quote(world: World, quote_id: str) -> dict[str, Any]:
    answer = vendor_read(world, f"/v2/quotes/{quote_id}")
    return answer.get("quote", answer)  # the spec wraps it, newer docs do not


@pytest.mark.parametrize(
    ("country", "postcode", "forced", "language"),
    [
        ("DE", "", "", "de"),
        ("AT", "1010", "", "de"),
        ("CH", "8001", "", "de"),  # Zürich
        ("CH", "1204", "", "fr"),  # Geneva
        ("CH", "2000", "", "fr"),  # Neuchâtel
        ("FR", "", "", "fr"),
        ("BE", "", "", "fr"),
        ("LU", "", "", "fr"),
        ("US", "", "", "en"),
        ("", "", "", "en"),
        ("FR", "", "de", "de"),  # the tenant's fixed choice wins
    ],
)
def test_the_document_language_follows_the_customer_country(
    country: str, postcode: str, forced: str, language: str
) -> None:
    assert documents.language_for(country, postcode, forced=forced) == language


def test_units_are_written_in_the_document_language_and_unknown_ones_as_they_are() -> None:
    assert documents.unit_name("", "fr") == "pièce"
    assert documents.unit_name("", "en") == "piece"
    assert documents.unit_name("", "de") == "Stück"
    assert documents.unit_name("Stunden", "fr") == "heure"
    assert documents.unit_name("Lizenz", "fr") == "Lizenz"


@pytest.mark.django_db(transaction=True)
def test_a_french_customers_qonto_quote_has_no_german_in_it(world_factory) -> None:  # type: ignore[no-untyped-def]
    world: World = world_factory("qonto", subscriptions=[])
    transfer = quote_for(world, FRENCH_COMPANY)

    quote = qonto_quote(world, transfer.vendor_id)
    texts = " ".join(
        [
            str(quote.get("header") or ""),
            str(quote.get("terms_and_conditions") or ""),
            *(str(item.get("unit") or "") for item in quote["items"]),
        ]
    )
    assert f"Affaire HubSpot {PORTAL}-{transfer.object_id}" in quote["header"]
    assert quote["terms_and_conditions"] == documents.text("fr", "terms")
    assert [item["unit"] for item in quote["items"]] == ["pièce"]
    for german in ("Stück", "Angebot", "HubSpot-Deal", "Umsatzsteuer", "Referenz"):
        assert german not in texts
    # Looked up by the reference it was written with, as after a lost answer.
    found = context.accounting_connector(tenant=world.tenant).find_quote(
        (transfer.sent_payload or {})["reference"], customer_id=transfer.customer_vendor_id
    )
    assert found is not None
    assert found.vendor_id == transfer.vendor_id


@pytest.mark.django_db(transaction=True)
def test_a_tenants_own_french_texts_replace_the_defaults(world_factory) -> None:  # type: ignore[no-untyped-def]
    world: World = world_factory("qonto", subscriptions=[])
    TransferSettings.objects.update_or_create(
        tenant=world.tenant,
        defaults={
            "document_texts": {
                "fr": {
                    "introduction": "Merci de votre confiance.",
                    "remark": "Paiement à 30 jours.",
                },
                "de": {"remark": "Zahlbar in 30 Tagen."},
            }
        },
    )
    transfer = quote_for(world, FRENCH_COMPANY)

    quote = qonto_quote(world, transfer.vendor_id)
    assert "Merci de votre confiance." in quote["header"]
    assert quote["terms_and_conditions"] == "Paiement à 30 jours."


@pytest.mark.django_db(transaction=True)
def test_lexware_office_quotes_are_english_abroad_and_german_at_home(world_factory) -> None:  # type: ignore[no-untyped-def]
    world: World = world_factory("lexoffice", subscriptions=[])
    english = quote_for(world, AMERICAN_COMPANY)
    german = quote_for(world, GERMAN_COMPANY)

    abroad = vendor_read(world, f"/v1/quotations/{english.vendor_id}")
    assert abroad["language"] == "en"
    assert [item["unitName"] for item in abroad["lineItems"]] == ["piece"]
    assert f"HubSpot deal {PORTAL}-{english.object_id}" in abroad["introduction"]
    home = vendor_read(world, f"/v1/quotations/{german.vendor_id}")
    assert home["language"] == "de"
    assert [item["unitName"] for item in home["lineItems"]] == ["Stück"]
    assert f"HubSpot-Deal {PORTAL}-{german.object_id}" in home["introduction"]


@pytest.mark.django_db(transaction=True)
def test_a_fixed_document_language_overrides_the_country(world_factory) -> None:  # type: ignore[no-untyped-def]
    world: World = world_factory("lexoffice", subscriptions=[])
    TransferSettings.objects.update_or_create(
        tenant=world.tenant, defaults={"document_language": "de", "document_texts": {}}
    )
    transfer = quote_for(world, AMERICAN_COMPANY)

    quotation = vendor_read(world, f"/v1/quotations/{transfer.vendor_id}")
    assert quotation["language"] == "de"
    assert [item["unitName"] for item in quotation["lineItems"]] == ["Stück"]


def test_sevdesk_finds_its_unit_for_a_french_or_english_unit_name() -> None:
    known = (
        sevdesk_mapping.Unity(1, "Stk", "UNITY_PIECE"),
        sevdesk_mapping.Unity(9, "Std", "UNITY_HOUR"),
    )
    assert sevdesk_mapping.unity_id("heure", known) == 9
    assert sevdesk_mapping.unity_id("hour", known) == 9
    assert sevdesk_mapping.unity_id("pièce", known) == 1


@pytest.mark.django_db
def test_the_settings_page_saves_the_texts_per_language() -> None:
    owner: User = UserFactory(email="owner@beispiel.de")  # type: ignore[assignment]
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(owner)
    response = client.post(
        reverse("dashboard:settings"),
        {
            "placeholder_name": "Musterfirma",
            "placeholder_street": "Musterstraße",
            "placeholder_city": "Musterstadt",
            "default_tax_rate": "19",
            "validity_days": "30",
            "exclusion_property": "not_to_accounting",
            "document_language": "fr",
            "introduction_fr": "Merci de votre demande.",
            "remark_en": "Payable within 30 days.",
            "remark_de": "  ",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    saved = TransferSettings.objects.get(tenant=owner.tenant)
    assert saved.document_language == "fr"
    assert saved.document_texts == {
        "fr": {"introduction": "Merci de votre demande."},
        "en": {"remark": "Payable within 30 days."},
    }
    page = client.get(reverse("dashboard:settings")).content.decode()
    assert "Merci de votre demande." in page
