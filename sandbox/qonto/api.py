"""Qonto's Business API routes the product calls: the organization, clients, quotes and client
invoices (with their status actions), each list paged with its `meta`. Lists, reads and creates
(and the webhook subscriptions) are served from the store through `QontoResources`' hooks; a
document's create keeps its answer for `X-Qonto-Idempotency-Key` (`idempotent`). Filters, sort
orders, paging and the bodies' shapes are checked against the spec before a handler runs; the
filters themselves are the resources' (`app.QontoSandbox`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import Flask, Request, Response, g, request

from sandbox.core import VendorSandbox
from sandbox.qonto import documents, webhooks
from sandbox.qonto.state import IdempotentAnswer, Organization, timestamp
from sandbox.routes import Endpoint, Operation, serve_endpoints, view_name
from sandbox.store import Filter, Page, PageNumberPaging, Record

if TYPE_CHECKING:
    from sandbox.qonto.app import QontoSandbox
    from sandbox.qonto.webhooks import QontoWebhooks

IDEMPOTENCY_HEADER = "X-Qonto-Idempotency-Key"
PAGING = PageNumberPaging(default_size=100, max_size=100, first_page=1, size_param="per_page")
# Per collection: the read and the write scope, as the spec's operation descriptions name
# them ("OAuth scope `...`").
SCOPES = {
    "/v2/organization": ("organization.read", ""),
    "/v2/clients": ("client.read", "client.write"),
    "/v2/quotes": ("client_invoices.read", "client_invoice.write"),
    "/v2/client_invoices": ("client_invoices.read", "client_invoice.write"),
    "/v2/webhook_subscriptions": ("webhook", "webhook"),
}


# Per resource: the key of its list, the key a record is wrapped in (None: the record itself,
# as the 2026 docs answer a quote), and its name in a 404.
ANSWERS = {
    "clients": ("clients", "client", "Client"),
    "quotes": ("quotes", None, "Quote"),
    "invoices": ("client_invoices", "client_invoice", "Client invoice"),
    webhooks.SUBSCRIPTIONS: ("subscriptions", None, "Webhook subscription"),
}
# The documents' creates are idempotent, and a lost answer follows only once it is kept
# (`idempotent`); the subscriptions' creates are neither.
SERVED: tuple[Operation, ...] = ("list", "create", "read")
DOCUMENTS = tuple(
    Endpoint(resource, path, PAGING, SERVED, create_status=status, drop_after_commit=False)
    for resource, path, status in (
        ("clients", "/v2/clients", 200),
        ("quotes", "/v2/quotes", 201),
        ("invoices", "/v2/client_invoices", 200),
    )
)
INVOICES = DOCUMENTS[-1]
ENDPOINTS = (
    *DOCUMENTS,
    Endpoint(webhooks.SUBSCRIPTIONS, webhooks.PATH, PAGING, drop_after_commit=False),
)


def scope_of(req: Request) -> str:
    """The scope the request's route needs ("" for the OAuth host's and unknown routes): a
    route that reads needs it for HEAD and OPTIONS too."""
    if req.url_rule is None:
        return ""
    read, write = SCOPES.get("/".join(req.url_rule.rule.split("/")[:3]), ("", ""))
    return read if "GET" in (req.url_rule.methods or ()) else write


def between(name: str, moment_of: Callable[[Record], str] | None = None) -> dict[str, Filter]:
    """`filter[{name}_from]` and `filter[{name}_to]`: inclusive ISO 8601 bounds of the record's
    `name` (or of what `moment_of` reads for it)."""

    def moment(record: Record) -> datetime:
        return datetime.fromisoformat(moment_of(record) if moment_of else record[name])

    return {
        f"filter[{name}_from]": lambda r, value: moment(r) >= datetime.fromisoformat(value),
        f"filter[{name}_to]": lambda r, value: moment(r) <= datetime.fromisoformat(value),
    }


def status_in(record: Record, statuses: str) -> bool:
    """`filter[status]`: one status or (invoices) a comma-separated list of them."""
    return record["status"] in statuses.split(",")


class QontoResources(VendorSandbox):
    """The hooks `sandbox.routes` serves Qonto's lists, reads, creates and subscriptions
    through, and the idempotency of the documents' creates."""

    # What `app.QontoSandbox` keeps.
    webhooks: QontoWebhooks
    invoice_stamps: dict[str, str]
    idempotent_answers: dict[tuple[str, str], IdempotentAnswer]
    idempotency_ttl: float

    def owner(self) -> str:
        return str(g.organization.id)

    def ordered(self, endpoint: Endpoint, rows: list[Record]) -> list[Record]:
        if endpoint.resource == webhooks.SUBSCRIPTIONS:
            return rows  # they take no `sort_by`
        sort_by = request.args.get("sort_by", "created_at:asc")
        if sort_by.startswith("name"):
            rows.sort(key=lambda c: str(c.get("name", "")).casefold())
        if sort_by.endswith(":desc"):
            # The reverse of the oldest-first order, so records of one instant stay newest
            # first too.
            rows.reverse()
        return rows

    def render(self, endpoint: Endpoint, record: Record) -> Any:
        if endpoint.resource == webhooks.SUBSCRIPTIONS:
            return webhooks.shown(record)
        key = ANSWERS[endpoint.resource][1]
        return {key: record} if key else record

    def render_page(self, endpoint: Endpoint, page: Page) -> Response:
        items = page.items
        if endpoint.resource == webhooks.SUBSCRIPTIONS:
            items = list(map(webhooks.shown, items))
        meta = {
            "current_page": page.number,
            "next_page": page.number + 1 if page.has_more else None,
            "prev_page": page.number - 1 if page.number > 1 else None,
            "total_pages": page.total_pages,
            "total_count": page.total,
            "per_page": page.limit,
        }
        return self.json({ANSWERS[endpoint.resource][0]: items, "meta": meta})

    def missing_response(self, endpoint: Endpoint, record_id: Any) -> Response:
        # The subscriptions' flat errors name no parameter.
        named = None if endpoint.resource == webhooks.SUBSCRIPTIONS else "id"
        return self.error_response(
            404, f"{ANSWERS[endpoint.resource][2]} not found", parameter=named
        )

    def new_record(self, endpoint: Endpoint, body: Any) -> Record:
        if endpoint.resource == webhooks.SUBSCRIPTIONS:
            return webhooks.new_subscription(g.organization, body)
        return documents.NEW_DOCUMENTS[endpoint.resource](body, g.organization)

    def record_changes(self, endpoint: Endpoint, stored: Record, body: Any) -> Record:
        return webhooks.subscription_changes(body)  # only the subscriptions are changed here

    def created_response(self, endpoint: Endpoint, record: Record) -> Response:
        if endpoint.resource == webhooks.SUBSCRIPTIONS:
            return self.json(webhooks.shown(record, with_secret=True), endpoint.create_status)
        if endpoint.resource == "invoices":
            self.invoice_stamps[record["id"]] = record["created_at"]
            self.webhooks.invoice_changed(g.organization, record)
        return super().created_response(endpoint, record)

    def idempotent(self, create: Callable[[], Any]) -> Callable[[], Response]:
        """A document's create: with X-Qonto-Idempotency-Key the first successful answer is
        kept for the TTL and returned for the same key, even when the body differs. The key is
        looked up, the record made and the answer kept under the sandbox's lock, and kept
        before the connection may drop, so a retry after a lost answer gets it."""

        def view() -> Response:
            key = request.headers.get(IDEMPOTENCY_HEADER)
            with self.lock:
                now = time.time()
                self.idempotent_answers = {
                    k: a
                    for k, a in self.idempotent_answers.items()
                    if a.stored_at > now - self.idempotency_ttl
                }
                stored = self.idempotent_answers.get((self.owner(), key)) if key else None
                if stored is not None:
                    return self.json(stored.body, stored.status)
                answer: Response = create()
                if key:
                    made = f"{request.method} {request.path}"
                    self.idempotent_answers[(self.owner(), key)] = IdempotentAnswer(
                        made, answer.status_code, answer.get_json(), now
                    )
                self.after_commit()
            return answer

        return view


