"""bexio's documents per deal stage against the bexio sandbox over real HTTP, every request
and answer checked against the spec: quotes and invoices (alone, made from the quote,
issued), found by our reference, their status after what a bexio user does, and the changes
polled on `updated_at` (bexio has no webhooks)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests

from connectors import errors
from connectors.bexio.client import BexioConnector
from connectors.bexio.provider import PROVIDER
from connectors.models import Connection
from connectors.shapes import (
    Company,
    Customer,
    CustomerKind,
    DocumentChanges,
    DocumentKind,
    DocumentLink,
    DocumentStatus,
    Quote,
    QuotePosition,
)
from sandbox.bexio import documents
from sandbox.bexio.app import BexioSandbox
from sandbox.core import RunningSandbox, running

QUOTE, INVOICE = DocumentKind.QUOTE, DocumentKind.INVOICE


@pytest.fixture(scope="module")
def server() -> Iterator[RunningSandbox]:
    with running(BexioSandbox(contract=True)) as handle:
        yield handle


@pytest.fixture
def pat(request: pytest.FixtureRequest) -> str:
    # One token (and so one client-side rate bucket and tax cache) per test.
    return f"pat-docs-{request.node.name}-{time.time_ns()}"[:120]


@pytest.fixture
def vendor(server: RunningSandbox, pat: str) -> Iterator[RunningSandbox]:
    sandbox = server.sandbox
    assert isinstance(sandbox, BexioSandbox)
    assert sandbox.contract is not None
    sandbox.reset()
    sandbox.add_company(name="Muster Treuhand AG", personal_access_token=pat)
    sandbox.contract.violations.clear()
    yield server
    # Every request the connector sent, and every answer, must match the spec.
    assert sandbox.contract.violations == []


@pytest.fixture
def sandbox(vendor: RunningSandbox) -> BexioSandbox:
    assert isinstance(vendor.sandbox, BexioSandbox)
    return vendor.sandbox


@pytest.fixture
def connector(vendor: RunningSandbox, pat: str) -> BexioConnector:
    connection = Connection(system="bexio", credentials={"access_token": pat})
    return BexioConnector(connection=connection, base_url=vendor.url, oauth_url=vendor.url)


@pytest.fixture
def customer_id(connector: BexioConnector) -> str:
    company = Company(name="Muster & Partner AG", email="info@muster-partner.example")
    return connector.create_customer(Customer(kind=CustomerKind.COMPANY, company=company)).vendor_id


def _document(
    customer_id: str, reference: str = "hubspot-deal-4711-quote", **changes: Any
) -> Quote:
    values: dict[str, Any] = {
        "title": "Lagerlogistik Phase 2",
        "introduction": f"Vielen Dank für Ihr Interesse. Referenz {reference}",
        "positions": (
            QuotePosition("Beratung", Decimal(10), Decimal("120.00"), Decimal("8.1")),
            QuotePosition("Fachbuch", Decimal(2), Decimal("39.90"), Decimal("2.6")),
        ),
        "currency": "CHF",
        "valid_from": dt.date(2026, 7, 1),
        "valid_until": dt.date(2026, 7, 31),
        "reference": reference,
        "customer_id": customer_id,
    }
    return Quote(**{**values, **changes})


def _stored(sandbox: BexioSandbox, resource: str, vendor_id: str) -> dict[str, Any]:
    return sandbox.store.get(resource, "1", int(vendor_id))


def _set_status(
    vendor: RunningSandbox, kind: str, vendor_id: str, status: str, amount: str = ""
) -> None:
    answer = requests.post(
        f"{vendor.url}/_sandbox/documents/status",
        json={"kind": kind, "id": vendor_id, "status": status, "amount": amount},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text


def _next_second(stamp: str) -> None:
    """Waits until bexio's clock (whole seconds) has moved past `stamp`."""
    deadline = time.monotonic() + 10
    while documents.now_text() <= stamp:
        assert time.monotonic() < deadline
        time.sleep(0.05)


# -- creating and finding ------------------------------------------------------------------------


