"""bexio: contacts, quotes (kb_offer) and invoices (kb_invoice) through API 2.0, and the sales
taxes through API 3.0.

Everything here follows the derived spec `bexio/bexio-derived-openapi.yaml`, the API
Evangelist file `bexio/bexio-openapi.apievangelist-unofficial.yml` for what the derived one
lacks (listing quotes, editing and deleting a contact), the OIDC discovery copy
`bexio/bexio-openid-configuration.json` and the fact sheet in the shared vendor-specs folder.
The vendor's quirks live in this module only:

- Two kinds of credential, both a Bearer token: a personal access token (no expiry, nothing to
  refresh) or an OAuth 2.0 / OIDC token pair from auth.bexio.com whose refresh token rotates.
- `Accept: application/json` is required on every call.
- Contacts need a `user_id` and an `owner_id` (a bexio user); a contact is a company
  (`contact_type_id` 1) or a person (2, `name_1` last name, `name_2` first name).
- Amounts travel as strings; every position needs the id of an active sales tax, looked up by
  rate from `GET /3.0/taxes`.
- Quotes carry our reference in `api_reference`, a field only the API reads and writes; there
  is no search on it in the spec, so a lost quote is found by listing.
- Errors read `{error_code, message[, errors]}` (the sandbox's assumption; the spec leaves the
  422 body open). The rate limit is per minute but unpublished; 429 comes with
  `RateLimit-Reset`.
- The spec maps neither ISO currency codes nor ISO country codes to bexio's ids, and has no
  units: a quote is created in the company's currency, which is assumed to be CHF (bexio's
  Swiss base currency); contacts get no `country_id` and positions no `unit_id`.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, ClassVar
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.core.cache import cache

from connectors import errors, oauth
from connectors.base import AccountingConnector
from connectors.credentials import TokenSet, access_token
from connectors.http import HttpClient, VendorApi
from connectors.models import Connection, System
from connectors.ratelimit import Rate
from connectors.rules import fit_title
from connectors.shapes import (
    AccountInfo,
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

REALM_PATH = "/realms/bexio/protocol/openid-connect"
AUTHORIZE_PATH = f"{REALM_PATH}/auth"
TOKEN_PATH = f"{REALM_PATH}/token"
# What the product needs, all listed in the discovery document's `scopes_supported`;
# `offline_access` is what brings a refresh token.
SCOPES = (
    "openid",
    "offline_access",
    "contact_show",
    "contact_edit",
    "kb_offer_show",
    "kb_offer_edit",
    "kb_invoice_show",
    "kb_invoice_edit",
    "company_profile",
)

# The company's own currency. The spec has `currency_id` but no way to learn which id is which
# ISO code (the currency list of the unofficial file has no schema), so no id is sent and
# bexio uses the company's base currency: CHF for a Swiss bexio company (assumption).
CURRENCY = "CHF"
CONTACT_COMPANY, CONTACT_PERSON = 1, 2
MWST_EXCLUDING_TAXES = 1  # positions are net; bexio adds the VAT
DEFAULT_USER_ID = 1  # the first user of a bexio company
SEARCH_TEXT_MAX = 255  # `field` and `value` of a contact search
AMOUNT_PLACES = Decimal("0.000001")  # the spec's samples: "5.000000"
RATE_PLACES = Decimal("0.01")
QUOTE_PAGE_SIZE = 500  # bexio's default page; at most 2000
QUOTE_PAGES_MAX = 40  # 20,000 quotes; beyond that a lost quote is not worth more calls
TAX_CACHE_SECONDS = 3600
# What POST /2.0/contact takes (ContactCreate); the read model adds id and updated_at.
CONTACT_WRITABLE = (
    "nr",
    "contact_type_id",
    "name_1",
    "name_2",
    "salutation_id",
    "street_name",
    "house_number",
    "address_addition",
    "postcode",
    "city",
    "country_id",
    "mail",
    "mail_second",
    "phone_fixed",
    "phone_mobile",
    "url",
    "remarks",
    "language_id",
    "contact_group_ids",
    "user_id",
    "owner_id",
)

API = VendorApi(
    name="bexio",
    base_url="",  # read from settings when a connector is made (tests and demo repoint it)
    # bexio limits calls per minute but does not publish how many: two a second with a
    # small burst stays well below any limit seen reported, and 429 is honoured anyway.
    rate=Rate(per_second=2, burst=5),
    # `RateLimit-Reset` is the seconds until the window restarts (fact sheet, third party).
    retry_after_headers=("Retry-After", "RateLimit-Reset"),
)


def read_error(response: requests.Response) -> str:
    """bexio's words from `{error_code, message, errors}`; the token endpoint answers
    `{error, error_description}` (Keycloak)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or f"HTTP {response.status_code}"
    if not isinstance(body, Mapping):
        return str(body)[:500]
    message = body.get("message") or body.get("error_description") or body.get("error") or ""
    details = _error_details(body.get("errors"))
    text = f"{message}: {details}" if message and details else str(message or details)
    return text[:1000] or str(body)[:500]