def register_api_routes(sandbox: QontoSandbox, app: Flask) -> None:
    """The declared endpoints (the reads first: an OPTIONS request on a collection is routed
    to its list) with idempotent document creates, the organization and the invoice actions."""
    serve_endpoints(app, sandbox, ENDPOINTS)
    for endpoint in DOCUMENTS:
        name = view_name(endpoint, "create")
        app.view_functions[name] = sandbox.idempotent(app.view_functions[name])

    def organization() -> Response:
        org: Organization = g.organization
        account = {
            "id": org.bank_account_id,
            "slug": f"{org.slug}-bank-account-1",
            "iban": org.iban,
            "bic": "QNTOFRP1XXX",
            "currency": "EUR",
            **dict.fromkeys(("balance", "balance_cents", "authorized_balance"), 0),
            "authorized_balance_cents": 0,
            "name": "Main account",
            "updated_at": timestamp(),
            "status": "active",
            "main": True,
            "is_external_account": False,
        }
        body = {
            "id": org.id,
            "name": org.name,
            "slug": org.slug,
            "legal_name": org.name,
            "locale": org.legal_country.lower(),
            "legal_country": org.legal_country,
            "bank_accounts": [account],
        }
        return sandbox.json({"organization": body})

    app.add_url_rule("/v2/organization", "organization", organization)

    def change_invoice(record_id: str, action: str) -> Response:
        if action not in documents.INVOICE_ACTIONS:
            return sandbox.error_response(404, "Route not found", parameter="id")
        body = request.get_json(silent=True)
        paid_at = body.get("paid_at") if isinstance(body, dict) else None
        changed = sandbox.invoice_action(g.organization, record_id, action, paid_at=paid_at)
        if changed is None:
            return sandbox.missing_response(INVOICES, record_id)
        return sandbox.json(sandbox.render(INVOICES, changed))

    rule = "/v2/client_invoices/<record_id>/<action>"
    app.add_url_rule(rule, "invoice_action", change_invoice, methods=["POST"])
