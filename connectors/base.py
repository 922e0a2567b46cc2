"""What every connector is given, and the interface every accounting system implements."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, ClassVar

import requests

from connectors import errors, oauth
from connectors.auth import authenticator_for
from connectors.credentials import TokenSet
from connectors.http import HttpClient, VendorApi, default_error_reader
from connectors.models import Connection
from connectors.providers import Provider, RateScope
from connectors.registry import vendor_url
from connectors.shapes import (
    AccountInfo,
    Article,
    ArticleField,
    ArticlePage,
    Capabilities,
    Customer,
    CustomerRef,
    DocumentChanges,
    DocumentKind,
    DocumentLink,
    DocumentState,
    EventSubscription,
    IncomingEvent,
    Person,
    Quote,
    QuoteRef,
)


class Connector:
    """One vendor's API bound to one tenant's connection: the provider's declaration made into
    an authenticated HTTP client. Subclasses hold the calls; their JSON comes from the
    system's `mapping` module."""

    provider: ClassVar[Provider]
    # How the vendor's error bodies read (each system's `mapping.read_error`).
    read_error = staticmethod(default_error_reader)

    def __init__(
        self,
        *,
        connection: Connection,
        base_url: str | None = None,
        oauth_url: str | None = None,
    ) -> None:
        self.connection = connection
        provider = self.provider
        self.base_url = base_url or vendor_url(provider, "api", fields=self._url_fields())
        self.oauth_url = oauth_url or (
            vendor_url(provider, "oauth") if "oauth" in provider.hosts else ""
        )
        self.client = HttpClient(
            VendorApi(
                name=provider.label,
                base_url=self.base_url,
                rate=provider.rate,
                read_timeout=provider.read_timeout,
                retry_after_headers=provider.retry_after_headers,
                unknown_outcome_statuses=provider.unknown_outcome_statuses,
                error_map=provider.error_map,
                headers=self.default_headers(),
            ),
            limiter_key=self._limiter_key(),
            # A vendor that counts calls per account may fail per account too (its instance).
            breaker_scope=(self._limiter_key() if provider.rate_scope is RateScope.ACCOUNT else ""),
            auth=authenticator_for(provider, connection, refresh=self.refresh),
            read_error=self.read_error,
        )

    def default_headers(self) -> Mapping[str, str]:
        return {"Accept": "application/json"}

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.client.request(method, path, **kwargs)

    def refresh(self, refresh_token: str) -> TokenSet:
        """The refresher for `connectors.credentials.access_token`."""
        declaration = self.provider.oauth
        on_api_host = declaration is not None and declaration.grant_host == "api"
        return oauth.refresh(
            self.provider,
            refresh_token,
            oauth_url=self.base_url if on_api_host else self.oauth_url,
        )

    def book_calls(self, calls: int) -> float:
        """Books `calls` calls on this connection's rate limit; returns the seconds until
        they may start."""
        return self.client.book(calls)

    def _url_fields(self) -> Mapping[str, str]:
        """Connection fields a per-customer base URL may name (`https://{instance}...`)."""
        stored = self.connection.credentials or {}
        return {k: str(v) for k, v in stored.items() if isinstance(v, str | int)}

    def _limiter_key(self) -> str:
        """The rate-limit bucket, by whose calls the vendor counts together. Never a
        credential itself: a key is hashed so it does not show up in Redis."""
        scope = self.provider.rate_scope
        if scope is RateScope.SOURCE_IP:
            return "source-ip"
        if scope is RateScope.ACCOUNT and self.connection.external_account_id:
            return f"account-{self.connection.external_account_id}"
        scheme = self.provider.api_key
        stored = self.connection.credentials or {}
        if scope is RateScope.CREDENTIAL and scheme is not None:
            secret = "|".join(str(stored.get(name) or "").strip() for name in scheme.field_names)
            if secret.strip("|"):
                return hashlib.sha256(secret.encode()).hexdigest()[:32]
        return f"connection-{self.connection.pk}"


