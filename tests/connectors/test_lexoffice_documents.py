"""Documents per deal stage with lexware office over real HTTP against its sandbox, every call
checked against the spec: quotations and invoices (an invoice made from its quotation), their
status and payments, and event subscriptions with the signed callbacks the sandbox sends."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from cryptography.hazmat.primitives import serialization
from django.core.cache import cache

from connectors import errors
from connectors.lexoffice import events
from connectors.lexoffice.client import LexofficeConnector
from connectors.models import Connection
from connectors.shapes import (
    Address,
    Company,
    Customer,
    CustomerKind,
    DocumentKind,
    DocumentLink,
    DocumentStatus,
    Quote,
    QuotePosition,
)
from sandbox.core import RunningSandbox, running
from sandbox.lexoffice.app import LexofficeSandbox
from sandbox.lexoffice.events import WebhookSigner

BERLIN = ZoneInfo("Europe/Berlin")
# The fact sheet's fingerprint of Lexware's key (SubjectPublicKeyInfo DER, sha256).
PINNED_FINGERPRINT = "6a42debdf6c613137f8da76b231711c93c3b4fc2dc0e7a2998e08c7f479f80b1"
SUBSCRIBED = ("quotation.status.changed", "invoice.status.changed", "payment.changed")


@pytest.fixture
def api_key(request: pytest.FixtureRequest) -> str:
    return f"lx-docs-{request.node.name}"[:120]


@pytest.fixture
def vendor(api_key: str, settings: Any) -> Iterator[RunningSandbox]:
    sandbox = LexofficeSandbox(
        api_keys={api_key: "Belege GmbH"}, contract=True, callback_delays=(0.05,) * 5
    )
    with running(sandbox) as handle:
        # The webhook key is fetched from the sandbox, as when the product runs on sandboxes.
        settings.VENDOR_API_URLS = {**settings.VENDOR_API_URLS, "lexoffice_keys": handle.url}
        cache.delete(events.key_cache_key(events.key_url()))
        yield handle
        sandbox.callbacks.wait_idle(timeout=30)
        sandbox.callbacks.stop()
    assert sandbox.contract is not None
    assert sandbox.contract.violations == []


@pytest.fixture
def sandbox(vendor: RunningSandbox) -> LexofficeSandbox:
    assert isinstance(vendor.sandbox, LexofficeSandbox)
    return vendor.sandbox


@pytest.fixture
def lexoffice(vendor: RunningSandbox, api_key: str) -> LexofficeConnector:
    connection = Connection(system="lexoffice", credentials={"api_key": api_key})
    return LexofficeConnector(connection=connection, base_url=vendor.url)


@pytest.fixture
def customer_id(lexoffice: LexofficeConnector) -> str:
    company = Company(name="Kundin AG", address=Address("Ring", "1", "10115", "Berlin", "DE"))
    return lexoffice.create_customer(Customer(kind=CustomerKind.COMPANY, company=company)).vendor_id


def _document(customer_id: str, reference: str) -> Quote:
    today = dt.date.today()
    return Quote(
        title="Lagerlogistik",
        introduction="Vielen Dank.",
        # 2 x 100.00 net at 19 %: 238.00 gross.
        positions=(QuotePosition("Beratung", Decimal(2), Decimal(100), Decimal(19)),),
        currency="EUR",
        valid_from=today,
        valid_until=today + dt.timedelta(days=14),
        reference=reference,
        customer_id=customer_id,
    )


def _calls(sandbox: LexofficeSandbox) -> int:
    return len(sandbox.api_calls(path_prefix="/v1/"))


# -- documents ------------------------------------------------------------------------------


def test_each_kind_is_created_and_found_by_reference(
    lexoffice: LexofficeConnector, sandbox: LexofficeSandbox, customer_id: str
) -> None:
    assert lexoffice.capabilities.documents == {DocumentKind.QUOTE, DocumentKind.INVOICE}
    for kind in (DocumentKind.QUOTE, DocumentKind.INVOICE):
        other = lexoffice.create_document(kind, _document(customer_id, f"hubspot-{kind}-1"))
        made = lexoffice.create_document(kind, _document(customer_id, f"hubspot-{kind}-2"))
        found = lexoffice.find_document(kind, f"hubspot-{kind}-2", customer_id=customer_id)
        assert found is not None
        assert found.vendor_id == made.vendor_id != other.vendor_id
        assert lexoffice.find_document(kind, f"hubspot-{kind}-3", customer_id=customer_id) is None
    assert len(sandbox.quotations) == len(sandbox.invoices) == 2
    quote = lexoffice.find_document(DocumentKind.QUOTE, "hubspot-quote-2", customer_id=customer_id)
    assert quote is not None
    assert quote.url.endswith(f"/permalink/quotations/edit/{quote.vendor_id}")


def test_an_invoice_is_made_from_its_quotation_and_finalized(
    lexoffice: LexofficeConnector, sandbox: LexofficeSandbox, customer_id: str
) -> None:
    quote = lexoffice.create_document(DocumentKind.QUOTE, _document(customer_id, "hubspot-7"))
    invoice = lexoffice.create_document(
        DocumentKind.INVOICE,
        _document(customer_id, "hubspot-7"),
        preceding=DocumentLink(DocumentKind.QUOTE, quote.vendor_id),
        finalize=True,
    )
    stored = sandbox.invoices[invoice.vendor_id]
    assert stored["relatedVouchers"] == [{"id": quote.vendor_id, "voucherType": "quotation"}]
    assert sandbox.quotations[quote.vendor_id]["relatedVouchers"][0]["id"] == invoice.vendor_id
    state = lexoffice.document_state(DocumentKind.INVOICE, invoice.vendor_id)
    assert (state.status, state.number, state.currency) == (DocumentStatus.OPEN, "RE0001", "EUR")
    assert state.total == state.open_amount == Decimal("238.00")


def test_what_lexware_office_cannot_make_is_refused_before_a_call(
    lexoffice: LexofficeConnector, sandbox: LexofficeSandbox, customer_id: str
) -> None:
    before = _calls(sandbox)
    document = _document(customer_id, "hubspot-8")
    with pytest.raises(errors.UnsupportedByVendor):
        lexoffice.create_document(DocumentKind.ORDER, document)
    with pytest.raises(errors.UnsupportedByVendor):
        lexoffice.create_document(
            DocumentKind.INVOICE, document, preceding=DocumentLink(DocumentKind.INVOICE, "x")
        )
    with pytest.raises(errors.NotFound):
        lexoffice.document_state(DocumentKind.INVOICE, "not-a-uuid")
    assert _calls(sandbox) == before


def test_document_state_follows_payments_and_voiding(
    lexoffice: LexofficeConnector, sandbox: LexofficeSandbox, customer_id: str
) -> None:
    draft = lexoffice.create_document(DocumentKind.INVOICE, _document(customer_id, "h-1"))
    before = _calls(sandbox)
    state = lexoffice.document_state(DocumentKind.INVOICE, draft.vendor_id)
    assert (state.status, state.open_amount, state.number) == (DocumentStatus.DRAFT, None, "")
    assert _calls(sandbox) == before + 1  # a draft has no payments to read

    invoice = lexoffice.create_document(
        DocumentKind.INVOICE, _document(customer_id, "h-2"), finalize=True
    )
    sandbox.document_status_set(
        kind="invoice", document_id=invoice.vendor_id, status="partially_paid", amount="100"
    )
    state = lexoffice.document_state(DocumentKind.INVOICE, invoice.vendor_id)
    assert state.status is DocumentStatus.PARTIALLY_PAID
    assert (state.open_amount, state.paid_date) == (Decimal("138.00"), None)

    sandbox.document_status_set(kind="invoice", document_id=invoice.vendor_id, status="paid")
    state = lexoffice.document_state(DocumentKind.INVOICE, invoice.vendor_id)
    assert (state.status, state.open_amount) == (DocumentStatus.PAID, Decimal(0))
    today = dt.datetime.now(BERLIN).date()
    assert state.paid_date in (today, today - dt.timedelta(days=1))

    sandbox.document_status_set(kind="invoice", document_id=draft.vendor_id, status="voided")
    state = lexoffice.document_state(DocumentKind.INVOICE, draft.vendor_id)
    assert (state.status, state.open_amount) == (DocumentStatus.VOIDED, Decimal(0))


def test_quotation_state_accepted_and_rejected(
    lexoffice: LexofficeConnector, sandbox: LexofficeSandbox, customer_id: str
) -> None:
    quote = lexoffice.create_document(DocumentKind.QUOTE, _document(customer_id, "h-3"))
    state = lexoffice.document_state(DocumentKind.QUOTE, quote.vendor_id)
    assert (state.status, state.total) == (DocumentStatus.DRAFT, Decimal("238.00"))
    assert state.url == quote.url
    for status in (DocumentStatus.ACCEPTED, DocumentStatus.REJECTED):
        sandbox.document_status_set(kind="quote", document_id=quote.vendor_id, status=status)
        assert lexoffice.document_state(DocumentKind.QUOTE, quote.vendor_id).status is status
    # Paying is for invoices: the vendor's app has no such change for a quotation.
    assert (
        sandbox.document_status_set(kind="quote", document_id=quote.vendor_id, status="paid")
        is None
    )


def test_a_deleted_document_is_not_found(lexoffice: LexofficeConnector) -> None:
    with pytest.raises(errors.NotFound):
        lexoffice.document_state(DocumentKind.QUOTE, "4d43ad14-671d-4e0c-9d4b-2fd8cc117eff")


# -- events -----------------------------------------------------------------------------------


@dataclass
class Receiver:
    """The product's webhook endpoint: keeps every delivery, answers `answers` in turn."""

    answers: list[int] = field(default_factory=list)
    received: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    kept = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            kept.received.append((body, dict(self.headers.items())))
            self.send_response(kept.answers.pop(0) if kept.answers else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    kept.url = f"http://127.0.0.1:{server.server_port}/webhooks/lexoffice"
    try:
        yield kept
    finally:
        server.shutdown()
        server.server_close()


def test_subscribed_callbacks_are_verified_and_read(
    lexoffice: LexofficeConnector,
    sandbox: LexofficeSandbox,
    customer_id: str,
    receiver: Receiver,
) -> None:
    subscription = lexoffice.events_subscribe(receiver.url)
    held = {s["id"]: s["eventType"] for _, s in sandbox.store.everything("event-subscriptions")}
    assert sorted(held) == sorted(subscription.ids)
    assert set(held.values()) == set(SUBSCRIBED)
    # Subscribing again (409 for each type) takes the existing ones over.
    assert lexoffice.events_subscribe(receiver.url) == subscription
    assert len(sandbox.store.everything("event-subscriptions")) == 3

    invoice = lexoffice.create_document(
        DocumentKind.INVOICE, _document(customer_id, "h-4"), finalize=True
    )
    sandbox.document_status_set(kind="invoice", document_id=invoice.vendor_id, status="paid")
    assert sandbox.callbacks.wait_idle(timeout=30)
    assert len(receiver.received) == 2
    organization = lexoffice.verify().account_id
    read = [
        event
        for body, headers in receiver.received
        for event in LexofficeConnector.events_read(body, headers, secret_for=lambda _: None)
    ]
    assert {e.event_type for e in read} == {"invoice.status.changed", "payment.changed"}
    for event in read:
        assert event.account_id == organization
        assert event.change is not None
        assert (event.change.kind, event.change.vendor_id) == (
            DocumentKind.INVOICE,
            invoice.vendor_id,
        )
        assert event.payload["resourceId"] == invoice.vendor_id
        assert event.occurred_at is not None
        assert event.occurred_at.tzinfo is not None
    assert len({e.event_id for e in read}) == len({e.change for e in read}) == 2
    rows = sandbox.inspect()
    assert len(rows["event subscriptions"]) == 3
    assert len(rows["callbacks sent"]) == 2


def test_forged_and_tampered_callbacks_are_refused(sandbox: LexofficeSandbox) -> None:
    body = (
        b'{"organizationId":"aa93e8a8-2aa3-470b-b914-caad8a255dd8","eventType":"payment.changed",'
        b'"resourceId":"4d43ad14-671d-4e0c-9d4b-2fd8cc117eff","eventDate":"2023-04-11T12:30:00.000+02:00"}'
    )
    signed = sandbox.signer(body)
    (event,) = events.read(body, signed)  # an old event is no forgery: Lexware signs no time
    assert event.event_id == events.read(body, signed)[0].event_id  # a replay is the same event
    tampered = body.replace(b"payment.changed", b"invoice.changed")
    for forged_body, headers in (
        (tampered, signed),
        (body, WebhookSigner()(body)),  # signed, but not with the key Lexware publishes
        (body, {}),
        (body, {"X-Lxo-Signature": "not base64!"}),
        (body, {"x-lxo-signature": base64.b64encode(b"\0" * 256).decode()}),
    ):
        with pytest.raises(errors.ForgedEvent):
            events.read(forged_body, headers)
    for malformed in (b"[]", b"{not json", json.dumps({"eventType": "x"}).encode()):
        with pytest.raises(errors.PermanentError) as raised:
            events.read(malformed, sandbox.signer(malformed))
        assert not isinstance(raised.value, errors.ForgedEvent)


def test_unsubscribing_stops_the_callbacks(
    lexoffice: LexofficeConnector,
    sandbox: LexofficeSandbox,
    customer_id: str,
    receiver: Receiver,
) -> None:
    subscription = lexoffice.events_subscribe(receiver.url)
    lexoffice.events_unsubscribe(subscription)
    assert sandbox.store.everything("event-subscriptions") == []
    lexoffice.events_unsubscribe(subscription)  # gone already: fine
    quote = lexoffice.create_document(DocumentKind.QUOTE, _document(customer_id, "h-5"))
    sandbox.document_status_set(kind="quote", document_id=quote.vendor_id, status="accepted")
    assert sandbox.callbacks.wait_idle(timeout=30)
    assert receiver.received == []
    assert sandbox.callbacks.sent == []


def test_a_failed_callback_is_retried_on_lexwares_schedule(
    lexoffice: LexofficeConnector,
    sandbox: LexofficeSandbox,
    customer_id: str,
    receiver: Receiver,
) -> None:
    lexoffice.events_subscribe(receiver.url)
    receiver.answers = [503, 429, 200]
    quote = lexoffice.create_document(DocumentKind.QUOTE, _document(customer_id, "h-6"))
    sandbox.document_status_set(kind="quote", document_id=quote.vendor_id, status="rejected")
    assert sandbox.callbacks.wait_idle(timeout=30)
    (callback,) = sandbox.callbacks.sent
    assert (callback.statuses, callback.state) == ([503, 429, 200], "delivered")
    assert len({body for body, _ in receiver.received}) == 1  # the same signed body each time


def test_without_the_published_key_the_pinned_copy_is_used(
    settings: Any, sandbox: LexofficeSandbox
) -> None:
    # Nothing listens there: the fetch fails and the fact sheet's copy stands in.
    settings.VENDOR_API_URLS = {**settings.VENDOR_API_URLS, "lexoffice_keys": "http://127.0.0.1:9"}
    cache.delete(events.key_cache_key(events.key_url()))
    key, _ = events.public_key()
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert hashlib.sha256(der).hexdigest() == PINNED_FINGERPRINT
    body = b'{"organizationId":"o","eventType":"payment.changed","resourceId":"r","eventDate":"d"}'
    with pytest.raises(errors.ForgedEvent):  # the sandbox's own key is not Lexware's
        events.read(body, sandbox.signer(body))


@pytest.mark.django_db
def test_removing_the_connection_removes_its_event_subscriptions(
    vendor: RunningSandbox, sandbox: LexofficeSandbox, api_key: str, settings: Any
) -> None:
    from connectors.services import EVENT_SUBSCRIPTION_KEY, connection_disconnect
    from tests.factories import ConnectionFactory

    settings.VENDOR_API_URLS = {**settings.VENDOR_API_URLS, "lexoffice": vendor.url}
    connection = Connection.objects.get(
        pk=ConnectionFactory(system="lexoffice", credentials={"api_key": api_key}).pk
    )
    subscription = LexofficeConnector(connection=connection).events_subscribe(
        "https://apiup.test/webhooks/vendor/lexoffice"
    )
    connection.credentials = {
        **connection.credentials,
        EVENT_SUBSCRIPTION_KEY: {"ids": list(subscription.ids), "secret": ""},
    }
    connection.save()
    assert len(sandbox.inspect()["event subscriptions"]) == 3

    connection_disconnect(connection=connection)

    assert sandbox.inspect()["event subscriptions"] == []
