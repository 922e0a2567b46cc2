"""Qonto's documents per deal stage over real HTTP against the sandbox (contract checked):
quotes and client invoices created and found, their status read, invoice events pushed as
signed webhooks, quote approvals polled."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from connectors import errors
from connectors.models import Connection
from connectors.qonto import mapping
from connectors.qonto.client import QontoConnector
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
from sandbox.qonto.app import QontoSandbox
from sandbox.qonto.state import Organization

pytestmark = pytest.mark.filterwarnings(
    # openapi-core cannot check the spec's oauth2 security scheme and says so on every call.
    "ignore:Unsupported scheme type:UserWarning"
)

LOGIN, SECRET_KEY = "apiup-demo", "apiup-sandbox-secret-key"  # the sandbox's demo organization
REFERENCE = "HubSpot-Deal 123-4711"
# The docs' test vector (Qonto fact sheet).
VECTOR_BODY = b'{"test":"data"}'
VECTOR_HEADER = "t=1704110400,v1=56aff06dc227db80d6568a5070f912c601c31f20451745d257cbc0b5dfa93805"


@pytest.fixture(scope="module")
def server() -> Iterator[RunningSandbox]:
    with running(QontoSandbox(contract=True, callback_delays=(0.05, 0.1, 0.2))) as handle:
        yield handle


@pytest.fixture
def sandbox(server: RunningSandbox) -> Iterator[QontoSandbox]:
    sandbox = server.sandbox
    assert isinstance(sandbox, QontoSandbox)
    sandbox.webhooks.sender.wait_idle()
    sandbox.reset()
    contract = sandbox.contract
    assert contract is not None
    contract.violations.clear()
    yield sandbox
    assert contract.violations == []


@pytest.fixture
def connector(server: RunningSandbox, sandbox: QontoSandbox) -> QontoConnector:
    connection = Connection(system="qonto", credentials={"login": LOGIN, "secret_key": SECRET_KEY})
    return QontoConnector(connection=connection, base_url=server.url, oauth_url=server.url)


def _organization(sandbox: QontoSandbox) -> Organization:
    return sandbox.organization_by_slug(LOGIN)


def _customer_id(connector: QontoConnector) -> str:
    customer = Customer(
        kind=CustomerKind.COMPANY,
        company=Company(
            name="Muster GmbH",
            email="info@muster.example",
            address=Address("Hauptstraße", "12", "10115", "Berlin", "DE"),
        ),
    )
    return connector.create_customer(customer).vendor_id


def _document(customer_id: str, reference: str = REFERENCE) -> Quote:
    return Quote(
        title="Lagerlogistik",
        introduction=reference,
        positions=(QuotePosition("Beratung", Decimal(10), Decimal("100.00"), Decimal(19)),),
        currency="EUR",
        valid_from=dt.date(2026, 7, 1),
        valid_until=dt.date(2026, 7, 31),
        reference=reference,
        customer_id=customer_id,
    )


def _set_status(server: RunningSandbox, kind: str, document_id: str, status: str) -> Any:
    return requests.post(
        f"{server.url}/_sandbox/documents/status",
        json={"kind": kind, "id": document_id, "status": status},
        timeout=10,
    )


def _wait_for(condition: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# -- creating and finding ------------------------------------------------------------------


def test_capabilities_name_quotes_and_invoices_without_links(connector: QontoConnector) -> None:
    capabilities = connector.capabilities
    assert capabilities.documents == {DocumentKind.QUOTE, DocumentKind.INVOICE}
    assert not capabilities.can_link(DocumentKind.INVOICE, DocumentKind.QUOTE)
    assert capabilities.can_finalize_invoices
    assert capabilities.status_events
    assert capabilities.status_polling


def test_each_kind_is_created_and_found_by_its_reference(
    connector: QontoConnector, sandbox: QontoSandbox
) -> None:
    customer_id = _customer_id(connector)
    quote = connector.create_document(DocumentKind.QUOTE, _document(customer_id))
    draft = connector.create_document(DocumentKind.INVOICE, _document(customer_id))
    final_reference = "HubSpot-Deal 123-4712"
    final = connector.create_document(
        DocumentKind.INVOICE, _document(customer_id, final_reference), finalize=True
    )

    invoices = _organization(sandbox).invoices
    assert invoices[draft.vendor_id]["status"] == "draft"
    assert invoices[final.vendor_id]["status"] == "unpaid"
    assert final.number == invoices[final.vendor_id]["number"] != ""
    assert connector.find_document(DocumentKind.QUOTE, REFERENCE) == quote
    assert connector.find_document(DocumentKind.INVOICE, REFERENCE, customer_id=customer_id) == (
        draft
    )
    assert connector.find_document(DocumentKind.INVOICE, final_reference) == final
    other_client = "0b7bd8f4-4b7c-4a4e-9d4e-0f6a4f4f2a11"
    assert (
        connector.find_document(DocumentKind.INVOICE, REFERENCE, customer_id=other_client) is None
    )
    assert connector.find_document(DocumentKind.INVOICE, "HubSpot-Deal 123-9999") is None


def test_a_link_or_an_order_is_refused_without_a_call(connector: QontoConnector) -> None:
    document = _document("0b7bd8f4-4b7c-4a4e-9d4e-0f6a4f4f2a11")
    quote = DocumentLink(DocumentKind.QUOTE, "0b7bd8f4-4b7c-4a4e-9d4e-0f6a4f4f2a12")
    with pytest.raises(errors.UnsupportedByVendor):
        connector.create_document(DocumentKind.INVOICE, document, preceding=quote)
    with pytest.raises(errors.UnsupportedByVendor):
        connector.create_document(DocumentKind.ORDER, document)
    assert connector.client.calls == 0


# -- status --------------------------------------------------------------------------------


def test_invoice_states_draft_open_partially_paid_paid_and_voided(
    connector: QontoConnector, sandbox: QontoSandbox, server: RunningSandbox
) -> None:
    customer_id = _customer_id(connector)
    invoice = connector.create_document(DocumentKind.INVOICE, _document(customer_id))

    draft = connector.document_state(DocumentKind.INVOICE, invoice.vendor_id)
    assert (draft.status, draft.total, draft.open_amount) == (
        DocumentStatus.DRAFT,
        Decimal("1190.00"),
        None,
    )
    assert draft.url == invoice.url
    assert draft.currency == "EUR"
    assert _set_status(server, "invoice", invoice.vendor_id, "paid").status_code == 409

    assert _set_status(server, "invoice", invoice.vendor_id, "open").status_code == 200
    opened = connector.document_state(DocumentKind.INVOICE, invoice.vendor_id)
    assert (opened.status, opened.open_amount, opened.paid_date) == (
        DocumentStatus.OPEN,
        Decimal("1190.00"),
        None,
    )
    assert opened.number.startswith("INV-")

    # Qonto books no partial payments: the invoice stays open for its total.
    assert _set_status(server, "invoice", invoice.vendor_id, "partially_paid").status_code == 200
    partly = connector.document_state(DocumentKind.INVOICE, invoice.vendor_id)
    assert (partly.status, partly.open_amount) == (DocumentStatus.OPEN, Decimal("1190.00"))

    assert _set_status(server, "invoice", invoice.vendor_id, "paid").status_code == 200
    paid = connector.document_state(DocumentKind.INVOICE, invoice.vendor_id)
    assert (paid.status, paid.open_amount) == (DocumentStatus.PAID, Decimal(0))
    assert paid.paid_date == dt.datetime.now(dt.UTC).date()

    other = connector.create_document(
        DocumentKind.INVOICE, _document(customer_id, "HubSpot-Deal 123-4713"), finalize=True
    )
    assert _set_status(server, "invoice", other.vendor_id, "voided").status_code == 200
    voided = connector.document_state(DocumentKind.INVOICE, other.vendor_id)
    assert (voided.status, voided.open_amount) == (DocumentStatus.VOIDED, Decimal(0))


def test_quote_states_and_a_deleted_document(
    connector: QontoConnector, sandbox: QontoSandbox, server: RunningSandbox
) -> None:
    customer_id = _customer_id(connector)
    quote = connector.create_document(DocumentKind.QUOTE, _document(customer_id))
    state = connector.document_state(DocumentKind.QUOTE, quote.vendor_id)
    assert (state.status, state.number, state.url) == (DocumentStatus.OPEN, quote.number, quote.url)
    assert state.total == Decimal("1190.00")
    assert state.open_amount is None

    assert _set_status(server, "quote", quote.vendor_id, "accepted").status_code == 200
    accepted = connector.document_state(DocumentKind.QUOTE, quote.vendor_id)
    assert accepted.status is DocumentStatus.ACCEPTED
    assert _set_status(server, "quote", quote.vendor_id, "rejected").status_code == 409

    declined = connector.create_document(
        DocumentKind.QUOTE, _document(customer_id, "HubSpot-Deal 123-4714")
    )
    # Qonto has no rejected quotes: a declined quote is canceled there.
    assert _set_status(server, "quote", declined.vendor_id, "rejected").status_code == 200
    state = connector.document_state(DocumentKind.QUOTE, declined.vendor_id)
    assert state.status is DocumentStatus.VOIDED

    draft = connector.create_document(DocumentKind.INVOICE, _document(customer_id))
    del _organization(sandbox).invoices[draft.vendor_id]
    with pytest.raises(errors.NotFound):
        connector.document_state(DocumentKind.INVOICE, draft.vendor_id)


# -- push: invoice events ------------------------------------------------------------------


class _Receiver:
    """A local endpoint that keeps every delivery and answers with the next status given."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        self.answers: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.deliveries.append((dict(self.headers.items()), body))
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/webhooks/qonto"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    handle = _Receiver()
    yield handle
    handle.stop()


