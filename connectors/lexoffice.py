"""lexware office (formerly lexoffice): contacts, quotations and invoices through public API v1.

Everything here follows the derived spec `lexoffice/lexoffice-derived-openapi.yaml` and the
fact sheet in the shared vendor-specs folder. The vendor's quirks live in this module only:
a private API key as Bearer token, 2 calls per second per key, a `version` for optimistic
locking on contacts, the 25-character title, EUR only, dates as `yyyy-MM-ddTHH:mm:ss.SSSXXX`,
validation errors as 406 in two body formats, and no DELETE for contacts.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

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

# Where a user opens a voucher in the web app (fact sheet: `{appbaseurl}/permalink/...`).
# Against the local sandbox the links point at the sandbox, so the demo never links to the
# real web app.
APP_BASE_URL = (
    settings.VENDOR_API_URLS["lexoffice"] if settings.SANDBOX_VENDORS else "https://app.lexware.de"
)

BERLIN = ZoneInfo("Europe/Berlin")
CURRENCY = "EUR"  # "Currently only EUR is supported"
TITLE_MAX = 25
INTRODUCTION_MAX = 2000
LINE_ITEM_NAME_MAX = 255
LINE_ITEM_DESCRIPTION_MAX = 2000
MAX_LINE_ITEMS = 300
AMOUNT_PLACES = Decimal("0.0001")  # quantities and unit prices: at most 4 decimals
FILTER_MIN_LENGTH = 3
CONTACT_PAGE_SIZE = 250  # the maximum for contacts
CONTACT_PAGES_MAX = 4  # an exact match beyond 1,000 substring hits is not worth more calls
# What PUT /v1/contacts/{id} takes; the rest of the read model (id, archived, ...) is read-only.
CONTACT_WRITABLE = (
    "version",
    "roles",
    "company",
    "person",
    "addresses",
    "xRechnung",
    "emailAddresses",
    "phoneNumbers",
    "note",
)
EMAIL_KIND = "business"
PHONE_KIND = "business"
REFERENCE_LABEL = "Referenz"
# A quote whose answer was lost is looked for among the customer's newest quotations.
QUOTES_LOOKED_AT = 100
VOUCHERLIST_PAGE = 250

API = VendorApi(
    name="lexware office",
    base_url="",  # read from settings when a connector is made (tests and demo repoint it)
    # 2 calls per second per API key, token bucket; a bucket of one spaces the calls evenly,
    # so all workers that share a key together stay under the limit.
    # A little under the vendor's 2 per second: calls that arrive exactly on time meet its
    # bucket a few milliseconds early often enough to draw 429s (docs/benchmarks.md: 12 % at
    # 2.0, none at 1.95 since transfers are paced).
    rate=Rate(per_second=1.95, burst=1),
    # The gateway gives up after 30 s with a 504 (the write may still happen); wait a little
    # longer than that, so its answer arrives instead of our own time-out.
    read_timeout=35.0,
)


def read_error(response: requests.Response) -> str:
    """The vendor's own words from either of its error formats: the regular body
    (`details[].field/message`) or the legacy `IssueList` of the contacts endpoint."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or f"HTTP {response.status_code}"
    if not isinstance(body, Mapping):
        return str(body)[:500]
    issues = body.get("IssueList")
    if isinstance(issues, list) and issues:
        parts = []
        for issue in issues:
            if isinstance(issue, Mapping):
                key, source = issue.get("i18nKey") or "", issue.get("source") or ""
                parts.append(f"{source}: {key}" if source and key else str(key or source))
        return "; ".join(p for p in parts if p)[:1000] or "IssueList"
    details = body.get("details")
    if isinstance(details, list) and details:
        parts = []
        for detail in details:
            if isinstance(detail, Mapping):
                field, message = detail.get("field") or "", detail.get("message") or ""
                parts.append(f"{field}: {message}" if field else str(message))
        if any(parts):
            return "; ".join(p for p in parts if p)[:1000]
    for key in ("message", "error"):
        value = body.get(key)
        if isinstance(value, str) and value:
            return value
    return str(body)[:500]


