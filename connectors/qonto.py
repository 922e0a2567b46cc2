"""Qonto: clients, quotes and draft client invoices through the Business API v2.

Everything here follows the derived spec `qonto/qonto-derived-openapi.yaml` and the Qonto fact
sheet in the shared vendor-specs folder. The vendor's quirks live in this module only:

- Two kinds of credential: an API key sent as the raw header `{login}:{secret-key}` (neither
  Basic nor base64), or OAuth 2.0 tokens from the OAuth host (access token 1 h; the refresh
  token is replaced on every refresh, the spent one stays valid for 60 seconds).
- Limits are per source IP (1,000 calls per 10 s, 10,000 per 10 min), not per credential: one
  bucket for everything this machine sends.
- Clients have no uniqueness rule (search first) and no update or delete operation in the spec.
  Individuals need a first and a last name, companies a name; currency, locale and an address
  make a client usable for invoicing.
- Quotes have no title and no draft state (a new quote is `pending_approval`); our title and
  introduction go into `header` (max 1000). Quote numbers are manual by default, unique per
  organization and at most 40 characters: APIUP numbers a deal's quote `HS-<deal id>`.
- The list of quotes cannot be filtered by number or text, so a lost quote is found by paging
  through the newest quotes.
- vat_rate is a string; the quote examples write percent ("20"), the invoice examples a
  fraction ("0.2") [unverified which scale each endpoint expects]: each gets its examples'.
- `X-Qonto-Idempotency-Key` replays the first answer for 30 minutes [unverified for these
  endpoints]. APIUP derives the key from the business effect, so a retry finds the first answer.
- Errors are JSON:API objects `{errors: [{code, detail, source}], trace_id}`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import urlencode

import requests
from django.conf import settings

from connectors import errors, oauth
from connectors.base import AccountingConnector
from connectors.credentials import TokenSet, access_token
from connectors.http import HttpClient, VendorApi
from connectors.models import Connection, System
from connectors.ratelimit import Rate
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

AUTHORIZE_PATH = "/oauth2/auth"
TOKEN_PATH = "/oauth2/token"  # noqa: S105 (a path, not a secret)
# All in the spec's OAuth scope list; `offline_access` is what brings a refresh token.
SCOPES = (
    "offline_access",
    "organization.read",
    "client.read",
    "client.write",
    "client_invoice.write",
    "client_invoices.read",
)
IDEMPOTENCY_HEADER = "X-Qonto-Idempotency-Key"
# Fixed namespace: the same business effect gives the same key in every process, forever.
IDEMPOTENCY_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://apiup.de/connectors/qonto")

# Field limits from the spec.
NAME_MAX = 250
PERSON_NAME_MAX = 60
VAT_NUMBER_MAX = 20
NUMBER_MAX = 40
HEADER_MAX = 1000
TERMS_MAX = 3000
NAME_FILTER_MIN = 2
PER_PAGE = 100  # the spec's maximum
CLIENT_PAGES_MAX = 10
QUOTE_PAGES_MAX = 20  # 2,000 newest quotes; a quote lost minutes ago is on the first page
INVOICE_CURRENCY = "EUR"  # docs: "Currently, only value allowed is EUR"
CLIENT_CURRENCY = "EUR"
# Individuals need a first name; HubSpot allows a contact without one (reference 000 then uses
# the first name or the e-mail address as the last name).
MISSING_FIRST_NAME = "-"
# The document language of a client, by the country of its address (Qonto's examples: FR,
# EN, DE, IT, ES).
LOCALES = {"DE": "DE", "AT": "DE", "CH": "DE", "LI": "DE", "FR": "FR", "IT": "IT", "ES": "ES"}
DEFAULT_LOCALE = "EN"
DEFAULT_TERMS = (
    "Dieses Angebot ist bis zum angegebenen Ablaufdatum gültig. Alle Preise verstehen sich "
    "netto zuzüglich der gesetzlichen Umsatzsteuer."
)
DEAL_REFERENCE = re.compile(r"^HubSpot-Deal (?:\d+)-(\d+)$")

API = VendorApi(
    name="Qonto",
    base_url="",  # read from settings when a connector is made (tests and demo repoint it)
    # 1,000 per 10 s and 10,000 per 10 min per IP: 15 a second with a burst of 100 stays
    # under both (at most 250 in 10 s, 9,100 in 10 min).
    rate=Rate(per_second=15, burst=100),
)
# Qonto counts per source IP, so every connection on this machine shares one bucket.
LIMITER_KEY = "source-ip"


def read_error(response: requests.Response) -> str:
    """Qonto's words: the `detail` of each JSON:API error object; the OAuth host answers
    `{error, error_description}` (RFC 6749, assumed by the spec)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or f"HTTP {response.status_code}"
    if not isinstance(body, Mapping):
        return str(body)[:500]
    problems = body.get("errors")
    if isinstance(problems, list):
        details = [
            str(p.get("detail") or p.get("message") or p.get("code") or "")
            for p in problems
            if isinstance(p, Mapping)
        ]
        text = "; ".join(d for d in details if d)
        if text:
            return text[:1000]
    message = body.get("error_description") or body.get("error") or body.get("message")
    return str(message)[:500] if message else str(body)[:500]