def test_a_signed_invoice_event_is_verified_and_names_the_invoice(
    connector: QontoConnector, sandbox: QontoSandbox, server: RunningSandbox, receiver: _Receiver
) -> None:
    account_id = connector.verify().account_id
    subscription = connector.events_subscribe(receiver.url)
    stored = sandbox.store.get("webhook_subscriptions", account_id, subscription.ids[0])
    assert stored["types"] == ["v1/client-invoices"]
    assert stored["secret"] == subscription.secret
    assert len(subscription.secret) >= 32
    sender = sandbox.webhooks.sender
    invoice = connector.create_document(DocumentKind.INVOICE, _document(_customer_id(connector)))
    _wait_for(lambda: [c.state for c in sender.sent] == ["delivered"])  # created
    receiver.answers = [500]  # the first try fails: Qonto tries again
    assert _set_status(server, "invoice", invoice.vendor_id, "open").status_code == 200
    _wait_for(lambda: [c.state for c in sender.sent] == ["delivered", "delivered"])
    # Tries slower than Qonto's one second also count as failed, on a loaded machine.
    updated = sender.sent[1]
    assert (updated.statuses[0], updated.statuses[-1]) == (500, 200)
    tries = [(headers, body) for headers, body in receiver.deliveries if body == updated.body]
    assert len(tries) >= 2

    def secret_for(account: str) -> str | None:
        return subscription.secret if account == account_id else None

    headers, body = tries[-1]
    [event] = QontoConnector.events_read(body, headers, secret_for=secret_for)
    payload = json.loads(body)
    assert (event.account_id, event.event_type, event.event_id) == (
        account_id,
        "v1/client-invoices",
        payload["id"],
    )
    assert event.payload == payload
    assert event.occurred_at is not None
    assert event.change is not None
    assert (event.change.kind, event.change.vendor_id) == (DocumentKind.INVOICE, invoice.vendor_id)
    assert event.change.marker.startswith("unpaid@")
    # The failed try is the same event (signed anew), so the same change.
    [first_try] = QontoConnector.events_read(tries[0][1], tries[0][0], secret_for=secret_for)
    assert first_try.change == event.change
    assert first_try.event_id == event.event_id

    tampered = body.replace(b'"unpaid"', b'"paid"')
    with pytest.raises(errors.ForgedEvent):
        QontoConnector.events_read(tampered, headers, secret_for=secret_for)
    with pytest.raises(errors.ForgedEvent):
        QontoConnector.events_read(body, headers, secret_for=lambda account: "another-secret")
    # An account no tenant has connected: nothing to verify with and nothing to act on,
    # acknowledged without its change (not refused, which Qonto would retry for days).
    [unknown] = QontoConnector.events_read(body, headers, secret_for=lambda account: None)
    assert unknown.change is None
    with pytest.raises(errors.ForgedEvent):
        QontoConnector.events_read(body, {}, secret_for=secret_for)
    stale = str(int(time.time()) - 301)
    stale_header = f"t={stale},v1={mapping.signature(subscription.secret, stale, body)}"
    with pytest.raises(errors.ForgedEvent):
        QontoConnector.events_read(body, {"X-Qonto-Signature": stale_header}, secret_for=secret_for)
    with pytest.raises(errors.PermanentError) as malformed:
        QontoConnector.events_read(b"[1, 2", headers, secret_for=secret_for)
    assert not isinstance(malformed.value, errors.ForgedEvent)