def test_the_capabilities_declare_quotes_and_invoices_from_quotes_polled() -> None:
    capabilities = PROVIDER.capabilities
    assert capabilities is not None
    assert capabilities.documents == frozenset({QUOTE, INVOICE})
    assert capabilities.can_link(INVOICE, QUOTE)
    assert not capabilities.can_link(INVOICE, DocumentKind.ORDER)
    assert capabilities.can_finalize_invoices
    assert capabilities.status_polling
    assert not capabilities.status_events


def test_a_quote_and_an_invoice_are_created_and_found_by_reference(
    connector: BexioConnector, sandbox: BexioSandbox, customer_id: str
) -> None:
    quote = connector.create_document(QUOTE, _document(customer_id))
    invoice = connector.create_document(
        INVOICE, _document(customer_id, "hubspot-deal-4711-invoice")
    )

    assert connector.find_document(QUOTE, "hubspot-deal-4711-quote") == quote
    assert connector.find_document(INVOICE, "hubspot-deal-4711-invoice") == invoice
    assert connector.find_document(INVOICE, "hubspot-deal-4711-quote") is None
    assert connector.find_document(INVOICE, "  ") is None
    stored = _stored(sandbox, "invoices", invoice.vendor_id)
    assert stored["kb_item_status_id"] == 7  # a draft
    assert invoice.number == stored["document_nr"] == "RE-00001"
    search = sandbox.api_calls(path_prefix="/2.0/kb_invoice/search")[0]
    assert search.request_body == [
        {"field": "api_reference", "value": "hubspot-deal-4711-invoice", "criteria": "="}
    ]


def test_an_invoice_made_from_its_quote_carries_our_reference_and_the_link(
    connector: BexioConnector, sandbox: BexioSandbox, customer_id: str
) -> None:
    quote = connector.create_document(QUOTE, _document(customer_id))
    invoice_document = _document(
        customer_id,
        "hubspot-deal-4711-invoice",
        title="Rechnung Lagerlogistik",
        valid_from=dt.date(2026, 8, 1),
        valid_until=dt.date(2026, 8, 31),
    )

    ref = connector.create_document(
        INVOICE, invoice_document, preceding=DocumentLink(QUOTE, quote.vendor_id)
    )

    stored = _stored(sandbox, "invoices", ref.vendor_id)
    offer = _stored(sandbox, "offers", quote.vendor_id)
    assert stored["_source_offer_id"] == int(quote.vendor_id)  # made from the quote
    assert [p["text"] for p in stored["positions"]] == [p["text"] for p in offer["positions"]]
    assert stored["total"] == offer["total"]
    assert stored["api_reference"] == "hubspot-deal-4711-invoice"
    assert stored["title"] == "Rechnung Lagerlogistik"
    assert (stored["is_valid_from"], stored["is_valid_to"]) == ("2026-08-01", "2026-08-31")
    assert stored["contact_id"] == int(customer_id)
    assert stored["kb_item_status_id"] == 7
    assert ref.number == stored["document_nr"]
    assert connector.find_document(INVOICE, "hubspot-deal-4711-invoice") == ref
    # The quote keeps its own reference.
    assert connector.find_document(QUOTE, "hubspot-deal-4711-quote") == quote
    paths = [(c.method, c.path) for c in sandbox.api_calls(path_prefix="/2.0/kb_")]
    assert paths[-4:-2] == [
        ("POST", f"/2.0/kb_offer/{quote.vendor_id}/invoice"),
        ("POST", f"/2.0/kb_invoice/{ref.vendor_id}"),
    ]


def test_an_invoice_whose_reference_cannot_be_set_is_not_left_behind(
    connector: BexioConnector, sandbox: BexioSandbox, customer_id: str
) -> None:
    quote = connector.create_document(QUOTE, _document(customer_id))
    refused = _document(customer_id, "hubspot-deal-4711-invoice")
    # The quote's user has left the company since: the copy's edit is refused.
    sandbox.store.update("offers", "1", int(quote.vendor_id), {"user_id": 99})

    with pytest.raises(errors.PermanentError):
        connector.create_document(INVOICE, refused, preceding=DocumentLink(QUOTE, quote.vendor_id))

    assert sandbox.store.select("invoices", "1") == []
    deletes = [c for c in sandbox.api_calls() if c.method == "DELETE"]
    assert [c.status for c in deletes] == [200]


