"""lexware office (formerly lexoffice): contacts, quotations and invoices through public API v1.

Everything here follows the derived spec `lexoffice/lexoffice-derived-openapi.yaml` and the
fact sheet in vendor-specs/. The vendor's quirks live in this module only:
a private API key as Bearer token, 2 calls per second per key, a `version` for optimistic
locking on contacts, the 25-character title, EUR only, dates as `yyyy-MM-ddTHH:mm:ss.SSSXXX`,
validation errors as 406 in two body formats, and no DELETE for contacts. Documents per
deal stage are quotations and invoices (an invoice made from its quotation), whose status
comes back through event subscriptions (`events`).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import suppress
from dataclasses import replace
from typing import Any

from connectors import errors
from connectors.base import AccountingConnector
from connectors.lexoffice import articles, events, mapping
from connectors.lexoffice.provider import PROVIDER
from connectors.registry import vendor_url
from connectors.shapes import (
    AccountInfo,
    Article,
    ArticleField,
    ArticlePage,
    Customer,
    CustomerKind,
    CustomerRef,
    DocumentKind,
    DocumentLink,
    DocumentState,
    EventSubscription,
    IncomingEvent,
    Person,
    Quote,
    QuoteRef,
)

logger = logging.getLogger(__name__)


class LexofficeConnector(AccountingConnector):
    provider = PROVIDER
    read_error = staticmethod(mapping.read_error)

    @property
    def app_url(self) -> str:
        """Where a user opens a voucher (fact sheet: `{appbaseurl}/permalink/...`); the local
        sandbox when the product runs on sandboxes, so the demo never links to the real app."""
        return vendor_url(self.provider, "app")

    # -- the interface ------------------------------------------------------------------

    def verify(self) -> AccountInfo:
        """1 call: `GET /v1/profile`."""
        profile = self.request("GET", "/v1/profile").json()
        return AccountInfo(
            account_id=str(profile.get("organizationId", "")),
            name=str(profile.get("companyName", "")),
        )

    def find_customer_by_email(self, customer: Customer) -> CustomerRef | None:
        """1 call per page of 250 substring hits (usually 1); None without a call when the
        address is shorter than the filter's 3-character minimum. The filter also finds a
        company by its contact persons' addresses: only a contact of the customer's kind
        (a `company` or a `person` object) counts, so a person is never matched by the
        company they are the contact person of."""
        email = customer.lookup_email.strip()
        if len(email) < mapping.FILTER_MIN_LENGTH:
            return None
        wanted = email.casefold()
        for contact in self._filter_contacts(email=mapping.escape_wildcards(email)):
            if not mapping.is_of_kind(contact, customer.kind):
                continue
            if wanted in (e.casefold() for e in mapping.emails_of(contact)):
                return mapping.to_ref(contact)
        return None

    def find_customer_by_name(self, customer: Customer) -> CustomerRef | None:
        """1 call per page of 250 substring hits (usually 1). Matches the company name, or a
        person's first and last name, exactly (case and spacing aside)."""
        if customer.kind is CustomerKind.COMPANY:
            company = customer.require_company()
            search, wanted = company.name, mapping.normalized(company.name)
        else:
            person = customer.require_person()
            # The last name alone as search text: the filter matches substrings of whatever
            # lexware office composes from first and last name.
            search = person.last_name
            wanted = mapping.normalized(f"{person.first_name} {person.last_name}")
            if len(search.strip()) < mapping.FILTER_MIN_LENGTH:
                search = f"{person.first_name} {person.last_name}"
        search = search.strip()
        if len(search) < mapping.FILTER_MIN_LENGTH:
            logger.info("lexware office: a name shorter than 3 characters cannot be searched")
            return None
        for contact in self._filter_contacts(
            name=mapping.html_encode(mapping.escape_wildcards(search))
        ):
            if mapping.name_of(contact, customer.kind) == wanted:
                return mapping.to_ref(contact)
        return None

    def get_customer(self, vendor_id: str) -> CustomerRef | None:
        """1 call: `GET /v1/contacts/{id}`; None when the contact does not exist (any more)."""
        try:
            contact = self.request("GET", f"/v1/contacts/{vendor_id}").json()
        except errors.NotFound:
            return None
        return mapping.to_ref(contact)

    def create_customer(self, customer: Customer) -> CustomerRef:
        """1 call: `POST /v1/contacts` (a company with its contact person, or a person, with
        the customer role). Not idempotent: after an UnknownOutcome look it up by e-mail."""
        body = mapping.contact_body({"version": 0, "roles": {"customer": {}}}, customer)
        result = self.request("POST", "/v1/contacts", json=body).json()
        return CustomerRef(
            vendor_id=str(result["id"]), version=mapping.int_or_none(result.get("version"))
        )

    def update_customer(self, ref: CustomerRef, customer: Customer) -> CustomerRef:
        """2 calls (4 after a conflict): reads the contact, changes only what APIUP owns (name,
        contact person, billing address, one e-mail, one phone, the customer role) and PUTs
        it back with the version just read. PUT replaces the whole contact, so sending only
        our fields would erase what the customer keeps in lexware office (shipping address,
        notes, further numbers); `ref.version` alone is therefore not enough. A 409 means
        someone changed it in between: read again and retry once."""
        try:
            return self._read_and_put(ref.vendor_id, customer)
        except errors.Conflict:
            logger.info("lexware office: contact changed while updating it, retrying once")
            return self._read_and_put(ref.vendor_id, customer)

    def contact_person_ensure(
        self, ref: CustomerRef, person: Person, *, customer_created: bool
    ) -> str:
        """0 calls for a company created just now (it has its contact person); else 1 call
        (`GET /v1/contacts/{id}`), and 1 more (`PUT`) when the person is not yet among the
        company's `contactPersons`, whom the PUT adds without touching the others or
        anything else of the contact (2 more after a 409). lexware office names no contact
        person on a voucher, so there is no id to return."""
        if customer_created:
            return ""
        try:
            self._add_contact_person(ref.vendor_id, person)
        except errors.Conflict:
            logger.info("lexware office: contact changed while adding a contact person, retrying")
            self._add_contact_person(ref.vendor_id, person)
        return ""

    def create_quote(self, quote: Quote) -> QuoteRef:
        """1 call: `POST /v1/quotations` without `finalize`, i.e. a draft. A currency other
        than EUR or more than 300 positions fail before any call."""
        body = mapping.voucher_body(quote)
        body["expirationDate"] = mapping.lexoffice_datetime(quote.valid_until)
        result = self.request("POST", "/v1/quotations", json=body).json()
        quote_id = str(result["id"])
        return QuoteRef(vendor_id=quote_id, url=self._deep_link(DocumentKind.QUOTE, quote_id))

    def find_quote(self, reference: str, *, customer_id: str = "") -> QuoteRef | None:
        """1 call per page of 250 plus 1 per quotation looked at (at most 100). The API has
        no quotation search; `GET /v1/voucherlist` lists a contact's quotations newest first,
        and each is read until one carries our reference in its introduction. Other quotes
        for the same customer may have been created since ours (a busy tenant makes one a
        second), so more than the first few are looked at. Without the customer there is
        nothing to narrow by."""
        return self._find_voucher(DocumentKind.QUOTE, "draft,open", reference, customer_id)

    def create_invoice(self, quote: Quote) -> QuoteRef:
        """1 call: `POST /v1/invoices` without `finalize`, i.e. a draft, with the voucher
        date as the date of service."""
        return self._create_invoice(quote, {})

    # -- documents per deal stage, and their status ---------------------------------------

    def create_document(
        self,
        kind: DocumentKind,
        document: Quote,
        *,
        preceding: DocumentLink | None = None,
        finalize: bool = False,
    ) -> QuoteRef:
        """1 call. A quotation is a draft (`finalize` is for invoices); an invoice is made
        from its quotation with `?precedingSalesVoucherId=` (which lexware office refuses
        for a quotation with optional items) and numbered and open with `?finalize=true`."""
        if preceding is not None and not self.capabilities.can_link(kind, preceding.kind):
            raise errors.UnsupportedByVendor(
                f"lexware office cannot make a {kind} from a {preceding.kind}."
            )
        if kind is DocumentKind.QUOTE:
            return self.create_quote(document)
        if kind is not DocumentKind.INVOICE:
            # No order confirmations: the spec has no path for them.
            raise errors.UnsupportedByVendor(f"lexware office: no {kind} documents.")
        params = {"finalize": "true"} if finalize else {}
        if preceding is not None:
            params["precedingSalesVoucherId"] = self._voucher_id(preceding.vendor_id)
        return self._create_invoice(document, params)

    def find_document(
        self, kind: DocumentKind, reference: str, *, customer_id: str = ""
    ) -> QuoteRef | None:
        """As `find_quote`, for invoices among the customer's invoices of any status."""
        if kind is DocumentKind.QUOTE:
            return self.find_quote(reference, customer_id=customer_id)
        if kind is DocumentKind.INVOICE:
            statuses = ",".join(mapping.VOUCHER_STATUSES[kind])
            return self._find_voucher(kind, statuses, reference, customer_id)
        raise errors.UnsupportedByVendor(f"lexware office: no {kind} documents.")

    def document_state(self, kind: DocumentKind, vendor_id: str) -> DocumentState:
        """1 call (`GET /v1/{quotations,invoices}/{id}`), 2 for a finalized invoice that is
        not voided: its payment (`GET /v1/payments/{id}`, refused for drafts) holds the
        open amount and the paid date."""
        path = mapping.VOUCHER_PATHS.get(kind)
        if path is None:
            raise errors.UnsupportedByVendor(f"lexware office: no {kind} documents.")
        voucher_id = self._voucher_id(vendor_id)
        voucher = self.request("GET", f"/v1/{path}/{voucher_id}").json()
        payment = None
        if kind is DocumentKind.INVOICE and voucher.get("voucherStatus") in ("open", "paid"):
            payment = self.request("GET", f"/v1/payments/{voucher_id}").json()
        return mapping.document_state(
            kind, voucher, payment=payment, url=self._deep_link(kind, voucher_id)
        )

    def events_subscribe(self, callback_url: str) -> EventSubscription:
        """1 call per event type (3), 1 more when one exists already (409): it is taken over
        from the list. Lexware signs with its own key, so there is no secret to keep."""
        ids: list[str] = []
        held: list[dict[str, Any]] | None = None
        for event_type in events.DOCUMENT_EVENTS:
            body = {"eventType": event_type, "callbackUrl": callback_url}
            try:
                ids.append(
                    str(self.request("POST", "/v1/event-subscriptions", json=body).json()["id"])
                )
                continue
            except errors.Conflict:
                if held is None:
                    listing = self.request("GET", "/v1/event-subscriptions").json()
                    held = [s for s in listing.get("content") or [] if isinstance(s, dict)]
            same = [
                str(s["subscriptionId"])
                for s in held
                if str(s.get("eventType", "")).lower() == event_type
                and s.get("callbackUrl") == callback_url
            ]
            if not same:
                raise errors.Conflict(f"lexware office refused to subscribe {event_type}.")
            ids.append(same[0])
        return EventSubscription(ids=tuple(ids))

    def events_unsubscribe(self, subscription: EventSubscription) -> None:
        """1 call per subscription: `DELETE /v1/event-subscriptions/{id}`; one that is gone
        (deleting the API key deletes them all) is fine."""
        for subscription_id in subscription.ids:
            try:
                self.request("DELETE", f"/v1/event-subscriptions/{subscription_id}")
            except errors.NotFound:
                logger.info("lexware office: event subscription %s was gone", subscription_id)

    @classmethod
    def events_read(
        cls,
        body: bytes,
        headers: Mapping[str, str],
        *,
        secret_for: Callable[[str], str | None],
    ) -> list[IncomingEvent]:
        """The callback's one event, its signature verified with Lexware's public key (no
        per-subscription secret: `secret_for` is not asked)."""
        return events.read(body, headers)

    # -- helpers --------------------------------------------------------------------------

    def _create_invoice(self, quote: Quote, params: Mapping[str, str]) -> QuoteRef:
        body = mapping.voucher_body(quote)
        body["shippingConditions"] = {
            "shippingType": "service",
            "shippingDate": mapping.lexoffice_datetime(quote.valid_from),
        }
        result = self.request("POST", "/v1/invoices", json=body, params=dict(params)).json()
        invoice_id = str(result["id"])
        return QuoteRef(vendor_id=invoice_id, url=self._deep_link(DocumentKind.INVOICE, invoice_id))

    def _deep_link(self, kind: DocumentKind, voucher_id: str) -> str:
        # The fact sheet documents the deep link of quotations only.
        if kind is DocumentKind.QUOTE:
            return f"{self.app_url}/permalink/quotations/edit/{voucher_id}"
        return ""

    @staticmethod
    def _voucher_id(vendor_id: str) -> str:
        return errors.vendor_id(vendor_id, mapping.uuid_or_none, what="a lexware office voucher")

    def _find_voucher(
        self, kind: DocumentKind, statuses: str, reference: str, customer_id: str
    ) -> QuoteRef | None:
        """The customer's voucher of `kind` (newest first, at most QUOTES_LOOKED_AT read)
        whose introduction carries our reference."""
        if not customer_id:
            logger.warning("lexware office: no customer given, %s cannot be looked up", reference)
            return None
        path = mapping.VOUCHER_PATHS[kind]
        read = 0
        for page in range(mapping.QUOTES_LOOKED_AT // mapping.VOUCHERLIST_PAGE + 1):
            listing = self.request(
                "GET",
                "/v1/voucherlist",
                params={
                    "voucherType": mapping.VOUCHERLIST_TYPES[kind],
                    "voucherStatus": statuses,
                    "contactId": customer_id,
                    "page": page,
                    "size": mapping.VOUCHERLIST_PAGE,
                },
            ).json()
            for entry in listing.get("content") or []:
                if read >= mapping.QUOTES_LOOKED_AT:
                    return None
                read += 1
                voucher = self.request("GET", f"/v1/{path}/{entry['id']}").json()
                if reference in (voucher.get("introduction") or ""):
                    voucher_id = str(voucher["id"])
                    return QuoteRef(
                        vendor_id=voucher_id,
                        number=str(voucher.get("voucherNumber") or ""),
                        url=self._deep_link(kind, voucher_id),
                    )
            if listing.get("last", True):
                return None
        return None

    # -- articles by SKU (articles.py) ---------------------------------------------------

    def articles_page(self, cursor: str) -> ArticlePage:
        """1 call: a page of 250 articles, in the API's order (by title)."""
        page = int(cursor or 0)
        listing = self.request(
            "GET", "/v1/articles", params={"page": page, "size": articles.PAGE_SIZE}
        ).json()
        return articles.page_of(listing, page)

    def find_article(self, sku: str) -> Article | None:
        """1 call: `GET /v1/articles?articleNumber=`, compared exactly again here."""
        listing = self.request("GET", "/v1/articles", params={"articleNumber": sku}).json()
        found = [
            r for r in listing.get("content") or [] if str(r.get("articleNumber") or "") == sku
        ]
        if len(found) > 1:
            raise errors.Conflict(f"lexware office has {len(found)} articles numbered {sku}.")
        return articles.article_of(found[0]) if found else None

    def create_article(self, article: Article) -> Article:
        """1 call: `POST /v1/articles`."""
        result = self.request("POST", "/v1/articles", json=articles.write_body(article)).json()
        return replace(article, vendor_id=str(result["id"]), marker=str(result.get("version")))

    def update_article(
        self, vendor_id: str, article: Article, *, overwrite: frozenset[ArticleField]
    ) -> Article:
        """2 calls: the article with its version, then `PUT` of it with the chosen fields;
        2 more when someone changed it in between (409: the version is no longer current),
        so that their change is read and kept where the tenant does not overwrite it."""
        path = _article_path(vendor_id)
        for attempt in range(2):
            current = self.request("GET", path).json()
            body = articles.update_body(current, article, overwrite)
            try:
                result = self.request("PUT", path, json=body).json()
            except errors.Conflict:
                if attempt:
                    raise
                continue
            break
        return replace(article, vendor_id=vendor_id, marker=str(result.get("version")))

    def archive_article(self, vendor_id: str) -> None:
        """1 call: `DELETE /v1/articles/{id}`; one that is gone already is fine."""
        path = _article_path(vendor_id)
        with suppress(errors.NotFound):
            self.request("DELETE", path, expected=(204,))

    def article_changes(self, cursor: str) -> tuple[tuple[Article, ...], str]:
        """At most POLL_PAGES calls: the next pages of the catalogue from the cursor, each
        article with its version as the marker (the API has no change-date filter); the
        engine keeps those whose version moved. After the last page it starts over, so a
        catalogue of n pages is read once every n / POLL_PAGES polls, within the rate limit."""
        found: list[Article] = []
        page = cursor if cursor.isdigit() else ""
        for _ in range(articles.POLL_PAGES):
            read = self.articles_page(page)
            found.extend(read.articles)
            page = read.next_cursor
            if not page:
                break
        return tuple(found), page or "0"

    def delete_customer(self, ref: CustomerRef) -> None:
        """0 calls: the API has no DELETE for contacts."""
        raise errors.UnsupportedByVendor(
            "lexware office does not allow deleting contacts through its API."
        )

    def _read_and_put(self, contact_id: str, customer: Customer) -> CustomerRef:
        current = self.request("GET", f"/v1/contacts/{contact_id}").json()
        body = mapping.contact_body(
            {
                key: copy.deepcopy(current[key])
                for key in mapping.CONTACT_WRITABLE
                if key in current
            },
            customer,
        )
        result = self.request("PUT", f"/v1/contacts/{contact_id}", json=body).json()
        return CustomerRef(
            vendor_id=contact_id,
            number=mapping.customer_number(current),
            version=mapping.int_or_none(result.get("version")),
        )

    def _add_contact_person(self, contact_id: str, person: Person) -> None:
        current = self.request("GET", f"/v1/contacts/{contact_id}").json()
        company = current.get("company")
        if not isinstance(company, dict):
            return  # a person customer has no contact persons
        held = [e for e in company.get("contactPersons") or [] if isinstance(e, dict)]
        if mapping.same_person_at(person, held) is not None:
            return
        body = {
            key: copy.deepcopy(current[key]) for key in mapping.CONTACT_WRITABLE if key in current
        }
        body["company"]["contactPersons"] = mapping.contact_persons(person, held)
        self.request("PUT", f"/v1/contacts/{contact_id}", json=body)

    def _filter_contacts(self, **criteria: str) -> Iterator[dict[str, Any]]:
        """Customers matching the filter, page by page until the caller stops reading."""
        for page in range(mapping.CONTACT_PAGES_MAX):
            params = {
                **criteria,
                "customer": "true",
                "page": page,
                "size": mapping.CONTACT_PAGE_SIZE,
            }
            listing = self.request("GET", "/v1/contacts", params=params).json()
            contacts = listing.get("content") or []
            # Archived contacts last: a live one is the better match when both exist.
            yield from sorted(contacts, key=lambda c: bool(c.get("archived")))
            if listing.get("last", True) or not contacts:
                return


def _article_path(vendor_id: str) -> str:
    article_id = errors.vendor_id(vendor_id, mapping.uuid_or_none, what="a lexware office article")
    return f"/v1/articles/{article_id}"