def test_subscribing_again_takes_over_and_unsubscribing_stops_the_events(
    connector: QontoConnector, sandbox: QontoSandbox, server: RunningSandbox, receiver: _Receiver
) -> None:
    account_id = connector.verify().account_id
    first = connector.events_subscribe(receiver.url)
    second = connector.events_subscribe(receiver.url)
    subscriptions = sandbox.store.select("webhook_subscriptions", account_id)
    assert [s["id"] for s in subscriptions] == list(second.ids) != list(first.ids)

    connector.events_unsubscribe(second)
    connector.events_unsubscribe(second)  # one already gone is fine
    assert sandbox.store.select("webhook_subscriptions", account_id) == []
    connector.create_document(DocumentKind.INVOICE, _document(_customer_id(connector)))
    assert sandbox.webhooks.sender.sent == []


def test_the_docs_test_vector_holds_for_five_minutes_only() -> None:
    assert (
        mapping.signature("test-secret", "1704110400", VECTOR_BODY)
        == (VECTOR_HEADER.split("v1=")[1])
    )
    assert mapping.signature_holds(VECTOR_HEADER, VECTOR_BODY, "test-secret", now=1704110400)
    assert mapping.signature_holds(VECTOR_HEADER, VECTOR_BODY, "test-secret", now=1704110700)
    assert not mapping.signature_holds(VECTOR_HEADER, VECTOR_BODY, "test-secret", now=1704110701)
    assert not mapping.signature_holds(VECTOR_HEADER, VECTOR_BODY, "test-secrets", now=1704110400)
    assert not mapping.signature_holds("t=1704110400", VECTOR_BODY, "test-secret", now=1704110400)


