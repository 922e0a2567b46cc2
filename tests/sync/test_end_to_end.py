"""Deal to quote over real HTTP: HubSpot sandbox webhooks, the product's live server, a real
Celery worker process, the accounting sandbox."""

import json
import os
import signal
import time
from typing import Any

import pytest
from django.utils import translation
from django.utils.translation import gettext as _

from sync.models import Transfer, TransferAttempt, WebhookEvent
from tests.processes import celery_worker, wait_until
from tests.sync.conftest import World

QUOTE_TABLES = {
    "lexoffice": "quotations",
    "bexio": "offers",
    "sevdesk": "orders (quotes, confirmations)",
    "qonto": "quotes",
    "eaccounting": "quotes",
}


def _quotes(world: World) -> dict[str, Any]:
    return dict(world.accounting.sandbox.quotations)  # type: ignore[attr-defined]


def _quote_rows(world: World) -> list[dict[str, Any]]:
    """The quotes the accounting sandbox holds, as its inspection page lists them."""
    return world.accounting.sandbox.inspect()[QUOTE_TABLES[world.system]]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("system", ["lexoffice", "bexio", "sevdesk", "qonto", "eaccounting"])
def test_a_won_deal_becomes_one_quote_in_each_accounting_system(world_factory, system) -> None:  # type: ignore[no-untyped-def]
    world: World = world_factory(system)
    # bexio accounts keep their books in Swiss francs.
    currency = {"deal_currency_code": "CHF"} if system == "bexio" else {}
    with celery_worker(vendor_urls=world.vendor_urls()):
        deal_id = world.won_deal(name="Jahreswartung", properties=currency)
        wait_until(
            lambda: (
                Transfer.objects.filter(object_id=deal_id, kind=Transfer.Kind.QUOTE)
                .exclude(state__in=Transfer.ACTIVE_STATES)
                .exists()
            ),
            timeout=60,
        )
    transfer = Transfer.objects.get(object_id=deal_id, kind=Transfer.Kind.QUOTE)
    assert transfer.state == Transfer.State.DONE, transfer.error
    rows = _quote_rows(world)
    assert len(rows) == 1, rows
    assert str(rows[0].get("id", rows[0].get("Id"))) == transfer.vendor_id  # eAccounting: Id


@pytest.mark.django_db(transaction=True)
def test_a_won_deal_becomes_exactly_one_quote_draft_in_lexware_office(world_factory) -> None:  # type: ignore[no-untyped-def]
    world: World = world_factory("lexoffice")
    with celery_worker(vendor_urls=world.vendor_urls()):
        started = time.monotonic()
        deal_id = world.won_deal(name="Relaunch Website und Shop inklusive SEO")
        wait_until(
            lambda: Transfer.objects.filter(object_id=deal_id, state=Transfer.State.DONE).exists(),
            timeout=45,
        )
        latency = time.monotonic() - started
        # The same batch again (HubSpot delivers at least once): still one quote.
        world.hubspot_sandbox.move_deal(4711, deal_id, "closedwon")
        time.sleep(2)

    quotes = _quotes(world)
    assert len(quotes) == 1, quotes
    (quote,) = quotes.values()
    assert quote["voucherStatus"] == "draft"
    assert len(str(quote["title"])) <= 25
    assert "Relaunch Website und Shop inklusive SEO" in str(quote["introduction"])
    assert [line["name"] for line in quote["lineItems"]] == ["Konzeption", "Design", "Umsetzung"]
    sandbox: Any = world.accounting.sandbox
    contact = sandbox.contacts[quote["address"]["contactId"]]
    assert contact["company"]["name"] == "Beispiel GmbH"

    transfer = Transfer.objects.get(object_id=deal_id)
    assert transfer.vendor_id in quotes
    assert transfer.written_back
    assert transfer.source_payload is not None
    assert transfer.sent_payload is not None
    assert WebhookEvent.objects.filter(object_id=deal_id).count() >= 1
    deal = world.hubspot_sandbox.store.get("deals", "4711", deal_id)
    assert deal["properties"].get("apiup_quote_url", "").endswith(transfer.vendor_id)
    # A draft has no number yet; the vendor's internal id is no quote number.
    assert deal["properties"].get("apiup_quote_number", "") == ""
    print(f"\nwebhook to quote: {latency:.2f} s")


