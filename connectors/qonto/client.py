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
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from connectors import errors
from connectors.base import AccountingConnector
from connectors.models import Connection
from connectors.qonto import mapping
from connectors.qonto.provider import PROVIDER
from connectors.shapes import AccountInfo, Customer, CustomerKind, CustomerRef, Quote, QuoteRef

logger = logging.getLogger(__name__)

IDEMPOTENCY_HEADER = "X-Qonto-Idempotency-Key"
# Fixed namespace: the same business effect gives the same key in every process, forever.
IDEMPOTENCY_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://apiup.de/connectors/qonto")


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

    # -- reads ----------------------------------------------------------------------------

    def _quotes(self) -> Iterator[Mapping[str, Any]]:
        for page in range(1, mapping.QUOTE_PAGES_MAX + 1):
            answer = self.request(
                "GET",
                "/v2/quotes",
                params={"sort_by": "created_at:desc", "page": page, "per_page": mapping.PER_PAGE},
            ).json()
            quotes = answer.get("quotes") if isinstance(answer, Mapping) else None
            yield from (q for q in quotes or [] if isinstance(q, Mapping))
            if not mapping.has_next_page(answer):
                return
        logger.warning("Qonto: stopped looking for a quote after %d pages", mapping.QUOTE_PAGES_MAX)

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
