"""sevDesk: contacts, quotes and order confirmations (orders of type AN and AB) and invoices
through API v1, and their status, polled on the lists' `updateAfter` filter (no webhooks);
the catalogue of parts by SKU is `articles`'.

Everything here follows `sevdesk/sevdesk-openapi.patched.yaml` and the sevDesk fact sheet in
vendor-specs/; the API token (the raw token as the whole `Authorization`
header, no Bearer) is declared in `provider`, the JSON is `mapping`'s. sevDesk has no e-mail
filter on contacts: a look-up by e-mail pages through the communication ways.

Three system lists are real endpoints the spec file lacks: `GET /SevUser` (the quote's
contact person), `GET /Unity` (position units) and `GET /StaticCountry` (address countries;
the spec tells clients to "send a GET to /StaticCountry"). They are read once per hour per
token and process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import Any, TypeVar

import requests

from connectors import documents, errors
from connectors.sevdesk import mapping, status
from connectors.sevdesk.articles import SevdeskArticles
from connectors.sevdesk.provider import PROVIDER
from connectors.shapes import (
    AccountInfo,
    Address,
    Customer,
    CustomerKind,
    CustomerRef,
    DocumentChange,
    DocumentChanges,
    DocumentKind,
    DocumentLink,
    DocumentState,
    Person,
    Quote,
    QuoteRef,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")

# The spec asks for a meaningful User-Agent, so sevDesk's support can tell integrations apart.
USER_AGENT = "APIUP HubSpot integration"
SYSTEM_LIST_SECONDS = 3600.0
# A poll asks from this long before its cursor: a document saved while the previous poll
# ran, or stamped by a clock a little behind ours, is not missed (the engine de-duplicates).
POLL_OVERLAP_SECONDS = 30

# -- system lists, cached per process ------------------------------------------------------

_cache: dict[tuple[str, str, str], tuple[float, Any]] = {}
_cache_lock = threading.Lock()


def _cached(key: tuple[str, str, str], load: Callable[[], Any]) -> Any:
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    return _remember(key, load())


def _remember(key: tuple[str, str, str], value: Any) -> Any:
    with _cache_lock:
        _cache[key] = (time.monotonic() + SYSTEM_LIST_SECONDS, value)
    return value


class SevdeskConnector(SevdeskArticles):
    provider = PROVIDER
    read_error = staticmethod(mapping.read_error)

    def default_headers(self) -> Mapping[str, str]:
        return {"Accept": "application/json", "User-Agent": USER_AGENT}

    # -- the interface ------------------------------------------------------------------

    def verify(self) -> AccountInfo:
        """1 call: `GET /SevUser`. The spec has no endpoint for the company's name, so the
        account is named after the token's user; the id is the sevDesk client's."""
        user = _remember(self._cache_key("SevUser"), self._load_sev_user())
        client = user.get("sevClient")
        client_id = client.get("id") if isinstance(client, Mapping) else None
        return AccountInfo(
            account_id=str(client_id if client_id is not None else user.get("id", "")),
            name=str(user.get("fullname") or user.get("username") or ""),
        )

    def find_customer_by_email(self, customer: Customer) -> CustomerRef | None:
        """sevDesk cannot filter contacts or communication ways by value: pages through all
        e-mail addresses (`GET /CommunicationWay?type=EMAIL`, 1 call per 1,000 addresses)
        and matches locally, case aside; then 1 call for each contact holding the address
        (usually 1) until one of the customer's kind is found. A company look-up takes 1
        more call when the holder is a contact person, whose organisation is then the
        customer; a person look-up skips organisations and contact persons alike, who are
        no person customers (see `find_customer_by_name`)."""
        wanted = customer.lookup_email.strip().casefold()
        if not wanted:
            return None
        for way in self._pages("/CommunicationWay", {"type": "EMAIL"}):
            if str(way.get("value") or "").strip().casefold() != wanted:
                continue
            contact_id = mapping.id_of(way.get("contact"))
            contact = self._contact(contact_id) if contact_id else None
            if contact is None:
                continue
            parent_id = mapping.id_of(contact.get("parent"))
            if parent_id and customer.kind is CustomerKind.COMPANY:
                contact = self._contact(parent_id)
                if contact is None:
                    continue
            if mapping.is_of_kind(contact, customer.kind):
                return mapping.to_ref(contact)
        return None

    def find_customer_by_name(self, customer: Customer) -> CustomerRef | None:
        """1 call per 1,000 hits (usually 1): `GET /Contact` with the `name` filter, which
        matches a name, first name or last name; an organisation's name, or a person's first
        and last name, must then match exactly (case and spacing aside). Contact persons of
        an organisation are not person customers and are skipped."""
        if customer.kind is CustomerKind.COMPANY:
            company = customer.require_company()
            search, wanted = company.name.strip(), mapping.normalized(company.name)
            params = {"name": search}
        else:
            person = customer.require_person()
            search = person.last_name.strip() or person.first_name.strip()
            wanted = mapping.normalized(f"{person.first_name} {person.last_name}")
            params = {"name": search, "depth": "1"}  # depth 1: persons as well
        if not search:
            return None
        for contact in self._pages("/Contact", params):
            if mapping.name_of(contact, customer.kind) == wanted:
                return mapping.to_ref(contact)
        return None

    def get_customer(self, vendor_id: str) -> CustomerRef | None:
        """1 call: `GET /Contact/{id}`; None when it does not exist (any more). sevDesk
        answers an unknown id with 400 "Contact was not found"."""
        if not mapping.is_id(vendor_id):
            return None
        contact = self._contact(vendor_id)
        return mapping.to_ref(contact) if contact is not None else None

    def create_customer(self, customer: Customer) -> CustomerRef:
        """`POST /Contact` (an organisation, or a person, category customer), then
        `POST /ContactAddress` for the address and `POST /CommunicationWay` for each e-mail
        address and phone number; for a company's contact person another `POST /Contact`
        with `parent` and their own e-mail and phone. A company with address, e-mail, phone
        and a contact person with e-mail and phone: 7 calls, plus 1 for the country list
        when it is not cached. Not idempotent: after an UnknownOutcome look it up first."""
        address = customer.address
        # The country first: an unknown one fails before anything is written.
        country = (
            mapping.country(address.country_code, self._countries())
            if address.country_code.strip()
            else None
        )
        if customer.kind is CustomerKind.COMPANY:
            company = customer.require_company()
            contact = self._create_contact(mapping.organisation_fields(company))
            contact_id = str(contact["id"])
            self._add_details(
                contact_id,
                name=company.name,
                address=address,
                country=country,
                email=company.email,
                phone=company.phone,
            )
            person = company.contact_person
            if person is not None and mapping.person_fields(person):
                fields = mapping.person_fields(person)
                fields["parent"] = mapping.reference(contact_id, "Contact")
                member = self._create_contact(fields)
                self._add_details(str(member["id"]), email=person.email, phone=person.phone)
            return mapping.to_ref(contact)
        person = customer.require_person()
        contact = self._create_contact(mapping.person_fields(person))
        self._add_details(
            str(contact["id"]),
            name=f"{person.first_name} {person.last_name}".strip(),
            address=address,
            country=country,
            email=person.email,
            phone=person.phone,
        )
        return mapping.to_ref(contact)

    def contact_person_ensure(
        self, ref: CustomerRef, person: Person, *, customer_created: bool
    ) -> str:
        """0 calls for an organisation created just now (its contact person was created with
        it); else 1 call per 1,000 name hits (`GET /Contact?name=..&depth=1`) to find the
        person among the organisation's contact persons (a person contact whose `parent` is
        the organisation), and when it is not there 1 call to create it (`POST /Contact` with
        `parent`) plus 1 per e-mail address and phone number. Never a person customer of its
        own. sevDesk's quotes name a sevDesk user as contact person, so there is no id to
        return."""
        fields = mapping.person_fields(person)
        if customer_created or not fields:
            return ""
        parent_id = mapping.require_id(ref.vendor_id, "contact")
        search = person.last_name.strip() or person.first_name.strip()
        wanted = mapping.normalized(f"{person.first_name} {person.last_name}")
        for contact in self._pages("/Contact", {"name": search, "depth": "1"}):
            if mapping.is_contact_person_of(contact, parent_id, wanted):
                return ""
        fields["parent"] = mapping.reference(parent_id, "Contact")
        member = self._create_contact(fields)
        self._add_details(str(member["id"]), email=person.email, phone=person.phone)
        return ""

    def update_customer(self, ref: CustomerRef, customer: Customer) -> CustomerRef:
        """2 calls, 3 when the e-mail address is new: `PUT /Contact/{id}` with the name (and
        VAT id), which changes only the fields sent; then the contact's e-mail addresses
        (`GET /CommunicationWay?contact[id]=..&type=EMAIL`) and `POST /CommunicationWay`
        when ours is not among them. Addresses and contact persons are left as they are:
        the customer may have edited them in sevDesk."""
        contact_id = mapping.require_id(ref.vendor_id, "contact")
        if customer.kind is CustomerKind.COMPANY:
            company = customer.require_company()
            fields, email = mapping.organisation_fields(company), company.email
        else:
            person = customer.require_person()
            fields, email = mapping.person_fields(person), person.email
        fields.pop("category", None)
        updated = mapping.first(self.request("PUT", f"/Contact/{contact_id}", json=fields))
        email = email.strip()
        if email:
            ways = self.request(
                "GET",
                "/CommunicationWay",
                params={
                    "contact[id]": contact_id,
                    "contact[objectName]": "Contact",
                    "type": "EMAIL",
                },
            )
            held = {str(w.get("value") or "").strip().casefold() for w in mapping.objects(ways)}
            if email.casefold() not in held:
                self._add_communication_way(contact_id, "EMAIL", email)
        number = updated.get("customerNumber") if updated else None
        return CustomerRef(vendor_id=contact_id, number=str(number or ref.number or ""))

    def create_quote(self, quote: Quote) -> QuoteRef:
        """2 calls once the system lists are cached (else up to 5): the contact's address
        (`GET /ContactAddress`, for the document's country and recipient block), then
        `POST /Order/Factory/saveOrder` with a draft quote (orderType AN, status 100) and
        its positions. The order number is derived from our reference, which `find_quote`
        looks for after an UnknownOutcome."""
        return self._create_order(quote, DocumentKind.QUOTE)

    def _create_order(
        self, quote: Quote, kind: DocumentKind, *, origin: DocumentLink | None = None
    ) -> QuoteRef:
        """A draft order of `kind` (AN quote, AB order confirmation) through `saveOrder`;
        `origin`: the quote it confirms (`Model_Order.origin`, "for example an offer")."""
        number = mapping.order_number(quote.reference)
        order = self._document_fields(quote)
        if kind is DocumentKind.QUOTE:
            title = documents.text(quote.language, "quote")
        else:
            words = mapping.ORDER_CONFIRMATION_WORDS
            title = words.get(quote.language) or words[documents.LEGACY_LANGUAGE]
        order.update(
            objectName="Order",
            orderNumber=number,
            orderDate=mapping.sevdesk_date(quote.valid_from),
            orderType=mapping.ORDER_TYPES[kind],
            status=mapping.ORDER_STATUS_DRAFT,
            header=self._header(quote, f"{title} {number}"),
            version=0,
        )
        if origin is not None:
            order["origin"] = mapping.reference(
                mapping.require_id(origin.vendor_id, "order"), "Order"
            )
        unities = self._unities()
        positions = [mapping.position(p, unities) for p in quote.positions]
        response = self._save(
            "/Order/Factory/saveOrder", {"order": order, "orderPosSave": positions}
        )
        saved = mapping.saved(response, "order")
        return QuoteRef(vendor_id=str(saved["id"]), number=str(saved.get("orderNumber") or number))

    def tax_rates(self) -> frozenset[Decimal]:
        """The rates of the tax rule every document is sent with (fact sheet: the API has no
        list of them)."""
        return mapping.TAX_RULE_RATES

    def _save(self, path: str, body: Mapping[str, Any]) -> requests.Response:
        """A document through its factory; a refused tax rate is told apart from other
        refusals, so the customer learns which setting fixes it."""
        try:
            return self.request("POST", path, json=body)
        except errors.PermanentError as exc:
            refused = mapping.tax_rate_refusal(exc)
            if refused is None:
                raise
            raise refused from exc

    def find_quote(self, reference: str, *, customer_id: str = "") -> QuoteRef | None:
        """1 call: `GET /Order?orderNumber=..` with the number `create_quote` derived from the
        same reference; the newest quote (orderType AN) with exactly that number."""
        number = mapping.order_number(reference)
        response = self.request("GET", "/Order", params={"orderNumber": number})
        return mapping.newest_quote(mapping.objects(response), number)

    def create_invoice(self, quote: Quote) -> QuoteRef:
        """2 calls once the system lists are cached (else up to 5): the contact's address,
        then `POST /Invoice/Factory/saveInvoice` with a draft invoice (type RE, status 100)
        dated `valid_from`. sevDesk numbers an invoice when it is sent, not as a draft."""
        invoice = self._document_fields(quote)
        invoice.update(
            objectName="Invoice",
            invoiceDate=mapping.sevdesk_date(quote.valid_from),
            invoiceType=mapping.INVOICE_TYPE_REGULAR,
            status=mapping.INVOICE_STATUS_DRAFT,
            discount=0,  # no early-payment discount
            header=self._header(quote, documents.text(quote.language, "invoice")),
        )
        unities = self._unities()
        positions = [
            {"objectName": "InvoicePos", "mapAll": True, **mapping.position(p, unities)}
            for p in quote.positions
        ]
        response = self._save(
            "/Invoice/Factory/saveInvoice", {"invoice": invoice, "invoicePosSave": positions}
        )
        saved = mapping.saved(response, "invoice")
        return QuoteRef(vendor_id=str(saved["id"]), number=str(saved.get("invoiceNumber") or ""))

    # -- documents per deal stage, and their status -------------------------------------

    def create_document(
        self,
        kind: DocumentKind,
        document: Quote,
        *,
        preceding: DocumentLink | None = None,
        finalize: bool = False,
    ) -> QuoteRef:
        """A quote, an order confirmation (AB, from the deal's quote where given) or an
        invoice: from the deal's quote or order through `createInvoiceFromOrder` (1 call;
        sevDesk copies the order's contact, texts and positions, so `document` is not sent),
        else as `create_invoice`. All drafts: see the provider for why none is finalized."""
        if finalize:
            raise errors.UnsupportedByVendor("sevDesk: invoices are created as drafts only.")
        if preceding is not None and not self.capabilities.can_link(kind, preceding.kind):
            raise errors.UnsupportedByVendor(f"sevDesk: no {kind} made from a {preceding.kind}.")
        if kind is DocumentKind.ORDER:
            return self._create_order(document, kind, origin=preceding)
        if kind is DocumentKind.INVOICE and preceding is not None:
            return self._invoice_from_order(preceding)
        return super().create_document(kind, document)

    def _invoice_from_order(self, order: DocumentLink) -> QuoteRef:
        """`POST /Invoice/Factory/createInvoiceFromOrder` with the body only: the saved spec
        still requires `invoice[id]` / `invoice[objectName]` query parameters that sevDesk's
        current spec dropped (fact sheet: "send the body only")."""
        body = {"order": mapping.reference(mapping.require_id(order.vendor_id, "order"), "Order")}
        response = self.request("POST", "/Invoice/Factory/createInvoiceFromOrder", json=body)
        invoice = mapping.first(response)
        if invoice is None or not mapping.is_id(str(invoice.get("id") or "")):
            raise errors.UnknownOutcome("sevDesk created an invoice but did not return it")
        return QuoteRef(
            vendor_id=str(invoice["id"]), number=str(invoice.get("invoiceNumber") or "")
        )

    def find_document(
        self, kind: DocumentKind, reference: str, *, customer_id: str = ""
    ) -> QuoteRef | None:
        """Quotes and order confirmations: 1 call, by the order number derived from the
        reference (`GET /Order?orderNumber=..`), of the kind's order type. Invoices have no
        number as drafts: the customer's invoices (`GET /Invoice?contact[id]=..`, 1 call per
        1,000; all invoices without a customer) whose head text carries our reference."""
        if kind is DocumentKind.INVOICE:
            params = {}
            if customer_id:
                contact_id = mapping.require_id(customer_id, "contact")
                params = {"contact[id]": contact_id, "contact[objectName]": "Contact"}
            return status.newest_invoice(list(self._pages("/Invoice", params)), reference)
        number = mapping.order_number(reference)
        response = self.request("GET", "/Order", params={"orderNumber": number})
        return mapping.newest_quote(mapping.objects(response), number, mapping.ORDER_TYPES[kind])

    def document_state(self, kind: DocumentKind, vendor_id: str) -> DocumentState:
        """1 call: `GET /Order/{id}` or `GET /Invoice/{id}`; for an invoice past its draft
        1 more, `GET /Invoice?origin[id]=..&invoiceType=SR`, since a cancelled invoice is
        known by the cancellation invoice naming it as its origin (the spec gives the
        cancelled status no code). NotFound when sevDesk no longer has it."""
        path = "/Invoice" if kind is DocumentKind.INVOICE else "/Order"
        document_id = mapping.require_id(vendor_id, kind.value)
        try:
            row = mapping.first(self.request("GET", f"{path}/{document_id}"))
        except errors.PermanentError as exc:
            if exc.status != 400:  # "Bad request. Invoice was not found"
                raise
            row = None
        if row is None:
            raise errors.NotFound(f"sevDesk has no {kind} {document_id} (any more).")
        cancelled = False
        if kind is DocumentKind.INVOICE and str(row.get("status")) != mapping.INVOICE_STATUS_DRAFT:
            params = {
                "origin[id]": document_id,
                "origin[objectName]": "Invoice",
                "invoiceType": mapping.INVOICE_TYPE_CANCELLATION,
            }
            cancellations = mapping.objects(self.request("GET", "/Invoice", params=params))
            cancelled = any(mapping.id_of(c.get("origin")) == document_id for c in cancellations)
        return status.document_state(kind, row, cancelled=cancelled)

    def document_changes(self, cursor: str) -> DocumentChanges:
        """2 calls (1 more per further 1,000 changes): `GET /Invoice?updateAfter=..` and
        `GET /Order?updateAfter=..` (filters of the spec's "How to filter" texts), from
        `POLL_OVERLAP_SECONDS` before the cursor. The cursor is the newest update stamp seen
        (a Unix timestamp), so sevDesk's clock, not ours, moves it; "" starts now."""
        if not cursor:
            return DocumentChanges(changes=(), cursor=str(int(time.time())))
        try:
            since = int(cursor)
        except ValueError:
            raise errors.PermanentError(f"“{cursor}” is not a sevDesk poll cursor.") from None
        params = {"updateAfter": str(since - POLL_OVERLAP_SECONDS)}
        newest = since
        changes: list[DocumentChange] = []
        listed = [(row, DocumentKind.INVOICE) for row in self._pages("/Invoice", params)] + [
            (row, status.order_kind(row)) for row in self._pages("/Order", params)
        ]
        for row, kind in listed:
            change = status.document_change(kind, row) if kind is not None else None
            if change is None:
                continue
            changes.append(change)
            stamp = status.moment(row.get("update"))
            if stamp is not None:
                newest = max(newest, int(stamp.timestamp()))
        return DocumentChanges(changes=tuple(changes), cursor=str(newest))

    def delete_customer(self, ref: CustomerRef) -> None:
        """1 call: `DELETE /Contact/{id}`; a contact that is already gone (404) is fine.
        sevDesk answers 409 when the contact is still used, e.g. by a document."""
        contact_id = mapping.require_id(ref.vendor_id, "contact")
        try:
            self.request("DELETE", f"/Contact/{contact_id}")
        except errors.NotFound:
            logger.info("sevDesk: contact %s was already deleted", contact_id)

    # -- requests -------------------------------------------------------------------------

    def _pages(self, path: str, params: Mapping[str, str]) -> Iterator[dict[str, Any]]:
        """The rows of a list, page by page (limit/offset) until the caller stops reading."""
        limit = mapping.LIST_LIMIT
        for page in range(mapping.LIST_PAGES_MAX):
            response = self.request(
                "GET", path, params={**params, "limit": limit, "offset": page * limit}
            )
            rows = mapping.objects(response)
            yield from rows
            if len(rows) < limit:
                return
        logger.warning(
            "sevDesk: %s has more than %d rows; stopped looking",
            path,
            mapping.LIST_PAGES_MAX * limit,
        )

    def _contact(self, contact_id: str) -> dict[str, Any] | None:
        try:
            response = self.request("GET", f"/Contact/{contact_id}")
        except errors.NotFound:
            return None
        except errors.PermanentError as exc:
            if exc.status == 400:  # "Bad request. Contact was not found"
                return None
            raise
        return mapping.first(response)

    # -- contacts -------------------------------------------------------------------------

    def _create_contact(self, fields: dict[str, Any]) -> dict[str, Any]:
        contact = mapping.first(self.request("POST", "/Contact", json=fields))
        if contact is None or not mapping.is_id(str(contact.get("id", ""))):
            # Created, but the answer does not say as what: the caller looks it up again.
            raise errors.UnknownOutcome("sevDesk created a contact but did not return it")
        return contact

    def _add_details(
        self,
        contact_id: str,
        *,
        name: str = "",
        address: Address | None = None,
        country: mapping.Country | None = None,
        email: str = "",
        phone: str = "",
    ) -> None:
        if address is not None and country is not None:
            body = mapping.address_body(contact_id, country.id, name=name, address=address)
            self.request("POST", "/ContactAddress", json=body)
        if email.strip():
            self._add_communication_way(contact_id, "EMAIL", email.strip())
        if phone.strip():
            self._add_communication_way(contact_id, "PHONE", phone.strip())

    def _add_communication_way(self, contact_id: str, kind: str, value: str) -> None:
        body = mapping.communication_way_body(contact_id, kind, value)
        self.request("POST", "/CommunicationWay", json=body)

    # -- documents ------------------------------------------------------------------------

    def _document_fields(self, quote: Quote) -> dict[str, Any]:
        contact_id = mapping.require_id(quote.customer_id, "contact")
        currency = mapping.currency_of(quote)
        user = self._sev_user()
        address = self._document_address(contact_id)
        return mapping.document_fields(
            quote,
            contact_id=contact_id,
            currency=currency,
            user_id=str(user["id"]),
            address=address,
        )

    def _header(self, quote: Quote, fallback: str) -> str:
        return mapping.header(quote, fallback, max_length=self.capabilities.title_max_length)

    def _document_address(self, contact_id: str) -> mapping.DocumentAddress:
        """The contact's first address as the document's recipient. The spec declares no
        filter on `GET /ContactAddress`; sevDesk's `contact[id]` list filter is sent and the
        rows are checked as well. Without an address the document goes to Germany with
        sevDesk's defaults."""
        response = self.request(
            "GET",
            "/ContactAddress",
            params={"contact[id]": contact_id, "contact[objectName]": "Contact"},
        )
        found = mapping.document_address(mapping.objects(response), contact_id, self._countries())
        if found is not None:
            return found
        home = mapping.country(mapping.DEFAULT_COUNTRY, self._countries())
        return mapping.DocumentAddress(country_id=home.id, text="")

    # -- system lists -----------------------------------------------------------------------

    def _cache_key(self, name: str) -> tuple[str, str, str]:
        return (self.client.api.base_url, self.client.limiter_key, name)

    def _system_list(self, name: str, parse: Callable[[list[dict[str, Any]]], T]) -> T:
        """`GET /{name}`, parsed; cached for an hour per token and process."""

        def load() -> T:
            return parse(mapping.objects(self.request("GET", f"/{name}")))

        cached: T = _cached(self._cache_key(name), load)
        return cached

    def _load_sev_user(self) -> dict[str, Any]:
        return mapping.sev_user(mapping.objects(self.request("GET", "/SevUser")))

    def _sev_user(self) -> dict[str, Any]:
        return self._system_list("SevUser", mapping.sev_user)

    def _countries(self) -> tuple[mapping.Country, ...]:
        return self._system_list("StaticCountry", mapping.countries)

    def _unities(self) -> tuple[mapping.Unity, ...]:
        return self._system_list("Unity", mapping.unities)
