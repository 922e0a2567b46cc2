"""Quote, invoice and paid status over real HTTP with a real worker, for each accounting
system: the deal moves through the stages of the tenant's rules in the HubSpot sandbox, the
documents appear in the accounting sandbox, and the invoice marked paid there shows on the
deal, pushed by the vendor's signed event or found by the next poll."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from connectors.models import Connection
from connectors.registry import connector_class, provider
from sync import tasks
from sync.models import DocumentFeed, DocumentRule, Transfer
from sync.services import feeds
from tests.processes import celery_worker, wait_until
from tests.sync.conftest import PORTAL, World

SYSTEMS = ["lexoffice", "bexio", "sevdesk", "qonto", "eaccounting"]


def _deal_properties(world: World, deal_id: str) -> dict[str, Any]:
    return dict(world.hubspot_sandbox.store.get("deals", str(PORTAL), deal_id)["properties"])


def _deal_patches(world: World, deal_id: str) -> int:
    return sum(
        1
        for call in world.hubspot.sandbox.api_calls(path_prefix="/crm/v3/objects/0-3")
        if call.method == "PATCH" and call.path.endswith(f"/{deal_id}")
    )


def _done(deal_id: str, kind: str) -> bool:
    return (
        Transfer.objects.filter(object_id=deal_id, kind=kind)
        .exclude(state__in=Transfer.ACTIVE_STATES)
        .exists()
    )


def _settled(deal_id: str) -> None:
    """The deal's status transfer has no work left (and gets none for a second)."""

    def idle() -> bool:
        return not Transfer.objects.filter(
            object_id=deal_id,
            kind=Transfer.Kind.DOCUMENT_STATUS,
            state__in=Transfer.ACTIVE_STATES,
        ).exists()

    for _ in range(2):
        wait_until(idle, timeout=30)
        time.sleep(1)


def _poll_now(world: World) -> None:
    """What beat's round does every 30 s, now: the feed is due."""
    DocumentFeed.objects.filter(tenant=world.tenant).update(next_poll_at=None)
    feeds.feeds_maintain(enqueue=tasks.enqueue_vendor_events)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("system", SYSTEMS)
def test_quote_then_invoice_then_paid_status_on_the_deal(  # type: ignore[no-untyped-def]
    world_factory, live_server, settings, system
) -> None:
    world: World = world_factory(system)
    settings.PUBLIC_BASE_URL = live_server.url
    pushes = provider(system).capabilities.status_events  # type: ignore[union-attr]
    DocumentRule.objects.create(tenant=world.tenant, stage_id="contractsent", document="quote")
    # Finalized where the system can (a Qonto draft cannot be paid).
    DocumentRule.objects.create(
        tenant=world.tenant, stage_id="closedwon", document="invoice", finalize=True
    )
    connection = Connection.objects.get(tenant=world.tenant, system=system)
    # As the wizard stores it: the vendor's id of the account, which its events name.
    connection.external_account_id = (
        connector_class(system)(connection=connection).verify().account_id
    )
    connection.save()
    # Where lexware office publishes the key its callbacks are signed with.
    settings.VENDOR_API_URLS = {**settings.VENDOR_API_URLS, f"{system}_keys": world.accounting.url}
    if pushes:
        assert feeds.events_subscribe(connection=connection)
    else:
        _poll_now(world)  # the feed takes its cursor
        assert DocumentFeed.objects.get(tenant=world.tenant).cursor
    currency = {"deal_currency_code": "CHF"} if system == "bexio" else {}

    with celery_worker(vendor_urls=world.vendor_urls()):
        deal_id = world.hubspot_sandbox.seed_deal(
            PORTAL,
            name="Jahreswartung",
            stage="presentationscheduled",
            company={
                "name": "Beispiel GmbH",
                "address": "Hauptstraße 5",
                "zip": "10115",
                "city": "Berlin",
                "country": "Germany",
            },
            line_items=[{"name": "Wartung", "quantity": "12", "price": "100.00"}],
            properties=currency,
        )
        world.hubspot_sandbox.move_deal(PORTAL, deal_id, "contractsent")
        wait_until(lambda: _done(deal_id, Transfer.Kind.QUOTE), timeout=60)
        world.hubspot_sandbox.move_deal(PORTAL, deal_id, "closedwon")
        wait_until(lambda: _done(deal_id, Transfer.Kind.INVOICE), timeout=60)
        quote = Transfer.objects.get(object_id=deal_id, kind=Transfer.Kind.QUOTE)
        invoice = Transfer.objects.get(object_id=deal_id, kind=Transfer.Kind.INVOICE)
        assert quote.state == Transfer.State.DONE, quote.error
        assert invoice.state == Transfer.State.DONE, invoice.error
        # Written to the deal right after the transfer is done.
        wait_until(
            lambda: _deal_properties(world, deal_id).get("apiup_invoice_status") is not None,
            timeout=15,
        )
        assert _deal_properties(world, deal_id)["apiup_invoice_status"] in ("draft", "open")

        paid = requests.post(
            f"{world.accounting.url}/_sandbox/documents/status",
            json={"kind": "invoice", "id": invoice.vendor_id, "status": "paid"},
            timeout=10,
        )
        assert paid.status_code == 200, paid.text
        started = time.monotonic()
        if not pushes:
            _poll_now(world)
        wait_until(
            lambda: _deal_properties(world, deal_id).get("apiup_invoice_status") == "paid",
            timeout=30,
        )
        if pushes:
            assert time.monotonic() - started < 10
        # Every change the vendor reported meanwhile (its quote may have changed too when the
        # invoice was made from it) is read and written before the count is taken.
        _settled(deal_id)
        written = _deal_patches(world, deal_id)

        # A second "paid" (the vendor's event again, or the same change polled again)
        # changes nothing on the deal.
        if pushes:
            again = requests.post(
                f"{world.accounting.url}/_sandbox/documents/status",
                json={"kind": "invoice", "id": invoice.vendor_id, "status": "paid"},
                timeout=10,
            )
            assert again.status_code in (200, 409), again.text
        else:
            _poll_now(world)
        time.sleep(3)
        _settled(deal_id)

    properties = _deal_properties(world, deal_id)
    assert properties["apiup_invoice_status"] == "paid"
    assert properties["apiup_quote_status"] in ("draft", "open", "accepted")
    assert _deal_patches(world, deal_id) == written, [
        (c.path, c.request_body)
        for c in world.hubspot.sandbox.api_calls(path_prefix="/crm/v3/objects/0-3")
        if c.method == "PATCH"
    ]
    assert Transfer.objects.filter(object_id=deal_id, kind=Transfer.Kind.INVOICE).count() == 1
    assert (
        world.accounting.sandbox.contract is None
        or world.accounting.sandbox.contract.violations == []
    )