class LexofficeConnector(AccountingConnector):
    system = System.LEXOFFICE
    capabilities: ClassVar[Capabilities] = Capabilities(
        title_max_length=TITLE_MAX,
        currencies=frozenset({CURRENCY}),
        can_delete_customers=False,
        has_idempotency_keys=False,
        can_create_invoices=True,
        quote_is_draft=True,
    )

    def __init__(self, *, connection: Connection, base_url: str | None = None) -> None:
        super().__init__(connection=connection, base_url=base_url)
        api = replace(API, base_url=base_url or settings.VENDOR_API_URLS["lexoffice"])
        self.client = HttpClient(
            api,
            auth_headers=self._auth_headers,
            # One bucket per API key, named by a hash so the key never shows up in Redis.
            limiter_key=hashlib.sha256(self._stored_key().encode()).hexdigest()[:32],
            read_error=read_error,
        )

    # -- the interface ------------------------------------------------------------------

    def verify(self) -> AccountInfo:
        """1 call: `GET /v1/profile`."""
        profile = self._call("GET", "/v1/profile").json()
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
        if len(email) < FILTER_MIN_LENGTH:
            return None
        wanted = email.casefold()
        for contact in self._filter_contacts(email=_escape_wildcards(email)):
            if not _is_of_kind(contact, customer.kind):
                continue
            if wanted in (e.casefold() for e in _emails_of(contact)):
                return _ref(contact)
        return None

    def find_customer_by_name(self, customer: Customer) -> CustomerRef | None:
        """1 call per page of 250 substring hits (usually 1). Matches the company name, or a
        person's first and last name, exactly (case and spacing aside)."""
        if customer.kind is CustomerKind.COMPANY:
            company = _company_of(customer)
            search, wanted = company.name, _normalized(company.name)
        else:
            person = _person_of(customer)
            # The last name alone as search text: the filter matches substrings of whatever
            # lexware office composes from first and last name.
            search = person.last_name
            wanted = _normalized(f"{person.first_name} {person.last_name}")
            if len(search.strip()) < FILTER_MIN_LENGTH:
                search = f"{person.first_name} {person.last_name}"
        search = search.strip()
        if len(search) < FILTER_MIN_LENGTH:
            logger.info("lexware office: a name shorter than 3 characters cannot be searched")
            return None
        for contact in self._filter_contacts(name=_html_encode(_escape_wildcards(search))):
            if _name_of(contact, customer.kind) == wanted:
                return _ref(contact)
        return None

    def get_customer(self, vendor_id: str) -> CustomerRef | None:
        """1 call: `GET /v1/contacts/{id}`; None when the contact does not exist (any more)."""
        try:
            contact = self._call("GET", f"/v1/contacts/{vendor_id}").json()
        except errors.NotFound:
            return None
        return _ref(contact)

    def create_customer(self, customer: Customer) -> CustomerRef:
        """1 call: `POST /v1/contacts` (a company with its contact person, or a person, with
        the customer role). Not idempotent: after an UnknownOutcome look it up by e-mail."""
        body = _contact_body({"version": 0, "roles": {"customer": {}}}, customer)
        result = self._call("POST", "/v1/contacts", json=body).json()
        return CustomerRef(vendor_id=str(result["id"]), version=_int_or_none(result.get("version")))

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

    def create_quote(self, quote: Quote) -> QuoteRef:
        """1 call: `POST /v1/quotations` without `finalize`, i.e. a draft. A currency other
        than EUR or more than 300 positions fail before any call."""
        body = self._voucher_body(quote)
        body["expirationDate"] = _lexoffice_datetime(quote.valid_until)
        result = self._call("POST", "/v1/quotations", json=body).json()
        quote_id = str(result["id"])
        return QuoteRef(
            vendor_id=quote_id, url=f"{APP_BASE_URL}/permalink/quotations/edit/{quote_id}"
        )

    def find_quote(self, reference: str, *, customer_id: str = "") -> QuoteRef | None:
        """1 call per page of 250 plus 1 per quotation looked at (at most 100). The derived
        spec has no quotation search; Lexware's own Postman collection documents
        `GET /v1/voucherlist`, which lists a contact's quotations newest first. Each is read
        until one carries our reference in its introduction. Other quotes for the same
        customer may have been created since ours (a busy tenant makes one a second), so more
        than the first few are looked at. Without the customer there is nothing to narrow by."""
        if not customer_id:
            logger.warning("lexware office: no customer given, %s cannot be looked up", reference)
            return None
        read = 0
        for page in range(QUOTES_LOOKED_AT // VOUCHERLIST_PAGE + 1):
            listing = self._call(
                "GET",
                "/v1/voucherlist",
                params={
                    "voucherType": "quotation",
                    "voucherStatus": "draft,open",
                    "contactId": customer_id,
                    "page": page,
                    "size": VOUCHERLIST_PAGE,
                },
            ).json()
            for entry in listing.get("content") or []:
                if read >= QUOTES_LOOKED_AT:
                    return None
                read += 1
                quotation = self._call("GET", f"/v1/quotations/{entry['id']}").json()
                if reference in (quotation.get("introduction") or ""):
                    quote_id = str(quotation["id"])
                    return QuoteRef(
                        vendor_id=quote_id,
                        number=str(quotation.get("voucherNumber") or ""),
                        url=f"{APP_BASE_URL}/permalink/quotations/edit/{quote_id}",
                    )
            if listing.get("last", True):
                return None
        return None

    def create_invoice(self, quote: Quote) -> QuoteRef:
        """1 call: `POST /v1/invoices` without `finalize`, i.e. a draft, with the voucher
        date as the date of service."""
        body = self._voucher_body(quote)
        body["shippingConditions"] = {
            "shippingType": "service",
            "shippingDate": _lexoffice_datetime(quote.valid_from),
        }
        result = self._call("POST", "/v1/invoices", json=body).json()
        # The fact sheet documents the deep link of quotations only.
        return QuoteRef(vendor_id=str(result["id"]))

    def delete_customer(self, ref: CustomerRef) -> None:
        """0 calls: the API has no DELETE for contacts."""
        raise errors.UnsupportedByVendor(
            "lexware office does not allow deleting contacts through its API."
        )

    def _read_and_put(self, contact_id: str, customer: Customer) -> CustomerRef:
        current = self._call("GET", f"/v1/contacts/{contact_id}").json()
        body = _contact_body(
            {key: copy.deepcopy(current[key]) for key in CONTACT_WRITABLE if key in current},
            customer,
        )
        result = self._call("PUT", f"/v1/contacts/{contact_id}", json=body).json()
        return CustomerRef(
            vendor_id=contact_id,
            number=_customer_number(current),
            version=_int_or_none(result.get("version")),
        )

    # -- requests -------------------------------------------------------------------------

    def _stored_key(self) -> str:
        key = (self.connection.credentials or {}).get("api_key")
        return key.strip() if isinstance(key, str) else ""

    def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._stored_key()}", "Accept": "application/json"}

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        if not self._stored_key():
            raise self._reconnect(errors.ReconnectRequired("No lexware office API key is stored."))
        try:
            return self.client.request(method, path, **kwargs)
        except errors.AuthorizationExpired as exc:
            # An API key does not expire and cannot be refreshed: a 401 means it was deleted
            # or renewed, a 403 that it lacks a scope (e.g. keys older than the quotations
            # endpoint). Only the customer can fix either by entering a new key.
            raise self._reconnect(
                errors.ReconnectRequired(
                    "lexware office refused the API key; a new key must be entered.",
                    vendor_message=exc.vendor_message,
                    status=exc.status,
                )
            ) from exc

    def _filter_contacts(self, **criteria: str) -> Iterator[dict[str, Any]]:
        """Customers matching the filter, page by page until the caller stops reading."""
        for page in range(CONTACT_PAGES_MAX):
            params = {**criteria, "customer": "true", "page": page, "size": CONTACT_PAGE_SIZE}
            listing = self._call("GET", "/v1/contacts", params=params).json()
            contacts = listing.get("content") or []
            # Archived contacts last: a live one is the better match when both exist.
            yield from sorted(contacts, key=lambda c: bool(c.get("archived")))
            if listing.get("last", True) or not contacts:
                return

    # -- vouchers -------------------------------------------------------------------------

    def _voucher_body(self, quote: Quote) -> dict[str, Any]:
        currency = quote.currency.strip().upper()
        if currency != CURRENCY:
            raise errors.UnsupportedByVendor(
                f"lexware office accepts quotes in EUR only; this deal is in {currency or '?'}."
            )
        if len(quote.positions) > MAX_LINE_ITEMS:
            raise errors.UnsupportedByVendor(
                f"lexware office accepts at most {MAX_LINE_ITEMS} positions per voucher; "
                f"this deal has {len(quote.positions)}."
            )
        title, shortened = fit_title(quote.title, self.capabilities.title_max_length)
        body: dict[str, Any] = {
            "voucherDate": _lexoffice_datetime(quote.valid_from),
            "address": {"contactId": quote.customer_id},
            "lineItems": [_line_item(position) for position in quote.positions],
            "totalPrice": {"currency": CURRENCY},
            "taxConditions": {"taxType": "net"},
        }
        if title:
            body["title"] = title
        introduction = _introduction(
            quote.introduction,
            full_title=re.sub(r"\s+", " ", quote.title).strip() if shortened else "",
            reference=quote.reference,
        )
        if introduction:
            body["introduction"] = introduction
        return body


