"""Qonto: clients, quotes and draft client invoices through the Business API v2.

Everything here follows the derived spec `qonto/qonto-derived-openapi.yaml` and the Qonto fact
sheet in vendor-specs/. `provider` declares the two kinds of credential (OAuth
2.0 tokens, or an API key sent as the raw header `{login}:{secret-key}`) and the limit per
source IP; `mapping` holds the JSON. The calls' quirks:

- Clients have no uniqueness rule (search first) and no update or delete operation in the spec.
- Quotes have no draft state (a new quote is `pending_approval`), and the list of quotes cannot
  be filtered by number or text, so a lost quote is found by paging through the newest quotes.
- `X-Qonto-Idempotency-Key` replays the first answer for 30 minutes [unverified for these
  endpoints]. APIUP derives the key from the business effect, so a retry finds the first answer.
- Invoice status changes come as signed `v1/client-invoices` webhooks; quotes have no webhook
  and no update stamp, so their approvals and cancellations are polled by their stamps.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from typing import Any

from connectors import errors
from connectors.base import AccountingConnector
from connectors.models import Connection
from connectors.qonto import mapping
from connectors.qonto.provider import PROVIDER
from connectors.shapes import (
    AccountInfo,
    Customer,
    CustomerKind,
    CustomerRef,
    DocumentChange,
    DocumentChanges,
    DocumentKind,
    DocumentLink,
    DocumentState,
    EventSubscription,
    IncomingEvent,
    Quote,
    QuoteRef,
)

logger = logging.getLogger(__name__)

IDEMPOTENCY_HEADER = "X-Qonto-Idempotency-Key"
# Fixed namespace: the same business effect gives the same key in every process, forever.
IDEMPOTENCY_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://apiup.de/connectors/qonto")
# A poll looks this far behind its cursor: the cursor is our clock, the stamps are Qonto's.
POLL_OVERLAP = dt.timedelta(minutes=5)
# Pages of approved (and of canceled) quotes per poll, newest created first: the list cannot be
# sorted or filtered by the approval stamp.
POLL_PAGES = 2
INVOICE_PAGES_MAX = 20  # 2,000 newest invoices; a lost invoice is on the first page


class QontoConnector(AccountingConnector):
    provider = PROVIDER
    read_error = staticmethod(mapping.read_error)
    # Set: the terms of every quote without a remark of its own (else the default terms in
    # the quote's language).
    terms_and_conditions: str | None = None

    def __init__(
        self,
        *,
        connection: Connection,
        base_url: str | None = None,
        oauth_url: str | None = None,
        terms_and_conditions: str | None = None,
    ) -> None:
        super().__init__(connection=connection, base_url=base_url, oauth_url=oauth_url)
        if terms_and_conditions is not None:
            self.terms_and_conditions = terms_and_conditions
        self._iban: str | None = None

    # -- the interface ------------------------------------------------------------------

    def verify(self) -> AccountInfo:
        """1 call: `GET /v2/organization`; the account is the organization's legal name."""
        organization = self._organization()
        return AccountInfo(
            account_id=str(organization.get("id") or organization.get("slug") or ""),
            name=str(organization.get("legal_name") or organization.get("name") or ""),
        )

    def find_customer_by_email(self, customer: Customer) -> CustomerRef | None:
        """1 call: `GET /v2/clients?filter[email]=` (exact, case-insensitive); the oldest
        match of the customer's kind wins (a company client for a company, an individual or
        freelancer for a person). 0 calls for an empty address."""
        email = customer.lookup_email.strip()
        if not email:
            return None
        wanted = email.casefold()
        company = customer.kind is CustomerKind.COMPANY
        for client in self._clients({"filter[email]": email}, pages=1):
            if mapping.is_company(client) != company:
                continue
            if str(client.get("email") or "").strip().casefold() == wanted:
                return mapping.customer_ref(client)
        return None

    def find_customer_by_name(self, customer: Customer) -> CustomerRef | None:
        """1 call per 100 candidates (at most 10): `GET /v2/clients?filter[name]=`, which also
        matches parts of names; only a client of the same kind with exactly the name (case
        and spacing aside) counts. 0 calls for a name shorter than the filter's minimum."""
        body = mapping.client_body(customer)
        name = str(body.get("name") or f"{body['first_name']} {body['last_name']}")
        if len(name) < mapping.NAME_FILTER_MIN:
            return None
        company = body["kind"] == "company"
        wanted = mapping.normalized(name)
        for client in self._clients({"filter[name]": name}, pages=mapping.CLIENT_PAGES_MAX):
            if mapping.is_company(client) != company:
                continue
            if wanted in mapping.names_of(client, company=company):
                return mapping.customer_ref(client)
        return None

    def get_customer(self, vendor_id: str) -> CustomerRef | None:
        """1 call: `GET /v2/clients/{id}`; None when it does not exist (any more). 0 calls for
        an id that is not a UUID."""
        client_id = mapping.uuid_or_none(vendor_id)
        if client_id is None:
            return None
        try:
            answer = self.request("GET", f"/v2/clients/{client_id}").json()
        except errors.NotFound:
            return None
        client = answer.get("client") if isinstance(answer, Mapping) else None
        return mapping.customer_ref(client) if isinstance(client, Mapping) else None

    def create_customer(self, customer: Customer) -> CustomerRef:
        """1 call: `POST /v2/clients` with an idempotency key derived from the HubSpot id, so
        a repeat within Qonto's 30 minutes gets the first client back. A lost answer still
        raises UnknownOutcome (whether clients honour the key is unverified)."""
        body = mapping.client_body(customer)
        hubspot_id = mapping.hubspot_id(customer)
        effect = f"client:{hubspot_id}" if hubspot_id else f"client-body:{mapping.digest(body)}"
        answer = self.request(
            "POST",
            "/v2/clients",
            json=body,
            headers={IDEMPOTENCY_HEADER: self._idempotency_key(effect)},
            expected=(200, 201),
        ).json()
        client = answer.get("client") if isinstance(answer, Mapping) else None
        if not isinstance(client, Mapping) or not client.get("id"):
            raise errors.PermanentError("Qonto answered the new client without an id.")
        return mapping.customer_ref(client)

    def update_customer(self, ref: CustomerRef, customer: Customer) -> CustomerRef:
        """0 calls: the spec has no operation that changes a client (PATCH is only mentioned
        in a field description), so the client is left as it is in Qonto."""
        logger.info("Qonto: client %s is not updated (no update operation)", ref.vendor_id)
        return ref

    def create_quote(self, quote: Quote) -> QuoteRef:
        """1 call: `POST /v2/quotes`, numbered `HS-<deal id>`, with an idempotency key derived
        from the reference: a lost answer is retried at once and gets the first quote back.
        Should Qonto ignore the key, the number is taken (409) and the existing quote is
        looked up instead (1 call per 100 quotes)."""
        body = mapping.quote_body(
            quote, terms_and_conditions=mapping.terms_of(quote, self.terms_and_conditions)
        )
        try:
            answer = self.request(
                "POST",
                "/v2/quotes",
                json=body,
                headers={IDEMPOTENCY_HEADER: self._idempotency_key(f"quote:{quote.reference}")},
                # Two guards make a repeat safe: the key, and the number unique per organization.
                idempotent=True,
                expected=(200, 201),
            ).json()
        except errors.Conflict:
            found = self.find_quote(quote.reference)
            if found is None:
                raise
            logger.info("Qonto: quote %s already existed as %s", body["number"], found.vendor_id)
            return found
        document = answer.get("quote", answer) if isinstance(answer, Mapping) else None
        if not isinstance(document, Mapping) or not document.get("id"):
            raise errors.PermanentError("Qonto answered the new quote without an id.")
        return mapping.quote_ref(document)

    def find_quote(self, reference: str, *, customer_id: str = "") -> QuoteRef | None:
        """1 call per page of 100 quotes, newest first (at most 20 pages):
        `GET /v2/quotes?sort_by=created_at:desc`, matching the number derived from the
        reference or the reference in the header; `customer_id` narrows to that client."""
        reference = reference.strip()
        if not reference:
            return None
        number = mapping.quote_number(reference)
        for document in self._quotes():
            client = document.get("client")
            if customer_id and isinstance(client, Mapping) and client.get("id") != customer_id:
                continue
            if document.get("number") == number or reference in str(document.get("header") or ""):
                return mapping.quote_ref(document)
        return None

    def create_invoice(self, quote: Quote) -> QuoteRef:
        """2 calls (1 once the IBAN is known): `GET /v2/organization` for the IBAN of the main
        Qonto account, then `POST /v2/client_invoices` as a draft (issue date = valid from,
        due date = valid until), with an idempotency key derived from the reference. Qonto
        invoices are in EUR only. A lost answer raises UnknownOutcome (no number guards it)."""
        currency = quote.currency.strip().upper()
        if currency != mapping.INVOICE_CURRENCY:
            raise errors.UnsupportedByVendor(
                f"Qonto creates invoices in EUR only; this deal is in {currency or '?'}."
            )
        client_id = mapping.uuid_or_raise(quote.customer_id)
        body = mapping.invoice_body(
            quote, client_id=client_id, currency=currency, iban=self._main_iban()
        )
        answer = self.request(
            "POST",
            "/v2/client_invoices",
            json=body,
            headers={IDEMPOTENCY_HEADER: self._idempotency_key(f"invoice:{quote.reference}")},
            expected=(200, 201),
        ).json()
        invoice = answer.get("client_invoice") if isinstance(answer, Mapping) else None
        if not isinstance(invoice, Mapping) or not invoice.get("id"):
            raise errors.PermanentError("Qonto answered the new invoice without an id.")
        return mapping.invoice_ref(invoice)

    # -- documents per deal stage, and their status ----------------------------------------

    def create_document(
        self,
        kind: DocumentKind,
        document: Quote,
        *,
        preceding: DocumentLink | None = None,
        finalize: bool = False,
    ) -> QuoteRef:
        """A quote as `create_quote`; an invoice as `create_invoice` (a draft), then with
        `finalize` 1 call more: `POST /v2/client_invoices/{id}/finalize` (numbered, unpaid).
        No links: the invoice body has no field naming a quote."""
        if preceding is not None:
            raise errors.UnsupportedByVendor(
                f"Qonto cannot make a {kind} from a {preceding.kind} through its API."
            )
        if kind is DocumentKind.QUOTE:
            return self.create_quote(document)
        if kind is not DocumentKind.INVOICE:
            raise errors.UnsupportedByVendor(f"Qonto has no {kind} documents in its API.")
        draft = self.create_invoice(document)
        if not finalize:
            return draft
        answer = self.request(
            "POST",
            f"/v2/client_invoices/{draft.vendor_id}/finalize",
            # Finalizing twice only fails (422): safe to repeat after a lost answer.
            idempotent=True,
        ).json()
        return mapping.invoice_ref(self._invoice_of(answer))

    def find_document(
        self, kind: DocumentKind, reference: str, *, customer_id: str = ""
    ) -> QuoteRef | None:
        """A quote as `find_quote`; an invoice: 1 call per page of 100 client invoices, newest
        first (at most 20 pages), matching the reference in the header (where
        `create_invoice` puts it); `customer_id` narrows to that client."""
        if kind is DocumentKind.QUOTE:
            return self.find_quote(reference, customer_id=customer_id)
        if kind is not DocumentKind.INVOICE:
            raise errors.UnsupportedByVendor(f"Qonto has no {kind} documents in its API.")
        reference = reference.strip()
        if not reference:
            return None
        newest_first = {"sort_by": "created_at:desc"}
        invoices = self._pages(
            "/v2/client_invoices", "client_invoices", newest_first, INVOICE_PAGES_MAX
        )
        for invoice in invoices:
            client = invoice.get("client")
            if customer_id and isinstance(client, Mapping) and client.get("id") != customer_id:
                continue
            if reference in str(invoice.get("header") or ""):
                return mapping.invoice_ref(invoice)
        return None

    def document_state(self, kind: DocumentKind, vendor_id: str) -> DocumentState:
        """1 call: `GET /v2/quotes/{id}` or `GET /v2/client_invoices/{id}`; NotFound when
        Qonto no longer has it (a deleted draft invoice)."""
        document_id = mapping.uuid_or_none(vendor_id)
        if document_id is None:
            raise errors.NotFound(f"Not a Qonto {kind} id: {vendor_id!r}.")
        if kind is DocumentKind.QUOTE:
            answer = self.request("GET", f"/v2/quotes/{document_id}").json()
            # The 2026 docs answer the quote itself; an older version wrapped it.
            quote = answer.get("quote", answer) if isinstance(answer, Mapping) else None
            if not isinstance(quote, Mapping):
                raise errors.PermanentError("Qonto answered without the quote.")
            return mapping.document_state(kind, quote)
        if kind is not DocumentKind.INVOICE:
            raise errors.UnsupportedByVendor(f"Qonto has no {kind} documents in its API.")
        answer = self.request("GET", f"/v2/client_invoices/{document_id}").json()
        return mapping.document_state(kind, self._invoice_of(answer))

    def document_changes(self, cursor: str) -> DocumentChanges:
        """Quotes only (invoices come as webhooks): 2 calls, `GET /v2/quotes` with
        `filter[status]=approved`, then `canceled`, newest created first (more pages only
        past 100 such quotes, at most 2 each). A quote counts when its `approved_at` /
        `canceled_at` is at most 5 minutes before the cursor (our clock) or later. The spec
        filters quotes by status and creation date only, with no update stamp, so an old
        quote approved now is seen only while it is among the 200 newest approved."""
        now = dt.datetime.now(dt.UTC)
        if not cursor:
            return DocumentChanges((), mapping.poll_cursor(now))
        since = mapping.poll_since(cursor) - POLL_OVERLAP
        changes: list[DocumentChange] = []
        for status in mapping.QUOTE_STAMPED_STATUSES:
            for quote in self._quotes({"filter[status]": status}, pages=POLL_PAGES):
                change = mapping.quote_change(quote, since)
                if change is not None:
                    changes.append(change)
        return DocumentChanges(tuple(changes), mapping.poll_cursor(now))

    def events_subscribe(self, callback_url: str) -> EventSubscription:
        """1 call to list the subscriptions, 1 to delete each one already at `callback_url`
        (Qonto shows a secret only once, so an old one cannot be taken over), 1 to create
        `POST /v2/webhook_subscriptions` for `v1/client-invoices` with a new secret."""
        for subscription in self._pages("/v2/webhook_subscriptions", "subscriptions", {}, 10):
            if subscription.get("callback_url") == callback_url and subscription.get("id"):
                self._unsubscribe(str(subscription["id"]))
        secret = secrets.token_urlsafe(32)
        answer = self.request(
            "POST",
            "/v2/webhook_subscriptions",
            json={
                "callback_url": callback_url,
                "types": [mapping.INVOICE_EVENTS],
                "secret": secret,
                "description": "APIUP: invoice status to HubSpot",
            },
            expected=(200, 201),
        ).json()
        subscription_id = answer.get("id") if isinstance(answer, Mapping) else None
        if not subscription_id:
            raise errors.PermanentError("Qonto answered the new subscription without an id.")
        return EventSubscription(ids=(str(subscription_id),), secret=secret)

    def events_unsubscribe(self, subscription: EventSubscription) -> None:
        """1 call per id: `DELETE /v2/webhook_subscriptions/{id}`; one already gone is fine."""
        for subscription_id in subscription.ids:
            self._unsubscribe(subscription_id)

    @classmethod
    def events_read(
        cls,
        body: bytes,
        headers: Mapping[str, str],
        *,
        secret_for: Callable[[str], str | None],
    ) -> list[IncomingEvent]:
        """One event per delivery. `X-Qonto-Signature: t=..,v1=..` must hold with the secret
        of the organization's subscription and be at most 5 minutes old."""
        header = next(
            (v for k, v in headers.items() if k.lower() == mapping.SIGNATURE_HEADER.lower()), ""
        )
        if not header:
            raise errors.ForgedEvent("The Qonto event is not signed.")
        event = mapping.envelope(body)
        secret = secret_for(event["organization_id"])
        if secret is None:
            # No connected account has this organization: nothing to verify it with, and
            # nothing to act on. Returned without its change, to be acknowledged and
            # ignored rather than refused (which Qonto would retry for days).
            return [replace(mapping.incoming_event(event), change=None)]
        if not mapping.signature_holds(header, body, secret, now=time.time()):
            raise errors.ForgedEvent("The Qonto event's signature does not hold.")
        return [mapping.incoming_event(event)]

    # -- reads ----------------------------------------------------------------------------

    def _quotes(
        self, params: Mapping[str, str] | None = None, *, pages: int = mapping.QUOTE_PAGES_MAX
    ) -> Iterator[Mapping[str, Any]]:
        params = {**(params or {}), "sort_by": "created_at:desc"}
        yield from self._pages("/v2/quotes", "quotes", params, pages)

    def _pages(
        self, path: str, key: str, params: Mapping[str, str], pages: int
    ) -> Iterator[Mapping[str, Any]]:
        """A list page by page, at most `pages` pages."""
        for page in range(1, pages + 1):
            answer = self.request(
                "GET", path, params={**params, "page": page, "per_page": mapping.PER_PAGE}
            ).json()
            rows = answer.get(key) if isinstance(answer, Mapping) else None
            yield from (row for row in rows or [] if isinstance(row, Mapping))
            if not mapping.has_next_page(answer):
                return
        logger.warning("Qonto: stopped reading %s after %d pages", path, pages)

    def _invoice_of(self, answer: Any) -> Mapping[str, Any]:
        invoice = answer.get("client_invoice") if isinstance(answer, Mapping) else None
        if not isinstance(invoice, Mapping) or not invoice.get("id"):
            raise errors.PermanentError("Qonto answered without the client invoice.")
        return invoice

    def _unsubscribe(self, subscription_id: str) -> None:
        try:
            self.request(
                "DELETE", f"/v2/webhook_subscriptions/{subscription_id}", expected=(200, 204)
            )
        except errors.NotFound:
            logger.info("Qonto: webhook subscription %s was gone already", subscription_id)

    def _clients(self, params: dict[str, str], *, pages: int) -> Iterator[Mapping[str, Any]]:
        for page in range(1, pages + 1):
            answer = self.request(
                "GET",
                "/v2/clients",
                params={
                    **params,
                    "sort_by": "created_at:asc",
                    "page": page,
                    "per_page": mapping.PER_PAGE,
                },
            ).json()
            clients = answer.get("clients") if isinstance(answer, Mapping) else None
            yield from (c for c in clients or [] if isinstance(c, Mapping))
            if not mapping.has_next_page(answer):
                return

    def _organization(self) -> Mapping[str, Any]:
        answer = self.request("GET", "/v2/organization").json()
        organization = answer.get("organization") if isinstance(answer, Mapping) else None
        if not isinstance(organization, Mapping):
            raise errors.PermanentError("Qonto answered without the organization.")
        self._iban = mapping.main_iban(organization)
        return organization

    def _main_iban(self) -> str:
        if self._iban is None:
            self._organization()
        if not self._iban:
            raise errors.PermanentError(
                "The Qonto organization has no active Qonto account to be paid into."
            )
        return self._iban

    def _idempotency_key(self, effect: str) -> str:
        """One key per business effect and tenant (Qonto may scope keys wider than one
        organization; two tenants' HubSpot ids must not meet)."""
        scope = self.connection.tenant_id or self.connection.pk or ""
        return str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{scope}|{effect}"))
