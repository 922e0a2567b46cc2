"""Qonto's Business API as the product sees it: OAuth 2.0 (consent page, token endpoint with
refresh grace period) and API keys, the organization, clients, quotes and client invoices,
idempotency keys, JSON:API errors with a trace id, and the per-IP rate limits; webhook
subscriptions with signed `v1/client-invoices` events (`webhooks`).

Paths, fields and status codes follow qonto/qonto-derived-openapi.yaml and the Qonto fact
sheet in vendor-specs/.
"""

from __future__ import annotations

import hmac
import json
import math
import secrets
import threading
import time
from http import HTTPStatus
from typing import Any, NoReturn

from flask import Flask, Request, Response, abort, g, has_request_context, request

from sandbox.contract import ContractChecker, SpecProblem, SpecRequest
from sandbox.core import SlidingWindow
from sandbox.oauth_server import CONSENT_ENDPOINTS, OAUTH_ENDPOINTS, OAuthVendor
from sandbox.qonto import api, documents, webhooks
from sandbox.qonto.api import QontoResources, between, register_api_routes, status_in
from sandbox.qonto.documents import Problem, problem
from sandbox.qonto.oauth import QontoAuthorization
from sandbox.qonto.state import ALL_SCOPES, Organization, timestamp
from sandbox.qonto.webhooks import RETRY_DELAYS, QontoWebhooks
from sandbox.store import Record, Resource

TRACE_HEADER = "X-Tyk-Trace-Id"
DOCUMENT_COLUMNS = ("id", "number", "status", "currency", "total_amount", "created_at")
SUBSCRIPTION_COLUMNS = ("id", "callback_url", "types", "description", "created_at")
DEMO_IBAN = "FR7616798000010000004321396"  # the IBAN of the spec's organization example