# -- OAuth 2.0 (onboarding and refresh) ----------------------------------------------------


def _oauth_url(oauth_url: str | None) -> str:
    return (oauth_url or settings.VENDOR_API_URLS["qonto_oauth"]).rstrip("/")


def _oauth_http(oauth_url: str | None) -> HttpClient:
    api = replace(API, base_url=_oauth_url(oauth_url))
    return HttpClient(api, auth_headers=dict, limiter_key=LIMITER_KEY, read_error=read_error)


def authorization_url(*, state: str, redirect_uri: str, oauth_url: str | None = None) -> str:
    """Qonto's consent page (to open in the customer's browser: it sets a CSRF cookie)."""
    params = {
        "client_id": settings.QONTO_CLIENT_ID,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": " ".join(SCOPES),
        "state": state,
    }
    return f"{_oauth_url(oauth_url)}{AUTHORIZE_PATH}?{urlencode(params)}"


def _token_set(body: Any) -> TokenSet:
    if not isinstance(body, Mapping) or not body.get("access_token"):
        raise errors.PermanentError("Qonto answered the token request without an access token.")
    return TokenSet(
        access_token=str(body["access_token"]),
        refresh_token=str(body.get("refresh_token") or ""),
        expires_in=float(body.get("expires_in") or 0),
    )


def _token_request(
    form: dict[str, str], *, oauth_url: str | None, idempotent: bool
) -> requests.Response:
    return _oauth_http(oauth_url).request(
        "POST",
        TOKEN_PATH,
        data={
            **form,
            "client_id": settings.QONTO_CLIENT_ID,
            "client_secret": settings.QONTO_CLIENT_SECRET,
        },
        idempotent=idempotent,
        expected=(200, 400, 401),
    )


def _refused(response: requests.Response, what: str) -> errors.ConnectorError:
    return oauth.token_refusal(response, vendor="Qonto", what=what, read_error=read_error)


def exchange_code(*, code: str, redirect_uri: str, oauth_url: str | None = None) -> TokenSet:
    """The authorization code from the redirect (valid 10 minutes, single use), exchanged for
    the first tokens. A refused code raises ReconnectRequired: the customer must consent
    again."""
    response = _token_request(
        {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri},
        oauth_url=oauth_url,
        idempotent=False,  # a code is spent by the first exchange
    )
    if response.status_code != 200:
        raise _refused(response, "authorization code")
    return _token_set(response.json())


def refresh(refresh_token: str, *, oauth_url: str | None = None) -> TokenSet:
    """New tokens. The answer's refresh token replaces the one sent, which stays valid for 60
    seconds only: `connectors.credentials.access_token` stores it. `invalid_grant` raises
    ReconnectRequired."""
    response = _token_request(
        {"grant_type": "refresh_token", "refresh_token": refresh_token},
        oauth_url=oauth_url,
        # The spent token stays valid for 60 s, so a retry after a lost answer is harmless.
        idempotent=True,
    )
    if response.status_code != 200:
        raise _refused(response, "refresh token")
    return _token_set(response.json())


# -- the connector -----------------------------------------------------------------------


