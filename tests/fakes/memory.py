"""An accounting system in memory, for fast tests of the services: the connector interface
without HTTP, with failures a test can program (`fail_next`)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from connectors import errors
from connectors.base import AccountingConnector
from connectors.models import Connection
from connectors.providers import ApiKey, CredentialField, Kind, PlanOffer, Provider, Sandbox
from connectors.shapes import (
    AccountInfo,
    Capabilities,
    Customer,
    CustomerRef,
    DocumentChange,
    DocumentChanges,
    DocumentKind,
    DocumentLink,
    DocumentState,
    DocumentStatus,
    Quote,
    QuoteRef,
)

PROVIDER = Provider(
    key="memory",
    label="Memory Books",
    kind=Kind.ACCOUNTING,
    auth=(ApiKey(fields=(CredentialField("api_key", "API key"),), template="{api_key}"),),
    hosts={"api": "memory://books"},
    sandbox=Sandbox(app="tests.fakes.memory:MemoryBooks", port=0),
    spec_files=(),
    connector="tests.fakes.memory:MemoryConnector",
    capabilities=Capabilities(
        title_max_length=None,
        currencies=None,
        can_delete_customers=True,
        has_idempotency_keys=False,
        can_create_invoices=False,
        quote_is_draft=True,
    ),
    calls_budget={"quote": 1},
    plan=PlanOffer(default_price_id="price_memory_monthly", price_label="0 €"),
)

ACCEPTED_KEY = "memory-key"


@dataclass
class MemoryDocument:
    kind: DocumentKind
    quote: Quote
    preceding: DocumentLink | None = None
    finalized: bool = False
    status: DocumentStatus = DocumentStatus.DRAFT
    open_amount: str = ""
    changed: int = 0  # its update stamp, for polling


@dataclass
class MemoryBooks:
    """The vendor's side: what was stored, and what the next calls must fail with."""

    customers: dict[str, Customer] = field(default_factory=dict)
    quotes: dict[str, Quote] = field(default_factory=dict)
    # Orders and invoices (quotes stay in `quotes`): id -> the document as made.
    documents: dict[str, MemoryDocument] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    # Errors raised by the next calls of that name (`"create_quote"`), oldest first. An
    # UnknownOutcome for a create stores the object first, as a lost answer would.
    failures: dict[str, list[errors.ConnectorError]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def fail_next(self, call: str, *failures: errors.ConnectorError) -> None:
        self.failures.setdefault(call, []).extend(failures)

    def new_id(self) -> str:
        return str(next(self._ids))

    def mark(self, vendor_id: str, status: DocumentStatus, open_amount: str = "") -> None:
        """What the vendor's own users do: a document accepted, paid, voided."""
        document = self.documents[vendor_id]
        document.status, document.open_amount = status, open_amount
        document.changed = next(self._ids)


class MemoryConnector(AccountingConnector):
    provider = PROVIDER

    def __init__(
        self,
        *,
        connection: Connection,
        base_url: str | None = None,
        oauth_url: str | None = None,
        books: MemoryBooks | None = None,
    ) -> None:
        super().__init__(connection=connection, base_url=base_url, oauth_url=oauth_url)
        self.books = books or MemoryBooks()
        # Runs while a customer is being created: a test makes it raise what the vendor or
        # the product would at that moment, or makes something happen meanwhile.
        self.on_create: Callable[[], object] = lambda: None

    @property
    def created(self) -> list[Customer]:
        return list(self.books.customers.values())

    def _call(self, name: str, store: Callable[[], object] | None = None) -> None:
        """Counts the call and raises what the test programmed for it."""
        self.books.calls.append(name)
        if (self.connection.credentials or {}).get("api_key") != ACCEPTED_KEY:
            raise self.client.auth.refused(
                errors.AuthorizationExpired("Memory Books answered 401", status=401)
            )
        pending = self.books.failures.get(name)
        if pending:
            failure = pending.pop(0)
            if isinstance(failure, errors.UnknownOutcome) and store is not None:
                store()
            raise failure

    def verify(self) -> AccountInfo:
        self._call("verify")
        return AccountInfo(account_id="memory", name="Memory Books")

    def find_customer_by_email(self, customer: Customer) -> CustomerRef | None:
        email = customer.lookup_email.strip().casefold()
        if not email:
            return None
        self._call("find_customer_by_email")
        return next(
            (
                CustomerRef(vendor_id=key)
                for key, held in self.books.customers.items()
                if held.kind is customer.kind and held.lookup_email.casefold() == email
            ),
            None,
        )

    def find_customer_by_name(self, customer: Customer) -> CustomerRef | None:
        self._call("find_customer_by_name")
        wanted = customer.display_name.casefold()
        return next(
            (
                CustomerRef(vendor_id=key)
                for key, held in self.books.customers.items()
                if held.kind is customer.kind and held.display_name.casefold() == wanted
            ),
            None,
        )

    def get_customer(self, vendor_id: str) -> CustomerRef | None:
        self._call("get_customer")
        return CustomerRef(vendor_id=vendor_id) if vendor_id in self.books.customers else None

    def create_customer(self, customer: Customer) -> CustomerRef:
        self.on_create()
        key = self.books.new_id()
        self._call("create_customer", lambda: self.books.customers.__setitem__(key, customer))
        self.books.customers[key] = customer
        return CustomerRef(vendor_id=key, number=f"K-{key}")

    def update_customer(self, ref: CustomerRef, customer: Customer) -> CustomerRef:
        self._call("update_customer")
        if ref.vendor_id not in self.books.customers:
            raise errors.NotFound("Memory Books answered 404")
        self.books.customers[ref.vendor_id] = customer
        return ref

    def delete_customer(self, ref: CustomerRef) -> None:
        self._call("delete_customer")
        self.books.customers.pop(ref.vendor_id, None)

    def create_quote(self, quote: Quote) -> QuoteRef:
        key = self.books.new_id()
        self._call("create_quote", lambda: self.books.quotes.__setitem__(key, quote))
        self.books.quotes[key] = quote
        return QuoteRef(vendor_id=key, number=f"AN-{key}")

    def find_quote(self, reference: str, *, customer_id: str = "") -> QuoteRef | None:
        self._call("find_quote")
        return next(
            (
                QuoteRef(vendor_id=key, number=f"AN-{key}")
                for key, quote in self.books.quotes.items()
                if quote.reference == reference
                and (not customer_id or quote.customer_id == customer_id)
            ),
            None,
        )


DOCUMENTS = Capabilities(
    documents=frozenset(DocumentKind),
    links=(
        (DocumentKind.ORDER, frozenset({DocumentKind.QUOTE})),
        (DocumentKind.INVOICE, frozenset({DocumentKind.QUOTE, DocumentKind.ORDER})),
    ),
    can_finalize_invoices=True,
    status_polling=True,
)


class MemoryDocumentsConnector(MemoryConnector):
    """Memory Books with orders, invoices and their status, polled on a cursor."""

    def create_document(
        self,
        kind: DocumentKind,
        document: Quote,
        *,
        preceding: DocumentLink | None = None,
        finalize: bool = False,
    ) -> QuoteRef:
        if kind is DocumentKind.QUOTE:
            ref = self.create_quote(document)
            self.books.documents[ref.vendor_id] = MemoryDocument(kind=kind, quote=document)
            return ref
        key = self.books.new_id()
        made = MemoryDocument(kind=kind, quote=document, preceding=preceding, finalized=finalize)
        if finalize:
            made.status = DocumentStatus.OPEN
        self._call(f"create_{kind}", lambda: self.books.documents.__setitem__(key, made))
        self.books.documents[key] = made
        return QuoteRef(vendor_id=key, number=f"RE-{key}" if finalize else "")

    def find_document(
        self, kind: DocumentKind, reference: str, *, customer_id: str = ""
    ) -> QuoteRef | None:
        self._call(f"find_{kind}")
        return next(
            (
                QuoteRef(vendor_id=key)
                for key, held in self.books.documents.items()
                if held.kind is kind and held.quote.reference == reference
            ),
            None,
        )

    def document_state(self, kind: DocumentKind, vendor_id: str) -> DocumentState:
        self._call("document_state")
        held = self.books.documents.get(vendor_id)
        if held is None:
            raise errors.NotFound("Memory Books answered 404")
        paid = held.status is DocumentStatus.PAID
        total = sum((p.quantity * p.unit_net_price for p in held.quote.positions), start=Decimal(0))
        return DocumentState(
            status=held.status,
            number=f"RE-{vendor_id}" if held.status is not DocumentStatus.DRAFT else "",
            total=total,
            open_amount=Decimal(held.open_amount)
            if held.open_amount
            else (Decimal(0) if paid else total),
            paid_date=dt.date(2026, 12, 6) if paid else None,
        )

    def document_changes(self, cursor: str) -> DocumentChanges:
        self._call("document_changes")
        since = int(cursor or 0)
        changed = [(k, d) for k, d in self.books.documents.items() if d.changed > since]
        newest = max([since, *(d.changed for _, d in changed)])
        return DocumentChanges(
            changes=tuple(
                DocumentChange(kind=d.kind, vendor_id=k, marker=f"{d.changed}:{d.status}")
                for k, d in changed
            ),
            cursor=str(newest),
        )