@pytest.mark.django_db(transaction=True)
def test_a_vendor_that_commits_then_drops_the_connection_gets_no_second_quote(
    world_factory,  # type: ignore[no-untyped-def]
) -> None:
    world: World = world_factory("lexoffice")
    accounting = world.accounting.sandbox
    with celery_worker(vendor_urls=world.vendor_urls()):
        deal_id = world.hubspot_sandbox.seed_deal(
            4711,
            name="Wartung",
            stage="contractsent",
            contact={"firstname": "Jo", "lastname": "Beispiel", "email": "jo@beispiel.de"},
            line_items=[{"name": "Wartung", "quantity": "1", "price": "99"}],
        )
        accounting.faults.update({"drop_after_commit_rate": 1.0})
        world.hubspot_sandbox.move_deal(4711, deal_id, "closedwon")
        wait_until(lambda: len(_quotes(world)) == 1, timeout=30)
        accounting.faults.update({"drop_after_commit_rate": 0.0})
        wait_until(
            lambda: Transfer.objects.filter(object_id=deal_id, state=Transfer.State.DONE).exists(),
            timeout=60,
        )
    assert len(_quotes(world)) == 1
    transfer = Transfer.objects.get(object_id=deal_id)
    assert transfer.attempts >= 2
    # The note is stored as a code; a German reader reads it in German.
    with translation.override("de"):
        reconciled = _("The quote had been created; it was not sent twice.")
        assert reconciled in transfer.note_texts


@pytest.mark.django_db(transaction=True)
def test_a_vendor_answering_5xx_for_a_while_ends_in_one_quote(world_factory) -> None:  # type: ignore[no-untyped-def]
    world: World = world_factory("lexoffice")
    accounting = world.accounting.sandbox
    with celery_worker(vendor_urls=world.vendor_urls()):
        # Down until the transfer has met the outage, however long the way there takes.
        accounting.faults.update({"down_for_seconds": 3600})
        deal_id = world.won_deal()
        wait_until(
            lambda: TransferAttempt.objects.filter(
                transfer__object_id=deal_id, outcome=TransferAttempt.Outcome.RETRY
            ).exists(),
            timeout=60,
        )
        accounting.faults.update({"down_for_seconds": 0})
        wait_until(
            lambda: Transfer.objects.filter(object_id=deal_id, state=Transfer.State.DONE).exists(),
            timeout=60,
        )
    assert len(_quotes(world)) == 1
    assert Transfer.objects.get(object_id=deal_id).attempts >= 2


@pytest.mark.django_db(transaction=True)
def test_a_stage_that_is_not_won_creates_nothing(world_factory) -> None:  # type: ignore[no-untyped-def]
    world: World = world_factory("lexoffice")
    with celery_worker(vendor_urls=world.vendor_urls()):
        deal_id = world.hubspot_sandbox.seed_deal(
            4711, name="Noch offen", stage="appointmentscheduled",
            contact={"lastname": "Offen"},
        )  # fmt: skip
        world.hubspot_sandbox.move_deal(4711, deal_id, "qualifiedtobuy")
        wait_until(
            lambda: WebhookEvent.objects.filter(
                object_id=deal_id, property_name="dealstage", state=WebhookEvent.State.IGNORED
            ).exists(),
            timeout=30,
        )
    assert not Transfer.objects.filter(object_id=deal_id).exists()
    assert _quotes(world) == {}


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_in_the_middle_of_a_transfer_loses_nothing(world_factory) -> None:  # type: ignore[no-untyped-def]
    world: World = world_factory("lexoffice")
    accounting = world.accounting.sandbox
    # Slow answers, so the kill lands while the quote is being created.
    accounting.faults.update({"latency_ms": 1500})
    # Short leases so the test need not wait the production five minutes.
    quick_resume = {
        "TRANSFER_LEASE_SECONDS": "3",
        "TRANSFER_RESUME_AFTER_SECONDS": "1",
        "TRANSFER_RESUME_INTERVAL_SECONDS": "1",
    }
    with celery_worker(vendor_urls=world.vendor_urls(), env=quick_resume) as worker:
        deal_id = world.won_deal()
        wait_until(
            lambda: Transfer.objects.filter(
                object_id=deal_id, state=Transfer.State.QUOTE_IN_FLIGHT
            ).exists(),
            timeout=60,
            interval=0.02,
        )
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
    accounting.faults.update({"latency_ms": 0})
    assert Transfer.objects.get(object_id=deal_id).state == Transfer.State.QUOTE_IN_FLIGHT

    with celery_worker(vendor_urls=world.vendor_urls(), beat=True, env=quick_resume):
        wait_until(
            lambda: Transfer.objects.filter(object_id=deal_id, state=Transfer.State.DONE).exists(),
            timeout=60,
        )
    assert len(_quotes(world)) == 1