def _error_details(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "; ".join(d for d in (_error_details(v) for v in value) if d)
    if isinstance(value, Mapping):
        return "; ".join(f"{key}: {_error_details(v)}" for key, v in value.items())
    return "" if value is None else str(value)


# -- OAuth 2.0 / OIDC (onboarding and refresh) -------------------------------------------------


def _oauth_url(oauth_url: str | None) -> str:
    return (oauth_url or settings.VENDOR_API_URLS["bexio_oauth"]).rstrip("/")


def _oauth_http(oauth_url: str | None) -> HttpClient:
    api = VendorApi(name="bexio", base_url=_oauth_url(oauth_url))
    return HttpClient(
        api,
        auth_headers=lambda: {"Accept": "application/json"},
        limiter_key="oauth",
        read_error=read_error,
    )


def authorization_url(
    *, state: str, redirect_uri: str, code_verifier: str, oauth_url: str | None = None
) -> str:
    """bexio's consent screen, asking for the product's scopes with a PKCE S256 challenge
    (the discovery document lists `plain` and `S256`)."""
    params = {
        "response_type": "code",
        "client_id": settings.BEXIO_CLIENT_ID,
        "redirect_uri": redirect_uri,
        "scope": " ".join(SCOPES),
        "state": state,
        "code_challenge": oauth.code_challenge(code_verifier),
        "code_challenge_method": "S256",
    }
    return f"{_oauth_url(oauth_url)}{AUTHORIZE_PATH}?{urlencode(params)}"


def _token_set(body: Any) -> TokenSet:
    if not isinstance(body, Mapping) or not body.get("access_token"):
        raise errors.PermanentError("bexio answered the token request without an access token.")
    return TokenSet(
        access_token=str(body["access_token"]),
        refresh_token=str(body.get("refresh_token") or ""),
        expires_in=float(body.get("expires_in") or 0),
    )


def _token_request(form: dict[str, str], *, oauth_url: str | None) -> requests.Response:
    return _oauth_http(oauth_url).request(
        "POST",
        TOKEN_PATH,
        # client_secret_post, one of the discovery document's auth methods.
        data={
            **form,
            "client_id": settings.BEXIO_CLIENT_ID,
            "client_secret": settings.BEXIO_CLIENT_SECRET,
        },
        expected=(200, 400, 401),
    )


def _refused(response: requests.Response, what: str) -> errors.ConnectorError:
    return oauth.token_refusal(response, vendor="bexio", what=what, read_error=read_error)


def exchange_code(
    *, code: str, redirect_uri: str, code_verifier: str, oauth_url: str | None = None
) -> TokenSet:
    """The authorization code from the redirect, exchanged for the first token pair. A code
    that bexio refuses (expired, used, wrong verifier) raises ReconnectRequired: the customer
    has to give consent again."""
    response = _token_request(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
        },
        oauth_url=oauth_url,
    )
    if response.status_code != 200:
        raise _refused(response, "authorization code")
    return _token_set(response.json())


def refresh(refresh_token: str, *, oauth_url: str | None = None) -> TokenSet:
    """A new token pair. The refresh token rotates: the one sent is spent, and the answer's
    must be stored (`connectors.credentials.access_token` does). `invalid_grant` raises
    ReconnectRequired."""
    response = _token_request(
        {"grant_type": "refresh_token", "refresh_token": refresh_token}, oauth_url=oauth_url
    )
    if response.status_code != 200:
        raise _refused(response, "refresh token")
    return _token_set(response.json())


