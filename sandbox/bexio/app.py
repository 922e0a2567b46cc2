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
import time
from dataclasses import asdict, dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from flask import Flask, Request, Response, g, request
from werkzeug.exceptions import HTTPException

from sandbox.bexio import articles, documents, sales, taxes
from sandbox.bexio.documents import check, invalid, public
from sandbox.bexio.oidc import BEXIO_AUTH_HOST, BexioIdentityProvider
from sandbox.contract import SpecProblem
from sandbox.core import VendorSandbox
from sandbox.oauth_server import OAUTH_ENDPOINTS, OAuthVendor, bearer_token
from sandbox.routes import Endpoint, serve_endpoints
from sandbox.store import BadPaging, NotFound, OffsetPaging, Page, Record, Resource

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
# Contacts, invoices and items are edited with POST, not PUT or PATCH (derived spec,
# v2EditContact, v2EditInvoice, v2EditItem with a partial body). Deleting a quote is not
# modelled. The quote, invoice and item lists are declared without paging: `render_page`
# cuts them as it cuts the searches, answering a bad limit as a validation error where the
# contact and tax lists answer 400.
ENDPOINTS = (
    Endpoint("contacts", "/2.0/contact", PAGING, update_method="POST", id_converter="int"),
    Endpoint("taxes", "/3.0/taxes", PAGING, ("list",)),
    Endpoint("offers", "/2.0/kb_offer", None, ("list", "create", "read"), id_converter="int"),
    Endpoint("invoices", "/2.0/kb_invoice", None, update_method="POST", id_converter="int"),
    Endpoint("articles", "/2.0/article", None, update_method="POST", id_converter="int"),
)
# The fields the docs list for POST /2.0/contact/search.
CONTACT_SEARCH_FIELDS = frozenset({
    "id", "name_1", "name_2", "nr", "address", "mail", "mail_second", "postcode", "city",
    "country_id", "contact_group_ids", "contact_type_id", "updated_at", "user_id",
    "phone_fixed", "phone_mobile", "fax",
})  # fmt: skip
# The fields each search takes. The derived spec has no quote search: listing is how a
# client finds a quote by api_reference.
SEARCH_FIELDS = {"contacts": CONTACT_SEARCH_FIELDS, "invoices": sales.INVOICE_SEARCH_FIELDS,
                 "articles": articles.SEARCH_FIELDS}  # fmt: skip
# The fields a list and a search are ordered by (`order_by`); contacts keep their id order.
ORDER_FIELDS = {"offers": sales.ORDER_FIELDS, "invoices": sales.ORDER_FIELDS,
                "articles": articles.ORDER_FIELDS}  # fmt: skip
# The field a new record's number goes in when the client sends none, made of its id.
NUMBERS = {"contacts": ("nr", "{:06d}"), "offers": ("document_nr", "AN-{:05d}"),
           "invoices": ("document_nr", "RE-{:05d}")}  # fmt: skip
DOCUMENT_COLUMNS = ("id", "document_nr", "title", "contact_id", "api_reference", "total")


@dataclass
class Company:
    """A bexio account; its first user is the one an OAuth consent signs in as."""

    id: int
    name: str
    user_ids: tuple[int, ...]


