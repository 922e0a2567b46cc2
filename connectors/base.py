"""The interface every accounting system implements, and what a connector is given."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from connectors import credentials, errors
from connectors.http import HttpClient
from connectors.models import Connection, System
from connectors.shapes import (
    AccountInfo,
    Capabilities,
    Customer,
    CustomerRef,
    Quote,
    QuoteRef,
)


class AccountingConnector(ABC):
    """One vendor's accounting API, bound to one tenant's connection."""

    system: ClassVar[System]
    capabilities: ClassVar[Capabilities]
    client: HttpClient

    def __init__(self, *, connection: Connection, base_url: str | None = None) -> None:
        self.connection = connection
        self.base_url = base_url

    def _reconnect(self, error: errors.ReconnectRequired) -> errors.ReconnectRequired:
        """Marks the connection for the customer to reconnect; returns the error to raise."""
        credentials.mark_needs_reconnect(self.connection)
        return error

    def book_calls(self, calls: int) -> float:
        """Books `calls` calls on this connection's rate limit; returns the seconds until
        they may start."""
        return self.client.book(calls)

    @abstractmethod
    def verify(self) -> AccountInfo:
        """One real call that proves the credential works; returns the account's name."""

    @abstractmethod
    def find_customer_by_email(self, customer: Customer) -> CustomerRef | None:
        """The vendor customer of the same kind (company or person) whose address is
        `customer.lookup_email`; None without a call when there is no address. A person is
        never matched by a company record, nor a company by a person record: a contact
        person's address must not turn their company into a person on the next update."""

    @abstractmethod
    def find_customer_by_name(self, customer: Customer) -> CustomerRef | None: ...

    @abstractmethod
    def get_customer(self, vendor_id: str) -> CustomerRef | None:
        """The stored link still points at an existing customer (None when it was deleted)."""

    @abstractmethod
    def create_customer(self, customer: Customer) -> CustomerRef: ...

    @abstractmethod
    def update_customer(self, ref: CustomerRef, customer: Customer) -> CustomerRef: ...

    @abstractmethod
    def create_quote(self, quote: Quote) -> QuoteRef:
        """Creates the quote as a draft where the vendor has drafts. Not idempotent: after an
        UnknownOutcome the caller must look the quote up with `find_quote` first."""

    @abstractmethod
    def find_quote(self, reference: str, *, customer_id: str = "") -> QuoteRef | None:
        """The quote carrying our reference, if it exists; `customer_id` narrows the search
        where the vendor can only list a customer's quotes."""

    def delete_customer(self, ref: CustomerRef) -> None:
        raise errors.UnsupportedByVendor(
            f"{self.system.label} does not allow deleting customers through its API."
        )

    def create_invoice(self, quote: Quote) -> QuoteRef:
        raise errors.UnsupportedByVendor(f"{self.system.label}: invoices are not supported yet.")
