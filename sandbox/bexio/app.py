"""bexio's API (api.bexio.com) and identity provider (auth.bexio.com) on one local host.

Serves what the product needs: contacts (create, fetch, list, search), the active sales
taxes, quotes (kb_offer: create, fetch, list, issue) and invoices (kb_invoice: create,
fetch), authorised by an OAuth access token or a company's personal access token.

Spec: vendor-specs/bexio/bexio-derived-openapi.yaml, then the API Evangelist file
for the operations the derived one lacks (GET /2.0/kb_offer, GET /2.0/kb_invoice/{id}).
"""

from __future__ import annotations

import math
import threading
import time
from datetime import date
from typing import TYPE_CHECKING, Any

from flask import Flask, Request, Response, g, request
from werkzeug.exceptions import HTTPException

from sandbox.bexio.contract import DERIVED_SPEC, UNOFFICIAL_SPEC, spec_files
from sandbox.bexio.documents import (
    contact_problems,
    document_problems,
    matches,
    new_contact,
    new_document,
    search_problems,
)
from sandbox.bexio.oidc import PUBLIC_ENDPOINTS, register_oidc_routes
from sandbox.bexio.state import AccessToken, AuthorizationCode, Company, OAuthClient, RefreshToken
from sandbox.bexio.taxes import swiss_taxes, valid_on
from sandbox.contract import ContractChecker, SpecProblem
from sandbox.core import VendorSandbox

if TYPE_CHECKING:
    from sandbox.demo import DemoSetup

PAGE_LIMIT_DEFAULT = 500
PAGE_LIMIT_MAX = 2000
QUOTE_DRAFT, QUOTE_PENDING = 1, 2
# Invoice status ids (7 draft) are a third-party summary like the quote ones; unverified.
INVOICE_DRAFT = 7
# The only rejection of an Accept header seen live (third party, POST /3.0/files, 2026-07):
# HTTP 415 with this text. The spec marks the header required on every operation, so the
# sandbox refuses requests without one; any value is taken, as bexio's GETs do.
ACCEPT_MESSAGE = (
    "You did not specify a valid Accept-Header. Please use one of the following: application/json"
)