class BexioSandbox(OAuthVendor, VendorSandbox):
    name = "bexio"
    title = "bexio"
    # The derived file first; the unofficial one only for the operations the derived one
    # lacks (GET /2.0/kb_offer, GET /2.0/kb_invoice/{id}).
    spec_files = ("bexio/bexio-derived-openapi.yaml",
                  "bexio/bexio-openapi.apievangelist-unofficial.yml")  # fmt: skip
    demo_credential = "bexio-sandbox-token"
    tables = {
        "contacts": ("contacts", ("id", "nr", "contact_type_id", "name_1", "name_2", "mail",
                                  "city", "owner_id")),
        "offers": ("offers", DOCUMENT_COLUMNS),
        "invoices": ("invoices", (*DOCUMENT_COLUMNS, "kb_item_status_id",
                                  "total_remaining_payments", "updated_at",
                                  sales.SOURCE_OFFER)),  # the quote it was made from
        "payments": ("payments", ("id", "kb_invoice_id", "date", "value")),
        "articles": ("articles", ("id", "intern_code", "intern_name", "sale_price")),
    }  # fmt: skip
    # Numbered records are given their ids by `numbered`; sorting by id keeps their lists in
    # that order whichever create is stored first.
    resources = (
        *(Resource(name, ids="sequence", sort_field="id") for name in NUMBERS),
        Resource("taxes", ids="sequence", filters=taxes.FILTERS),
        Resource("payments", ids="sequence"),
        Resource("articles", ids="sequence"),
    )  # fmt: skip

    @classmethod
    def for_demo(cls, demo: DemoSetup) -> VendorSandbox:
        bexio = cls()
        bexio.add_company(name="Demo Treuhand AG", personal_access_token=cls.demo_credential)
        client_id, client_secret = demo.oauth_client("bexio")
        bexio.add_oauth_client(client_id=client_id, client_secret=client_secret,
                               redirect_uris=(demo.accounting_callback,))  # fmt: skip
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
        self.oauth = BexioIdentityProvider(self, access_token_lifetime=access_token_lifetime,
                                           code_lifetime=authorization_code_lifetime)  # fmt: skip
        super().__init__(contract=contract, public_url=public_url)

    # -- state and seeding ----------------------------------------------------------------

    def reset(self) -> None:
        super().reset()
        self.oauth.clear()
        with self.lock:
            self.companies: dict[int, Company] = {}
            # (company, kind) -> its next id; positions are numbered across its documents.
            self.ids: dict[tuple[str, str], itertools.count[int]] = {}
            self.windows: dict[int, tuple[float, int]] = {}  # company -> (start, calls)

    def add_company(
        self, *, name: str, personal_access_token: str | None = None,
        user_ids: tuple[int, ...] = (1,),
    ) -> Company:  # fmt: skip
        with self.lock:
            company = Company(id=len(self.companies) + 1, name=name, user_ids=user_ids)
            self.companies[company.id] = company
        for tax in taxes.swiss_taxes():
            self.store.create("taxes", str(company.id), tax)
        if personal_access_token:
            self.oauth.add_personal_token(personal_access_token, company.id, user_id=user_ids[0])
        return company

    def seed_articles(self, company_id: int, count: int, *, prefix: str = "ART") -> list[Record]:
        """`count` items of the company, numbered `<prefix>-00001`..., at 8.1 %."""
        owner = str(company_id)
        active = self.store.select("taxes", owner, params={"types": "sales_tax", "scope": "active"})
        tax_id = next(t["id"] for t in active if t["value"] == 8.1)
        return [
            self.store.create("articles", owner, articles.seeded(n, prefix, tax_id))
            for n in range(1, count + 1)
        ]

    def next_id(self, kind: str) -> int:
        with self.lock:
            return next(self.ids.setdefault((self.owner(), kind), itertools.count(1)))

    def numbered(self, resource: str, record: Record) -> Record:
        """The record with its id and, where the client left it out, its number."""
        record_id = self.next_id(resource)
        field, number = NUMBERS[resource]
        return {**record, field: record.get(field) or number.format(record_id), "id": record_id}

    # -- pipeline hooks -------------------------------------------------------------------

    def credential_of(self, req: Request) -> str | None:
        token = bearer_token(req)
        grant = self.oauth.access(token)
        if grant is None:
            return None
        g.company = self.companies[grant.account]
        return token

    def owner(self) -> str:
        return str(g.company.id)

    def error_response(self, status: int, message: str, **extra: Any) -> Response:
        # The docs name bexio's errors ("Validation error", 401, "Not found") but no body was
        # captured: {error_code, message[, errors]} is the sandbox's guess, unverified.
        body = {"error_code": status, "message": "Not found" if status == 404 else message}
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
        errors = [f"{p.field or p.location}: {p.message}" for p in problems]
        return self.error_response(422, "Validation error", errors=errors)

    def rate_limit(self, credential: str) -> Response | None:
        # bexio publishes neither the size of its per-minute limit nor how the window runs; a
        # fixed window per company gives a RateLimit-Reset that is the time until the count
        # restarts.
        now, limit = time.monotonic(), self.requests_per_window
        with self.lock:
            started, used = self.windows.get(g.company.id, (now, 0))
            if now - started >= self.rate_window_seconds:
                started, used = now, 0
            granted = used < limit
            self.windows[g.company.id] = (started, used + granted)
        reset = started + self.rate_window_seconds - now
        g.rate_headers = self._rate_headers(limit - used - granted, reset)
        # Refused, it carries the window's headers as the extra-429 fault's answer does.
        return None if granted else self.error_response(429, "Too Many Requests", retry_after=reset)

    def _rate_headers(self, remaining: int, reset: float) -> dict[str, str]:
        # "ratelimit-reset" and the other RateLimit-* headers (fact sheet, third party);
        # header names are case-insensitive.
        return {
            "RateLimit-Limit": str(self.requests_per_window),
            "RateLimit-Remaining": str(max(remaining, 0)),
            "RateLimit-Reset": str(max(math.ceil(reset), 0)),
        }

    # -- hooks of the declared endpoints ----------------------------------------------------

    def new_record(self, endpoint: Endpoint, body: Any) -> Record:
        if endpoint.resource == "articles":
            return {**articles.DEFAULTS, **articles.stored(body, self.tax)}
        if endpoint.resource == "contacts":
            check(documents.contact_problems(body, self.user_ids))
            return self.numbered("contacts", documents.new_contact(body))
        check(documents.document_problems(body, self))
        draft = sales.QUOTE_DRAFT if endpoint.resource == "offers" else sales.INVOICE_DRAFT
        positions = partial(self.next_id, "positions")
        document = documents.new_document(body, self, position_id=positions,
                                          kb_item_status_id=draft,
                                          validity_days=self.quote_validity_days)  # fmt: skip
        if endpoint.resource == "invoices":
            document = sales.invoice_fields(document)
        return self.numbered(endpoint.resource, document)

    def record_changes(self, endpoint: Endpoint, stored: Record, body: Any) -> Record:
        # An edit sends the whole contact (derived spec, v2EditContact), an invoice's header
        # fields (v2EditInvoice) or an item's changed fields, whose type stays (v2EditItem).
        if endpoint.resource == "articles":
            kept = {k: v for k, v in body.items() if k != "article_type_id"}
            return articles.stored(kept, self.tax)
        if endpoint.resource == "invoices":
            if stored["kb_item_status_id"] != sales.INVOICE_DRAFT:
                raise invalid("kb_item_status_id: Only a draft invoice can be edited.")
            check(documents.document_problems(body, self, edit=True))
        else:
            check(documents.contact_problems(body, self.user_ids))
        return {**body, "updated_at": documents.now_text()}

    def render(self, endpoint: Endpoint, record: Record) -> Any:
        return public(record)

    def render_page(self, endpoint: Endpoint, page: Page) -> Response:
        # Lists declared without paging come whole (`ENDPOINTS`).
        return super().render_page(endpoint, page) if endpoint.paging else self.page(page.items)

    def ordered(self, endpoint: Endpoint, rows: list[Record]) -> list[Record]:
        fields = ORDER_FIELDS.get(endpoint.resource)
        if fields is None:
            return rows
        return documents.ordered(rows, request.args.get("order_by", "id"), fields)

    def deleted_response(self, endpoint: Endpoint, record: Record) -> Response:
        # bexio only flags a contact as deleted (derived spec, v2DeleteContact); the sandbox
        # does not model the "show deleted contacts" filter, so it is gone. Items and
        # invoices are deleted for good.
        return self.json({"success": True})

    def document_status_set(
        self, *, kind: str, document_id: str, status: str, amount: str = ""
    ) -> dict[str, Any] | None:
        return sales.status_set(self, kind, document_id, status, amount)

    @property
    def user_ids(self) -> tuple[int, ...]:
        return tuple(g.company.user_ids)

    def tax(self, tax_id: Any) -> Record | None:
        return self.store.find("taxes", self.owner(), tax_id)

    def has_contact(self, contact_id: Any) -> bool:
        return self.store.find("contacts", self.owner(), contact_id) is not None

    # -- routes ---------------------------------------------------------------------------

    def register_routes(self, app: Flask) -> None:
        self.oauth.register(app)
        serve_endpoints(app, self, ENDPOINTS)
        sales.register(app, self)
        for endpoint in ENDPOINTS:
            if endpoint.resource in SEARCH_FIELDS:
                rule, search = f"{endpoint.path}/search", partial(self._search, endpoint)
                app.add_url_rule(rule, f"{endpoint.resource}.search", search, methods=["POST"])
        app.register_error_handler(NotFound, lambda _: self.error_response(404, "Not found"))

        @app.after_request
        def rate_headers(response: Response) -> Response:
            for key, value in g.get("rate_headers", {}).items():
                response.headers.setdefault(key, value)
            return response

        @app.errorhandler(HTTPException)
        def http_error(error: HTTPException) -> Response:
            return self.error_response(error.code or 500, error.name)

    def page(self, rows: list[Record]) -> Response:
        try:
            items = PAGING.cut(rows, request.args).items
        except BadPaging as exc:
            raise invalid(f"limit, offset: {exc}") from None
        return self.json([public(r) for r in items])

    def _search(self, endpoint: Endpoint) -> Response:
        criteria: list[Record] = request.get_json(force=True)
        fields = SEARCH_FIELDS[endpoint.resource]
        unknown = {i: c["field"] for i, c in enumerate(criteria) if c["field"] not in fields}
        problem = "is not a searchable field."
        if unknown and endpoint.resource == "contacts":
            raise invalid(*(f"{i} [field]: {name} {problem}" for i, name in unknown.items()))
        if unknown:
            raise invalid(f"field: {', '.join(unknown.values())} {problem}")
        found = lambda r: all(documents.matches(r, c) for c in criteria)  # noqa: E731
        rows = self.store.select(endpoint.resource, self.owner(), where=found)
        return self.page(self.ordered(endpoint, rows))

    # -- inspection -----------------------------------------------------------------------

    def inspect(self) -> dict[str, list[dict[str, Any]]]:
        companies = [asdict(company) for company in self.companies.values()]
        return {"companies": companies, **super().inspect(), **self.oauth.inspect()}