# -- mapping helpers ---------------------------------------------------------------------


def _lexoffice_datetime(day: dt.date) -> str:
    """`yyyy-MM-ddTHH:mm:ss.SSSXXX` at the start of the day in German time; any other form
    is refused with 406."""
    moment = dt.datetime.combine(day, dt.time(), tzinfo=BERLIN)
    return moment.isoformat(timespec="milliseconds")


def _number(value: Decimal) -> int | float:
    """A JSON number with at most 4 decimals (quantities and unit prices)."""
    rounded = value.quantize(AMOUNT_PLACES, rounding=ROUND_HALF_UP)
    if rounded == rounded.to_integral_value():
        return int(rounded)
    return float(rounded)


def _line_item(position: QuotePosition) -> dict[str, Any]:
    name = re.sub(r"\s+", " ", position.name).strip()
    description = position.description.strip()
    if len(name) > LINE_ITEM_NAME_MAX:
        # The whole name stays readable in the description.
        description = f"{name}\n{description}".strip()
        name = name[: LINE_ITEM_NAME_MAX - 1].rstrip() + "…"
    item: dict[str, Any] = {
        "type": "custom",
        "name": name,
        "quantity": _number(position.quantity),
        "unitName": position.unit.strip() or "Stück",
        "unitPrice": {
            "currency": CURRENCY,
            "netAmount": _number(position.unit_net_price),
            "taxRatePercentage": _number(position.tax_rate),
        },
    }
    if description:
        item["description"] = _cut(description, LINE_ITEM_DESCRIPTION_MAX)
    if position.discount_percent:
        item["discountPercentage"] = _number(position.discount_percent)
    return item