@pytest.mark.django_db(transaction=True)
def test_contacts_are_transferred_once_and_updated_not_duplicated(world_factory) -> None:  # type: ignore[no-untyped-def]
    world: World = world_factory("lexoffice", extra_properties={"contacts": ["not_to_accounting"]})
    hubspot = world.hubspot_sandbox
    sandbox: Any = world.accounting.sandbox

    def customers_named(last_name: str) -> list[dict[str, Any]]:
        return [
            c
            for c in sandbox.contacts.values()
            if (c.get("person") or {}).get("lastName") == last_name
        ]

    with celery_worker(vendor_urls=world.vendor_urls()):
        contact_id = hubspot.seed_object(
            4711,
            "contacts",
            {"firstname": "Berta", "lastname": "Beispiel", "email": "berta@beispiel.de",
             "address": "Ring 1", "zip": "50667", "city": "Köln", "country": "Deutschland"},
        )  # fmt: skip
        excluded_id = hubspot.seed_object(
            4711, "contacts", {"lastname": "Geheim", "not_to_accounting": "true"}
        )
        wait_until(lambda: len(customers_named("Beispiel")) == 1, timeout=30)
        hubspot.update_object(4711, "contacts", contact_id, {"lastname": "Beispiel-Neu"}, "CRM_UI")
        wait_until(lambda: len(customers_named("Beispiel-Neu")) == 1, timeout=30)
        wait_until(
            lambda: Transfer.objects.filter(
                object_id=excluded_id, state=Transfer.State.SKIPPED
            ).exists(),
            timeout=30,
        )
        hubspot.archive_object(4711, "contacts", contact_id, "CRM_UI")
        wait_until(
            lambda: (
                Transfer.objects.filter(object_id=contact_id, kind=Transfer.Kind.DELETION)
                .exclude(state__in=Transfer.ACTIVE_STATES)
                .exists()
            ),
            timeout=30,
        )
    assert customers_named("Beispiel") == []
    assert not customers_named("Geheim")
    deletion = Transfer.objects.get(object_id=contact_id, kind=Transfer.Kind.DELETION)
    with translation.override("de"):
        expected = _(
            "Deleted in HubSpot. %(system)s does not allow deleting customers through its "
            "API: please delete customer %(number)s there yourself if it is no longer needed."
        ) % {"system": "lexware office", "number": "10001"}
    assert deletion.error == expected


@pytest.mark.django_db(transaction=True)
def test_the_same_batch_three_times_at_once_gives_one_quote(world_factory, live_server) -> None:  # type: ignore[no-untyped-def]
    from concurrent.futures import ThreadPoolExecutor

    import requests

    from sandbox.hubspot.webhooks import v1_signature, v3_signature

    world: World = world_factory("lexoffice", subscriptions=[])
    deal_id = world.hubspot_sandbox.seed_deal(
        4711, name="Dreifach", stage="closedwon",
        contact={"lastname": "Dreifach", "email": "drei@beispiel.de"},
        line_items=[{"name": "Leistung", "quantity": "1", "price": "100"}],
    )  # fmt: skip
    event = {
        "objectId": int(deal_id), "propertyName": "dealstage", "propertyValue": "closedwon",
        "changeSource": "CRM_UI", "eventId": 77, "subscriptionId": 1, "portalId": 4711,
        "appId": 1001, "occurredAt": int(time.time() * 1000),
        "subscriptionType": "deal.propertyChange", "attemptNumber": 0,
    }  # fmt: skip
    body = json.dumps([event]).encode()
    url = f"{live_server.url}/webhooks/hubspot"
    secret = world.hubspot_sandbox.client_secret

    def deliver(_: int) -> int:
        timestamp = str(int(time.time() * 1000))
        headers = {
            "Content-Type": "application/json",
            "X-HubSpot-Signature": v1_signature(secret, body),
            "X-HubSpot-Signature-Version": "v1",
            "X-HubSpot-Signature-v3": v3_signature(secret, "POST", url, body, timestamp),
            "X-HubSpot-Request-Timestamp": timestamp,
        }
        return requests.post(url, data=body, headers=headers, timeout=10).status_code

    with celery_worker(vendor_urls=world.vendor_urls()):
        with ThreadPoolExecutor(max_workers=3) as pool:
            assert list(pool.map(deliver, range(3))) == [200, 200, 200]
        wait_until(
            lambda: Transfer.objects.filter(object_id=deal_id, state=Transfer.State.DONE).exists(),
            timeout=45,
        )
        time.sleep(1)
    assert WebhookEvent.objects.filter(object_id=deal_id).count() == 1
    assert len(_quotes(world)) == 1