class QontoConnector(AccountingConnector):
    system = System.QONTO
    capabilities: ClassVar[Capabilities] = Capabilities(
        title_max_length=None,  # no title field: the title goes into `header` (max 1000)
        currencies=None,  # quote `currency` is any ISO 4217 code; invoices check for EUR
        can_delete_customers=False,  # the spec has no DELETE for clients
        has_idempotency_keys=True,
        can_create_invoices=True,
        quote_is_draft=False,  # a new quote is `pending_approval`
    )
    terms_and_conditions = DEFAULT_TERMS

    def __init__(
        self,
        *,
        connection: Connection,
        base_url: str | None = None,
        oauth_url: str | None = None,
        terms_and_conditions: str | None = None,
    ) -> None:
        super().__init__(connection=connection, base_url=base_url)
        self.api = replace(API, base_url=base_url or settings.VENDOR_API_URLS["qonto"])
        self.oauth_url = oauth_url
        if terms_and_conditions is not None:
            self.terms_and_conditions = terms_and_conditions
        self.client = HttpClient(
            self.api, auth_headers=dict, limiter_key=LIMITER_KEY, read_error=read_error
        )
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
            if _is_company(client) != company:
                continue
            if str(client.get("email") or "").strip().casefold() == wanted:
                return _customer_ref(client)
        return None

    def find_customer_by_name(self, customer: Customer) -> CustomerRef | None:
        """1 call per 100 candidates (at most 10): `GET /v2/clients?filter[name]=`, which also
        matches parts of names; only a client of the same kind with exactly the name (case
        and spacing aside) counts. 0 calls for a name shorter than the filter's minimum."""
        body = _client_body(customer)
        name = str(body.get("name") or f"{body['first_name']} {body['last_name']}")
        if len(name) < NAME_FILTER_MIN:
            return None
        company = body["kind"] == "company"
        wanted = _normalized(name)
        for client in self._clients({"filter[name]": name}, pages=CLIENT_PAGES_MAX):
            if _is_company(client) != company:
                continue
            names = {_normalized(str(client.get("name") or ""))}
            if not company:
                first, last = client.get("first_name") or "", client.get("last_name") or ""
                names.add(_normalized(f"{first} {last}"))
            if wanted in names:
                return _customer_ref(client)
        return None

    def get_customer(self, vendor_id: str) -> CustomerRef | None:
        """1 call: `GET /v2/clients/{id}`; None when it does not exist (any more). 0 calls for
        an id that is not a UUID."""
        client_id = _uuid_or_none(vendor_id)
        if client_id is None:
            return None
        try:
            answer = self._call("GET", f"/v2/clients/{client_id}").json()
        except errors.NotFound:
            return None
        client = answer.get("client") if isinstance(answer, Mapping) else None
        return _customer_ref(client) if isinstance(client, Mapping) else None

    def create_customer(self, customer: Customer) -> CustomerRef:
        """1 call: `POST /v2/clients` with an idempotency key derived from the HubSpot id, so
        a repeat within Qonto's 30 minutes gets the first client back. A lost answer still
        raises UnknownOutcome (whether clients honour the key is unverified)."""
        body = _client_body(customer)
        hubspot_id = _hubspot_id(customer)
        effect = f"client:{hubspot_id}" if hubspot_id else f"client-body:{_digest(body)}"
        answer = self._call(
            "POST",
            "/v2/clients",
            json=body,
            headers={IDEMPOTENCY_HEADER: self._idempotency_key(effect)},
            expected=(200, 201),
        ).json()
        client = answer.get("client") if isinstance(answer, Mapping) else None
        if not isinstance(client, Mapping) or not client.get("id"):
            raise errors.PermanentError("Qonto answered the new client without an id.")
        return _customer_ref(client)

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
        body = self._quote_body(quote)
        try:
            answer = self._call(
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
        return _quote_ref(document)

    def find_quote(self, reference: str, *, customer_id: str = "") -> QuoteRef | None:
        """1 call per page of 100 quotes, newest first (at most 20 pages):
        `GET /v2/quotes?sort_by=created_at:desc`, matching the number derived from the
        reference or the reference in the header; `customer_id` narrows to that client."""
        reference = reference.strip()
        if not reference:
            return None
        number = quote_number(reference)
        for document in self._quotes():
            client = document.get("client")
            if customer_id and isinstance(client, Mapping) and client.get("id") != customer_id:
                continue
            if document.get("number") == number or reference in str(document.get("header") or ""):
                return _quote_ref(document)
        return None

    def create_invoice(self, quote: Quote) -> QuoteRef:
        """2 calls (1 once the IBAN is known): `GET /v2/organization` for the IBAN of the main
        Qonto account, then `POST /v2/client_invoices` as a draft (issue date = valid from,
        due date = valid until), with an idempotency key derived from the reference. Qonto
        invoices are in EUR only. A lost answer raises UnknownOutcome (no number guards it)."""
        currency = quote.currency.strip().upper()
        if currency != INVOICE_CURRENCY:
            raise errors.UnsupportedByVendor(
                f"Qonto creates invoices in EUR only; this deal is in {currency or '?'}."
            )
        client_id = _uuid_or_raise(quote.customer_id)
        body: dict[str, Any] = {
            "client_id": client_id,
            "issue_date": quote.valid_from.isoformat(),
            "due_date": quote.valid_until.isoformat(),
            "status": "draft",
            "currency": currency,
            "payment_methods": {"iban": self._main_iban()},
            "items": [_item(p, currency, rate_scale=Decimal("0.01")) for p in quote.positions],
        }
        header = _header(quote)
        if header:
            body["header"] = header
        answer = self._call(
            "POST",
            "/v2/client_invoices",
            json=body,
            headers={IDEMPOTENCY_HEADER: self._idempotency_key(f"invoice:{quote.reference}")},
            expected=(200, 201),
        ).json()
        invoice = answer.get("client_invoice") if isinstance(answer, Mapping) else None
        if not isinstance(invoice, Mapping) or not invoice.get("id"):
            raise errors.PermanentError("Qonto answered the new invoice without an id.")
        return QuoteRef(
            vendor_id=str(invoice["id"]),
            number=str(invoice.get("number") or ""),
            url=str(invoice.get("invoice_url") or ""),
        )

    # -- documents ----------------------------------------------------------------------

    def _quote_body(self, quote: Quote) -> dict[str, Any]:
        currency = quote.currency.strip().upper()
        body: dict[str, Any] = {
            "client_id": _uuid_or_raise(quote.customer_id),
            "issue_date": quote.valid_from.isoformat(),
            "expiry_date": quote.valid_until.isoformat(),
            "terms_and_conditions": _cut(self.terms_and_conditions.strip(), TERMS_MAX),
            "currency": currency,
            # Required while the organization numbers by hand (Qonto's default), allowed
            # otherwise: always sent, so the number also guards against a second quote.
            "number": quote_number(quote.reference),
            "items": [_item(p, currency, rate_scale=Decimal(1)) for p in quote.positions],
        }
        header = _header(quote)
        if header:
            body["header"] = header
        return body

    def _quotes(self) -> Iterator[Mapping[str, Any]]:
        for page in range(1, QUOTE_PAGES_MAX + 1):
            answer = self._call(
                "GET",
                "/v2/quotes",
                params={"sort_by": "created_at:desc", "page": page, "per_page": PER_PAGE},
            ).json()
            quotes = answer.get("quotes") if isinstance(answer, Mapping) else None
            yield from (q for q in quotes or [] if isinstance(q, Mapping))
            if not _has_next_page(answer):
                return
        logger.warning("Qonto: stopped looking for a quote after %d pages", QUOTE_PAGES_MAX)

    def _clients(self, params: dict[str, str], *, pages: int) -> Iterator[Mapping[str, Any]]:
        for page in range(1, pages + 1):
            answer = self._call(
                "GET",
                "/v2/clients",
                params={**params, "sort_by": "created_at:asc", "page": page, "per_page": PER_PAGE},
            ).json()
            clients = answer.get("clients") if isinstance(answer, Mapping) else None
            yield from (c for c in clients or [] if isinstance(c, Mapping))
            if not _has_next_page(answer):
                return

    def _organization(self) -> Mapping[str, Any]:
        answer = self._call("GET", "/v2/organization").json()
        organization = answer.get("organization") if isinstance(answer, Mapping) else None
        if not isinstance(organization, Mapping):
            raise errors.PermanentError("Qonto answered without the organization.")
        self._iban = _main_iban(organization)
        return organization

    def _main_iban(self) -> str:
        if self._iban is None:
            self._organization()
        if not self._iban:
            raise errors.PermanentError(
                "The Qonto organization has no active Qonto account to be paid into."
            )
        return self._iban

    # -- requests -----------------------------------------------------------------------

    def _credentials(self) -> Mapping[str, Any]:
        return self.connection.credentials or {}

    def _uses_oauth(self) -> bool:
        stored = self._credentials()
        return bool(stored.get("access_token") or stored.get("refresh_token"))

    def _idempotency_key(self, effect: str) -> str:
        """One key per business effect and tenant (Qonto may scope keys wider than one
        organization; two tenants' HubSpot ids must not meet)."""
        scope = self.connection.tenant_id or self.connection.pk or ""
        return str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{scope}|{effect}"))

    def refresh(self, refresh_token: str) -> TokenSet:
        """The refresher for `connectors.credentials.access_token`."""
        return refresh(refresh_token, oauth_url=self.oauth_url)

    def _authorization(self, *, rejected: str | None = None) -> str:
        stored = self._credentials()
        if self._uses_oauth():
            token = access_token(self.connection, refresh=self.refresh, rejected_token=rejected)
            return f"Bearer {token}"
        login, secret_key = str(stored.get("login") or ""), str(stored.get("secret_key") or "")
        if login and secret_key:
            return f"{login}:{secret_key}"
        raise self._reconnect(errors.ReconnectRequired("No Qonto credential is stored."))

    def _call(
        self, method: str, path: str, *, headers: Mapping[str, str] | None = None, **kwargs: Any
    ) -> requests.Response:
        authorization = self._authorization()
        for attempt in (1, 2):
            try:
                return self.client.request(
                    method,
                    path,
                    headers={**(headers or {}), "Authorization": authorization},
                    **kwargs,
                )
            except errors.ReconnectRequired as exc:
                # 403: a scope or a permission is missing; only a new consent or key helps.
                raise self._reconnect(exc) from exc
            except errors.AuthorizationExpired as exc:
                if not self._uses_oauth():
                    raise self._reconnect(
                        errors.ReconnectRequired(
                            "Qonto refused the API key; a new one must be entered.",
                            vendor_message=exc.vendor_message,
                            status=exc.status,
                        )
                    ) from exc
                if attempt == 2:
                    raise
                # A token we thought valid was refused (revoked, clock skew): refresh once.
                # Tokens are refreshed before they expire, as Qonto throttles after 200 401s.
                authorization = self._authorization(rejected=authorization.removeprefix("Bearer "))
        raise AssertionError("unreachable")  # pragma: no cover


# -- mapping helpers -------------------------------------------------------------------------


def quote_number(reference: str) -> str:
    """The quote number for our reference: `HS-<deal id>` for a deal's reference, else the
    reference made safe, at most 40 characters (a digest when it would be longer)."""
    reference = reference.strip()
    match = DEAL_REFERENCE.match(reference)
    if match:
        return f"HS-{match.group(1)}"
    safe = re.sub(r"[^A-Za-z0-9]+", "-", reference).strip("-")
    number = f"HS-{safe}"
    if len(number) > NUMBER_MAX:
        number = "HS-" + hashlib.sha256(reference.encode()).hexdigest()[: NUMBER_MAX - 3]
    return number


def _header(quote: Quote) -> str:
    """Title and introduction (Qonto quotes have no title), with our reference always in it,
    within Qonto's 1000 characters: the reference survives a cut."""
    parts = [_clean(quote.title), quote.introduction.strip()]
    text = "\n".join(p for p in parts if p)
    reference = quote.reference.strip()
    if reference and reference not in text:
        text = f"{text}\n{reference}" if text else reference
    if len(text) <= HEADER_MAX:
        return text
    tail = f"…\n{reference}" if reference else "…"
    return text[: HEADER_MAX - len(tail)].rstrip() + tail


def _item(position: QuotePosition, currency: str, *, rate_scale: Decimal) -> dict[str, Any]:
    """One item. `rate_scale` 1 writes percent (the quote examples), 0.01 a fraction (the
    invoice examples) for vat_rate and a percentage discount alike."""
    item: dict[str, Any] = {
        "title": _clean(position.name),
        "quantity": _plain(position.quantity),
        "unit_price": {"value": _amount(position.unit_net_price), "currency": currency},
        "vat_rate": _plain(position.tax_rate * rate_scale),
    }
    if position.description.strip():
        item["description"] = position.description.strip()
    if position.unit.strip():
        item["unit"] = position.unit.strip()
    if position.discount_percent:
        item["discount"] = {
            "type": "percentage",
            "value": _plain(position.discount_percent * rate_scale),
        }
    return item


def _client_body(customer: Customer) -> dict[str, Any]:
    """The client as Qonto's create takes it: a company by name, a person as an individual
    with first and last name; EUR, a locale and the billing address make it invoiceable."""
    address = customer.address
    if customer.kind is CustomerKind.COMPANY:
        company = _company_of(customer)
        body: dict[str, Any] = {"kind": "company", "name": _cut(_clean(company.name), NAME_MAX)}
        vat_id = re.sub(r"\s+", "", company.vat_id)
        if vat_id and len(vat_id) <= VAT_NUMBER_MAX:
            body["vat_number"] = vat_id
    else:
        person = _person_of(customer)
        first, last = _clean(person.first_name), _clean(person.last_name)
        if not first and " " in last:
            first, last = last.split(" ", 1)
        body = {
            "kind": "individual",
            "first_name": _cut(first or MISSING_FIRST_NAME, PERSON_NAME_MAX),
            "last_name": _cut(last, PERSON_NAME_MAX),
        }
    email = customer.email.strip()
    if email:
        body["email"] = email
    billing = _billing_address(address)
    if billing:
        body["billing_address"] = billing
    body["currency"] = CLIENT_CURRENCY
    body["locale"] = LOCALES.get(address.country_code.strip().upper(), DEFAULT_LOCALE)
    return body


def _billing_address(address: Address) -> dict[str, str]:
    fields = {
        "street_address": _clean(address.street_line),
        "city": _clean(address.city),
        "zip_code": _clean(address.postcode),
        "country_code": address.country_code.strip().upper(),
    }
    return {key: value for key, value in fields.items() if value}


def _hubspot_id(customer: Customer) -> str:
    if customer.kind is CustomerKind.COMPANY and customer.company is not None:
        return customer.company.hubspot_id.strip()
    return customer.person.hubspot_id.strip() if customer.person is not None else ""


def _company_of(customer: Customer) -> Company:
    if customer.company is None:
        raise ValueError("A company customer needs a company.")
    return customer.company


def _person_of(customer: Customer) -> Person:
    if customer.person is None:
        raise ValueError("A person customer needs a person.")
    return customer.person


def _is_company(client: Mapping[str, Any]) -> bool:
    """A client's kind (`type` is its alias; `kind` wins): `company`, or a person as
    `individual` or `freelancer`."""
    return (client.get("kind") or client.get("type")) == "company"


def _has_next_page(answer: Any) -> bool:
    meta = answer.get("meta") if isinstance(answer, Mapping) else None
    return isinstance(meta, Mapping) and bool(meta.get("next_page"))


def _customer_ref(client: Mapping[str, Any]) -> CustomerRef:
    return CustomerRef(vendor_id=str(client["id"]))


def _quote_ref(document: Mapping[str, Any]) -> QuoteRef:
    return QuoteRef(
        vendor_id=str(document["id"]),
        number=str(document.get("number") or ""),
        url=str(document.get("quote_url") or ""),
    )


def _uuid_or_none(value: str) -> str | None:
    try:
        return str(uuid.UUID(str(value).strip()))
    except ValueError:
        return None


def _uuid_or_raise(value: str) -> str:
    client_id = _uuid_or_none(value)
    if client_id is None:
        raise errors.NotFound(f"{value!r} is not a Qonto client id.")
    return client_id


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _normalized(text: str) -> str:
    return _clean(text).casefold()


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit].rstrip()


def _plain(value: Decimal) -> str:
    """12.50 -> "12.5", 3 -> "3", 0.190 -> "0.19": a decimal string without exponent."""
    text = f"{value.normalize():f}"
    return "0" if text in ("-0", "") else text


def _amount(value: Decimal) -> str:
    """Money with at least two places ("100.00"), more only where the price has them."""
    return f"{value:.2f}" if value == value.quantize(Decimal("0.01")) else _plain(value)


def _digest(body: Mapping[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _main_iban(organization: Mapping[str, Any]) -> str:
    """The IBAN of the main active Qonto account (not a connected external one)."""
    accounts = [
        a
        for a in organization.get("bank_accounts") or []
        if isinstance(a, Mapping)
        and a.get("iban")
        and a.get("status", "active") == "active"
        and not a.get("is_external_account")
    ]
    accounts.sort(key=lambda a: not a.get("main"))
    return str(accounts[0]["iban"]) if accounts else ""