# -- polled: quotes ------------------------------------------------------------------------


def test_an_approved_quote_is_polled_once_its_stamp_moves(
    connector: QontoConnector, sandbox: QontoSandbox, server: RunningSandbox
) -> None:
    start = connector.document_changes("")
    assert start.changes == ()
    assert connector.client.calls == 0
    quote = connector.create_document(DocumentKind.QUOTE, _document(_customer_id(connector)))
    calls = connector.client.calls

    before = connector.document_changes(start.cursor)
    assert before.changes == ()
    assert connector.client.calls == calls + 2  # approved, then canceled quotes

    assert _set_status(server, "quote", quote.vendor_id, "accepted").status_code == 200
    after = connector.document_changes(before.cursor)
    [change] = after.changes
    assert (change.kind, change.vendor_id) == (DocumentKind.QUOTE, quote.vendor_id)
    approved_at = _organization(sandbox).quotes[quote.vendor_id]["approved_at"]
    assert change.marker.startswith("approved@")
    assert approved_at[:19] in change.marker
    # The next poll still overlaps the change, with the same marker (the engine de-duplicates).
    assert connector.document_changes(after.cursor).changes == (change,)

    # An approval from before the cursor (and its overlap) is not a change.
    with sandbox.lock:
        record = _organization(sandbox).quotes[quote.vendor_id]
        record["approved_at"] = "2020-01-01T00:00:00.000Z"
        _organization(sandbox).quotes[quote.vendor_id] = record
    assert connector.document_changes(after.cursor).changes == ()
    with pytest.raises(errors.PermanentError):
        connector.document_changes("not a cursor")
