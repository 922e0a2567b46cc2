"""sevDesk: contacts, quotes (orders of type AN) and invoices through API v1.

Everything here follows `sevdesk/sevdesk-openapi.patched.yaml` and the sevDesk fact sheet in
the shared vendor-specs folder. The vendor's quirks live in this module only: the raw API
token as the whole `Authorization` header (no Bearer), `{id, objectName}` references with
integer ids, addresses and e-mail addresses as separate objects (`ContactAddress`,
`CommunicationWay`), no e-mail filter on contacts, `orderNumber` required on quotes, the
`taxRule` of sevdesk-Update 2.0 next to the required `taxType`, and errors as
`{"error": {"message": ...}}`.

Three system lists are real endpoints the spec file lacks: `GET /SevUser` (the quote's
contact person), `GET /Unity` (position units) and `GET /StaticCountry` (address countries;
the spec tells clients to "send a GET to /StaticCountry"). They are read once per hour per
token and process.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, ClassVar

import requests
from django.conf import settings

from connectors import errors
from connectors.base import AccountingConnector
from connectors.http import HttpClient, VendorApi
from connectors.models import Connection, System
from connectors.ratelimit import Rate
from connectors.rules import fit_title
from connectors.shapes import (
    AccountInfo,
    Address,
    Capabilities,
    Company,
    Customer,
    CustomerKind,
    CustomerRef,
    Person,
    Quote,
    QuotePosition,
    QuoteRef,
)

logger = logging.getLogger(__name__)

# The spec asks for a meaningful User-Agent, so sevDesk's support can tell integrations apart.
USER_AGENT = "APIUP HubSpot integration"
CATEGORY_CUSTOMER = 3  # contact categories: 2 supplier, 3 customer, 4 partner, 28 prospect
COMMUNICATION_KEY_WORK = 2  # "ID: 2 - Arbeit" (getCommunicationWayKeys)
ORDER_TYPE_QUOTE = "AN"
ORDER_STATUS_DRAFT = 100
INVOICE_TYPE_REGULAR = "RE"
INVOICE_STATUS_DRAFT = "100"  # the spec types the invoice status as a string
# Prices are net; taxType `default` ("Umsatzsteuer ausweisen") is required by the spec, the
# tax rule 1 ("Umsatzsteuerpflichtige Umsaetze", rates 0/7/19) is what sevdesk-Update 2.0
# accounts need instead. Both are sent; see the module's report for what is unverified.
TAX_TYPE = "default"
TAX_RULE = {"id": "1", "objectName": "TaxRule"}
TAX_TEXT = "Umsatzsteuer ausweisen"
DEFAULT_COUNTRY = "de"  # sevDesk's home country, for documents whose contact has no address
REFERENCE_LABEL = "Referenz"
LIST_LIMIT = 1000  # "limit must be between 1 and 1000" (official spec 2026-05)
LIST_PAGES_MAX = 10  # 10,000 rows; a match beyond that is not worth more calls
SYSTEM_LIST_SECONDS = 3600.0

# What a HubSpot unit means in sevDesk's unit list (translation code, then short name).
UNIT_PIECE = ("UNITY_PIECE", "Stk")
UNIT_HOUR = ("UNITY_HOUR", "Std")
UNIT_ALIASES: dict[str, tuple[str, str]] = {
    "stück": UNIT_PIECE,
    "stueck": UNIT_PIECE,
    "stk": UNIT_PIECE,
    "stk.": UNIT_PIECE,
    "piece": UNIT_PIECE,
    "pieces": UNIT_PIECE,
    "pcs": UNIT_PIECE,
    "stunde": UNIT_HOUR,
    "stunden": UNIT_HOUR,
    "std": UNIT_HOUR,
    "std.": UNIT_HOUR,
    "h": UNIT_HOUR,
    "hour": UNIT_HOUR,
    "hours": UNIT_HOUR,
}

API = VendorApi(
    name="sevDesk",
    base_url="",  # read from settings when a connector is made (tests and demo repoint it)
    # sevDesk publishes no limit. Five calls per second per token, evenly refilled, stays
    # far below what integrations report; a 429 is still honoured with its Retry-After.
    rate=Rate(per_second=5, burst=5),
    # sevDesk is a PHP application that has answered failed writes with 500 (validation
    # errors moved to 422 only in 2024): after a 500 to a create the object may exist, so a
    # create is not repeated blindly but reported as an unknown outcome.
    unknown_outcome_statuses=frozenset({500, 504}),
)


def read_error(response: requests.Response) -> str:
    """sevDesk's own words from `{"error": {"message": ..., "code": ..., "data": ...}}`."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or f"HTTP {response.status_code}"
    if not isinstance(body, Mapping):
        return str(body)[:500]
    error = body.get("error")
    if isinstance(error, Mapping):
        message = error.get("message")
        if isinstance(message, str) and message:
            return message[:1000]
    if isinstance(error, str) and error:
        return error[:1000]
    message = body.get("message")
    if isinstance(message, str) and message:
        return message[:1000]
    return str(body)[:500]


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