def test_a_finalized_invoice_is_issued_and_open(
    connector: BexioConnector, sandbox: BexioSandbox, customer_id: str
) -> None:
    quote = connector.create_document(QUOTE, _document(customer_id))
    alone = connector.create_document(
        INVOICE, _document(customer_id, "hubspot-deal-1-invoice"), finalize=True
    )
    linked = connector.create_document(
        INVOICE,
        _document(customer_id, "hubspot-deal-2-invoice"),
        preceding=DocumentLink(QUOTE, quote.vendor_id),
        finalize=True,
    )

    for ref in (alone, linked):
        assert _stored(sandbox, "invoices", ref.vendor_id)["kb_item_status_id"] == 8
        assert connector.document_state(INVOICE, ref.vendor_id).status is DocumentStatus.OPEN
    issued = [c.path for c in sandbox.api_calls() if c.path.endswith("/issue")]
    assert issued == [
        f"/2.0/kb_invoice/{alone.vendor_id}/issue",
        f"/2.0/kb_invoice/{linked.vendor_id}/issue",
    ]


def test_order_confirmations_are_not_offered(connector: BexioConnector, customer_id: str) -> None:
    with pytest.raises(errors.UnsupportedByVendor):
        connector.create_document(DocumentKind.ORDER, _document(customer_id))
    with pytest.raises(errors.UnsupportedByVendor):
        connector.find_document(DocumentKind.ORDER, "hubspot-deal-4711-quote")


# -- status ---------------------------------------------------------------------------------------


def test_an_invoices_state_follows_payments_and_cancelling(
    vendor: RunningSandbox, connector: BexioConnector, sandbox: BexioSandbox, customer_id: str
) -> None:
    draft = connector.create_document(INVOICE, _document(customer_id, "deal-1"))
    partly = connector.create_document(INVOICE, _document(customer_id, "deal-2"))
    paid = connector.create_document(INVOICE, _document(customer_id, "deal-3"))
    voided = connector.create_document(INVOICE, _document(customer_id, "deal-4"), finalize=True)
    total = Decimal(_stored(sandbox, "invoices", draft.vendor_id)["total"])

    _set_status(vendor, "invoice", partly.vendor_id, "partially_paid", "500.00")
    _set_status(vendor, "invoice", paid.vendor_id, "paid")
    _set_status(vendor, "invoice", voided.vendor_id, "voided")

    state = connector.document_state(INVOICE, draft.vendor_id)
    assert state.status is DocumentStatus.DRAFT
    assert (state.number, state.currency, state.total) == (draft.number, "CHF", total)
    assert state.open_amount == total
    assert state.paid_date is None

    state = connector.document_state(INVOICE, partly.vendor_id)
    assert state.status is DocumentStatus.PARTIALLY_PAID
    assert state.open_amount == total - Decimal(500)
    assert state.paid_date is None

    calls_before = len(sandbox.api_calls())
    state = connector.document_state(INVOICE, paid.vendor_id)
    assert state.status is DocumentStatus.PAID
    assert state.open_amount == 0
    assert state.paid_date == dt.date.today()
    paths = [c.path for c in sandbox.api_calls()[calls_before:]]
    assert paths == [
        f"/2.0/kb_invoice/{paid.vendor_id}",
        f"/2.0/kb_invoice/{paid.vendor_id}/payment",
    ]

    assert connector.document_state(INVOICE, voided.vendor_id).status is DocumentStatus.VOIDED