def _introduction(text: str, *, full_title: str, reference: str) -> str:
    """The introduction with the full deal name (when the title had to be shortened) in
    front and our reference at the end, each only if it is not there already."""
    text = text.strip()
    head = full_title if full_title and full_title not in text else ""
    tail = f"{REFERENCE_LABEL}: {reference}" if reference and reference not in text else ""
    room = INTRODUCTION_MAX - sum(len(p) + 2 for p in (head, tail) if p)
    return "\n\n".join(p for p in (head, _cut(text, max(room, 0)), tail) if p)


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)].rstrip() + "…" if limit else ""


# -- contacts ----------------------------------------------------------------------------


def _company_of(customer: Customer) -> Company:
    if customer.company is None:
        raise ValueError("A company customer needs a company.")
    return customer.company


def _person_of(customer: Customer) -> Person:
    if customer.person is None:
        raise ValueError("A person customer needs a person.")
    return customer.person


def _contact_body(body: dict[str, Any], customer: Customer) -> dict[str, Any]:
    """Writes APIUP's fields of `customer` into a contact body (a new one, or the current
    contact as read) and leaves every other field as it is."""
    roles = body.setdefault("roles", {})
    roles.setdefault("customer", {})
    if customer.kind is CustomerKind.COMPANY:
        company_data = _company_of(customer)
        body.pop("person", None)
        company = body.setdefault("company", {})
        company["name"] = company_data.name.strip()
        if company_data.vat_id.strip():
            company["vatRegistrationId"] = company_data.vat_id.strip()
        if company_data.contact_person is not None:
            company["contactPersons"] = [
                _contact_person(company_data.contact_person, company.get("contactPersons"))
            ]
        email, phone = company_data.email, company_data.phone
    else:
        person_data = _person_of(customer)
        body.pop("company", None)
        person = body.setdefault("person", {})
        _set(person, "firstName", person_data.first_name)
        _set(person, "lastName", person_data.last_name)
        email, phone = person_data.email, person_data.phone
    address = _address(customer.address)
    if address:
        body.setdefault("addresses", {})["billing"] = [address]
    _add_to_list(body, "emailAddresses", EMAIL_KIND, email)
    _add_to_list(body, "phoneNumbers", PHONE_KIND, phone)
    return body