@dataclass(frozen=True, slots=True)
class _Country:
    id: int
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class _Unity:
    id: int
    name: str
    translation_code: str


@dataclass(frozen=True, slots=True)
class _DocumentAddress:
    country_id: int
    text: str  # the recipient block printed on the document; "" leaves it to sevDesk


class SevdeskConnector(AccountingConnector):
    system = System.SEVDESK
    capabilities: ClassVar[Capabilities] = Capabilities(
        title_max_length=None,  # the spec sets no length on `header`
        currencies=None,  # "currency code according to ISO-4217", no list
        can_delete_customers=True,  # DELETE /Contact/{contactId}
        has_idempotency_keys=False,
        can_create_invoices=True,
        quote_is_draft=True,  # status 100 = draft
    )

    def __init__(self, *, connection: Connection, base_url: str | None = None) -> None:
        super().__init__(connection=connection, base_url=base_url)
        api = replace(API, base_url=base_url or settings.VENDOR_API_URLS["sevdesk"])
        self.client = HttpClient(
            api,
            auth_headers=self._auth_headers,
            # One bucket per token, named by a hash so the token never shows up in Redis.
            limiter_key=hashlib.sha256(self._stored_token().encode()).hexdigest()[:32],
            read_error=read_error,
        )

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
            contact_id = _id_of(way.get("contact"))
            contact = self._contact(contact_id) if contact_id else None
            if contact is None:
                continue
            parent_id = _id_of(contact.get("parent"))
            if parent_id and customer.kind is CustomerKind.COMPANY:
                contact = self._contact(parent_id)
                if contact is None:
                    continue
            if _is_of_kind(contact, customer.kind):
                return _ref(contact)
        return None

    def find_customer_by_name(self, customer: Customer) -> CustomerRef | None:
        """1 call per 1,000 hits (usually 1): `GET /Contact` with the `name` filter, which
        matches a name, first name or last name; an organisation's name, or a person's first
        and last name, must then match exactly (case and spacing aside). Contact persons of
        an organisation are not person customers and are skipped."""
        if customer.kind is CustomerKind.COMPANY:
            company = _company_of(customer)
            search, wanted = company.name.strip(), _normalized(company.name)
            params = {"name": search}
        else:
            person = _person_of(customer)
            search = person.last_name.strip() or person.first_name.strip()
            wanted = _normalized(f"{person.first_name} {person.last_name}")
            params = {"name": search, "depth": "1"}  # depth 1: persons as well
        if not search:
            return None
        for contact in self._pages("/Contact", params):
            if _name_of(contact, customer.kind) == wanted:
                return _ref(contact)
        return None

    def get_customer(self, vendor_id: str) -> CustomerRef | None:
        """1 call: `GET /Contact/{id}`; None when it does not exist (any more). sevDesk
        answers an unknown id with 400 "Contact was not found"."""
        if not _is_id(vendor_id):
            return None
        contact = self._contact(vendor_id)
        return _ref(contact) if contact is not None else None

    def create_customer(self, customer: Customer) -> CustomerRef:
        """`POST /Contact` (an organisation, or a person, category customer), then
        `POST /ContactAddress` for the address and `POST /CommunicationWay` for each e-mail
        address and phone number; for a company's contact person another `POST /Contact`
        with `parent` and their own e-mail and phone. A company with address, e-mail, phone
        and a contact person with e-mail and phone: 7 calls, plus 1 for the country list
        when it is not cached. Not idempotent: after an UnknownOutcome look it up first."""
        address = customer.address
        # The country first: an unknown one fails before anything is written.
        country = self._country(address.country_code) if address.country_code.strip() else None
        if customer.kind is CustomerKind.COMPANY:
            company = _company_of(customer)
            contact = self._create_contact(_organisation_fields(company))
            contact_id = str(contact["id"])
            self._add_details(
                contact_id,
                name=company.name,
                address=address,
                country=country,
                email=company.email,
                phone=company.phone,
            )
            if company.contact_person is not None and _person_fields(company.contact_person):
                person = company.contact_person
                fields = _person_fields(person)
                fields["parent"] = _reference(contact_id, "Contact")
                member = self._create_contact(fields)
                self._add_details(str(member["id"]), email=person.email, phone=person.phone)
            return _ref(contact)
        person = _person_of(customer)
        contact = self._create_contact(_person_fields(person))
        self._add_details(
            str(contact["id"]),
            name=f"{person.first_name} {person.last_name}".strip(),
            address=address,
            country=country,
            email=person.email,
            phone=person.phone,
        )
        return _ref(contact)

    def update_customer(self, ref: CustomerRef, customer: Customer) -> CustomerRef:
        """2 calls, 3 when the e-mail address is new: `PUT /Contact/{id}` with the name (and
        VAT id), which changes only the fields sent; then the contact's e-mail addresses
        (`GET /CommunicationWay?contact[id]=..&type=EMAIL`) and `POST /CommunicationWay`
        when ours is not among them. Addresses and contact persons are left as they are:
        the customer may have edited them in sevDesk."""
        contact_id = _require_id(ref.vendor_id, "contact")
        if customer.kind is CustomerKind.COMPANY:
            company = _company_of(customer)
            fields = _organisation_fields(company)
            email = company.email
        else:
            person = _person_of(customer)
            fields = _person_fields(person)
            email = person.email
        fields.pop("category", None)
        updated = _first(self._call("PUT", f"/Contact/{contact_id}", json=fields))
        email = email.strip()
        if email:
            ways = self._call(
                "GET",
                "/CommunicationWay",
                params={
                    "contact[id]": contact_id,
                    "contact[objectName]": "Contact",
                    "type": "EMAIL",
                },
            )
            held = {str(w.get("value") or "").strip().casefold() for w in _objects(ways)}
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
        number = order_number(quote.reference)
        order = self._document_fields(quote)
        order.update(
            objectName="Order",
            orderNumber=number,
            orderDate=_sevdesk_date(quote.valid_from),
            orderType=ORDER_TYPE_QUOTE,
            status=ORDER_STATUS_DRAFT,
            header=self._header(quote, f"Angebot {number}"),
            version=0,
        )
        unities = self._unities()
        positions = [_position(p, unities) for p in quote.positions]
        response = self._call(
            "POST", "/Order/Factory/saveOrder", json={"order": order, "orderPosSave": positions}
        )
        saved = _saved(response, "order")
        return QuoteRef(vendor_id=str(saved["id"]), number=str(saved.get("orderNumber") or number))

    def find_quote(self, reference: str, *, customer_id: str = "") -> QuoteRef | None:
        """1 call: `GET /Order?orderNumber=..` with the number `create_quote` derived from the
        same reference; the newest quote (orderType AN) with exactly that number."""
        number = order_number(reference)
        response = self._call("GET", "/Order", params={"orderNumber": number})
        quotes = [
            order
            for order in _objects(response)
            if str(order.get("orderNumber") or "") == number
            and str(order.get("orderType") or ORDER_TYPE_QUOTE) == ORDER_TYPE_QUOTE
            and _is_id(str(order.get("id") or ""))
        ]
        if not quotes:
            return None
        newest = max(quotes, key=lambda order: int(order["id"]))
        return QuoteRef(vendor_id=str(newest["id"]), number=number)

    def create_invoice(self, quote: Quote) -> QuoteRef:
        """2 calls once the system lists are cached (else up to 5): the contact's address,
        then `POST /Invoice/Factory/saveInvoice` with a draft invoice (type RE, status 100)
        dated `valid_from`. sevDesk numbers an invoice when it is sent, not as a draft."""
        invoice = self._document_fields(quote)
        invoice.update(
            objectName="Invoice",
            invoiceDate=_sevdesk_date(quote.valid_from),
            invoiceType=INVOICE_TYPE_REGULAR,
            status=INVOICE_STATUS_DRAFT,
            discount=0,  # no early-payment discount
            header=self._header(quote, "Rechnung"),
        )
        unities = self._unities()
        positions = [
            {"objectName": "InvoicePos", "mapAll": True, **_position(p, unities)}
            for p in quote.positions
        ]
        response = self._call(
            "POST",
            "/Invoice/Factory/saveInvoice",
            json={"invoice": invoice, "invoicePosSave": positions},
        )
        saved = _saved(response, "invoice")
        return QuoteRef(vendor_id=str(saved["id"]), number=str(saved.get("invoiceNumber") or ""))

    def delete_customer(self, ref: CustomerRef) -> None:
        """1 call: `DELETE /Contact/{id}`; a contact that is already gone (404) is fine.
        sevDesk answers 409 when the contact is still used, e.g. by a document."""
        contact_id = _require_id(ref.vendor_id, "contact")
        try:
            self._call("DELETE", f"/Contact/{contact_id}")
        except errors.NotFound:
            logger.info("sevDesk: contact %s was already deleted", contact_id)

    # -- requests -------------------------------------------------------------------------

    def _stored_token(self) -> str:
        token = (self.connection.credentials or {}).get("api_token")
        return token.strip() if isinstance(token, str) else ""

    def _auth_headers(self) -> dict[str, str]:
        # The raw token is the whole header: "Bearer <token>" is refused with 401.
        return {
            "Authorization": self._stored_token(),
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        if not self._stored_token():
            raise self._reconnect(errors.ReconnectRequired("No sevDesk API token is stored."))
        try:
            return self.client.request(method, path, **kwargs)
        except errors.AuthorizationExpired as exc:
            # A token never expires and cannot be refreshed: a 401 means it was renewed or its
            # user deleted. Only the customer can fix that by entering the new token.
            raise self._reconnect(
                errors.ReconnectRequired(
                    "sevDesk refused the API token; a new token must be entered.",
                    vendor_message=exc.vendor_message,
                    status=exc.status,
                )
            ) from exc

    def _pages(self, path: str, params: Mapping[str, str]) -> Iterator[dict[str, Any]]:
        """The rows of a list, page by page (limit/offset) until the caller stops reading."""
        for page in range(LIST_PAGES_MAX):
            response = self._call(
                "GET", path, params={**params, "limit": LIST_LIMIT, "offset": page * LIST_LIMIT}
            )
            rows = _objects(response)
            yield from rows
            if len(rows) < LIST_LIMIT:
                return
        logger.warning(
            "sevDesk: %s has more than %d rows; stopped looking", path, LIST_PAGES_MAX * LIST_LIMIT
        )

    def _contact(self, contact_id: str) -> dict[str, Any] | None:
        try:
            response = self._call("GET", f"/Contact/{contact_id}")
        except errors.NotFound:
            return None
        except errors.PermanentError as exc:
            if exc.status == 400:  # "Bad request. Contact was not found"
                return None
            raise
        return _first(response)

    # -- contacts -------------------------------------------------------------------------

    def _create_contact(self, fields: dict[str, Any]) -> dict[str, Any]:
        response = self._call("POST", "/Contact", json=fields)
        contact = _first(response)
        if contact is None or not _is_id(str(contact.get("id", ""))):
            # Created, but the answer does not say as what: the caller looks it up again.
            raise errors.UnknownOutcome("sevDesk created a contact but did not return it")
        return contact

    def _add_details(
        self,
        contact_id: str,
        *,
        name: str = "",
        address: Address | None = None,
        country: _Country | None = None,
        email: str = "",
        phone: str = "",
    ) -> None:
        if address is not None and country is not None:
            body: dict[str, Any] = {
                "contact": _reference(contact_id, "Contact"),
                "country": {"id": country.id, "objectName": "StaticCountry"},
            }
            for field, value in (
                ("name", name),
                ("street", address.street_line),
                ("zip", address.postcode),
                ("city", address.city),
            ):
                if value.strip():
                    body[field] = value.strip()
            self._call("POST", "/ContactAddress", json=body)
        if email.strip():
            self._add_communication_way(contact_id, "EMAIL", email.strip())
        if phone.strip():
            self._add_communication_way(contact_id, "PHONE", phone.strip())

    def _add_communication_way(self, contact_id: str, kind: str, value: str) -> None:
        self._call(
            "POST",
            "/CommunicationWay",
            json={
                "contact": _reference(contact_id, "Contact"),
                "type": kind,
                "value": value,
                "key": {"id": COMMUNICATION_KEY_WORK, "objectName": "CommunicationWayKey"},
                "main": True,
            },
        )

    # -- documents ------------------------------------------------------------------------

    def _document_fields(self, quote: Quote) -> dict[str, Any]:
        """What quotes and invoices share: contact, the user as contact person, recipient,
        currency and tax."""
        contact_id = _require_id(quote.customer_id, "contact")
        currency = quote.currency.strip().upper()
        if not re.fullmatch(r"[A-Z]{3}", currency):
            raise errors.PermanentError(f"“{quote.currency}” is not an ISO 4217 currency code.")
        user = self._sev_user()
        address = self._document_address(contact_id)
        fields: dict[str, Any] = {
            "mapAll": True,
            "contact": _reference(contact_id, "Contact"),
            "contactPerson": _reference(str(user["id"]), "SevUser"),
            "addressCountry": {"id": address.country_id, "objectName": "StaticCountry"},
            "currency": currency,
            # "Is overwritten by order position tax rates"; required all the same.
            "taxRate": _number(max((p.tax_rate for p in quote.positions), default=Decimal(0))),
            "taxText": TAX_TEXT,
            "taxType": TAX_TYPE,
            "taxRule": dict(TAX_RULE),
            "showNet": True,  # the positions' prices are net
        }
        if address.text:
            fields["address"] = address.text
        head_text = _head_text(quote)
        if head_text:
            fields["headText"] = head_text
        return fields

    def _header(self, quote: Quote, fallback: str) -> str:
        title, _ = fit_title(quote.title, self.capabilities.title_max_length)
        return title or fallback

    def _document_address(self, contact_id: str) -> _DocumentAddress:
        """The contact's first address as the document's recipient. The spec declares no
        filter on `GET /ContactAddress`; sevDesk's `contact[id]` list filter is sent and the
        rows are checked here as well, so an ignored filter cannot pick a stranger's
        address. Without an address the document goes to Germany with sevDesk's defaults."""
        response = self._call(
            "GET",
            "/ContactAddress",
            params={"contact[id]": contact_id, "contact[objectName]": "Contact"},
        )
        for row in _objects(response):
            if _id_of(row.get("contact")) != contact_id:
                continue
            country_id = _id_of(row.get("country"))
            country = next((c for c in self._countries() if str(c.id) == country_id), None)
            if country is None:
                continue
            lines = [
                str(row.get("name") or "").strip(),
                str(row.get("street") or "").strip(),
                f"{row.get('zip') or ''} {row.get('city') or ''}".strip(),
                "" if country.code == DEFAULT_COUNTRY else country.name,
            ]
            text = "\n".join(line for line in lines if line) if lines[0] else ""
            return _DocumentAddress(country_id=country.id, text=text)
        return _DocumentAddress(country_id=self._country(DEFAULT_COUNTRY).id, text="")

    # -- system lists -----------------------------------------------------------------------

    def _cache_key(self, name: str) -> tuple[str, str, str]:
        return (self.client.api.base_url, self.client.limiter_key, name)

    def _load_sev_user(self) -> dict[str, Any]:
        users = _objects(self._call("GET", "/SevUser"))
        visible = [u for u in users if str(u.get("hidden") or "0") in ("0", "false", "False")]
        user = next(iter(visible or users), None)
        if user is None or not _is_id(str(user.get("id", ""))):
            raise errors.PermanentError("sevDesk lists no user for this API token.")
        return user

    def _sev_user(self) -> dict[str, Any]:
        user: dict[str, Any] = _cached(self._cache_key("SevUser"), self._load_sev_user)
        return user

    def _countries(self) -> tuple[_Country, ...]:
        def load() -> tuple[_Country, ...]:
            rows = _objects(self._call("GET", "/StaticCountry"))
            return tuple(
                _Country(int(r["id"]), str(r.get("code") or "").lower(), str(r.get("name") or ""))
                for r in rows
                if _is_id(str(r.get("id", "")))
            )

        countries: tuple[_Country, ...] = _cached(self._cache_key("StaticCountry"), load)
        return countries

    def _country(self, code: str) -> _Country:
        wanted = code.strip().lower()
        for country in self._countries():
            if country.code == wanted:
                return country
        raise errors.UnsupportedByVendor(f"sevDesk knows no country with the code “{code}”.")

    def _unities(self) -> tuple[_Unity, ...]:
        def load() -> tuple[_Unity, ...]:
            rows = _objects(self._call("GET", "/Unity"))
            return tuple(
                _Unity(int(r["id"]), str(r.get("name") or ""), str(r.get("translationCode") or ""))
                for r in rows
                if _is_id(str(r.get("id", "")))
            )

        unities: tuple[_Unity, ...] = _cached(self._cache_key("Unity"), load)
        return unities


# -- mapping helpers ---------------------------------------------------------------------


def order_number(reference: str) -> str:
    """The quote's order number, derived from our reference so `find_quote` can look for it:
    "HubSpot-Deal 4711-123" becomes "HubSpot-Deal-4711-123"."""
    number = re.sub(r"[^0-9A-Za-z]+", "-", reference).strip("-")
    if not number:
        raise errors.PermanentError("A quote needs a reference to derive its number from.")
    return number


def _sevdesk_date(day: dt.date) -> str:
    """dd.mm.yyyy: what the field's description asks for ("timestamp or dd.mm.yyyy")."""
    return day.strftime("%d.%m.%Y")


def _number(value: Decimal) -> int | float:
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def _head_text(quote: Quote) -> str:
    """The introduction with our reference at the end (if it is not in it already), as the
    little HTML the field takes: escaped text, line breaks as <br>."""
    text = quote.introduction.strip()
    if quote.reference and quote.reference not in text:
        text = f"{text}\n{REFERENCE_LABEL}: {quote.reference}".strip()
    return "<br>".join(html.escape(line, quote=False) for line in text.splitlines())


def _position(position: QuotePosition, unities: tuple[_Unity, ...]) -> dict[str, Any]:
    """An order or invoice position. Without `objectName`: the patched spec marks it
    read-only on order positions (invoice positions add it)."""
    entry: dict[str, Any] = {
        "quantity": _number(position.quantity),
        "price": _number(position.unit_net_price),
        "name": re.sub(r"\s+", " ", position.name).strip(),
        "taxRate": _number(position.tax_rate),
        "unity": {"id": _unity_id(position.unit, unities), "objectName": "Unity"},
    }
    if position.description.strip():
        entry["text"] = position.description.strip()
    if position.discount_percent:
        entry["discount"] = _number(position.discount_percent)  # percent, as in the web app
    return entry


def _unity_id(unit: str, unities: tuple[_Unity, ...]) -> int:
    """sevDesk's unit for a HubSpot unit: the same name, else piece or hour by the usual
    German and English words, else piece."""
    wanted = unit.strip().casefold()
    for unity in unities:
        if wanted and unity.name.casefold() == wanted:
            return unity.id
    code, short = UNIT_ALIASES.get(wanted, UNIT_PIECE)
    for candidates in ((code, short), UNIT_PIECE):
        for unity in unities:
            if unity.translation_code == candidates[0] or unity.name == candidates[1]:
                return unity.id
    raise errors.PermanentError("sevDesk lists no unit “Stk” (piece) for the positions.")


def _organisation_fields(company: Company) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "name": company.name.strip(),
        "category": {"id": CATEGORY_CUSTOMER, "objectName": "Category"},
    }
    if company.vat_id.strip():
        fields["vatNumber"] = company.vat_id.strip()
    return fields