def test_a_quotes_state_follows_the_customers_answer(
    vendor: RunningSandbox, connector: BexioConnector, customer_id: str
) -> None:
    accepted = connector.create_document(QUOTE, _document(customer_id, "deal-1"))
    rejected = connector.create_document(QUOTE, _document(customer_id, "deal-2"))
    assert connector.document_state(QUOTE, accepted.vendor_id).status is DocumentStatus.DRAFT

    _set_status(vendor, "quote", accepted.vendor_id, "accepted")
    _set_status(vendor, "quote", rejected.vendor_id, "rejected")

    state = connector.document_state(QUOTE, accepted.vendor_id)
    assert state.status is DocumentStatus.ACCEPTED
    assert state.open_amount is None
    assert state.paid_date is None
    assert connector.document_state(QUOTE, rejected.vendor_id).status is DocumentStatus.REJECTED


def test_a_document_deleted_in_bexio_is_not_found(
    connector: BexioConnector, sandbox: BexioSandbox, customer_id: str
) -> None:
    ref = connector.create_document(INVOICE, _document(customer_id))
    sandbox.store.delete("invoices", "1", int(ref.vendor_id))

    with pytest.raises(errors.NotFound):
        connector.document_state(INVOICE, ref.vendor_id)
    with pytest.raises(errors.NotFound):
        connector.document_state(QUOTE, "999")


# -- polling --------------------------------------------------------------------------------------


def test_polling_starts_now_and_returns_a_change_once_its_stamp_moves(
    vendor: RunningSandbox, connector: BexioConnector, sandbox: BexioSandbox, customer_id: str
) -> None:
    connector.poll_overlap = dt.timedelta(0)  # to see exactly what lies after the cursor
    invoice = connector.create_document(INVOICE, _document(customer_id, "deal-1"), finalize=True)
    quote = connector.create_document(QUOTE, _document(customer_id, "deal-2"))

    start = connector.document_changes("")
    assert start.changes == ()
    stamps = [
        _stored(sandbox, r, d.vendor_id)["updated_at"]
        for r, d in (("invoices", invoice), ("offers", quote))
    ]
    assert start.cursor == max(stamps)
    assert connector.document_changes(start.cursor).changes == ()  # nothing moved yet

    _next_second(start.cursor)
    _set_status(vendor, "invoice", invoice.vendor_id, "paid")
    _set_status(vendor, "quote", quote.vendor_id, "accepted")
    polled = connector.document_changes(start.cursor)

    paid_at = _stored(sandbox, "invoices", invoice.vendor_id)["updated_at"]
    accepted_at = _stored(sandbox, "offers", quote.vendor_id)["updated_at"]
    assert {(c.kind, c.vendor_id, c.marker) for c in polled.changes} == {
        (INVOICE, invoice.vendor_id, f"{paid_at}|9"),
        (QUOTE, quote.vendor_id, f"{accepted_at}|3"),
    }
    assert polled.cursor == max(paid_at, accepted_at) > start.cursor
    assert connector.document_changes(polled.cursor).changes == ()
    search = list(sandbox.api_calls(path_prefix="/2.0/kb_invoice/search"))[-1]
    assert search.request_body == [{"field": "updated_at", "value": polled.cursor, "criteria": ">"}]


def test_polling_asks_again_over_the_overlap_with_the_same_markers(
    vendor: RunningSandbox, connector: BexioConnector, customer_id: str
) -> None:
    invoice = connector.create_document(INVOICE, _document(customer_id, "deal-1"), finalize=True)
    start = connector.document_changes("")

    # A change in the second the cursor was taken is not lost; seen twice, it reads the same.
    _set_status(vendor, "invoice", invoice.vendor_id, "partially_paid", "10")
    first = connector.document_changes(start.cursor)
    again = connector.document_changes(first.cursor)

    marked = [c for c in first.changes if c.vendor_id == invoice.vendor_id]
    assert len(marked) == 1
    assert marked[0].marker.endswith("|16")
    assert marked[0] in again.changes
    calls = connector.client.calls
    connector.document_changes(again.cursor)
    assert connector.client.calls - calls == 2  # the invoice search and the quote list


def test_polling_an_empty_company_starts_at_the_earliest_stamp(connector: BexioConnector) -> None:
    start = connector.document_changes("")
    assert start == DocumentChanges((), "1970-01-01 00:00:00")
    assert connector.document_changes("not-a-stamp") == start  # starts over, not stuck
    assert connector.document_changes(start.cursor).changes == ()