def _contact_person(person: Person, existing: Any) -> dict[str, Any]:
    """The one contact person, keeping what lexware office holds beyond our fields (e.g. the
    salutation) when it is the same person."""
    entry: dict[str, Any] = {}
    if isinstance(existing, list) and existing and isinstance(existing[0], dict):
        same = _normalized(existing[0].get("lastName", "")) == _normalized(person.last_name)
        entry = dict(existing[0]) if same else {}
    for key, value in (
        ("firstName", person.first_name),
        ("lastName", person.last_name),
        ("emailAddress", person.email),
        ("phoneNumber", person.phone),
    ):
        _set(entry, key, value)
    entry["primary"] = True
    return entry


def _set(target: dict[str, Any], key: str, value: str) -> None:
    """Sets a text field; an empty value removes it (lexware office refuses blank entries)."""
    if value.strip():
        target[key] = value.strip()
    else:
        target.pop(key, None)


def _address(address: Address) -> dict[str, str]:
    """A billing address; without a country code (required) none is sent."""
    if not address.country_code.strip():
        return {}
    fields = {
        "street": address.street_line,
        "zip": address.postcode.strip(),
        "city": address.city.strip(),
        "countryCode": address.country_code.strip().upper(),
    }
    return {key: value for key, value in fields.items() if value}


def _add_to_list(body: dict[str, Any], lists: str, kind: str, value: str) -> None:
    """One e-mail address or phone number per list is all the API writes; an entry that is
    already in any of the lists is left alone."""
    value = value.strip()
    if not value:
        return
    entries = body.setdefault(lists, {})
    held = {e.casefold() for values in entries.values() if isinstance(values, list) for e in values}
    if value.casefold() not in held:
        entries[kind] = [value]


def _escape_wildcards(text: str) -> str:
    """`_` and `%` are wildcards in the contact filters; a backslash makes them literal."""
    return re.sub(r"([\\_%])", r"\\\1", text)


def _html_encode(text: str) -> str:
    """The name filter wants `&`, `<` and `>` HTML-encoded (and then URL-encoded, which
    requests does)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _normalized(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def _name_of(contact: Mapping[str, Any], kind: CustomerKind) -> str | None:
    if kind is CustomerKind.COMPANY:
        company = contact.get("company")
        return _normalized(str(company.get("name", ""))) if isinstance(company, dict) else None
    person = contact.get("person")
    if not isinstance(person, dict):
        return None
    return _normalized(f"{person.get('firstName', '')} {person.get('lastName', '')}")


def _is_of_kind(contact: Mapping[str, Any], kind: CustomerKind) -> bool:
    """A company contact carries a `company` object, a person contact a `person` object."""
    key = "company" if kind is CustomerKind.COMPANY else "person"
    return isinstance(contact.get(key), dict)


def _emails_of(contact: Mapping[str, Any]) -> list[str]:
    """The contact's own addresses and its contact persons' (the filter searches both)."""
    emails = [
        str(e)
        for values in (contact.get("emailAddresses") or {}).values()
        if isinstance(values, list)
        for e in values
    ]
    company = contact.get("company")
    if isinstance(company, dict):
        emails += [
            str(p["emailAddress"])
            for p in company.get("contactPersons") or []
            if isinstance(p, dict) and p.get("emailAddress")
        ]
    return emails


def _customer_number(contact: Mapping[str, Any]) -> str:
    customer = (contact.get("roles") or {}).get("customer")
    number = customer.get("number") if isinstance(customer, dict) else None
    return "" if number is None else str(number)


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _ref(contact: Mapping[str, Any]) -> CustomerRef:
    return CustomerRef(
        vendor_id=str(contact["id"]),
        number=_customer_number(contact),
        version=_int_or_none(contact.get("version")),
    )
