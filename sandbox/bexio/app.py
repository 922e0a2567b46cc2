"""bexio's API (api.bexio.com) and identity provider (auth.bexio.com) on one local host.

Serves what the product needs: contacts (create, read, list, search, edit, delete), the sales
taxes, items (article: see `articles`), quotes (kb_offer: create, read, list) and invoices
(kb_invoice: create, made from a quote, read, list, search, edit, delete, issue, cancel,
payments; see `sales`), authorised by an OAuth access token or a company's personal access
token. Each company is its own bexio account: records are numbered per company from 1.

Spec: vendor-specs/bexio/bexio-derived-openapi.yaml, then the API Evangelist file
for the operations the derived one lacks (GET /2.0/kb_offer, GET /2.0/kb_invoice/{id}).
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from flask import Flask, Request, Response, g, request
from werkzeug.exceptions import HTTPException

from sandbox.bexio import articles, documents, sales
from sandbox.bexio.oidc import BEXIO_AUTH_HOST, BexioIdentityProvider
from sandbox.bexio.taxes import swiss_taxes, valid_on
from sandbox.contract import SpecProblem
from sandbox.core import VendorSandbox
from sandbox.oauth_server import OAUTH_ENDPOINTS, OAuthVendor
from sandbox.routes import Endpoint, serve_endpoints
from sandbox.store import BadPaging, NotFound, OffsetPaging, Record, Resource, equals

if TYPE_CHECKING:
    from sandbox.demo import DemoSetup

# The only rejection of an Accept header seen live (third party, POST /3.0/files, 2026-07):
# HTTP 415 with this text. The spec marks the header required on every operation, so the
# sandbox refuses requests without one; any value is taken, as bexio's GETs do.
ACCEPT_MESSAGE = (
    "You did not specify a valid Accept-Header. Please use one of the following: application/json"
)
# `limit` (default 500, at most 2000) and `offset`; lists are bare arrays (fact sheet).
PAGING = OffsetPaging(default_limit=500, max_limit=2000)
ENDPOINTS = (
    # Contacts are edited with POST, not PUT or PATCH (derived spec, v2EditContact).
    Endpoint("contacts", "/2.0/contact", PAGING, ("list", "read", "update"), "POST", "int"),
    Endpoint("taxes", "/3.0/taxes", PAGING, ("list",)),
    # The derived spec has no quote search; listing is how a client finds a quote by
    # api_reference here.
    # Their lists (ordered by `order_by`) are served by `sales`.
    Endpoint("offers", "/2.0/kb_offer", None, ("read",), id_converter="int"),
    # Invoices are edited with POST too (derived spec, v2EditInvoice).
    Endpoint("invoices", "/2.0/kb_invoice", None, ("read", "update"), "POST", "int"),
    # Items too (v2EditItem, a partial body); their list, search and delete: `articles`.
    Endpoint("articles", "/2.0/article", None, ("read", "update"), "POST", "int"),
)
DOCUMENT_COLUMNS = ("id", "document_nr", "title", "contact_id", "api_reference", "total")


@dataclass
class Company:
    """A bexio account; its first user is the one an OAuth consent signs in as."""

    id: int
    name: str
    user_ids: tuple[int, ...]


class Invalid(Exception):
    """Answered 422 "Validation error" with the problems as "field: message" lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


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


def _tax_scope(tax: Record, scope: str) -> bool:
    return bool(tax["is_active"] == (scope == "active"))


def _tax_date(tax: Record, day: str) -> bool:
    return valid_on(tax, date.fromisoformat(day))  # the spec step checked the format