# -- the connector ---------------------------------------------------------------------------


class BexioConnector(AccountingConnector):
    system = System.BEXIO
    capabilities: ClassVar[Capabilities] = Capabilities(
        title_max_length=None,  # `title` has no maxLength in the spec
        currencies=frozenset({CURRENCY}),
        can_delete_customers=True,  # DELETE /2.0/contact/{id} (unofficial file)
        has_idempotency_keys=False,
        can_create_invoices=True,
        quote_is_draft=True,  # a new kb_offer is a draft until issued
    )
    quote_page_size = QUOTE_PAGE_SIZE

    def __init__(
        self,
        *,
        connection: Connection,
        base_url: str | None = None,
        oauth_url: str | None = None,
    ) -> None:
        super().__init__(connection=connection, base_url=base_url)
        self.api = replace(API, base_url=base_url or settings.VENDOR_API_URLS["bexio"])
        self.oauth_url = oauth_url
        self.client = HttpClient(
            self.api,
            auth_headers=lambda: {"Accept": "application/json"},
            limiter_key=self._account_key(),
            read_error=read_error,
        )
        self._taxes: dict[Decimal, int] | None = None
        self._taxes_fetched = False  # the list in hand came from bexio just now

    # -- the interface ------------------------------------------------------------------

    def verify(self) -> AccountInfo:
        """1 call: `GET /2.0/contact?limit=1`. The spec has no company profile, and neither a
        personal access token nor bexio's ID token names the company, so the call only
        proves the credential (and the contacts scope); the name is the one the connection
        was saved with, else "bexio"."""
        self._call("GET", "/2.0/contact", params={"limit": 1})
        return AccountInfo(
            account_id=self.connection.external_account_id,
            name=self.connection.account_name or "bexio",
        )

    def find_customer_by_email(self, customer: Customer) -> CustomerRef | None:
        """1 call: `POST /2.0/contact/search` for `mail` = the address and the customer's
        contact type, which the answer must match once more here: a company that carries its
        contact person's address as its `mail` is no person customer. 0 calls for an empty
        or too long address."""
        email = customer.lookup_email.strip()
        if not email or len(email) > SEARCH_TEXT_MAX:
            return None
        contact_type = _contact_type(customer.kind)
        found = self._search(
            [
                _criterion("contact_type_id", str(contact_type)),
                _criterion("mail", email),
            ]
        )
        wanted = email.casefold()
        return next(
            (
                _ref(c)
                for c in found
                if c.get("contact_type_id") == contact_type
                and str(c.get("mail") or "").strip().casefold() == wanted
            ),
            None,
        )

    def find_customer_by_name(self, customer: Customer) -> CustomerRef | None:
        """1 call: `POST /2.0/contact/search` for the exact company name, or the person's last
        and first name, of the right contact type; the answer is compared once more here,
        case and spacing aside. 0 calls when a name is empty or too long to search."""
        contact_type = _contact_type(customer.kind)
        if customer.kind is CustomerKind.COMPANY:
            name_1, name_2 = _company_of(customer).name, ""
        else:
            person = _person_of(customer)
            name_1, name_2 = person.last_name, person.first_name
        name_1, name_2 = _clean(name_1), _clean(name_2)
        if not name_1 or max(len(name_1), len(name_2)) > SEARCH_TEXT_MAX:
            return None
        criteria = [
            _criterion("contact_type_id", str(contact_type)),
            _criterion("name_1", name_1),
        ]
        if name_2:
            criteria.append(_criterion("name_2", name_2))
        for contact in self._search(criteria):
            if contact.get("contact_type_id") != contact_type:
                continue
            if _normalized(str(contact.get("name_1") or "")) != _normalized(name_1):
                continue
            # A person's name_2 is the first name and must match too (also when empty); a
            # company's is an addition to its name that HubSpot does not know.
            first = _normalized(str(contact.get("name_2") or ""))
            if contact_type == CONTACT_COMPANY or first == _normalized(name_2):
                return _ref(contact)
        return None

    def get_customer(self, vendor_id: str) -> CustomerRef | None:
        """1 call: `GET /2.0/contact/{id}`; None when it does not exist (any more)."""
        contact_id = _id_or_none(vendor_id)
        if contact_id is None:
            return None
        try:
            contact = self._call("GET", f"/2.0/contact/{contact_id}").json()
        except errors.NotFound:
            return None
        return _ref(contact)

    def create_customer(self, customer: Customer) -> CustomerRef:
        """1 call: `POST /2.0/contact`. Not idempotent: after an UnknownOutcome look it up by
        e-mail or name first."""
        user_id = self._user_id()
        body = _contact_fields(customer)
        body.update(user_id=user_id, owner_id=user_id)
        contact = self._call("POST", "/2.0/contact", json=body).json()
        return _ref(contact)

    def update_customer(self, ref: CustomerRef, customer: Customer) -> CustomerRef:
        """2 calls: `GET /2.0/contact/{id}`, then `POST /2.0/contact/{id}` (bexio edits with
        POST; PATCH answers 404). The unofficial file calls it "overwrite", so the body is the
        contact as read with APIUP's fields changed: what the customer keeps in bexio beyond
        them (second e-mail, remarks, groups, ...) stays."""
        contact_id = _id_or_raise(ref.vendor_id)
        current = self._call("GET", f"/2.0/contact/{contact_id}").json()
        body = {
            key: current[key]
            for key in CONTACT_WRITABLE
            if current.get(key) is not None
            # An unset salutation reads as 0 (fact sheet quirk): not an id to send back.
            and not (key == "salutation_id" and current[key] == 0)
        }
        body.update(_contact_fields(customer))
        body.setdefault("user_id", self._user_id())
        body.setdefault("owner_id", body["user_id"])
        # The whole contact, so sending it twice has one effect: safe to repeat.
        contact = self._call(
            "POST", f"/2.0/contact/{contact_id}", json=body, idempotent=True
        ).json()
        return _ref(contact) if isinstance(contact, Mapping) and "id" in contact else ref

    def delete_customer(self, ref: CustomerRef) -> None:
        """1 call: `DELETE /2.0/contact/{id}`; a contact that is already gone counts as
        deleted."""
        contact_id = _id_or_raise(ref.vendor_id)
        try:
            self._call("DELETE", f"/2.0/contact/{contact_id}")
        except errors.NotFound:
            logger.info("bexio: contact %s was already deleted", contact_id)

    def create_quote(self, quote: Quote) -> QuoteRef:
        """1 call (2 when the sales taxes are not cached yet): `POST /2.0/kb_offer`, a draft,
        with our reference in `api_reference`. A currency other than CHF or a tax rate
        without an active sales tax fail before the quote is sent. Not idempotent: after an
        UnknownOutcome call `find_quote` first."""
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
                return _document_ref(document)
        return None

    def create_invoice(self, quote: Quote) -> QuoteRef:
        """1 call (2 when the sales taxes are not cached yet): `POST /2.0/kb_invoice` with the
        same body as a quote (the spec gives both the same shape); a new invoice is a
        draft."""
        return self._create_document("/2.0/kb_invoice", quote)

    # -- documents ------------------------------------------------------------------------

    def _create_document(self, path: str, quote: Quote) -> QuoteRef:
        currency = quote.currency.strip().upper()
        if currency != CURRENCY:
            raise errors.UnsupportedByVendor(
                f"bexio creates documents in the company's currency (CHF) only; "
                f"this deal is in {currency or '?'}."
            )
        contact_id = _id_or_raise(quote.customer_id)
        positions = [
            _position(position, self._tax_id(position.tax_rate)) for position in quote.positions
        ]
        body: dict[str, Any] = {"contact_id": contact_id, "user_id": self._user_id()}
        title, _ = fit_title(quote.title, self.capabilities.title_max_length)
        if title:
            body["title"] = title
        if quote.introduction.strip():
            body["header"] = quote.introduction.strip()
        body.update(
            mwst_type=MWST_EXCLUDING_TAXES,
            mwst_is_net=True,
            is_valid_from=quote.valid_from.isoformat(),
            is_valid_until=quote.valid_until.isoformat(),
            api_reference=quote.reference,
            positions=positions,
        )
        document = self._call("POST", path, json=body).json()
        return _document_ref(document)

    def _quotes(self) -> Iterator[Mapping[str, Any]]:
        size = self.quote_page_size
        for page in range(QUOTE_PAGES_MAX):
            listing = self._call(
                "GET", "/2.0/kb_offer", params={"limit": size, "offset": page * size}
            ).json()
            if not isinstance(listing, list):
                return
            yield from (d for d in listing if isinstance(d, Mapping))
            if len(listing) < size:
                return
        logger.warning("bexio: stopped looking for a quote after %d pages", QUOTE_PAGES_MAX)

    # -- taxes ------------------------------------------------------------------------------

    def _tax_id(self, rate: Decimal) -> int:
        wanted = _rate(rate)
        taxes = self._sales_taxes()
        if wanted not in taxes and not self._taxes_fetched:
            # Perhaps activated in bexio since the list was cached: look once more.
            taxes = self._sales_taxes(fresh=True)
        if wanted not in taxes:
            known = ", ".join(f"{_percent(r)} %" for r in sorted(taxes)) or "none"
            raise errors.PermanentError(
                f"bexio has no active sales tax at {_percent(wanted)} % (active: {known}).",
                vendor_message=f"bexio has no active sales tax at {_percent(wanted)} %.",
            )
        return taxes[wanted]

    def _sales_taxes(self, *, fresh: bool = False) -> dict[Decimal, int]:
        """Rate → id of the active sales taxes, cached per connection for an hour (they
        change a few times a decade, and bexio assigns the ids per company)."""
        if self._taxes is not None and not fresh:
            return self._taxes
        key = (
            "bexio:taxes:"
            + hashlib.sha256(f"{self.api.base_url}|{self._account_key()}".encode()).hexdigest()[:32]
        )
        cached = None if fresh else cache.get(key)
        if cached is None:
            listing = self._call(
                "GET", "/3.0/taxes", params={"types": "sales_tax", "scope": "active"}
            ).json()
            cached = {}
            for tax in listing if isinstance(listing, list) else []:
                rate = _decimal(tax.get("value"))
                if tax.get("type") == "sales_tax" and rate is not None and "id" in tax:
                    # Several taxes at one rate (0 % for exports and for exempt turnover):
                    # the first bexio lists wins.
                    cached.setdefault(str(_rate(rate)), int(tax["id"]))
            cache.set(key, cached, TAX_CACHE_SECONDS)
            self._taxes_fetched = True
        self._taxes = {Decimal(rate): tax_id for rate, tax_id in cached.items()}
        return self._taxes

    # -- requests -------------------------------------------------------------------------

    def _credentials(self) -> Mapping[str, Any]:
        return self.connection.credentials or {}

    def _account_key(self) -> str:
        """Rate bucket and cache key: bexio limits per company. Never the token itself."""
        if self.connection.external_account_id:
            return f"company-{self.connection.external_account_id}"
        return f"connection-{self.connection.pk}"

    def _user_id(self) -> int:
        """The bexio user that owns what APIUP creates: stored with the connection, else the
        company's first user."""
        value = str(self._credentials().get("user_id") or "").strip()
        return int(value) if value.isdigit() else DEFAULT_USER_ID

    def refresh(self, refresh_token: str) -> TokenSet:
        """The refresher for `connectors.credentials.access_token`."""
        return refresh(refresh_token, oauth_url=self.oauth_url)

    def _token(self, *, rejected: str | None = None) -> str:
        stored = self._credentials()
        if not stored.get("access_token") and not stored.get("refresh_token"):
            raise self._reconnect(errors.ReconnectRequired("No bexio access token is stored."))
        return access_token(self.connection, refresh=self.refresh, rejected_token=rejected)

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        token = self._token()
        for attempt in (1, 2):
            try:
                return self.client.request(
                    method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs
                )
            except errors.ReconnectRequired as exc:
                # 403: the token lacks a scope or the user the rights; only a new consent
                # or token helps.
                raise self._reconnect(exc) from exc
            except errors.AuthorizationExpired as exc:
                if not self._credentials().get("refresh_token"):
                    # A personal access token cannot be refreshed: it was revoked.
                    raise self._reconnect(
                        errors.ReconnectRequired(
                            "bexio refused the personal access token; a new one must be entered.",
                            vendor_message=exc.vendor_message,
                            status=exc.status,
                        )
                    ) from exc
                if attempt == 2:
                    raise
                # bexio refused a token we thought valid (revoked, clock skew): one refresh.
                token = self._token(rejected=token)
        raise AssertionError("unreachable")  # pragma: no cover

    def _search(self, criteria: list[dict[str, str]]) -> list[Mapping[str, Any]]:
        found = self._call("POST", "/2.0/contact/search", json=criteria).json()
        contacts = [c for c in found if isinstance(c, Mapping)] if isinstance(found, list) else []
        return sorted(contacts, key=lambda c: int(c.get("id") or 0))


