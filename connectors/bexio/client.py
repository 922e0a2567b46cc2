"""bexio: contacts, items (article), quotes (kb_offer) and invoices (kb_invoice) through API
2.0, and the sales taxes through API 3.0.

Everything here follows the derived spec `bexio/bexio-derived-openapi.yaml`, the API
Evangelist file `bexio/bexio-openapi.apievangelist-unofficial.yml` for what the derived one
lacks (listing quotes, editing and deleting a contact), the OIDC discovery copy
`bexio/bexio-openid-configuration.json` and the fact sheet in vendor-specs/.
The vendor's quirks live in this package only (`provider` declares how it connects and its
limits, `mapping` its JSON):

- Two kinds of credential, both a Bearer token: a personal access token (no expiry, nothing to
  refresh) or an OAuth 2.0 / OIDC token pair from auth.bexio.com whose refresh token rotates.
- `Accept: application/json` is required on every call.
- Every position needs the id of an active sales tax, looked up by rate from `GET /3.0/taxes`;
  a document's currency is the id of its ISO code in `GET /2.0/currencies`.
- Quotes carry our reference in `api_reference`; there is no search on it in the spec, so a
  lost quote is found by listing. Invoices carry it too and are found by
  `POST /2.0/kb_invoice/search`; one made from its quote (`POST /2.0/kb_offer/{id}/invoice`,
  which takes no fields) gets it by an edit right after.
- Status: `kb_item_status_id` (values from third-party code, unverified: see `status`) and
  for invoices `total_remaining_payments`. bexio has no webhooks: changes are polled on
  `updated_at`.
- Items are keyed by `intern_code` and have neither a version nor an update stamp: their
  changes are found by comparing markers page by page (see `articles`). The spec has no
  article position, so a position for an item stays custom and names its number.
- Errors read `{error_code, message[, errors]}` (the sandbox's assumption; the spec leaves the
  422 body open). The rate limit is per minute but unpublished; 429 comes with
  `RateLimit-Reset`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

from django.core.cache import cache

from connectors import errors
from connectors.base import AccountingConnector
from connectors.bexio import articles, mapping, status
from connectors.bexio.provider import PROVIDER
from connectors.shapes import (
    AccountInfo,
    Article,
    ArticleField,
    ArticlePage,
    Customer,
    CustomerRef,
    DocumentChanges,
    DocumentKind,
    DocumentLink,
    DocumentState,
    DocumentStatus,
    Person,
    Quote,
    QuoteRef,
)

logger = logging.getLogger(__name__)

TAX_CACHE_SECONDS = 3600
CURRENCY_CACHE_SECONDS = 3600


class BexioConnector(AccountingConnector):
    provider = PROVIDER
    read_error = staticmethod(mapping.read_error)
    quote_page_size = mapping.QUOTE_PAGE_SIZE
    # Polling asks again this far back: bexio's stamps are whole seconds, and a document
    # saved while the last poll ran may carry a stamp just before it. The engine drops
    # what it saw already (same marker).
    poll_overlap = dt.timedelta(minutes=2)
    poll_page_size = 500  # invoices per call; at most 3 calls, newest quotes on one page
    poll_invoice_pages = 3
    # The sales taxes of this connector's life, and whether they came from bexio just now
    # (else from the shared cache).
    _taxes: dict[Decimal, int] | None = None
    _taxes_fetched = False
    _currencies: dict[str, int] | None = None

    # -- the interface ------------------------------------------------------------------

    def verify(self) -> AccountInfo:
        """1 call: `GET /2.0/contact?limit=1`. The spec has no company profile, and neither a
        personal access token nor bexio's ID token names the company, so the call only
        proves the credential (and the contacts scope); the name is the one the connection
        was saved with, else none (the system's name is no name the customer knows)."""
        self.request("GET", "/2.0/contact", params={"limit": 1})
        return AccountInfo(
            account_id=self.connection.external_account_id,
            name=self.connection.account_name,
        )

    def find_customer_by_email(self, customer: Customer) -> CustomerRef | None:
        """1 call: `POST /2.0/contact/search` for `mail` = the address and the customer's
        contact type, which the answer must match once more here: a company that carries its
        contact person's address as its `mail` is no person customer. 0 calls for an empty
        or too long address."""
        criteria = mapping.email_criteria(customer)
        if criteria is None:
            return None
        found = self._search(criteria)
        return next((mapping.to_ref(c) for c in found if mapping.has_email(c, customer)), None)

    def find_customer_by_name(self, customer: Customer) -> CustomerRef | None:
        """1 call: `POST /2.0/contact/search` for the exact company name, or the person's last
        and first name, of the right contact type; the answer is compared once more here,
        case and spacing aside. 0 calls when a name is empty or too long to search."""
        criteria = mapping.name_criteria(customer)
        if criteria is None:
            return None
        found = self._search(criteria)
        return next((mapping.to_ref(c) for c in found if mapping.has_name(c, customer)), None)

    def get_customer(self, vendor_id: str) -> CustomerRef | None:
        """1 call: `GET /2.0/contact/{id}`; None when it does not exist (any more)."""
        contact_id = mapping.id_or_none(vendor_id)
        if contact_id is None:
            return None
        try:
            contact = self.request("GET", f"/2.0/contact/{contact_id}").json()
        except errors.NotFound:
            return None
        return mapping.to_ref(contact)

    def create_customer(self, customer: Customer) -> CustomerRef:
        """1 call: `POST /2.0/contact`. Not idempotent: after an UnknownOutcome look it up by
        e-mail or name first."""
        body = mapping.contact_create_body(customer, user_id=self._user_id())
        contact = self.request("POST", "/2.0/contact", json=body).json()
        return mapping.to_ref(contact)

    def update_customer(self, ref: CustomerRef, customer: Customer) -> CustomerRef:
        """2 calls: `GET /2.0/contact/{id}`, then `POST /2.0/contact/{id}` (bexio edits with
        POST; PATCH answers 404). The unofficial file calls it "overwrite", so the body is the
        contact as read with APIUP's fields changed: what the customer keeps in bexio beyond
        them (second e-mail, remarks, groups, ...) stays."""
        contact_id = mapping.id_or_raise(ref.vendor_id)
        current = self.request("GET", f"/2.0/contact/{contact_id}").json()
        body = mapping.contact_edit_body(current, customer, user_id=self._user_id())
        # The whole contact, so sending it twice has one effect: safe to repeat.
        contact = self.request(
            "POST", f"/2.0/contact/{contact_id}", json=body, idempotent=True
        ).json()
        if isinstance(contact, Mapping) and "id" in contact:
            return mapping.to_ref(contact)
        return ref

    def contact_person_ensure(
        self, ref: CustomerRef, person: Person, *, customer_created: bool
    ) -> str:
        """The person contact for the company's contact person, named on the company's
        quotes and invoices as `contact_sub_id`: found by e-mail, else by name (1 call each,
        `POST /2.0/contact/search`, persons only), else created (1 call, `POST
        /2.0/contact`). The same person contact is the person's customer record when the
        contact is transferred on its own, so the person exists once. The company itself
        keeps the deal's contact only as its e-mail address when it has none of its own."""
        contact = mapping.person_customer(person)
        found = self.find_customer_by_email(contact) or self.find_customer_by_name(contact)
        if found is None:
            found = self.create_customer(contact)
        return found.vendor_id

    def delete_customer(self, ref: CustomerRef) -> None:
        """1 call: `DELETE /2.0/contact/{id}`; a contact that is already gone counts as
        deleted."""
        contact_id = mapping.id_or_raise(ref.vendor_id)
        try:
            self.request("DELETE", f"/2.0/contact/{contact_id}")
        except errors.NotFound:
            logger.info("bexio: contact %s was already deleted", contact_id)

    def create_quote(self, quote: Quote) -> QuoteRef:
        """1 call (up to 3 when the sales taxes and currencies are not cached yet):
        `POST /2.0/kb_offer`, a draft, with our reference in `api_reference`. A currency the
        company does not have or a tax rate without an active sales tax fail before the
        quote is sent. Not idempotent: after an UnknownOutcome call `find_quote` first."""
        return self._create_document("/2.0/kb_offer", quote)

    def find_quote(self, reference: str, *, customer_id: str = "") -> QuoteRef | None:
        """1 call per page of 500 quotes: `GET /2.0/kb_offer?limit=&offset=`, matching
        `api_reference`. The spec has no search on it, and the list has no documented order
        parameter, so the pages run from the oldest quote on, at most 40 of them."""
        reference = reference.strip()
        if not reference:
            return None
        for document in self._quotes():
            if document.get("api_reference") == reference:
                return mapping.document_ref(document)
        return None

    def create_invoice(self, quote: Quote) -> QuoteRef:
        """1 call (2 when the sales taxes are not cached yet): `POST /2.0/kb_invoice` with the
        same body as a quote (the spec gives both the same shape); a new invoice is a
        draft."""
        return self._create_document("/2.0/kb_invoice", quote)

    # -- articles by SKU (bexio's items, /2.0/article; see `articles`) -----------------------

    def articles_page(self, cursor: str) -> ArticlePage:
        """1 call: `GET /2.0/article?order_by=id&limit=&offset=` (and the sales taxes and
        currencies when not cached). The cursor is "<offset>.<last id>"; see `articles`."""
        position = articles.read_cursor(cursor)
        if position is None:
            raise errors.PermanentError(f"bexio: {cursor!r} is no article page cursor.")
        offset, last_id = position
        start = articles.resume_at(offset)
        limit = articles.PAGE_SIZE + (offset - start)
        rows = self._items(start, limit)
        if start and rows and int(rows[0]["id"]) > last_id:
            logger.warning("bexio: more items deleted during an import than it looks back")
        fresh = [r for r in rows if int(r["id"]) > last_id]
        return ArticlePage(self._articles(fresh), articles.next_cursor(start, rows, limit=limit))

    def find_article(self, sku: str) -> Article | None:
        """1 call: `POST /2.0/article/search` for `intern_code` = the SKU; bexio's "=" may
        ignore case, so the answer is compared exactly here. Conflict for two items with
        the SKU."""
        sku = sku.strip()
        criteria = articles.sku_criteria(sku)
        if criteria is None:
            return None
        found = articles.items_of(self.request("POST", "/2.0/article/search", json=criteria).json())
        same = [i for i in found if i.get("intern_code") == sku]
        if len(same) > 1:
            ids = ", ".join(str(i["id"]) for i in same)
            raise errors.Conflict(f"bexio has several items with the number {sku} ({ids}).")
        return self._article(same[0]) if same else None

    def create_article(self, article: Article) -> Article:
        """1 call: `POST /2.0/article` (the type is bexio's default). Not idempotent."""
        body = self._item_body(article, frozenset(ArticleField))
        return self._article(self.request("POST", "/2.0/article", json=body).json())

    def update_article(
        self, vendor_id: str, article: Article, *, overwrite: frozenset[ArticleField]
    ) -> Article:
        """1 call: `POST /2.0/article/{id}` with the SKU and the groups in `overwrite` only:
        bexio's edit takes a partial body, so nothing needs reading first (and an item has
        no version to send)."""
        item_id = mapping.id_or_raise(vendor_id)
        body = self._item_body(article, overwrite)
        item = self.request("POST", f"/2.0/article/{item_id}", json=body, idempotent=True)
        return self._article(item.json())

    def archive_article(self, vendor_id: str) -> None:
        """1 call: `DELETE /2.0/article/{id}`. bexio deletes for good (it has no archive);
        one that is gone already is fine."""
        item_id = mapping.id_or_raise(vendor_id)
        try:
            self.request("DELETE", f"/2.0/article/{item_id}")
        except errors.NotFound:
            logger.info("bexio: item %s was already deleted", item_id)

    def article_changes(self, cursor: str) -> tuple[tuple[Article, ...], str]:
        """An item has no update stamp and the list no filter on one, so a poll compares:
        it reads the next `articles.POLL_PAGES` pages of the catalogue from the cursor (a
        page cursor) and returns every item on them; the engine keeps those whose marker
        moved. After the last page it starts over. "": none, and the first page's cursor."""
        if not cursor:
            return (), articles.FIRST
        if articles.read_cursor(cursor) is None:
            logger.warning("bexio: unreadable article cursor %r; starting over", cursor)
            cursor = articles.FIRST
        seen: list[Article] = []
        for _ in range(articles.POLL_PAGES):
            page = self.articles_page(cursor)
            seen += page.articles
            cursor = page.next_cursor or articles.FIRST
            if not page.next_cursor:
                break
        return tuple(seen), cursor

    def _items(self, offset: int, limit: int) -> list[Mapping[str, Any]]:
        params = {"order_by": "id", "limit": limit, "offset": offset}
        return articles.items_of(self.request("GET", "/2.0/article", params=params).json())

    def _article(self, item: Mapping[str, Any]) -> Article:
        return self._articles([item])[0]

    def _articles(self, items: list[Mapping[str, Any]]) -> tuple[Article, ...]:
        """Items as articles, their tax and currency ids read as rate and ISO code."""
        rates = {tax_id: rate for rate, tax_id in self._sales_taxes().items()}
        codes = {currency_id: code for code, currency_id in self._company_currencies().items()}
        return tuple(articles.to_article(i, tax_rates=rates, currencies=codes) for i in items)

    def _item_body(self, article: Article, fields: frozenset[ArticleField]) -> dict[str, Any]:
        pricing = ArticleField.PRICE in fields
        tax_id = (
            self._tax_id(article.tax_rate) if pricing and article.tax_rate is not None else None
        )
        currency_id = self._article_currency_id(article.currency) if pricing else None
        return articles.item_body(article, fields, tax_id=tax_id, currency_id=currency_id)

    def _article_currency_id(self, currency: str) -> int | None:
        """None for no currency, or the base currency where bexio lists none."""
        code = currency.strip().upper()
        if not code:
            return None
        return mapping.currency_id_of(code, self._company_currencies())

    # -- documents per deal stage, and their status -----------------------------------------

    def create_document(
        self,
        kind: DocumentKind,
        document: Quote,
        *,
        preceding: DocumentLink | None = None,
        finalize: bool = False,
    ) -> QuoteRef:
        """A quote (`create_quote`) or an invoice: on its own (`create_invoice`), or made
        from the deal's quote (`_invoice_from_quote`, 2 calls); `finalize` then issues it
        (1 more call, `POST /2.0/kb_invoice/{id}/issue`: numbered and open)."""
        if kind is DocumentKind.QUOTE:
            return self.create_quote(document)
        if kind is not DocumentKind.INVOICE:
            raise errors.UnsupportedByVendor(f"bexio: no {kind} documents through the API.")
        if preceding is None:
            ref = self.create_invoice(document)
        elif preceding.kind is DocumentKind.QUOTE:
            ref = self._invoice_from_quote(preceding.vendor_id, document)
        else:
            raise errors.UnsupportedByVendor(f"bexio: no invoice from a {preceding.kind}.")
        if finalize:
            invoice_id = mapping.id_or_raise(ref.vendor_id)
            self.request("POST", f"/2.0/kb_invoice/{invoice_id}/issue")
        return ref

    def find_document(
        self, kind: DocumentKind, reference: str, *, customer_id: str = ""
    ) -> QuoteRef | None:
        """A quote as `find_quote`; an invoice by 1 call, `POST /2.0/kb_invoice/search` for
        `api_reference` (the oldest, should there be two)."""
        if kind is DocumentKind.QUOTE:
            return self.find_quote(reference, customer_id=customer_id)
        if kind is not DocumentKind.INVOICE:
            raise errors.UnsupportedByVendor(f"bexio: no {kind} documents through the API.")
        reference = reference.strip()
        if not reference:
            return None
        found = status.documents_of(
            self.request(
                "POST", "/2.0/kb_invoice/search", json=mapping.reference_criteria(reference)
            ).json()
        )
        matching = [d for d in found if d.get("api_reference") == reference]
        oldest = min(matching, key=lambda d: int(d["id"]), default=None)
        return None if oldest is None else mapping.document_ref(oldest)

    def document_state(self, kind: DocumentKind, vendor_id: str) -> DocumentState:
        """1 call, `GET /2.0/kb_offer/{id}` or `GET /2.0/kb_invoice/{id}`; for a paid invoice
        1 more, `GET /2.0/kb_invoice/{id}/payment`, for the day of its last payment. NotFound
        when it was deleted."""
        document_id = mapping.id_or_raise(vendor_id)
        if kind is DocumentKind.QUOTE:
            path = f"/2.0/kb_offer/{document_id}"
        elif kind is DocumentKind.INVOICE:
            path = f"/2.0/kb_invoice/{document_id}"
        else:
            raise errors.UnsupportedByVendor(f"bexio: no {kind} documents through the API.")
        document = self.request("GET", path).json()
        if not status.is_known_status(kind, document):
            logger.warning(
                "bexio: %s %s has the unknown status %r; read as open",
                kind,
                document_id,
                document.get("kb_item_status_id"),
            )
        paid_date = None
        if kind is DocumentKind.INVOICE and (
            status.document_status(kind, document) is DocumentStatus.PAID
        ):
            payments = self.request("GET", f"{path}/payment").json()
            paid_date = status.last_payment_date(payments)
        currency = status.currency_code(document, self._company_currencies())
        return status.document_state(kind, document, currency=currency, paid_date=paid_date)

    def document_changes(self, cursor: str) -> DocumentChanges:
        """The cursor is bexio's own `updated_at` of the last change seen (its clock, not
        ours). "": 2 calls for the newest stamp of invoices and quotes. Else invoices by
        `POST /2.0/kb_invoice/search` with `updated_at` > cursor less `poll_overlap`, oldest
        change first (1 call, up to 3 after a burst), and the newest page of quotes by
        `GET /2.0/kb_offer?order_by=updated_at_desc` (1 call: the spec has no quote search;
        more quote changes than a page within one poll are missed)."""
        if cursor and not status.stamp_of({"updated_at": cursor}):
            # Not one of ours: start over from now rather than stop polling for good.
            logger.warning("bexio: unreadable polling cursor %r; starting from now", cursor)
            cursor = ""
        if not cursor:
            newest = [
                *self._documents_by_stamp("/2.0/kb_invoice", limit=1),
                *self._documents_by_stamp("/2.0/kb_offer", limit=1),
            ]
            return DocumentChanges((), status.newest_stamp(newest, after=status.EARLIEST_STAMP))
        since = status.stamp_before(cursor, self.poll_overlap)
        invoices, complete = self._invoices_changed_after(since)
        quotes = [
            q
            for q in self._documents_by_stamp("/2.0/kb_offer", limit=self.poll_page_size)
            if status.stamp_of(q) > since
        ]
        changes = [status.document_change(DocumentKind.INVOICE, d) for d in invoices]
        changes += [status.document_change(DocumentKind.QUOTE, d) for d in quotes]
        # After a burst the invoices not read yet are later than the last one read.
        seen = [*invoices, *quotes] if complete else invoices
        return DocumentChanges(tuple(changes), status.newest_stamp(seen, after=cursor))

    def _invoice_from_quote(self, quote_id: str, document: Quote) -> QuoteRef:
        """2 calls: `POST /2.0/kb_offer/{id}/invoice` copies the quote with all its positions
        into a draft invoice (it takes no other fields), then `POST /2.0/kb_invoice/{id}`
        gives it our reference, title, text and dates. Should the edit fail, the copy is
        deleted (`DELETE /2.0/kb_invoice/{id}`): an invoice without our reference could not
        be found again, and the next try would make a second one."""
        offer_id = mapping.id_or_raise(quote_id)
        invoice = self.request("POST", f"/2.0/kb_offer/{offer_id}/invoice").json()
        invoice_id = mapping.id_or_raise(str(invoice.get("id", "")))
        body = mapping.invoice_edit_body(
            invoice, document, title_max_length=self.capabilities.title_max_length
        )
        try:
            # The same header twice has one effect: safe to repeat.
            edited = self.request(
                "POST", f"/2.0/kb_invoice/{invoice_id}", json=body, idempotent=True
            ).json()
        except errors.ConnectorError:
            self._delete_invoice_quietly(invoice_id)
            raise
        return mapping.document_ref({**invoice, **edited})

    def _delete_invoice_quietly(self, invoice_id: int) -> None:
        try:
            self.request("DELETE", f"/2.0/kb_invoice/{invoice_id}")
        except errors.ConnectorError:
            logger.warning("bexio: invoice %s without our reference was left behind", invoice_id)

    def _invoices_changed_after(self, since: str) -> tuple[list[Mapping[str, Any]], bool]:
        """The invoices changed after `since`, oldest change first, and whether that is all
        of them (a burst may need more pages than a poll makes)."""
        found: list[Mapping[str, Any]] = []
        size = self.poll_page_size
        for page in range(self.poll_invoice_pages):
            rows = status.documents_of(
                self.request(
                    "POST",
                    "/2.0/kb_invoice/search",
                    params={"order_by": "updated_at", "limit": size, "offset": page * size},
                    json=status.changed_criteria(since),
                ).json()
            )
            found += rows
            if len(rows) < size:
                return found, True
        logger.info("bexio: more invoice changes than one poll reads; the rest come next")
        return found, False

    def _documents_by_stamp(self, path: str, *, limit: int) -> list[Mapping[str, Any]]:
        """The first page of a list, latest change first."""
        listing = self.request(
            "GET", path, params={"order_by": "updated_at_desc", "limit": limit}
        ).json()
        return status.documents_of(listing)

    # -- documents ------------------------------------------------------------------------

    def _create_document(self, path: str, quote: Quote) -> QuoteRef:
        currency_id = mapping.currency_id(quote, self._company_currencies())
        contact_id = mapping.id_or_raise(quote.customer_id)
        positions = [mapping.position(p, self._tax_id(p.tax_rate)) for p in quote.positions]
        body = mapping.document_body(
            quote,
            contact_id=contact_id,
            user_id=self._user_id(),
            positions=positions,
            title_max_length=self.capabilities.title_max_length,
            currency_id=currency_id,
        )
        document = self.request("POST", path, json=body).json()
        return mapping.document_ref(document)

    def _quotes(self) -> Iterator[Mapping[str, Any]]:
        size = self.quote_page_size
        for page in range(mapping.QUOTE_PAGES_MAX):
            listing = self.request(
                "GET", "/2.0/kb_offer", params={"limit": size, "offset": page * size}
            ).json()
            if not isinstance(listing, list):
                return
            yield from (d for d in listing if isinstance(d, Mapping))
            if len(listing) < size:
                return
        logger.warning("bexio: stopped looking for a quote after %d pages", mapping.QUOTE_PAGES_MAX)

    # -- taxes and currencies ---------------------------------------------------------------

    def tax_rates(self) -> frozenset[Decimal]:
        """The rates of the company's active sales taxes (cached for an hour)."""
        return frozenset(self._sales_taxes())

    def currencies(self) -> frozenset[str] | None:
        """The company's currencies (cached for an hour); where bexio does not list them,
        the declared base currency."""
        return frozenset(self._company_currencies()) or self.capabilities.currencies

    def _company_currencies(self) -> dict[str, int]:
        """ISO code → id of the company's currencies, cached per bexio company for an hour;
        empty when bexio does not list them (the list is in the unofficial file only)."""
        if self._currencies is not None:
            return self._currencies
        key = "bexio:currencies:" + hashlib.sha256(self._company_key().encode()).hexdigest()[:32]
        cached = cache.get(key)
        if cached is None:
            try:
                cached = mapping.currencies_of(self.request("GET", "/2.0/currencies").json())
            except errors.NotFound:
                logger.info("bexio: no currency list; documents use the base currency")
                cached = {}
            cache.set(key, cached, CURRENCY_CACHE_SECONDS)
        self._currencies = dict(cached)
        return self._currencies

    def _tax_id(self, rate: Decimal) -> int:
        wanted = mapping.rate(rate)
        taxes = self._sales_taxes()
        if wanted not in taxes and not self._taxes_fetched:
            # Perhaps activated in bexio since the list was cached: look once more.
            taxes = self._sales_taxes(fresh=True)
        if wanted not in taxes:
            raise mapping.no_tax_at(wanted, taxes)
        return taxes[wanted]

    def _sales_taxes(self, *, fresh: bool = False) -> dict[Decimal, int]:
        """Rate → id of the active sales taxes, cached per bexio company for an hour (they
        change a few times a decade, and bexio assigns the ids per company)."""
        if self._taxes is not None and not fresh:
            return self._taxes
        key = "bexio:taxes:" + hashlib.sha256(self._company_key().encode()).hexdigest()[:32]
        cached = None if fresh else cache.get(key)
        if cached is None:
            cached = mapping.sales_taxes(
                self.request(
                    "GET", "/3.0/taxes", params={"types": "sales_tax", "scope": "active"}
                ).json()
            )
            cache.set(key, cached, TAX_CACHE_SECONDS)
            self._taxes_fetched = True
        self._taxes = {Decimal(rate): tax_id for rate, tax_id in cached.items()}
        return self._taxes

    def _company_key(self) -> str:
        """The bexio company's tax list in the cache: its API and its company id (the
        connection's, before the company is known). Never the token."""
        if self.connection.external_account_id:
            return f"{self.base_url}|company-{self.connection.external_account_id}"
        return f"{self.base_url}|connection-{self.connection.pk}"

    # -- requests -------------------------------------------------------------------------

    def _user_id(self) -> int:
        return mapping.user_id(self.connection.credentials or {})

    def _search(self, criteria: list[dict[str, str]]) -> list[Mapping[str, Any]]:
        return mapping.contacts_of(
            self.request("POST", "/2.0/contact/search", json=criteria).json()
        )