class BexioSandbox(OAuthVendor, VendorSandbox):
    name = "bexio"
    title = "bexio"
    # The derived file first; the unofficial one only for the operations the derived one
    # lacks (GET /2.0/kb_offer, GET /2.0/kb_invoice/{id}).
    spec_files = (
        "bexio/bexio-derived-openapi.yaml",
        "bexio/bexio-openapi.apievangelist-unofficial.yml",
    )
    demo_credential = "bexio-sandbox-token"
    tables = {
        "contacts": (
            "contacts",
            ("id", "nr", "contact_type_id", "name_1", "name_2", "mail", "city", "owner_id"),
        ),
        "offers": ("offers", DOCUMENT_COLUMNS),
        "invoices": (
            "invoices",
            (
                *DOCUMENT_COLUMNS,
                *("kb_item_status_id", "total_remaining_payments", "updated_at"),
                sales.SOURCE_OFFER,  # the quote it was made from
            ),
        ),
        "payments": ("payments", ("id", "kb_invoice_id", "date", "value")),
        "articles": ("articles", ("id", "intern_code", "intern_name", "sale_price")),
    }
    resources = (
        Resource("contacts", ids="sequence"),
        Resource(
            "taxes",
            ids="sequence",
            filters={"scope": _tax_scope, "types": equals("type"), "date": _tax_date},
        ),
        Resource("offers", ids="sequence"),
        Resource("invoices", ids="sequence"),
        Resource("payments", ids="sequence"),
        Resource("articles", ids="sequence"),
    )

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
    public_endpoints = OAUTH_ENDPOINTS | {"oidc_discovery"}
    # The token endpoint is on the identity provider's host (a path-level `servers` entry).
    spec_hosts = {"/realms/": BEXIO_AUTH_HOST}
    # Real endpoints no saved OpenAPI file describes: the rest of the identity provider
    # (described by the OIDC discovery document bexio-openid-configuration.json).
    undocumented_endpoints = public_endpoints - {"oauth_token"}

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
        self.quote_validity_days = quote_validity_days
        # Refresh tokens are offline tokens: no expiry, spent by each refresh (no grace).
        self.oauth = BexioIdentityProvider(
            self,
            access_token_lifetime=access_token_lifetime,
            code_lifetime=authorization_code_lifetime,
        )
        self.sales = sales.Sales(self, PAGING)
        self.articles = articles.Articles(self)
        super().__init__(contract=contract, public_url=public_url)

    # -- state and seeding ----------------------------------------------------------------

    def reset(self) -> None:
        super().reset()
        self.oauth.clear()
        with self.lock:
            self.companies: dict[int, Company] = {}
            # Positions are numbered per company across its documents.
            self.position_ids: dict[int, itertools.count[int]] = {}
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
        with self.lock:
            company = Company(id=len(self.companies) + 1, name=name, user_ids=user_ids)
            self.companies[company.id] = company
            self.position_ids[company.id] = itertools.count(1)
        for tax in swiss_taxes():
            self.store.create("taxes", str(company.id), tax)
        if personal_access_token:
            self.oauth.add_personal_token(personal_access_token, company.id, user_id=user_ids[0])
        return company

    def seed_articles(self, company_id: int, count: int, *, prefix: str = "ART") -> list[Record]:
        """`count` items of the company, numbered `<prefix>-00001`..., stored directly."""
        return self.articles.seed(company_id, count, prefix=prefix)

    # -- pipeline hooks -------------------------------------------------------------------

    def credential_of(self, req: Request) -> str | None:
        scheme, _, token = req.headers.get("Authorization", "").partition(" ")
        grant = self.oauth.access(token.strip()) if scheme.lower() == "bearer" else None
        if grant is None:
            return None
        g.company = self.companies[grant.account]
        return token.strip()

    def owner(self) -> str:
        return str(g.company.id)

    def error_response(self, status: int, message: str, **extra: Any) -> Response:
        # The docs name bexio's errors ("Validation error", 401, "Not found") but no body was
        # captured: {error_code, message[, errors]} is the sandbox's guess, unverified.
        body: dict[str, Any] = {"error_code": status, "message": "Not found"}
        if status != 404:
            body["message"] = message
        if "errors" in extra:
            body["errors"] = extra["errors"]
        response = self.json(body, status)
        if "retry_after" in extra:
            response.headers.update(self._rate_headers(0, float(extra["retry_after"])))
        return response

    def spec_violation_response(self, problems: list[SpecProblem]) -> Response:
        if request.endpoint == "oauth_token":
            return self.oauth.spec_refusal(problems)
        # The spec marks Accept required on every operation; bexio answers its absence 415.
        if any(p.location == "header" and p.field.lower() == "accept" for p in problems):
            return self.error_response(415, ACCEPT_MESSAGE)
        # The spec answers a refused request with 422 `{error_code, message}` (its example);
        # `errors` lists each field as "field: message".
        return self._invalid(Invalid([f"{p.field or p.location}: {p.message}" for p in problems]))

    def _invalid(self, error: Invalid) -> Response:
        return self.error_response(422, "Validation error", errors=error.problems)

    def rate_limit(self, credential: str) -> Response | None:
        granted, remaining, reset = self.limiter.take(f"company:{g.company.id}")
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

    # -- hooks of the declared endpoints ----------------------------------------------------

    def record_changes(self, endpoint: Endpoint, stored: Record, body: Any) -> Record:
        # An edit sends the whole contact (derived spec, v2EditContact) or an invoice's
        # header fields (v2EditInvoice); what it leaves out stays as it was.
        if endpoint.resource == "articles":
            return self.articles.changes(body)
        if endpoint.resource == "invoices":
            if stored["kb_item_status_id"] != sales.INVOICE_DRAFT:
                raise sales.Refused("kb_item_status_id: Only a draft invoice can be edited.")
            self._check(sales.invoice_edit_problems(body, self._rules()))
        else:
            self._check(documents.contact_problems(body, g.company.user_ids))
        return {**body, "updated_at": documents.now_text()}

    def render(self, endpoint: Endpoint, record: Record) -> Any:
        return sales.public(record)

    def document_status_set(
        self, *, kind: str, document_id: str, status: str, amount: str = ""
    ) -> dict[str, Any] | None:
        return self.sales.status_set(kind, document_id, status, amount)

    def _check(self, problems: list[str]) -> None:
        if problems:
            raise Invalid(problems)

    def _rules(self) -> documents.Rules:
        owner = self.owner()
        return documents.Rules(
            user_ids=g.company.user_ids,
            tax=lambda tax_id: self.store.find("taxes", owner, tax_id),
            has_contact=lambda contact_id: (
                self.store.find("contacts", owner, contact_id) is not None
            ),
        )

    # -- routes ---------------------------------------------------------------------------

    def register_routes(self, app: Flask) -> None:
        self.oauth.register(app)
        serve_endpoints(app, self, ENDPOINTS)
        self.sales.register(app)
        self.articles.register(app)
        app.register_error_handler(Invalid, self._invalid)
        app.register_error_handler(sales.Refused, lambda e: self._invalid(Invalid([str(e)])))
        app.register_error_handler(NotFound, lambda _: self.error_response(404, "Not found"))

        @app.after_request
        def rate_headers(response: Response) -> Response:
            for key, value in g.get("rate_headers", {}).items():
                response.headers.setdefault(key, value)
            return response

        @app.errorhandler(HTTPException)
        def http_error(error: HTTPException) -> Response:
            return self.error_response(error.code or 500, error.name)

        @app.post("/2.0/contact")
        def contact_create() -> Response:
            body: dict[str, Any] = request.get_json(force=True)
            self._check(documents.contact_problems(body, g.company.user_ids))
            contact = self.created_record("contacts", documents.new_contact(body), "nr", "{:06d}")
            return self.json(contact, 201)

        @app.delete("/2.0/contact/<int:contact_id>")
        def contact_delete(contact_id: int) -> Response:
            # bexio only flags the contact as deleted (derived spec, v2DeleteContact); the
            # sandbox does not model the "show deleted contacts" filter, so it is gone.
            self.store.delete("contacts", self.owner(), contact_id)
            return self.json({"success": True})

        @app.post("/2.0/contact/search")
        def contact_search() -> Response:
            criteria: list[dict[str, Any]] = request.get_json(force=True)
            self._check(documents.search_problems(criteria))
            found = self.store.select(
                "contacts",
                self.owner(),
                where=lambda c: all(documents.matches(c, one) for one in criteria),
            )
            try:
                return self.json(PAGING.cut(found, request.args).items)
            except BadPaging as exc:
                raise Invalid([f"limit, offset: {exc}"]) from None

        @app.post("/2.0/kb_offer")
        def quote_create() -> Response:
            return self._create_document("offers", "AN", sales.QUOTE_DRAFT)

        @app.post("/2.0/kb_invoice")
        def invoice_create() -> Response:
            return self._create_document("invoices", "RE", sales.INVOICE_DRAFT)

    def created_record(
        self, resource: str, record: Record, number_field: str, number: str
    ) -> Record:
        """Stores the record and, where the client left it out, its number made of its id."""
        owner = self.owner()
        with self.lock:
            stored = self.store.create(resource, owner, record)
            if not stored.get(number_field):
                changes = {number_field: number.format(stored["id"])}
                stored = self.store.update(resource, owner, stored["id"], changes)
        self.after_commit()
        return sales.public(stored)

    def _create_document(self, resource: str, prefix: str, status_id: int) -> Response:
        body: dict[str, Any] = request.get_json(force=True)
        rules = self._rules()
        self._check(documents.document_problems(body, rules))
        document = documents.new_document(
            body,
            rules,
            position_ids=self.position_ids[g.company.id],
            kb_item_status_id=status_id,
            validity_days=self.quote_validity_days,
        )
        if resource == "invoices":
            document = sales.invoice_fields(document)
        created = self.created_record(resource, document, "document_nr", prefix + "-{:05d}")
        return self.json(created, 201)

    # -- inspection -----------------------------------------------------------------------

    def inspect(self) -> dict[str, list[dict[str, Any]]]:
        companies = [
            {"id": c.id, "name": c.name, "user_ids": c.user_ids} for c in self.companies.values()
        ]
        return {"companies": companies, **super().inspect(), **self.oauth.inspect()}