class QontoSandbox(OAuthVendor, QontoResources):
    name = "qonto"
    title = "Qonto"
    spec_files = ("qonto/qonto-derived-openapi.yaml",)
    # Kept oldest first: the default order is not documented.
    tables = {
        "clients": ("clients", ("id", "kind", "name", "email")),
        "quotes": ("quotes", DOCUMENT_COLUMNS),
        "invoices": ("invoices", DOCUMENT_COLUMNS),
        webhooks.SUBSCRIPTIONS: ("webhook subscriptions", SUBSCRIPTION_COLUMNS),
    }
    # The seeded demo organization's API key; its OAuth client matches the product's defaults.
    demo_credential = "apiup-demo:apiup-sandbox-secret-key"
    spec_server_url = "https://thirdparty.qonto.com"
    # The spec puts the token endpoint on the OAuth host (a path-level `servers` entry).
    spec_hosts = {"/oauth2/": "https://oauth.qonto.com"}
    # The OAuth host's pages and token endpoint take no API credential.
    public_endpoints = OAUTH_ENDPOINTS
    # The consent page is the spec's authorizationUrl (https://oauth.qonto.com/oauth2/auth),
    # a browser page without an operation in the file.
    undocumented_endpoints = CONSENT_ENDPOINTS

    def __init__(
        self, *, contract: bool = False, public_url: str = "",
        access_token_lifetime: float = 3600, authorization_code_lifetime: float = 600,
        refresh_token_lifetime: float = 90 * 24 * 3600, refresh_grace_period: float = 60,
        idempotency_ttl: float = 30 * 60,
        burst_limit: int = 1000, burst_window: float = 10,
        sustained_limit: int = 10_000, sustained_window: float = 600,
        unauthorized_limit: int = 200, unauthorized_window: float = 3600,
        automatic_numbering: bool = False, api_key_scopes: tuple[str, ...] = ALL_SCOPES,
        demo_client_id: str = "apiup-sandbox-client",
        demo_client_secret: str = "apiup-sandbox-secret",  # noqa: S107
        seed_demo: bool = True, callback_delays: tuple[float, ...] = RETRY_DELAYS,
    ) -> None:  # fmt: skip
        self.oauth = QontoAuthorization(
            self,
            access_token_lifetime=access_token_lifetime,
            code_lifetime=authorization_code_lifetime,
            refresh_token_lifetime=refresh_token_lifetime,
            refresh_grace_period=refresh_grace_period,
        )
        self.idempotency_ttl = idempotency_ttl
        # Per client IP, both windows count every call; answers 401 count apart.
        self.limits = ((burst_limit, burst_window), (sustained_limit, sustained_window))
        self.unauthorized_limit, self.unauthorized_window = unauthorized_limit, unauthorized_window
        # Qonto's default is manual numbering, so quotes need a `number` unless switched on.
        self.automatic_numbering = automatic_numbering
        # The spec allows the API key on every operation ("mostly read-only" in the docs
        # without a list), so it gets every scope unless a test narrows it.
        self.api_key_scopes = api_key_scopes
        self.demo_client_id = demo_client_id
        self.demo_client_secret = demo_client_secret
        self.seed_demo = seed_demo
        # Tests pass short delays; Qonto retries for days.
        self.webhooks = QontoWebhooks(self, retry_delays=callback_delays)
        document_filters = {"filter[status]": status_in, **between("created_at")}
        # Qonto filters invoices by an update stamp its answers do not show.
        updated = between("updated_at", lambda invoice: self.invoice_stamps[invoice["id"]])
        self.resources = (
            Resource("clients", filters=documents.CLIENT_FILTERS),
            Resource("quotes", filters=document_filters),
            Resource("invoices", filters={**document_filters, **updated}),
            Resource(webhooks.SUBSCRIPTIONS),
        )
        super().__init__(contract=contract, public_url=public_url)

    def spec_checker(self) -> ContractChecker:
        return _QontoChecker(self.spec_files, self.spec_server_url, self.spec_hosts)

    # -- state ------------------------------------------------------------------------

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.organizations: dict[str, Organization] = {}
            self.oauth.clear()
            self.idempotent_answers = {}
            self.windows = [SlidingWindow(limit=n, window=seconds) for n, seconds in self.limits]
            self.unauthorized_answers: dict[str, list[float]] = {}
            self.invoice_stamps = {}
            self.webhooks.sender.reset()
            self._unauthorized_lock = threading.Lock()
            if self.seed_demo:
                demo_key = self.demo_credential.partition(":")[2]
                self.add_organization(
                    slug="apiup-demo", secret_key=demo_key, name="APIUP Demo SAS", iban=DEMO_IBAN
                )
                self.add_oauth_client(
                    client_id=self.demo_client_id, client_secret=self.demo_client_secret
                )

    def add_organization(
        self,
        *,
        slug: str,
        secret_key: str,
        name: str,
        iban: str,
        login: str | None = None,
        legal_country: str = "FR",
        automatic_numbering: bool | None = None,
    ) -> Organization:
        """An organization with one Qonto account; its API key is `{login}:{secret_key}`."""
        if automatic_numbering is None:
            automatic_numbering = self.automatic_numbering
        organization = Organization(
            self.store, slug=slug, name=name, login=login or slug, secret_key=secret_key,
            iban=iban, legal_country=legal_country, automatic_numbering=automatic_numbering,
        )  # fmt: skip
        with self.lock:
            self.organizations[organization.id] = organization
        return organization

    def organization_by_slug(self, slug: str) -> Organization:
        with self.lock:
            return next(o for o in self.organizations.values() if o.slug == slug)

    # -- auth, errors and limits --------------------------------------------------------

    def credential_of(self, req: Request) -> str | None:
        g.organization = None
        g.scopes = ()
        header = req.headers.get("Authorization", "")
        with self.lock:
            if header.startswith("Bearer "):
                token = self.oauth.access(header.removeprefix("Bearer "))
                if token is None:
                    return None
                organization = self.organizations[token.account]
                g.organization, g.scopes = organization, token.scopes
                return f"oauth:{organization.slug}"
            # The API key is the raw `{login}:{secret-key}`, neither Basic nor base64.
            login, separator, secret_key = header.partition(":")
            holder = next((o for o in self.organizations.values() if o.login == login), None)
            if (
                not separator
                or holder is None
                or not hmac.compare_digest(holder.secret_key, secret_key)
            ):
                return None
            g.organization, g.scopes = holder, self.api_key_scopes
            return f"api_key:{holder.login}"

    def error_response(self, status: int, message: str, **extra: Any) -> Response:
        if status == 401 and has_request_context():
            # Unauthenticated calls count against the IP too, and an IP that collected too
            # many 401s is throttled even while it keeps sending bad credentials.
            limited = self.rate_limit()
            if limited is not None:
                return limited
            with self._unauthorized_lock:
                ip = request.remote_addr or "unknown"
                self.unauthorized_answers.setdefault(ip, []).append(time.time())
        error = problem(
            extra.get("code") or _error_code(status),
            message,
            pointer=extra.get("pointer"),
            parameter=extra.get("parameter"),
        )
        if webhooks.for_subscriptions():
            return self.json(error, status)
        errors: list[Problem] = extra.get("errors") or [error]
        trace_id = secrets.token_hex(16)
        headers = {TRACE_HEADER: trace_id}
        if extra.get("retry_after") is not None:
            # Qonto documents neither a 429 body nor headers; Retry-After is the standard
            # header the product's HTTP client honours.
            headers["Retry-After"] = str(max(1, math.ceil(float(extra["retry_after"]))))
        return self.json({"errors": errors, "trace_id": trace_id}, status, headers)

    def spec_violation_response(self, problems: list[SpecProblem]) -> Response:
        if request.endpoint == "oauth_token":
            return self.oauth.spec_refusal(problems)
        # JSON:API errors, 422, as the spec declares for a refused request: a body field is
        # named by a JSON pointer, a query parameter by its name as sent (`filter[name]`).
        # A value outside a list is `not_in_list`, every other refusal `invalid_format`
        # (the two codes Qonto's error guide shows for a refused value).
        # The status is 422 where the operation declares it, else 400 (as listQuotes, whose
        # query errors Qonto's own `not_in_list` example shows as 400).
        status = 422 if self.spec.declares(request, "422") else 400
        return self.error_response(
            status,
            "Unprocessable Entity",
            errors=[
                problem(
                    "not_in_list" if " is not one of " in p.message else "invalid_format",
                    p.message,
                    pointer="/" + p.field.replace(".", "/") if p.location == "body" else None,
                    parameter=_parameter_name(p.field) if p.location != "body" else None,
                )
                for p in problems
            ],
        )

    def _refuse_off_spec(self) -> Response | None:
        # Qonto checks the token's scopes before the request: a token without the scope
        # gets 403 whatever it sends.
        scope = api.scope_of(request)
        if scope and scope not in g.scopes:
            return self.error_response(403, f"Missing scope {scope}", code="forbidden")
        off_spec = super()._refuse_off_spec()
        return off_spec if off_spec is not None else self.webhooks.refused_body()

    def rate_limit(self, credential: str = "") -> Response | None:
        """Qonto limits per client IP address, whatever the credential (or none)."""
        ip = request.remote_addr or "unknown"
        now = time.time()
        with self._unauthorized_lock:
            recent = [
                t
                for t in self.unauthorized_answers.get(ip, [])
                if t > now - self.unauthorized_window
            ]
            self.unauthorized_answers[ip] = recent
        if len(recent) > self.unauthorized_limit:
            free_at = recent[len(recent) - self.unauthorized_limit - 1] + self.unauthorized_window
            return self.error_response(
                429, "Too many unauthorized requests", retry_after=free_at - now
            )
        for window in self.windows:
            wait, _ = window.take(ip)
            if wait:
                return self.error_response(429, "Rate limit exceeded", retry_after=wait)
        return None

    # -- routes -----------------------------------------------------------------------

    def register_routes(self, app: Flask) -> None:
        self.oauth.register(app)
        register_api_routes(self, app)
        app.register_error_handler(404, lambda _: self.error_response(404, "Resource not found"))
        app.register_error_handler(405, lambda _: self.error_response(405, "Method not allowed"))

    # -- document status ---------------------------------------------------------------

    def invoice_action(
        self, organization: Organization, invoice_id: str, action: str, *, paid_at: str | None
    ) -> Record | None:
        """One of documents.INVOICE_ACTIONS on the invoice, sending its event; None
        when the organization has no such invoice, a refusal when its status does
        not allow the action."""
        with self.lock:
            invoice = organization.invoices.get(invoice_id)
            if invoice is None:
                return None
            changes = documents.invoice_changes(invoice, action, organization, paid_at=paid_at)
            changed = self.store.update("invoices", organization.id, invoice_id, changes)
            self.invoice_stamps[invoice_id] = timestamp()
        self.webhooks.invoice_changed(organization, changed)
        return changed

    # What a user does in Qonto's app, as the status hook names it: per invoice status, the
    # action; per wanted quote status, Qonto's own. Qonto books no partial payments (an
    # invoice stays unpaid until marked paid) and has no rejected quotes (they are canceled).
    INVOICE_HOOK = {
        "paid": {"unpaid": "mark_as_paid", "paid": "mark_as_paid"},
        "voided": {"unpaid": "mark_as_canceled"},
        "open": {"draft": "finalize", "paid": "unmark_as_paid", "unpaid": ""},
        "partially_paid": {"unpaid": ""},
    }
    QUOTE_HOOK = {"accepted": "approved", "rejected": "canceled", "voided": "canceled"}

    def document_status_set(
        self, *, kind: str, document_id: str, status: str, amount: str = ""
    ) -> dict[str, Any] | None:
        with self.lock:
            organizations = list(self.organizations.values())
        quoted = next((o for o in organizations if document_id in o.quotes), None)
        invoiced = next((o for o in organizations if document_id in o.invoices), None)
        if kind == "quote" and quoted and status in self.QUOTE_HOOK:
            wanted, quote = self.QUOTE_HOOK[status], quoted.quotes[document_id]
            if quote["status"] != "pending_approval":
                self._refuse(f"The quote is {quote['status']} already")
            changes = {"status": wanted, f"{wanted}_at": timestamp()}
            return self.store.update("quotes", quoted.id, document_id, changes)
        if kind != "invoice" or invoiced is None:
            if invoiced or quoted:
                self._refuse(f"Qonto has no {status} {kind}")
            return None
        invoice = invoiced.invoices[document_id]
        action = self.INVOICE_HOOK.get(status, {}).get(invoice["status"])
        if action is None:
            self._refuse(f"Qonto cannot make a {invoice['status']} invoice {status}")
        if not action:
            return invoice  # nothing changes in Qonto
        # Every action of the table is one the invoice's status allows.
        return self.invoice_action(invoiced, document_id, action, paid_at=None)

    def _refuse(self, message: str) -> NoReturn:
        abort(self.json({"error": message}, 409))

    # -- inspection -------------------------------------------------------------------

    def owner_label(self, owner: str) -> str:
        organization = self.organizations.get(owner)
        return organization.slug if organization else owner

    def inspect(self) -> dict[str, list[dict[str, Any]]]:
        with self.lock:
            answers = list(self.idempotent_answers.items())
        return {
            "organizations": [
                {name: getattr(o, name) for name in ("id", "slug", "login", "name", "iban")}
                for o in self.organizations.values()
            ],
            **super().inspect(),
            "idempotency keys": [
                {"organization": self.owner_label(org_id), "key": key, "status": a.status}
                | {"request": a.request}
                for (org_id, key), a in answers
            ],
            **self.oauth.inspect(),
            "callbacks": self.webhooks.sender.rows(),
        }


class _QontoChecker(ContractChecker):
    def spec_request(self, req: Request) -> SpecRequest:
        spec_request = super().spec_request(req)
        if req.path == "/v2/clients" and req.method == "POST":
            spec_request.body = _kind_wins(spec_request.body)
        return spec_request


def _kind_wins(body: bytes) -> bytes:
    # Qonto's docs on creating a client: `type` is an alias of `kind`, "if both are sent,
    # kind wins". The derived spec refuses a body whose two disagree, so the body is checked
    # as Qonto reads it: with `kind` alone.
    try:
        payload = json.loads(body)
    except ValueError:
        return body
    if isinstance(payload, dict) and payload.get("kind") is not None and "type" in payload:
        del payload["type"]
        return json.dumps(payload).encode()
    return body


def _error_code(status: int) -> str:
    """The HTTP reason in snake case (`not_found`), but `invalid_format` for a refused value."""
    return (
        "invalid_format" if status == 422 else HTTPStatus(status).phrase.lower().replace(" ", "_")
    )


def _parameter_name(field: str) -> str:
    """`filter.name` as Qonto names the query parameter: `filter[name]`."""
    name, *keys = field.split(".")
    return name + "".join(f"[{key}]" for key in keys)
