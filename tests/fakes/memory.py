"""An accounting system in memory, for fast tests of the services: the connector interface
without HTTP, with failures a test can program (`fail_next`)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from connectors import errors
from connectors.base import AccountingConnector
from connectors.models import Connection
from connectors.providers import ApiKey, CredentialField, Kind, PlanOffer, Provider, Sandbox
from connectors.shapes import (
    AccountInfo,
    Capabilities,
    Customer,
    CustomerRef,
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
class MemoryBooks:
    """The vendor's side: what was stored, and what the next calls must fail with."""

    customers: dict[str, Customer] = field(default_factory=dict)
    quotes: dict[str, Quote] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    # Errors raised by the next calls of that name (`"create_quote"`), oldest first. An
    # UnknownOutcome for a create stores the object first, as a lost answer would.
    failures: dict[str, list[errors.ConnectorError]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def fail_next(self, call: str, *failures: errors.ConnectorError) -> None:
        self.failures.setdefault(call, []).extend(failures)

    def new_id(self) -> str:
        return str(next(self._ids))


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
