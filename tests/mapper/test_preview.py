"""The dry run shows exactly what the transfer then sends: the preview of a deal equals, field
for field, the body the accounting sandbox receives, for each of the four systems; nothing
is written while previewing; a failed transfer can be previewed as it would run now."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.utils import translation

from sync.mapping import preview, services
from sync.models import Transfer
from tests.mapper.helpers import define_property, sent_quotes, transfer_quote
from tests.sync.conftest import PORTAL

pytestmark = pytest.mark.django_db(transaction=True)
State = Transfer.State


@pytest.fixture(autouse=True)
def _nothing_remembered() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def _writes(world: Any) -> list[Any]:
    sandbox: Any = world.accounting.sandbox
    return [c for c in sandbox.api_calls() if c.method != "GET" and not c.path.endswith("/search")]


@pytest.mark.parametrize("system", ["lexoffice", "bexio", "sevdesk", "qonto"])
def test_the_preview_of_a_deal_is_what_the_transfer_sends(world_factory: Any, system: str) -> None:
    world = world_factory(system)
    define_property(world, "deals", "angebotstext", "Angebotstext")
    services.mapping_save(
        tenant=world.tenant,
        system=system,
        flow="quote",
        user=None,
        data={"fields": {"quote.introduction": {"kind": "property", "property": "angebotstext"}}},
    )
    # The customer exists after a first quote; the second deal's preview finds it.
    currency = {"deal_currency_code": "CHF"} if system == "bexio" else {}  # its only one
    first = transfer_quote(world, world.won_deal("Erstes Projekt", properties=currency))
    assert first.state == State.DONE, first.error
    deal_id = world.won_deal(
        "Zweites Projekt", properties={"angebotstext": "Wie besprochen", **currency}
    )
    writes_before = len(_writes(world))

    with translation.override("en"):
        shown = preview.deal_preview(tenant=world.tenant, deal_id=deal_id)

    assert shown.problems == []
    assert len(_writes(world)) == writes_before  # the preview sent nothing
    assert shown.request is not None
    assert shown.request["path"].endswith(
        {
            "lexoffice": "/v1/quotations",
            "bexio": "/2.0/kb_offer",
            "sevdesk": "/Order/Factory/saveOrder",
            "qonto": "/v2/quotes",
        }[system]
    )
    assert shown.values == {"deal": {"angebotstext": "Wie besprochen"}}
    assert shown.versions == {"quote": 1, "customer": 0}
    assert any("Introduction" in note for note in shown.notes)

    transfer = transfer_quote(world, deal_id)

    assert transfer.state == State.DONE, transfer.error
    assert sent_quotes(world)[-1] == shown.body
    assert "Wie besprochen" in str(shown.body)


def test_a_new_customer_is_shown_as_the_request_that_would_create_it(world_factory: Any) -> None:
    world = world_factory("lexoffice")

    shown = preview.deal_preview(tenant=world.tenant, deal_id=world.won_deal())

    assert shown.problems == []
    assert shown.customer_request is not None
    assert shown.customer_request["path"] == "/v1/contacts"
    assert shown.customer_request["body"]["company"]["name"] == "Beispiel GmbH"
    assert not [c for c in world.accounting.sandbox.api_calls() if c.method == "POST"]


def test_problems_are_listed_instead_of_sent(world_factory: Any) -> None:
    world = world_factory("lexoffice")
    empty = world.hubspot_sandbox.seed_deal(
        PORTAL, name="Ohne Positionen", stage="closedwon", company={"name": "Leer GmbH"}
    )

    with translation.override("en"):
        shown = preview.deal_preview(tenant=world.tenant, deal_id=empty)

    assert shown.request is None
    assert shown.problems
    assert "line item" in shown.problems[0]


def test_a_failed_transfer_is_previewed_as_it_would_run_now(world_factory: Any) -> None:
    world = world_factory("lexoffice")
    empty = world.hubspot_sandbox.seed_deal(
        PORTAL, name="Erst leer", stage="closedwon", company={"name": "Leer GmbH"}
    )
    failed = transfer_quote(world, empty)
    assert failed.state == State.FAILED

    shown = preview.transfer_preview(transfer=failed)

    assert shown.kind == "quote"
    assert shown.title == "Erst leer"
    assert shown.problems


def test_a_contact_preview_shows_the_customer_request(world_factory: Any) -> None:
    world = world_factory("lexoffice")
    contact = world.hubspot_sandbox.create_object(
        PORTAL,
        "contacts",
        {"firstname": "Bea", "lastname": "Beispiel", "email": "bea@x.de"},
        "CRM_UI",
    )

    shown = preview.customer_preview(
        tenant=world.tenant, object_type="contact", object_id=contact["id"]
    )

    assert shown.problems == []
    assert shown.request is not None
    assert shown.request["method"] == "POST"
    assert shown.request["body"]["person"]["lastName"] == "Beispiel"
