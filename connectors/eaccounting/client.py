"""Visma eAccounting: customers, quotes, orders, invoices and articles through the API v2.

Everything here follows Visma's spec (`eaccounting-openapi.normalized.json`) and the fact sheet
in vendor-specs/README.md; `mapping` holds the JSON. The calls' quirks:

- Lists are read with Visma's generic query options, which the spec does not declare:
  `$page` (from 1), `$pagesize` and OData's `$filter` with `eq` (developer.vismaonline.com,
  "Generic query options"; its changelog shows `$filter=HasAutoInvoiceError eq true`).
- A customer needs `TermsOfPaymentId`: the company's default (`GET /companysettings`).
- Quotes become orders (`POST /quotes/{id}/converttoorder`), orders invoices
  (`POST /orders/{id}/convert`); an invoice of its own is a draft, finalized by
  `POST /customerinvoicedrafts/{id}/convert`. A converted document keeps no reference
  field of its predecessor, so it is found through `CreatedFromQuoteId` / `CreatedFromOrderId`.
- Status changes are polled: invoices by `modifiedSinceUtc`, approved quotes by `$filter`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import replace
from decimal import Decimal
from functools import cached_property
from typing import Any

from connectors import errors
from connectors.base import AccountingConnector
from connectors.eaccounting import mapping
from connectors.eaccounting.provider import PROVIDER
from connectors.shapes import (
    AccountInfo,
    Article,
    ArticleField,
    ArticlePage,
    Customer,
    CustomerKind,
    CustomerRef,
    DocumentChange,
    DocumentChanges,
    DocumentKind,
    DocumentLink,
    DocumentState,
    Quote,
    QuoteRef,
)

PAGE_SIZE = 100  # rows per list call
PAGES_MAX = 20  # a list is read this far at most
# A poll looks this far behind its cursor: the cursor is our clock, the stamps are Visma's.
POLL_OVERLAP = dt.timedelta(minutes=5)
PATHS = {
    DocumentKind.QUOTE: "/quotes",
    DocumentKind.ORDER: "/orders",
    DocumentKind.INVOICE: "/customerinvoices",
}
REFERENCE_FIELD = {
    DocumentKind.QUOTE: "CompanyReference",
    DocumentKind.ORDER: "OurReference",
    DocumentKind.INVOICE: "OurReference",
}
DRAFTS = "/customerinvoicedrafts"


class EAccountingConnector(AccountingConnector):
    provider = PROVIDER
    read_error = staticmethod(mapping.read_error)

    def tax_rates(self) -> frozenset[Decimal] | None:
        """The rates of the company's article account codings (1 call): a row's VAT is its
        article's coding's."""
        return frozenset(self._coding_rates.values()) or None

    # -- customers --------------------------------------------------------------------------

    def verify(self) -> AccountInfo:
        """1 call: `GET /companysettings`."""
        settings = self._company_settings
        return AccountInfo(
            account_id=str(settings.get("CompanyIdentifier") or ""),
            name=str(settings.get("Name") or ""),
        )

    def find_customer_by_email(self, customer: Customer) -> CustomerRef | None:
        """1 call: `$filter=EmailAddress eq '..'`; the first of the customer's kind."""
        email = customer.lookup_email.strip()
        return self._customer_where("EmailAddress", email, customer) if email else None

    def find_customer_by_name(self, customer: Customer) -> CustomerRef | None:
        """1 call: `$filter=Name eq '..'` (the name as sent, at most 50 characters)."""
        name = customer.display_name[:50].strip()
        return self._customer_where("Name", name, customer) if name else None

    def get_customer(self, vendor_id: str) -> CustomerRef | None:
        """1 call: `GET /customers/{id}`; None when it is gone."""
        try:
            return mapping.customer_ref(self.request("GET", f"/customers/{vendor_id}").json())
        except errors.NotFound:
            return None

    def create_customer(self, customer: Customer) -> CustomerRef:
        """1 call (2 the first time): `POST /customers` with the company's terms of payment."""
        body = mapping.customer_body(customer, terms_of_payment_id=self._default_terms())
        return mapping.customer_ref(self.request("POST", "/customers", json=body).json())

    def update_customer(self, ref: CustomerRef, customer: Customer) -> CustomerRef:
        """2 calls: `GET` then `PUT /customers/{id}`, which replaces the customer: HubSpot
        leads for what it maps, everything else (terms of payment, currency, delivery
        address, notes) is sent back as eAccounting has it."""
        stored = self.request("GET", f"/customers/{ref.vendor_id}").json()
        terms = str(stored.get("TermsOfPaymentId") or "") or self._default_terms()
        kept = {k: v for k, v in stored.items() if k not in mapping.CUSTOMER_NOT_WRITTEN}
        body = {**kept, **mapping.customer_body(customer, terms_of_payment_id=terms)}
        answer = self.request("PUT", f"/customers/{ref.vendor_id}", json=body, idempotent=True)
        return mapping.customer_ref(answer.json())

    def delete_customer(self, ref: CustomerRef) -> None:
        with contextlib.suppress(errors.NotFound):  # gone already
            self.request("DELETE", f"/customers/{ref.vendor_id}", idempotent=True)

    # -- documents --------------------------------------------------------------------------

    def create_quote(self, quote: Quote) -> QuoteRef:
        """1 call: `POST /quotes`, carrying our reference in `CompanyReference`."""
        body = mapping.quote_body(self._with_articles(quote))
        answer = self.request("POST", "/quotes", json=body).json()
        return mapping.document_ref(DocumentKind.QUOTE, answer)

    def find_quote(self, reference: str, *, customer_id: str = "") -> QuoteRef | None:
        return self.find_document(DocumentKind.QUOTE, reference, customer_id=customer_id)

    def create_invoice(self, quote: Quote) -> QuoteRef:
        """1 call: `POST /customerinvoicedrafts` (its terms of payment: 1 call the first time)."""
        terms = self._terms_for(quote.payment_term_days)
        body = mapping.draft_body(self._with_articles(quote), terms_of_payment_id=terms)
        return QuoteRef(vendor_id=str(self.request("POST", DRAFTS, json=body).json()["Id"]))

    def create_document(
        self,
        kind: DocumentKind,
        document: Quote,
        *,
        preceding: DocumentLink | None = None,
        finalize: bool = False,
    ) -> QuoteRef:
        """A quote; an order from its quote (converttoorder) or of its own; an invoice from
        its order (convert, numbered and open) or as a draft, finalized by converting it."""
        if kind is DocumentKind.QUOTE:
            return self.create_quote(document)
        if preceding is not None and self.capabilities.can_link(kind, preceding.kind):
            if kind is DocumentKind.ORDER:
                path, body = (
                    f"/quotes/{preceding.vendor_id}/converttoorder",
                    {"Type": mapping.QUOTE_CONVERT_TO_ORDER},
                )
            else:
                path, body = f"/orders/{preceding.vendor_id}/convert", {}
            return mapping.document_ref(kind, self.request("POST", path, json=body).json())
        if kind is DocumentKind.ORDER:
            body = mapping.order_body(
                self._with_articles(document),
                currency=self._customer_currency(document.customer_id),
                terms_of_payment_id=self._terms_for(document.payment_term_days),
            )
            return mapping.document_ref(kind, self.request("POST", "/orders", json=body).json())
        # A draft of ours left by a lost answer is taken instead of a second one.
        found = self._first(DRAFTS, {"OurReference": document.reference[: mapping.REFERENCE_MAX]},
                            document.customer_id)  # fmt: skip
        draft = QuoteRef(vendor_id=str(found["Id"])) if found else self.create_invoice(document)
        if not finalize:
            return draft
        answer = self.request("POST", f"{DRAFTS}/{draft.vendor_id}/convert", json={})
        return mapping.document_ref(DocumentKind.INVOICE, answer.json())

    def find_document(
        self, kind: DocumentKind, reference: str, *, customer_id: str = ""
    ) -> QuoteRef | None:
        """1 call per kind of record that may carry the document: our reference, else (an
        order or invoice converted from the deal's earlier document) the `CreatedFrom…` id."""
        reference = reference.strip()[: mapping.REFERENCE_MAX]
        if not reference:
            return None
        # An invoice draft is not found here: `create_document` takes it over, and finalizes
        # it where the invoice is to be final.
        found = self._first(PATHS[kind], {REFERENCE_FIELD[kind]: reference}, customer_id)
        if found is None and kind is not DocumentKind.QUOTE:
            earlier = DocumentKind.QUOTE if kind is DocumentKind.ORDER else DocumentKind.ORDER
            source = self.find_document(earlier, reference, customer_id=customer_id)
            if source is not None:
                origin = (
                    "CreatedFromQuoteId" if earlier is DocumentKind.QUOTE else "CreatedFromOrderId"
                )
                found = self._first(PATHS[kind], {origin: source.vendor_id}, customer_id)
        return mapping.document_ref(kind, found) if found is not None else None

    def document_state(self, kind: DocumentKind, vendor_id: str) -> DocumentState:
        """1 call: the document by id (an invoice still a draft: 1 call more)."""
        try:
            record = self.request("GET", f"{PATHS[kind]}/{vendor_id}").json()
        except errors.NotFound:
            if kind is not DocumentKind.INVOICE:
                raise
            record = self.request("GET", f"{DRAFTS}/{vendor_id}").json()
            return mapping.document_state(kind, record, draft=True)
        return mapping.document_state(kind, record, draft=False)

    def document_changes(self, cursor: str) -> DocumentChanges:
        """Invoices changed since the cursor (`modifiedSinceUtc`) and approved quotes
        modified since (`$filter=Status eq 2`, compared by `ModifiedUtc`): 2 calls, more
        only past 100 of either."""
        now = dt.datetime.now(dt.UTC)
        if not cursor:
            return DocumentChanges((), mapping.visma_time(now))
        since = mapping.moment(cursor) - POLL_OVERLAP
        params = {"modifiedSinceUtc": mapping.visma_time(since)}
        changes: list[DocumentChange] = [
            mapping.change(DocumentKind.INVOICE, invoice)
            for invoice in self._list("/customerinvoices", params)
        ]
        approved = {"$filter": f"Status eq {mapping.QUOTE_APPROVED}"}
        for quote in self._list("/quotes", approved):
            if quote.get("ModifiedUtc") and mapping.moment(quote["ModifiedUtc"]) >= since:
                changes.append(mapping.change(DocumentKind.QUOTE, quote))
        return DocumentChanges(tuple(changes), mapping.visma_time(now))

    # -- articles ---------------------------------------------------------------------------

    def articles_page(self, cursor: str) -> ArticlePage:
        """1 call: `GET /articles?$filter=IsActive eq true&$page=..`; the cursor is the page."""
        page = int(cursor or 1)
        answer = self.request("GET", "/articles", params=self._query({"IsActive": True}, page))
        body = answer.json()
        articles = tuple(mapping.to_article(a, self._coding_rates) for a in body.get("Data") or [])
        more = page < int((body.get("Meta") or {}).get("TotalNumberOfPages") or 0)
        return ArticlePage(articles, next_cursor=str(page + 1) if more else "")

    def find_article(self, sku: str) -> Article | None:
        """1 call: `$filter=Number eq '..' and IsActive eq true`; Conflict for several."""
        if not sku:
            return None
        found = list(self._list("/articles", self._where({"Number": sku, "IsActive": True})))
        if len(found) > 1:
            raise errors.Conflict(f"Visma eAccounting has several articles “{sku}”.")
        return mapping.to_article(found[0], self._coding_rates) if found else None

    def create_article(self, article: Article) -> Article:
        """1 call: `POST /articles`, coded by its tax rate, in the unit of its name."""
        body = mapping.article_body(
            article, coding_id=self._coding_for(article.tax_rate),
            unit_id=self._unit_for(article.unit), fields=frozenset(ArticleField),
        )  # fmt: skip
        stored = self.request("POST", "/articles", json=body).json()
        return mapping.to_article(stored, self._coding_rates)

    def update_article(
        self, vendor_id: str, article: Article, *, overwrite: frozenset[ArticleField]
    ) -> Article:
        """2 calls: `GET`, then `PUT /articles/{id}` with the stored values of the groups
        not in `overwrite` (a PUT replaces the article)."""
        stored = self.request("GET", f"/articles/{vendor_id}").json()
        coding = self._coding_for(article.tax_rate) if ArticleField.PRICE in overwrite else ""
        kept = {k: stored[k] for k in ("Name", "Note", "NetPrice") if stored.get(k) is not None}
        body = {
            **kept, **mapping.article_body(
                article, coding_id=coding or stored["CodingId"], unit_id=stored["UnitId"],
                fields=frozenset(str(f) for f in overwrite),
            ),
        }  # fmt: skip
        answer = self.request("PUT", f"/articles/{vendor_id}", json=body, idempotent=True)
        return mapping.to_article(answer.json(), self._coding_rates)

    def archive_article(self, vendor_id: str) -> None:
        """2 calls: no DELETE in the spec; the article is set `IsActive` false by PUT."""
        try:
            stored = self.request("GET", f"/articles/{vendor_id}").json()
        except errors.NotFound:
            return
        writable = ("Number", "Name", "Note", "NetPrice", "CodingId", "UnitId")
        body = {k: stored[k] for k in writable if stored.get(k) is not None}
        self.request("PUT", f"/articles/{vendor_id}", json={**body, "IsActive": False},
                     idempotent=True)  # fmt: skip

    def article_changes(self, cursor: str) -> tuple[tuple[Article, ...], str]:
        """The articles whose `ChangedUtc` is at most 5 minutes before the cursor or later:
        `GET /articles` has no change filter, so the catalogue is read (at most 20 pages)."""
        now = dt.datetime.now(dt.UTC)
        if not cursor:
            return (), mapping.visma_time(now)
        since = mapping.moment(cursor) - POLL_OVERLAP
        changed = tuple(
            mapping.to_article(a, self._coding_rates)
            for a in self._list("/articles", {})
            if a.get("ChangedUtc") and mapping.moment(a["ChangedUtc"]) >= since
        )
        return changed, mapping.visma_time(now)

    def _with_articles(self, quote: Quote) -> Quote:
        """Every position with an article: eAccounting takes a row's VAT only from its
        article's account coding, so a position without one stands on the generic article
        of its tax rate (`HUBSPOT-<rate>`, created at its first use)."""
        positions = []
        for position in quote.positions:
            if position.article is None or not position.article.vendor_id:
                position = replace(position, article=self._generic_article(position.tax_rate))
            positions.append(position)
        return replace(quote, positions=tuple(positions))

    def _generic_article(self, tax_rate: Decimal) -> Article:
        sku = f"{mapping.GENERIC_ARTICLE_PREFIX}{tax_rate.normalize():f}"
        if sku not in self._generic_articles:
            article = self.find_article(sku)
            if article is None:
                name = f"HubSpot {tax_rate.normalize():f} %"
                try:
                    article = self.create_article(Article(sku=sku, name=name, tax_rate=tax_rate))
                except errors.UnknownOutcome:
                    # Created or not: its number tells, and the document must not wait.
                    article = self.find_article(sku)
                    if article is None:
                        raise
            self._generic_articles[sku] = article
        return self._generic_articles[sku]

    @cached_property
    def _generic_articles(self) -> dict[str, Article]:
        return {}

    # -- reads ------------------------------------------------------------------------------

    def _customer_where(self, field: str, value: str, customer: Customer) -> CustomerRef | None:
        private = customer.kind is CustomerKind.PERSON
        for record in self._list("/customers", self._where({field: value}), pages=1):
            same_value = str(record.get(field) or "").casefold() == value.casefold()
            if same_value and mapping.is_private_person(record) == private:
                return mapping.customer_ref(record)
        return None

    def _first(
        self, path: str, equal: Mapping[str, Any], customer_id: str
    ) -> Mapping[str, Any] | None:
        for record in self._list(path, self._where(equal), pages=1):
            if not customer_id or record.get("CustomerId") == customer_id:
                return record
        return None

    @staticmethod
    def _where(equal: Mapping[str, Any]) -> dict[str, str]:
        """`$filter` of `eq` clauses joined by `and` (Visma's generic query options)."""
        clauses = [
            f"{field} eq {mapping.odata_text(v) if isinstance(v, str) else str(v).lower()}"
            for field, v in equal.items()
        ]
        return {"$filter": " and ".join(clauses)} if clauses else {}

    def _query(self, equal: Mapping[str, Any], page: int) -> dict[str, str]:
        return {**self._where(equal), "$page": str(page), "$pagesize": str(PAGE_SIZE)}

    def _list(
        self, path: str, params: Mapping[str, str], *, pages: int = PAGES_MAX
    ) -> Iterator[Mapping[str, Any]]:
        """A list page by page (`{Meta, Data}`), at most `pages` pages."""
        for page in range(1, pages + 1):
            query = {**params, "$page": str(page), "$pagesize": str(PAGE_SIZE)}
            body = self.request("GET", path, params=query).json()
            yield from (row for row in body.get("Data") or [] if isinstance(row, Mapping))
            if page >= int((body.get("Meta") or {}).get("TotalNumberOfPages") or 0):
                return

    @cached_property
    def _company_settings(self) -> Mapping[str, Any]:
        settings: Mapping[str, Any] = self.request("GET", "/companysettings").json()
        return settings

    def _default_terms(self) -> str:
        terms = str(self._company_settings.get("TermsOfPaymentId") or "")
        if not terms:
            raise errors.PermanentError(
                "Visma eAccounting: the company has no default terms of payment."
            )
        return terms

    def _terms_for(self, days: int | None) -> str:
        return mapping.terms_for_days(self._terms_of_payment, days) if days is not None else ""

    @cached_property
    def _terms_of_payment(self) -> list[Mapping[str, Any]]:
        return list(self._list("/termsofpayments", {}))

    def _customer_currency(self, customer_id: str) -> str:
        customer = self.request("GET", f"/customers/{customer_id}").json()
        return str(customer.get("CurrencyCode") or self._company_settings.get("CurrencyCode"))

    @cached_property
    def _codings(self) -> list[Mapping[str, Any]]:
        return [c for c in self._list("/articleaccountcodings", {}) if c.get("IsActive", True)]

    @cached_property
    def _coding_rates(self) -> dict[str, Decimal]:
        """The VAT percent of each article account coding (`VatRatePercent` is a fraction)."""
        return {str(c["Id"]): mapping.percent(c.get("VatRatePercent")) for c in self._codings}

    def _coding_for(self, tax_rate: Decimal | None) -> str:
        """The account coding of the tax rate (the first coding for an article without one)."""
        rates = self._coding_rates
        chosen = next((cid for cid, rate in rates.items() if rate == tax_rate), None)
        if chosen is None and (tax_rate is not None or not rates):
            raise errors.PermanentError(
                f"Visma eAccounting has no article account coding for {tax_rate} % VAT."
            )
        return chosen or next(iter(rates))

    def _unit_for(self, name: str) -> str:
        units = list(self._list("/units", {}))
        if not units:
            raise errors.PermanentError("Visma eAccounting has no units.")
        wanted = name.strip().casefold()
        for unit in units:
            names = (unit.get("Name"), unit.get("Abbreviation"), unit.get("AbbreviationEnglish"))
            if wanted and wanted in {str(n or "").casefold() for n in names}:
                return str(unit["Id"])
        return str(units[0]["Id"])