# -- mapping helpers ---------------------------------------------------------------------


def _criterion(field: str, value: str) -> dict[str, str]:
    return {"field": field, "value": value, "criteria": "="}


def _contact_type(kind: CustomerKind) -> int:
    return CONTACT_COMPANY if kind is CustomerKind.COMPANY else CONTACT_PERSON


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _normalized(text: str) -> str:
    return _clean(text).casefold()


def _company_of(customer: Customer) -> Company:
    if customer.company is None:
        raise ValueError("A company customer needs a company.")
    return customer.company


def _person_of(customer: Customer) -> Person:
    if customer.person is None:
        raise ValueError("A person customer needs a person.")
    return customer.person


def _contact_fields(customer: Customer) -> dict[str, Any]:
    """APIUP's fields of a contact; empty values are left out, so an update keeps what
    bexio holds. No `country_id`: the spec does not document bexio's country ids."""
    if customer.kind is CustomerKind.COMPANY:
        company = _company_of(customer)
        fields: dict[str, Any] = {"contact_type_id": CONTACT_COMPANY, "name_1": company.name}
        phone = company.phone
    else:
        person = _person_of(customer)
        fields = {
            "contact_type_id": CONTACT_PERSON,
            "name_1": person.last_name,
            "name_2": person.first_name,
        }
        phone = person.phone
    address = customer.address
    fields.update(
        street_name=address.street,
        house_number=address.house_number if address.street.strip() else "",
        postcode=address.postcode,
        city=address.city,
        mail=customer.email,
        phone_fixed=phone,
    )
    cleaned = {k: _clean(v) if isinstance(v, str) else v for k, v in fields.items()}
    return {k: v for k, v in cleaned.items() if v not in ("", None)}