def _person_fields(person: Person) -> dict[str, Any]:
    """A person: `surename` is the first name ("not quite right in literally every way").
    Empty when the person has no name at all."""
    fields: dict[str, Any] = {}
    if person.first_name.strip():
        fields["surename"] = person.first_name.strip()
    if person.last_name.strip():
        fields["familyname"] = person.last_name.strip()
    if fields:
        fields["category"] = {"id": CATEGORY_CUSTOMER, "objectName": "Category"}
    return fields


def _company_of(customer: Customer) -> Company:
    if customer.company is None:
        raise ValueError("A company customer needs a company.")
    return customer.company


def _person_of(customer: Customer) -> Person:
    if customer.person is None:
        raise ValueError("A person customer needs a person.")
    return customer.person


def _normalized(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def _name_of(contact: Mapping[str, Any], kind: CustomerKind) -> str | None:
    """The name to compare, or None when the contact is of the other kind (sevDesk tells an
    organisation from a person only by `name` versus `surename`/`familyname`)."""
    is_person = bool(contact.get("surename") or contact.get("familyname"))
    if kind is CustomerKind.COMPANY:
        return None if is_person else _normalized(str(contact.get("name") or ""))
    if not is_person or _id_of(contact.get("parent")):
        return None
    return _normalized(f"{contact.get('surename') or ''} {contact.get('familyname') or ''}")


def _is_of_kind(contact: Mapping[str, Any], kind: CustomerKind) -> bool:
    """The contact is a customer of that kind: an organisation, or a person who is not the
    contact person of one (the rule `find_customer_by_name` goes by)."""
    return _name_of(contact, kind) is not None


def _is_id(value: str) -> bool:
    return bool(re.fullmatch(r"[0-9]+", value))


def _require_id(value: str, what: str) -> str:
    if not _is_id(value.strip()):
        raise errors.PermanentError(f"“{value}” is not the id of a sevDesk {what}.")
    return value.strip()


def _reference(object_id: str, object_name: str) -> dict[str, Any]:
    """A reference as the spec types it: `{id: integer, objectName}`."""
    return {"id": int(object_id), "objectName": object_name}


def _id_of(reference: Any) -> str:
    """The id of a `{id, objectName}` reference as read (sevDesk answers it as a string in
    most models and as an integer in a few); "" when there is none."""
    if isinstance(reference, Mapping):
        value = str(reference.get("id") if reference.get("id") is not None else "")
        return value if _is_id(value) else ""
    return ""


def _objects(response: requests.Response) -> list[dict[str, Any]]:
    """The rows of `{"objects": [...]}`; a single object where a list is expected counts as
    a list of one."""
    try:
        body = response.json()
    except ValueError:
        return []
    objects = body.get("objects") if isinstance(body, Mapping) else None
    if isinstance(objects, Mapping):
        objects = [objects]
    if not isinstance(objects, list):
        return []
    return [row for row in objects if isinstance(row, dict)]


def _first(response: requests.Response) -> dict[str, Any] | None:
    rows = _objects(response)
    return rows[0] if rows else None


def _saved(response: requests.Response, key: str) -> dict[str, Any]:
    """The document of a `saveOrder` / `saveInvoice` answer: sevDesk wraps it as
    `{"objects": {"order": ...}}`, the spec's response model leaves the wrapper out."""
    try:
        body = response.json()
    except ValueError:
        body = None
    wrapped = body.get("objects", body) if isinstance(body, Mapping) else None
    if isinstance(wrapped, list):
        wrapped = wrapped[0] if wrapped else None
    document = wrapped.get(key) if isinstance(wrapped, Mapping) else None
    if not isinstance(document, dict) or not _is_id(str(document.get("id", ""))):
        # The document was stored (2xx), but the answer does not say which it is.
        raise errors.UnknownOutcome(f"sevDesk saved the {key} but did not return it")
    return document


def _ref(contact: Mapping[str, Any]) -> CustomerRef:
    return CustomerRef(
        vendor_id=str(contact["id"]), number=str(contact.get("customerNumber") or "")
    )