class FixedWindow:
    """At most `limit` calls per company in each window of `window` seconds.

    bexio publishes neither the size of its per-minute limit nor how the window runs; a
    fixed window gives a `RateLimit-Reset` that is the time until the counter restarts."""

    def __init__(self, *, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._windows: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> tuple[bool, int, float]:
        """Returns (granted, calls remaining, seconds until the window restarts)."""
        now = time.monotonic()
        with self._lock:
            started, used = self._windows.get(key, (now, 0))
            if now - started >= self.window:
                started, used = now, 0
            granted = used < self.limit
            if granted:
                used += 1
            self._windows[key] = (started, used)
            return granted, self.limit - used, started + self.window - now


class BexioSandbox(VendorSandbox):
    name = "bexio"
    title = "bexio"
    spec_files = (DERIVED_SPEC, UNOFFICIAL_SPEC)
    demo_credential = "bexio-sandbox-token"

    @classmethod
    def for_demo(cls, demo: DemoSetup) -> VendorSandbox:
        bexio = cls()
        bexio.add_company(name="Demo Treuhand AG", personal_access_token=cls.demo_credential)
        client_id, client_secret = demo.oauth_client("bexio")
        bexio.add_oauth_client(
            client_id=client_id,
            client_secret=client_secret,
            redirect_uris=(demo.accounting_callback,),
        )
        return bexio

    spec_server_url = "https://api.bexio.com"
    public_endpoints = PUBLIC_ENDPOINTS
    # Real endpoints no saved OpenAPI file describes: the identity provider (described by
    # the OIDC discovery document bexio-openid-configuration.json).
    undocumented_endpoints = PUBLIC_ENDPOINTS

    def __init__(
        self,
        *,
        contract: bool = False,
        public_url: str = "",
        # bexio has a per-minute limit but does not publish it: 1000 is an assumption.
        requests_per_window: int = 1000,
        rate_window_seconds: float = 60.0,
        # Neither the discovery document nor the docs give the access token lifetime of
        # auth.bexio.com; one hour is an assumption (the retired office.bexio.com OAuth
        # documented 4 hours).
        access_token_lifetime: int = 3600,
        # Keycloak's default for how long a code may wait to be exchanged.
        authorization_code_lifetime: int = 60,
        # How long a quote stays valid when the client sends no is_valid_until; bexio
        # takes it from the company's settings.
        quote_validity_days: int = 30,
    ) -> None:
        self.requests_per_window = requests_per_window
        self.rate_window_seconds = rate_window_seconds
        self.access_token_lifetime = access_token_lifetime
        self.authorization_code_lifetime = authorization_code_lifetime
        self.quote_validity_days = quote_validity_days
        super().__init__(contract=contract, public_url=public_url)

    def spec_checker(self) -> ContractChecker:
        return ContractChecker(spec_files(), self.spec_server_url)

    # -- state and seeding ----------------------------------------------------------------

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.companies: dict[int, Company] = {}
            self.oauth_clients: dict[str, OAuthClient] = {}
            self.access_tokens: dict[str, AccessToken] = {}
            self.refresh_tokens: dict[str, RefreshToken] = {}
            self.authorization_codes: dict[str, AuthorizationCode] = {}
            self.limiter = FixedWindow(
                limit=self.requests_per_window, window=self.rate_window_seconds
            )

    def add_company(
        self,
        *,
        name: str,
        personal_access_token: str | None = None,
        user_ids: tuple[int, ...] = (1,),
    ) -> Company:
        """A bexio account; its first user is the one an OAuth consent signs in as."""
        with self.lock:
            company = Company(
                id=len(self.companies) + 1, name=name, user_ids=user_ids, taxes=swiss_taxes()
            )
            self.companies[company.id] = company
            if personal_access_token:
                self.access_tokens[personal_access_token] = AccessToken(
                    company_id=company.id, user_id=user_ids[0], scope="", expires_at=None
                )
            return company

    def add_oauth_client(
        self, *, client_id: str, client_secret: str, redirect_uris: tuple[str, ...]
    ) -> OAuthClient:
        """An app registered in the bexio developer portal."""
        with self.lock:
            client = OAuthClient(client_id, client_secret, redirect_uris)
            self.oauth_clients[client_id] = client
            return client

    # -- pipeline hooks -------------------------------------------------------------------

    def credential_of(self, req: Request) -> str | None:
        scheme, _, token = req.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        with self.lock:
            grant = self.access_tokens.get(token.strip())
        if grant is None or (grant.expires_at is not None and grant.expires_at < time.time()):
            return None
        return token.strip()

    def error_response(self, status: int, message: str, **extra: Any) -> Response:
        # The docs name bexio's errors ("Validation error", 401, 404) but no body was
        # captured: {error_code, message[, errors]} is the sandbox's guess, unverified.
        body: dict[str, Any] = {"error_code": status, "message": message}
        if "errors" in extra:
            body["errors"] = extra["errors"]
        response = self.json(body, status)
        if "retry_after" in extra:
            response.headers.update(self._rate_headers(0, float(extra["retry_after"])))
        return response

    def spec_violation_response(self, problems: list[SpecProblem]) -> Response:
        # The spec marks Accept required on every operation; bexio answers its absence 415.
        if any(p.location == "header" and p.field.lower() == "accept" for p in problems):
            return self.error_response(415, ACCEPT_MESSAGE)
        # The spec answers a refused request with 422 `{error_code, message}` (its example);
        # `errors` lists each field as "field: message".
        return self.error_response(
            422,
            "Validation error",
            errors=[f"{p.field or p.location}: {p.message}" for p in problems],
        )

    def rate_limit(self, credential: str) -> Response | None:
        with self.lock:
            grant = self.access_tokens.get(credential)
        if grant is None:
            return None
        granted, remaining, reset = self.limiter.take(f"company:{grant.company_id}")
        g.rate_headers = self._rate_headers(remaining, reset)
        if granted:
            return None
        response = self.error_response(429, "Too Many Requests")
        response.headers.update(g.rate_headers)
        return response

    def _rate_headers(self, remaining: int, reset: float) -> dict[str, str]:
        # "ratelimit-reset" and the other RateLimit-* headers (fact sheet, third party);
        # header names are case-insensitive.
        return {
            "RateLimit-Limit": str(self.requests_per_window),
            "RateLimit-Remaining": str(max(remaining, 0)),
            "RateLimit-Reset": str(max(math.ceil(reset), 0)),
        }

    def _company(self) -> Company:
        with self.lock:
            return self.companies[self.access_tokens[g.credential].company_id]

    # -- routes ---------------------------------------------------------------------------

    def register_routes(self, app: Flask) -> None:
        register_oidc_routes(self, app)

        @app.after_request
        def rate_headers(response: Response) -> Response:
            for key, value in g.get("rate_headers", {}).items():
                response.headers.setdefault(key, value)
            return response

        @app.errorhandler(HTTPException)
        def http_error(error: HTTPException) -> Response:
            code = error.code or 500
            return self.error_response(code, "Not found" if code == 404 else error.name)

        @app.get("/2.0/contact")
        def contact_list() -> Response:
            page = self._page()
            if isinstance(page, Response):
                return page
            with self.lock:
                contacts = list(self._company().contacts.values())
            return self.json(contacts[page])

        @app.post("/2.0/contact")
        def contact_create() -> Response:
            company = self._company()
            body: dict[str, Any] = request.get_json(force=True)
            problems = contact_problems(body, company)
            if problems:
                return self.error_response(422, "Validation error", errors=problems)
            with self.lock:
                contact = new_contact(body, contact_id=company.next_id("contact"))
                company.contacts[contact["id"]] = contact
            self.after_commit()
            return self.json(contact, 201)

        @app.get("/2.0/contact/<int:contact_id>")
        def contact_show(contact_id: int) -> Response:
            with self.lock:
                contact = self._company().contacts.get(contact_id)
            if contact is None:
                return self.error_response(404, "Not found")
            return self.json(contact)

        @app.post("/2.0/contact/search")
        def contact_search() -> Response:
            page = self._page()
            if isinstance(page, Response):
                return page
            criteria: list[dict[str, Any]] = request.get_json(force=True)
            problems = search_problems(criteria)
            if problems:
                return self.error_response(422, "Validation error", errors=problems)
            with self.lock:
                found = [
                    c
                    for c in self._company().contacts.values()
                    if all(matches(c, criterion) for criterion in criteria)
                ]
            return self.json(found[page])

        @app.get("/3.0/taxes")
        def taxes() -> Response:
            page = self._page()
            if isinstance(page, Response):
                return page
            # The spec step has checked scope, types and date against their enums and format.
            scope, types, day = request.args.get("scope"), request.args.get("types"), None
            if "date" in request.args:
                day = date.fromisoformat(request.args["date"])
            found = [
                t
                for t in self._company().taxes
                if (scope is None or t["is_active"] == (scope == "active"))
                and (types is None or t["type"] == types)
                and (day is None or valid_on(t, day))
            ]
            return self.json(found[page])

        @app.get("/2.0/kb_offer")
        def quote_list() -> Response:
            # The derived spec has no quote search; listing is how a client finds a quote
            # by api_reference here.
            page = self._page()
            if isinstance(page, Response):
                return page
            with self.lock:
                quotes = list(self._company().offers.values())
            return self.json(quotes[page])

        @app.post("/2.0/kb_offer")
        def quote_create() -> Response:
            return self._create_document("offer", "AN", QUOTE_DRAFT)

        @app.get("/2.0/kb_offer/<int:quote_id>")
        def quote_show(quote_id: int) -> Response:
            with self.lock:
                quote = self._company().offers.get(quote_id)
            if quote is None:
                return self.error_response(404, "Not found")
            return self.json(quote)

        @app.post("/2.0/kb_offer/<int:quote_id>/issue")
        def quote_issue(quote_id: int) -> Response:
            with self.lock:
                quote = self._company().offers.get(quote_id)
                if quote is None:
                    return self.error_response(404, "Not found")
                if quote["kb_item_status_id"] != QUOTE_DRAFT:
                    return self.error_response(
                        422, "Validation error", errors=["kb_item_status_id: Quote is not a draft."]
                    )
                quote["kb_item_status_id"] = QUOTE_PENDING
            return self.json({"success": True})

        @app.post("/2.0/kb_invoice")
        def invoice_create() -> Response:
            return self._create_document("invoice", "RE", INVOICE_DRAFT)

        @app.get("/2.0/kb_invoice/<int:invoice_id>")
        def invoice_show(invoice_id: int) -> Response:
            with self.lock:
                invoice = self._company().invoices.get(invoice_id)
            if invoice is None:
                return self.error_response(404, "Not found")
            return self.json(invoice)

    def _page(self) -> slice | Response:
        """`limit` (default 500, at most 2000) and `offset`, as a slice of the results."""
        try:
            limit = int(request.args.get("limit", PAGE_LIMIT_DEFAULT))
            offset = int(request.args.get("offset", 0))
        except ValueError:
            return self.error_response(
                422, "Validation error", errors=["limit, offset: Must be integers."]
            )
        if not 0 <= limit <= PAGE_LIMIT_MAX or offset < 0:
            return self.error_response(
                422, "Validation error", errors=[f"limit: At most {PAGE_LIMIT_MAX}."]
            )
        return slice(offset, offset + limit)

    def _create_document(self, kind: str, prefix: str, status_id: int) -> Response:
        company = self._company()
        body: dict[str, Any] = request.get_json(force=True)
        with self.lock:
            problems = document_problems(body, company)
            if problems:
                return self.error_response(422, "Validation error", errors=problems)
            number = company.next_id(kind)
            document = new_document(
                body,
                company,
                document_id=number,
                document_nr=f"{prefix}-{number:05d}",
                kb_item_status_id=status_id,
                validity_days=self.quote_validity_days,
            )
            store = company.offers if kind == "offer" else company.invoices
            store[number] = document
        self.after_commit()
        return self.json(document, 201)

    # -- inspection -----------------------------------------------------------------------

    def inspect(self) -> dict[str, list[dict[str, Any]]]:
        with self.lock:
            companies = list(self.companies.values())
            tokens = list(self.access_tokens.items())
            refresh = list(self.refresh_tokens.items())
            clients = list(self.oauth_clients.values())
        return {
            "companies": [
                {"id": c.id, "name": c.name, "user_ids": list(c.user_ids)} for c in companies
            ],
            "contacts": [
                {"company_id": c.id, **_pick(contact, _CONTACT_COLUMNS)}
                for c in companies
                for contact in c.contacts.values()
            ],
            "offers": [
                {"company_id": c.id, **_document_row(document)}
                for c in companies
                for document in c.offers.values()
            ],
            "invoices": [
                {"company_id": c.id, **_document_row(document)}
                for c in companies
                for document in c.invoices.values()
            ],
            "tokens": [
                {
                    "token": _prefix(value),
                    "kind": grant.kind,
                    "company_id": grant.company_id,
                    "client_id": grant.client_id,
                    "scope": grant.scope,
                    "expires_at": grant.expires_at
                    and time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(grant.expires_at)),
                }
                for value, grant in tokens
            ]
            + [
                {
                    "token": _prefix(value),
                    "kind": "refresh token",
                    "company_id": grant.company_id,
                    "client_id": grant.client_id,
                    "scope": grant.scope,
                }
                for value, grant in refresh
            ],
            "oauth clients": [
                {"client_id": c.client_id, "redirect_uris": list(c.redirect_uris)} for c in clients
            ],
        }


_CONTACT_COLUMNS = ("id", "nr", "contact_type_id", "name_1", "name_2", "mail", "city", "owner_id")
_DOCUMENT_COLUMNS = (
    "id",
    "document_nr",
    "title",
    "contact_id",
    "api_reference",
    "kb_item_status_id",
    "total",
    "is_valid_until",
)


def _pick(record: dict[str, Any], columns: tuple[str, ...]) -> dict[str, Any]:
    return {name: record.get(name) for name in columns}


def _document_row(document: dict[str, Any]) -> dict[str, Any]:
    return {**_pick(document, _DOCUMENT_COLUMNS), "positions": len(document["positions"])}


def _prefix(token: str) -> str:
    """Enough of a token to tell it apart on the page; never the token itself."""
    return f"{token[:6]}…"
