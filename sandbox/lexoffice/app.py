"""Stand-in for the lexware office (lexoffice) public API v1, spec
`lexoffice/lexoffice-derived-openapi.yaml` and the fact sheet in the vendor-specs README.

Each API key belongs to one organization (a lexoffice account); what a key creates is seen only
through keys of the same organization. Served: profile, contacts (create, retrieve, update,
filter), quotations and invoices (create, also an invoice from its quotation; retrieve), the
voucher list, where a client looks up a voucher whose answer was lost, payments, articles, and
event subscriptions with signed callbacks when a voucher changes (`document_status_set`). What
fits the generic routes (`sandbox.routes`) is declared as endpoints and answered through hooks.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from flask import Flask, Request, Response, abort, g, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from sandbox.callbacks import CallbackSender
from sandbox.contract import ContractChecker, SpecProblem
from sandbox.core import TokenBucket, VendorSandbox, records
from sandbox.lexoffice import articles, contacts, errors, events, vouchers
from sandbox.lexoffice.errors import VALIDATION_FAILED, Issue, invalid, lexoffice_timestamp
from sandbox.lexoffice.vouchers import VoucherKind, related_voucher
from sandbox.routes import Endpoint, serve_endpoints
from sandbox.store import BadPaging, Page, PageNumberPaging, Record, Resource

if TYPE_CHECKING:
    from sandbox.demo import DemoSetup

DEMO_API_KEY = "lexoffice-sandbox-key"
# Answered by the API gateway in its own `{"message": ...}` shape (the docs show it for 401),
# not by the application behind it.
GATEWAY_STATUSES = frozenset({401, 429, 502, 503, 504})
FIRST_NUMBER = {"customer": 10001, "vendor": 70001, "quotation": 1, "invoice": 1}
VOUCHER_NUMBER_PREFIX = {"quotation": "AG", "invoice": "RE"}
# Spring pages from 0, 25 a page unless asked, at most 250 (the spec's `Page` and `size`).
PAGING = PageNumberPaging(default_size=25, max_size=250, first_page=0)
RESOURCES = (
    # The store versions no contact (`_contact` does): a change a test writes into the store,
    # as the customer's own in the web app, keeps the version it brings.
    Resource("contacts", filters=contacts.FILTERS),
    Resource("quotations"),
    Resource("invoices"),
    Resource("event-subscriptions"),
    Resource("payments", id_field="voucherId"),  # the payment items booked on an invoice
    articles.RESOURCE,
)
# An invoice's payments are read under its id.
PAYMENTS = Endpoint("invoices", "/v1/payments", operations=("read",))
ENDPOINTS = (
    # A contact's PUT replaces it (roles only grow: `_contact`); contacts cannot be deleted.
    Endpoint(
        "contacts",
        "/v1/contacts",
        PAGING,
        ("list", "create", "read", "update"),
        replace_on_update=True,
    ),
    Endpoint("quotations", "/v1/quotations", operations=("create", "read")),
    Endpoint("invoices", "/v1/invoices", operations=("create", "read")),
    # A subscription's create is not one the product must reconcile after a lost answer.
    Endpoint(
        "event-subscriptions",
        "/v1/event-subscriptions",
        operations=("list", "create", "read", "delete"),
        drop_after_commit=False,
    ),
    Endpoint("articles", "/v1/articles", PAGING),
    PAYMENTS,
)
VOUCHER_KINDS: dict[str, VoucherKind] = {"quotations": "quotation", "invoices": "invoice"}
VOUCHER_COLUMNS = ("id", "voucherStatus", "voucherNumber", "voucherDate", "address.name", "title")
NOT_FOUND = Issue("missing_entity", "id", "not_found")


@dataclass
class Organization:
    """The lexoffice account an API key was issued in, as `GET /v1/profile` describes it."""

    company_name: str
    tax_type: str = "net"
    small_business: bool = False
    business_features: tuple[str, ...] = ("INVOICING", "BOOKKEEPING")
    organization_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    connection_id: str = field(default_factory=lambda: str(uuid.uuid4()))


class LexofficeSandbox(VendorSandbox):
    name = "lexoffice"
    title = "lexware office (lexoffice)"
    spec_files = ("lexoffice/lexoffice-derived-openapi.yaml",)
    spec_server_url = "https://api.lexware.io"
    demo_credential = DEMO_API_KEY
    resources = RESOURCES

    contacts = records("contacts")
    quotations = records("quotations")
    invoices = records("invoices")
    tables = {
        "contacts": ("contacts", ("id", "company.name", "person.lastName", "roles", "version")),
        "quotations": ("quotations", VOUCHER_COLUMNS),
        "invoices": ("invoices", (*VOUCHER_COLUMNS, "relatedVouchers")),
        "payments": ("payments", ("voucherId", "paymentItems")),
        "event-subscriptions": ("event subscriptions", ("id", *events.SUBSCRIPTION_FIELDS)),
    }
    # Lexware's webhook key lives on developers.lexware.io, outside the API and its spec.
    public_endpoints = frozenset({"webhook_public_key"})
    undocumented_endpoints = frozenset({"webhook_public_key"})

    @classmethod
    def for_demo(cls, demo: DemoSetup) -> VendorSandbox:
        return cls(api_keys={cls.demo_credential: "Demo Buchhaltung GmbH"})

    def __init__(
        self, *, api_keys: Mapping[str, str] | None = None, rate_per_second: float = 2,
        burst: float = 2, contract: bool = False, public_url: str = "",
        callback_delays: Iterable[float] = events.RETRY_DELAYS,
    ) -> None:  # fmt: skip
        """`api_keys` maps each key to its organization's company name (default: one demo key).
        The docs state 2 requests per second per client, token bucket; the bucket's size is not
        published, so `burst` defaults to one second's worth. `callback_delays`: the seconds
        before each retry of a callback (tests pass short ones)."""
        self.signer = events.WebhookSigner()
        self.callbacks = CallbackSender(
            sign=self.signer, retry_delays=callback_delays, retry_on=events.retried
        )
        self.rate_per_second, self.burst = rate_per_second, burst
        if api_keys is None:
            api_keys = {DEMO_API_KEY: "Muster GmbH"}
        self.organizations = {key: Organization(name) for key, name in api_keys.items()}
        super().__init__(contract=contract, public_url=public_url)

    def add_api_key(self, key: str, *, company_name: str, **profile: Any) -> Organization:
        """Issues a key for a new organization (profile: tax_type, small_business, ...)."""
        organization = Organization(company_name, **profile)
        with self.lock:
            self.organizations[key] = organization
        return organization

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.token_bucket = TokenBucket(rate=self.rate_per_second, capacity=self.burst)
            self.counters: dict[tuple[str, str], int] = {}
        self.callbacks.reset()

    def inspect(self) -> dict[str, list[dict[str, Any]]]:
        return {**super().inspect(), "callbacks sent": self.callbacks.rows()}

    # -- the pipeline hooks ---------------------------------------------------------------

    def credential_of(self, req: Request) -> str | None:
        scheme, _, key = req.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or key.strip() not in self.organizations:
            return None
        return key.strip()

    def error_response(self, status: int, message: str, **extra: Any) -> Response:
        headers = {}
        if extra.get("retry_after") is not None:
            # The docs name no body and no headers for 429; Retry-After tells a client when
            # the bucket holds a token again.
            headers["Retry-After"] = str(max(1, math.ceil(float(extra["retry_after"]))))
        if status in GATEWAY_STATUSES:
            return self.json({"message": message}, status, headers)
        if status in (404, 409):
            # The application names a missing record or a stale version by the reason phrase
            # alone, as on its unknown routes.
            message = HTTPStatus(status).phrase
        return self.json(errors.regular_body(status, request.path, message), status, headers)

    def spec_checker(self) -> ContractChecker:
        return errors.LexofficeChecker(self.spec_files, self.spec_server_url)

    def spec_violation_response(self, problems: list[SpecProblem]) -> Response:
        # Fact sheet "Errors": contacts answer in the legacy IssueList, the newer endpoints in
        # the regular format with `details`; a body that breaks the rules is 406, a bad query
        # parameter 400 (Spring's answer; the spec declares 400 for the voucher list).
        status = 406 if any(p.location == "body" for p in problems) else 400
        if request.path.startswith("/v1/contacts"):
            sources = [(p, p.field or p.location) for p in problems]
            issues = [errors.missing(s) if errors.is_missing(p) else invalid(s) for p, s in sources]
            return self.legacy_error(status, issues)
        details = [errors.violation(p) for p in problems]
        if status == 406:
            return self.regular_error(406, VALIDATION_FAILED, details)
        first = problems[0]
        message = (
            f"Required request parameter '{first.field}' is not present"
            if errors.is_missing(first)
            else f"Failed to convert value of request parameter '{first.field}'"
        )
        return self.regular_error(400, message, details)

    def owner(self) -> str:
        return self.organization().organization_id

    def owner_label(self, owner: str) -> str:
        companies = {o.organization_id: o.company_name for o in self.organizations.values()}
        return companies.get(owner, owner)

    # -- helpers --------------------------------------------------------------------------

    def organization(self) -> Organization:
        return self.organizations[g.credential]

    def action_body(self, collection: str, stored: Record) -> Record:
        base = self.public_url or request.host_url.rstrip("/")
        uri = f"{base}/v1/{collection}/{stored['id']}"
        keys = ("createdDate", "updatedDate", "version")
        return {"id": stored["id"], "resourceUri": uri, **{k: stored[k] for k in keys}}

    def next_number(self, kind: str, owner: str = "") -> int:
        key = (owner or self.owner(), kind)
        with self.lock:
            self.counters[key] = self.counters.get(key, FIRST_NUMBER[kind] - 1) + 1
            return self.counters[key]

    def voucher_number(self, kind: str, owner: str) -> str:
        return f"{VOUCHER_NUMBER_PREFIX[kind]}{self.next_number(kind, owner):04d}"

    def legacy_error(self, status: int, issues: list[Issue]) -> Response:
        return self.json(errors.legacy_body(issues), status)

    def regular_error(
        self, status: int, message: str, details: list[errors.Violation] | None = None
    ) -> Response:
        return self.json(errors.regular_body(status, request.path, message, details), status)

    def own_contact(self, contact_id: str) -> Record | None:
        return self.store.find("contacts", self.owner(), contact_id)

    def spring_page(
        self, page: Page, view: Callable[[Record], Record], *, min_pages: int = 0
    ) -> Response:
        """A Spring Data page, as the contacts, articles and voucher list endpoints answer."""
        return self.json(
            {
                "content": [view(row) for row in page.items],
                "first": page.number == 0,
                "last": not page.has_more,
                "totalPages": max(min_pages, page.total_pages),
                "totalElements": page.total,
                "numberOfElements": len(page.items),
                "size": page.limit,
                "number": page.number,
            }
        )

    # -- routes ---------------------------------------------------------------------------

    def register_routes(self, app: Flask) -> None:
        app.register_error_handler(404, self._unknown_route)
        app.register_error_handler(405, self._unknown_route)
        serve_endpoints(app, self, ENDPOINTS)
        app.add_url_rule("/v1/profile", "profile", self.profile)
        app.add_url_rule("/v1/voucherlist", "voucherlist", self.voucherlist)
        key = Response(self.signer.public_pem, mimetype="application/x-pem-file")
        app.add_url_rule(events.KEY_PATH, "webhook_public_key", lambda: key)

    def _unknown_route(self, error: HTTPException) -> Response:
        # A method the API lacks (e.g. DELETE on a contact) or an unknown path gets the
        # application's (Spring's) regular error body, with Allow on a 405.
        response = self.regular_error(error.code or 404, error.name)
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    def profile(self) -> Response:
        organization = self.organization()
        return self.json(
            {
                "organizationId": organization.organization_id,
                "companyName": organization.company_name,
                "connectionId": organization.connection_id,
                "taxType": organization.tax_type,
                "smallBusiness": organization.small_business,
                "businessFeatures": list(organization.business_features),
            }
        )

    # -- the hooks of the generic routes ----------------------------------------------------

    def new_record(self, endpoint: Endpoint, body: Any) -> Record:
        if endpoint.resource == "contacts":
            # "0 on create" is the spec's description of `version`, not a schema rule.
            if body["version"] != 0:
                abort(self.legacy_error(406, [invalid("version")]))
            return self._contact(body)
        if endpoint.resource == "articles":
            return articles.new(self.owner(), body, lexoffice_timestamp())
        if endpoint.resource == "event-subscriptions":
            # Lexware checks the callback's TLS certificate with a HEAD request (406 on
            # failure); the sandbox calls back over plain HTTP on this machine and leaves that
            # out. A second subscription of the same type and URL is a 409.
            record = events.subscription(self.owner(), body, lexoffice_timestamp())
            if events.subscribed(self.store.select(endpoint.resource, self.owner()), record):
                abort(self.regular_error(409, "Conflict"))
            return record
        return self._voucher(VOUCHER_KINDS[endpoint.resource], body)

    def created_response(self, endpoint: Endpoint, record: Record) -> Response:
        result = self.action_body(endpoint.resource, record)
        # Since 16.09.2024 creates also carry a Location header.
        return self.json(result, 201, {"Location": result["resourceUri"]})

    def missing_response(self, endpoint: Endpoint, record_id: Any) -> Response:
        # Contacts answer errors in the legacy IssueList format.
        if endpoint.resource == "contacts":
            return self.legacy_error(404, [NOT_FOUND])
        return super().missing_response(endpoint, record_id)

    def paging_error_response(self, endpoint: Endpoint | None, error: BadPaging) -> Response:
        # Spring's answer (the spec step refuses most bad pages first).
        return self.legacy_error(400, [invalid(str(error).split()[0])])

    def record_changes(self, endpoint: Endpoint, stored: Record, body: Any) -> Record:
        if endpoint.resource != "contacts":
            return {**articles.content(body), "updatedDate": lexoffice_timestamp()}
        if body["version"] != stored["version"]:
            # Optimistic locking: someone changed the contact since this client read it.
            abort(self.legacy_error(409, [Issue("invalid_value", "version", "conflict")]))
        return self._contact(body, stored)

    def render(self, endpoint: Endpoint, record: Record) -> Any:
        if endpoint == PAYMENTS:
            if record["voucherStatus"] == "draft":
                abort(self.regular_error(406, "Drafts have no payment information.", []))
            return events.payment_view(
                record, self.store.find("payments", self.owner(), record["id"])
            )
        if request.method == "PUT":  # an update answers with an action result
            return self.action_body(endpoint.resource, record)
        if endpoint.resource == "event-subscriptions":
            return events.subscription_view(record)
        if endpoint.resource == "contacts":
            return contacts.view(record)
        return record

    def ordered(self, endpoint: Endpoint, rows: list[Record]) -> list[Record]:
        if endpoint.resource == "articles":
            return articles.listed(rows)
        # The docs ask clients to HTML-encode &, < and > in `name`: the spec step counted the
        # encoded characters, the three a filter needs are counted here.
        name = request.args.get("name")
        if name is not None and len(contacts.unescape_name(name)) < contacts.FILTER_MIN_LENGTH:
            abort(self.legacy_error(400, [invalid("name")]))
        return rows

    def render_page(self, endpoint: Endpoint, page: Page) -> Response:
        if endpoint.resource == "event-subscriptions":
            return self.json({"content": [events.subscription_view(r) for r in page.items]})
        return self.spring_page(page, contacts.view if endpoint.resource == "contacts" else dict)

    # contacts answer errors in the legacy IssueList format: a body that breaks the rules is
    # 406 (the spec's only error response on PUT), a bad query or unreadable body is 400.

    def _contact(self, body: Record, held: Record | None = None) -> Record:
        """The contact as stored after its create, or after an update of the `held` one."""
        now = lexoffice_timestamp()
        held = held or {"organizationId": self.owner(), "version": 0, "roles": {},
                        "archived": False, "createdDate": now}  # fmt: skip
        # Roles can be added, not removed; a number once given stays with the contact.
        roles, wanted = held["roles"], body["roles"]
        added = [r for r in contacts.ROLES if r not in roles and isinstance(wanted.get(r), dict)]
        return {
            **{key: held[key] for key in ("organizationId", "archived", "createdDate")},
            "version": held["version"] + 1,
            "roles": {**roles, **{role: {"number": self.next_number(role)} for role in added}},
            **contacts.content(body),
            "updatedDate": now,
        }

    # quotations and invoices answer errors in the regular format, validation as 406.

    def _voucher(self, kind: VoucherKind, body: Any) -> Record:
        """A new quotation or invoice; an invoice made from a quotation is also listed on the
        quotation, written before the invoice is stored (its id is chosen here for that)."""
        violations = vouchers.VoucherCheck(body, kind=kind, contact_of=self.own_contact).run()
        if violations:
            abort(self.regular_error(406, VALIDATION_FAILED, violations))
        # `precedingSalesVoucherId`: invoices only.
        preceding_id = request.args.get("precedingSalesVoucherId")
        preceding = self.store.find("quotations", self.owner(), preceding_id or "")
        if preceding_id and (problem := vouchers.preceding_problem(preceding)):
            abort(self.regular_error(406, VALIDATION_FAILED, [problem]))
        priced = vouchers.priced_voucher(body, kind=kind)
        now = lexoffice_timestamp()
        voucher: Record = {
            "organizationId": self.owner(),
            "createdDate": now,
            "updatedDate": now,
            "version": 1,
            "language": priced.get("language", "de"),
            "archived": False,
            "voucherStatus": "draft",
        }
        # The spec step has checked that `finalize` is a boolean.
        if request.args.get("finalize", "false").lower() == "true":
            # Drafts get their number when they are finalized, which only the web app does.
            number = self.voucher_number(kind, self.owner())
            voucher.update(voucherStatus="open", voucherNumber=number)
        voucher.update({key: priced[key] for key in vouchers.KEPT[kind] if key in priced})
        voucher["address"] = self._voucher_address(priced["address"])
        if preceding:
            voucher["relatedVouchers"] = [related_voucher(preceding, "quotation")]
        voucher["id"] = str(uuid.uuid4())
        if preceding:
            related = [*preceding.get("relatedVouchers", []), related_voucher(voucher, kind)]
            self.store.update(
                "quotations", self.owner(), preceding["id"], {"relatedVouchers": related}
            )
        return voucher

    def _voucher_address(self, address: Record) -> Record:
        """A contact reference is shown with the contact's name and billing address."""
        if "contactId" not in address:
            return address
        contact = self.store.get("contacts", self.owner(), address["contactId"])
        billing = (contact.get("addresses", {}).get("billing") or [{}])[0]
        return {"contactId": contact["id"], "name": contacts.display_name(contact), **billing}

    def voucherlist(self) -> Response:
        """The voucher list (`GET /v1/voucherlist?voucherType=..&voucherStatus=..`), as the
        derived spec describes it."""
        types = {t for t in request.args.get("voucherType", "").split(",") if t}
        statuses = {t for t in request.args.get("voucherStatus", "").split(",") if t}
        if not types or not statuses:
            absent = "voucherType" if not types else "voucherStatus"
            message = f"Required request parameter '{absent}' is not present"
            return self.regular_error(400, message, [])
        contact_id = request.args.get("contactId")
        rows = [
            {**voucher, "voucherType": kind}
            for kind in ("quotation", "invoice")
            if "any" in types or kind in types
            for voucher in self.store.select(f"{kind}s", self.owner())
            if ("any" in statuses or voucher["voucherStatus"] in statuses)
            and contact_id in (None, voucher["address"].get("contactId"))
        ]
        # Newest first, as the web app lists them (the store keeps creation order).
        rows.reverse()
        try:
            page = PAGING.cut(rows, request.args)
        except BadPaging as exc:
            return self.paging_error_response(None, exc)
        return self.spring_page(page, vouchers.voucherlist_entry, min_pages=1)

    # -- what the vendor's app changes ------------------------------------------------------

    def document_status_set(
        self, *, kind: str, document_id: str, status: str, amount: str = ""
    ) -> dict[str, Any] | None:
        return events.status_set(self, kind, document_id, status, amount=amount)
