"""Documents per deal stage and their status back on the deal: the HubSpot sandbox over real
HTTP, the accounting system in memory (tests/fakes/memory.py), the transfers run here."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from django.utils import translation

from connectors.models import Connection
from connectors.shapes import DocumentKind, DocumentStatus
from sync.models import DocumentRule, Transfer, TransferAttempt, VendorEvent, WebhookEvent
from sync.services import context, events, feeds, statuses, transfers
from sync.services import vendor_events as vendor_event_services
from tests.fakes import memory
from tests.sync.conftest import PORTAL, World, run_here

pytestmark = pytest.mark.django_db(transaction=True)


class Books(memory.MemoryDocumentsConnector):
    # Under the plan's key: the transfers are the lexware office plan's.
    provider = dataclasses.replace(memory.PROVIDER, key="lexoffice", capabilities=memory.DOCUMENTS)


@pytest.fixture
def world(world_factory, monkeypatch) -> World:  # type: ignore[no-untyped-def]
    built: World = world_factory("lexoffice", subscriptions=[])
    books = memory.MemoryBooks()
    connection = Connection.objects.get(tenant=built.tenant, system="lexoffice")
    connection.credentials = {"api_key": memory.ACCEPTED_KEY}
    connection.save()
    connector = Books(connection=connection, books=books)
    monkeypatch.setattr(context, "accounting_connector", lambda *, tenant: connector)
    built.books = books  # type: ignore[attr-defined]
    return built


def _deal(world: World, stage: str, pipeline: str = "default") -> str:
    return world.hubspot_sandbox.seed_deal(
        PORTAL,
        name="Jahreswartung",
        stage=stage,
        pipeline=pipeline,
        company={
            "name": "Beispiel GmbH",
            "address": "Hauptstraße 5",
            "zip": "10115",
            "city": "Berlin",
            "country": "Germany",
        },
        line_items=[{"name": "Wartung", "quantity": "12", "price": "100.00"}],
    )


def _rules(world: World, *rules: tuple[str, str]) -> None:
    for stage, document in rules:
        DocumentRule.objects.create(tenant=world.tenant, stage_id=stage, document=document)


def _stage_event(world: World, deal_id: str, stage: str) -> WebhookEvent:
    return WebhookEvent(
        tenant=world.tenant,
        portal_id=str(PORTAL),
        subscription_type="deal.propertyChange",
        object_id=deal_id,
        property_name="dealstage",
        property_value=stage,
        payload={},
    )


def _run(world: World, kind: str, deal_id: str) -> Transfer:
    return run_here(world, kind, deal_id)


def _deal_properties(world: World, deal_id: str) -> dict[str, Any]:
    return dict(world.hubspot_sandbox.store.get("deals", str(PORTAL), deal_id)["properties"])


def _patches(world: World, deal_id: str) -> int:
    return sum(
        1
        for call in world.hubspot.sandbox.api_calls(path_prefix="/crm/v3/objects/0-3")
        if call.method == "PATCH" and call.path.endswith(deal_id)
    )


def test_the_rules_decide_which_documents_a_stage_asks_for(world: World) -> None:
    _rules(world, ("contractsent", "quote"), ("closedwon", "invoice"), ("closedwon", "order"))
    deal_id = _deal(world, "contractsent")

    def asked(stage: str) -> list[str]:
        routes = events._accounting_routes(_stage_event(world, deal_id, stage), world.tenant)
        return [kind for kind, _, _ in routes]

    assert asked("contractsent") == [Transfer.Kind.QUOTE]
    assert asked("closedwon") == [Transfer.Kind.INVOICE, Transfer.Kind.ORDER]
    assert asked("qualifiedtobuy") == []


def test_without_rules_a_won_stage_of_any_pipeline_asks_for_a_quote(world: World) -> None:
    deal_id = _deal(world, "contractsent")
    routes = events._accounting_routes(_stage_event(world, deal_id, "98765003"), world.tenant)
    assert [kind for kind, _, _ in routes] == [Transfer.Kind.QUOTE]


def test_an_invoice_is_made_from_the_deals_quote_and_its_status_reaches_the_deal(
    world: World,
) -> None:
    _rules(world, ("contractsent", "quote"), ("closedwon", "invoice"))
    deal_id = _deal(world, "contractsent")
    quote = _run(world, Transfer.Kind.QUOTE, deal_id)
    assert quote.state == Transfer.State.DONE, quote.error

    world.hubspot_sandbox.move_deal(PORTAL, deal_id, "closedwon")
    invoice = _run(world, Transfer.Kind.INVOICE, deal_id)

    assert invoice.state == Transfer.State.DONE, invoice.error
    made = world.books.documents[invoice.vendor_id]  # type: ignore[attr-defined]
    assert made.kind is DocumentKind.INVOICE
    assert made.preceding == memory.DocumentLink(DocumentKind.QUOTE, quote.vendor_id)
    assert invoice.sent_payload
    assert quote.sent_payload
    assert invoice.sent_payload["reference"] == quote.sent_payload["reference"]
    properties = _deal_properties(world, deal_id)
    assert properties["apiup_quote_status"] == "draft"
    assert properties["apiup_invoice_status"] == "draft"


def test_a_quote_asked_for_after_the_deal_moved_on_is_still_made(world: World) -> None:
    # HubSpot's events come in no set order: the deal may be at "invoice" already.
    _rules(world, ("contractsent", "quote"), ("closedwon", "invoice"))
    deal_id = _deal(world, "closedwon")
    assert _run(world, Transfer.Kind.QUOTE, deal_id).state == Transfer.State.DONE
    # But not a deal that never reached a stage of the rules.
    other = _deal(world, "qualifiedtobuy")
    skipped = _run(world, Transfer.Kind.QUOTE, other)
    assert skipped.state == Transfer.State.SKIPPED


def test_an_invoice_waits_while_the_deals_quote_is_being_created(world: World) -> None:
    _rules(world, ("contractsent", "quote"), ("closedwon", "invoice"))
    deal_id = _deal(world, "closedwon")
    events.transfer_request(
        tenant=world.tenant,
        kind=Transfer.Kind.QUOTE,
        object_type=Transfer.ObjectType.DEAL,
        object_id=deal_id,
    )  # pending, not run yet

    invoice = _run(world, Transfer.Kind.INVOICE, deal_id)

    assert invoice.state == Transfer.State.PENDING
    assert invoice.next_attempt_at is not None
    attempt = TransferAttempt.objects.get(transfer=invoice)
    assert attempt.outcome == TransferAttempt.Outcome.RETRY
    with translation.override("en"):  # the reader's language, not whatever a test left
        assert "still being created" in attempt.error_text
    assert world.books.documents == {}  # type: ignore[attr-defined]


def test_a_paid_invoice_is_written_to_the_deal_once_and_moves_it(world: World) -> None:
    _rules(world, ("98765002", "invoice"))
    settings = context.transfer_settings(tenant=world.tenant)
    settings.paid_stage_id = "98765003"  # "Bezahlt" of the customer's own pipeline
    settings.save()
    deal_id = _deal(world, "98765002", pipeline="98765000")
    invoice = _run(world, Transfer.Kind.INVOICE, deal_id)
    books: memory.MemoryBooks = world.books  # type: ignore[attr-defined]
    connection = Connection.objects.get(tenant=world.tenant, system="lexoffice")
    books.mark(invoice.vendor_id, DocumentStatus.PAID)
    requested: list[str] = []

    def poll() -> None:
        found = context.accounting_connector(tenant=world.tenant).document_changes(
            feeds._feed(connection).cursor
        )
        for change in found.changes:
            feeds.change_store(
                connection=connection,
                change=change,
                enqueue=lambda *a: None,
                event_type="poll",
            )
        feeds.DocumentFeed.objects.filter(pk=feeds._feed(connection).pk).update(cursor=found.cursor)
        for event in VendorEvent.objects.filter(state=VendorEvent.State.RECEIVED):
            vendor_event_services.vendor_event_process(
                event=event,
                on_document_change=lambda e: statuses.document_changed(e, enqueue=requested.append),
            )

    poll()
    status = Transfer.objects.get(kind=Transfer.Kind.DOCUMENT_STATUS, object_id=deal_id)
    transfers.run_transfer(str(status.pk), enqueue=lambda *a, **k: None, paced=True)

    status.refresh_from_db()
    assert status.state == Transfer.State.DONE, status.error
    properties = _deal_properties(world, deal_id)
    assert properties["apiup_invoice_status"] == "paid"
    assert properties["apiup_invoice_open_amount"] == "0.00"
    assert properties["apiup_invoice_paid_date"] == "2026-12-06"
    assert properties["apiup_invoice_number"] == f"RE-{invoice.vendor_id}"
    assert properties["dealstage"] == "98765003"
    written = _patches(world, deal_id)

    # The same change polled again is the same event: stored once, nothing requested.
    poll()
    assert VendorEvent.objects.count() == 1
    # A new "paid" (the vendor stamped the invoice again) reads the same status: nothing is
    # written, and the deal is not moved again.
    books.mark(invoice.vendor_id, DocumentStatus.PAID)
    poll()
    assert VendorEvent.objects.count() == 2
    transfers.run_transfer(str(status.pk), enqueue=lambda *a, **k: None, paced=True)
    status.refresh_from_db()
    assert status.state == Transfer.State.SKIPPED
    assert _patches(world, deal_id) == written
    assert len(requested) == 2


def test_a_status_reported_while_the_document_is_being_finished_is_written_after_it(
    world: World, monkeypatch
) -> None:
    """The document's own first status and the vendor's newer one ("paid") are written by two
    transfers: the newer one must land last, or the deal keeps "draft" for good."""
    from connectors.hubspot.client import HubSpotClient

    _rules(world, ("closedwon", "invoice"))
    deal_id = _deal(world, "closedwon")
    states_while_writing: list[str] = []
    write_back = HubSpotClient.write_back_deal

    def observed(self, deal: str, properties):  # type: ignore[no-untyped-def]
        invoice = Transfer.objects.filter(kind=Transfer.Kind.INVOICE, object_id=deal).first()
        states_while_writing.append(invoice.state if invoice else "")
        write_back(self, deal, properties)

    monkeypatch.setattr(HubSpotClient, "write_back_deal", observed)
    invoice = _run(world, Transfer.Kind.INVOICE, deal_id)
    assert invoice.state == Transfer.State.DONE
    # The invoice's own status went to the deal before the invoice counted as made.
    assert states_while_writing == [Transfer.State.QUOTE_IN_FLIGHT]

    # "Paid" arrives in that moment: the status transfer waits instead of reading now.
    Transfer.objects.filter(pk=invoice.pk).update(state=Transfer.State.QUOTE_IN_FLIGHT)
    world.books.mark(invoice.vendor_id, DocumentStatus.PAID)  # type: ignore[attr-defined]
    status = _run(world, Transfer.Kind.DOCUMENT_STATUS, deal_id)
    assert status.state == Transfer.State.PENDING
    assert status.next_attempt_at is not None
    with translation.override("en"):
        assert "still being created" in TransferAttempt.objects.get(transfer=status).error_text
    assert _deal_properties(world, deal_id)["apiup_invoice_status"] == "draft"

    Transfer.objects.filter(pk=invoice.pk).update(state=Transfer.State.DONE)
    Transfer.objects.filter(pk=status.pk).update(next_attempt_at=None)
    transfers.run_transfer(str(status.pk), enqueue=lambda *a, **k: None, paced=True)
    status.refresh_from_db()
    assert status.state == Transfer.State.DONE, status.error
    assert _deal_properties(world, deal_id)["apiup_invoice_status"] == "paid"


def test_a_change_of_a_document_the_product_did_not_make_is_ignored(world: World) -> None:
    connection = Connection.objects.get(tenant=world.tenant, system="lexoffice")
    feeds.change_store(
        connection=connection,
        change=memory.DocumentChange(DocumentKind.INVOICE, "someone-elses", "1"),
        enqueue=lambda *a: None,
        event_type="invoice.status.changed",
        event_id="evt-1",
    )
    event = VendorEvent.objects.get()
    state = vendor_event_services.vendor_event_process(
        event=event,
        on_document_change=lambda e: statuses.document_changed(e, enqueue=lambda *a: None),
    )
    assert state == VendorEvent.State.IGNORED
    assert not Transfer.objects.filter(kind=Transfer.Kind.DOCUMENT_STATUS).exists()