def _six(value: Decimal) -> str:
    return str(value.quantize(AMOUNT_PLACES, rounding=ROUND_HALF_UP))


def _rate(value: Decimal) -> Decimal:
    return value.quantize(RATE_PLACES, rounding=ROUND_HALF_UP)


def _percent(rate: Decimal) -> str:
    """8.10 -> "8.1", 8.00 -> "8"."""
    return f"{rate.normalize():f}"


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _position(position: QuotePosition, tax_id: int) -> dict[str, Any]:
    """A custom position. bexio's units are ids the spec gives no list of, so the unit is
    left to bexio's default."""
    text = _clean(position.name)
    if position.description.strip():
        text = f"{text}\n{position.description.strip()}"
    item: dict[str, Any] = {
        "type": "KbPositionCustom",
        "amount": _six(position.quantity),
        "unit_price": _six(position.unit_net_price),
        "tax_id": tax_id,
        "text": text,
    }
    if position.discount_percent:
        item["discount_in_percent"] = _six(position.discount_percent)
    return item


def _id_or_none(value: str) -> int | None:
    text = str(value).strip()
    return int(text) if text.isdigit() else None


def _id_or_raise(value: str) -> int:
    number = _id_or_none(value)
    if number is None:
        raise errors.NotFound(f"{value!r} is not a bexio id.")
    return number


def _ref(contact: Mapping[str, Any]) -> CustomerRef:
    number = contact.get("nr")
    return CustomerRef(vendor_id=str(contact["id"]), number="" if number is None else str(number))


def _document_ref(document: Mapping[str, Any]) -> QuoteRef:
    return QuoteRef(
        vendor_id=str(document["id"]),
        number=str(document.get("document_nr") or ""),
        url=str(document.get("network_link") or ""),
    )