class AccountingConnector(Connector, ABC):
    """One vendor's accounting API, bound to one tenant's connection."""

    @property
    def capabilities(self) -> Capabilities:
        declared = self.provider.capabilities
        assert declared is not None, f"{self.provider.key} declares no capabilities"
        return declared

    def tax_rates(self) -> frozenset[Decimal] | None:
        """The tax rates (percent) this account accepts on a position; None: any. The
        declared ones, unless the connector reads them from the account."""
        return self.capabilities.tax_rates

    def currencies(self) -> frozenset[str] | None:
        """The currencies (ISO 4217) this account can create documents in; None: any. The
        declared ones, unless the connector reads them from the account."""
        return self.capabilities.currencies

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

    def contact_person_ensure(
        self, ref: CustomerRef, person: Person, *, customer_created: bool
    ) -> str:
        """Makes `person` a contact person of the company customer `ref` (where the vendor
        has contact persons), without a second customer; returns the vendor's id of the
        contact person where documents name one, else "". `customer_created`: the customer
        was created just now with `person` in it."""
        return ""

    def delete_customer(self, ref: CustomerRef) -> None:
        raise errors.UnsupportedByVendor(
            f"{self.provider.label} does not allow deleting customers through its API."
        )

    def create_invoice(self, quote: Quote) -> QuoteRef:
        raise errors.UnsupportedByVendor(f"{self.provider.label}: invoices are not supported yet.")

    # -- articles by SKU (`capabilities.articles`) ------------------------------------------

    def articles_page(self, cursor: str) -> ArticlePage:
        """One page of the catalogue ("" = the first page), in a stable order, so that an
        import can resume at `next_cursor`."""
        raise errors.UnsupportedByVendor(f"{self.provider.label} has no article catalogue.")

    def find_article(self, sku: str) -> Article | None:
        """The article whose SKU is exactly `sku` (compared as the vendor stores it); None
        when there is none. Raises errors.Conflict when there are several."""
        raise errors.UnsupportedByVendor(f"{self.provider.label} has no article catalogue.")

    def create_article(self, article: Article) -> Article:
        """Creates the article; returns it as stored (vendor_id, marker). Not idempotent:
        after an UnknownOutcome the caller looks it up by SKU first."""
        raise errors.UnsupportedByVendor(f"{self.provider.label} has no article catalogue.")

    def update_article(
        self, vendor_id: str, article: Article, *, overwrite: frozenset[ArticleField]
    ) -> Article:
        """Writes only the field groups in `overwrite` (and the SKU); the others keep what
        the vendor has (read first where the vendor's update replaces the whole record)."""
        raise errors.UnsupportedByVendor(f"{self.provider.label} has no article catalogue.")

    def archive_article(self, vendor_id: str) -> None:
        """Archives or deletes the article where `capabilities.can_archive_articles`; one
        that is gone already is fine."""
        raise errors.UnsupportedByVendor(
            f"{self.provider.label} does not allow removing articles through its API."
        )

    def article_changes(self, cursor: str) -> tuple[tuple[Article, ...], str]:
        """Polling: the articles changed since `cursor` ("" = start now: none, and the cursor
        for now), and the next cursor; overlap allowed (the engine compares markers)."""
        raise errors.UnsupportedByVendor(f"{self.provider.label} has no article catalogue.")

    # -- documents per deal stage, and their status ---------------------------------------

    def create_document(
        self,
        kind: DocumentKind,
        document: Quote,
        *,
        preceding: DocumentLink | None = None,
        finalize: bool = False,
    ) -> QuoteRef:
        """Creates `document` as a `kind` (one of `capabilities.documents`). Not idempotent:
        after an UnknownOutcome the caller looks it up with `find_document` first.
        `preceding`: the deal's earlier document it is made from, only where
        `capabilities.can_link(kind, preceding.kind)`; `finalize`: an invoice numbered and
        open instead of a draft, only where `capabilities.can_finalize_invoices`."""
        if kind is DocumentKind.QUOTE:
            return self.create_quote(document)
        if kind is DocumentKind.INVOICE and preceding is None and not finalize:
            return self.create_invoice(document)
        raise errors.UnsupportedByVendor(f"{self.provider.label}: no {kind} documents.")

    def find_document(
        self, kind: DocumentKind, reference: str, *, customer_id: str = ""
    ) -> QuoteRef | None:
        """The document of `kind` carrying our reference, if it exists (as `find_quote`)."""
        if kind is DocumentKind.QUOTE:
            return self.find_quote(reference, customer_id=customer_id)
        raise errors.UnsupportedByVendor(f"{self.provider.label}: no {kind} documents.")

    def document_state(self, kind: DocumentKind, vendor_id: str) -> DocumentState:
        """The document's status now (and for invoices what is still open), read from the
        vendor; NotFound when it was deleted there."""
        raise errors.UnsupportedByVendor(f"{self.provider.label}: no document status.")

    def document_changes(self, cursor: str) -> DocumentChanges:
        """Polling (`capabilities.status_polling`): the documents changed since `cursor` ("" =
        start now: no changes, only the cursor to ask from next time), at most a few calls."""
        raise errors.UnsupportedByVendor(f"{self.provider.label}: no polling of documents.")

    def events_subscribe(self, callback_url: str) -> EventSubscription:
        """Push (`capabilities.status_events`): subscribes `callback_url` to the vendor's
        document events; a subscription that exists already is taken over, not duplicated."""
        raise errors.UnsupportedByVendor(f"{self.provider.label}: no event subscriptions.")

    def events_unsubscribe(self, subscription: EventSubscription) -> None:
        """Removes the subscription; one the vendor no longer has is fine."""

    @classmethod
    def events_read(
        cls,
        body: bytes,
        headers: Mapping[str, str],
        *,
        secret_for: Callable[[str], str | None],
    ) -> list[IncomingEvent]:
        """The events of one webhook delivery, after its signature was verified over the raw
        `body` (`secret_for(account_id)`: the subscription's secret where the vendor signs
        with one; None for an unknown account). Raises errors.ForgedEvent for a delivery
        whose signature or timestamp does not hold, errors.PermanentError for a malformed
        one. No call to the vendor."""
        raise errors.UnsupportedByVendor(f"{cls.provider.label} sends no events.")
