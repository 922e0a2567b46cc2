"""sevDesk: contacts, quotes (orders of type AN) and invoices through API v1.

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
from connectors.base import AccountingConnector
from connectors.sevdesk import mapping
from connectors.sevdesk.provider import PROVIDER
from connectors.shapes import (
    AccountInfo,
    Address,
    Customer,
    CustomerKind,
    CustomerRef,
    Person,
    Quote,
    QuoteRef,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")

# The spec asks for a meaningful User-Agent, so sevDesk's support can tell integrations apart.
USER_AGENT = "APIUP HubSpot integration"
SYSTEM_LIST_SECONDS = 3600.0

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


class SevdeskConnector(AccountingConnector):
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
        number = mapping.order_number(quote.reference)
        order = self._document_fields(quote)
        order.update(
            objectName="Order",
            orderNumber=number,
            orderDate=mapping.sevdesk_date(quote.valid_from),
            orderType=mapping.ORDER_TYPE_QUOTE,
            status=mapping.ORDER_STATUS_DRAFT,
            header=self._header(quote, f"{documents.text(quote.language, 'quote')} {number}"),
            version=0,
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
