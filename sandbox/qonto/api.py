"""Qonto's Business API routes the product calls: the organization, clients, quotes and client
invoices (with their status actions), each create behind `X-Qonto-Idempotency-Key`, each list
paged with its `meta`. Lists and reads (and the webhook subscriptions) are served from the store
through `QontoResources`' hooks. Filters, sort orders and paging are checked against the spec
before a handler runs; the filters themselves are the resources' (`app.QontoSandbox`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn

from flask import Flask, Request, Response, abort, g, request

from sandbox.core import VendorSandbox
from sandbox.qonto import documents, webhooks
from sandbox.qonto.documents import Problem
from sandbox.qonto.state import IdempotentAnswer, Organization, timestamp
from sandbox.routes import Endpoint
from sandbox.store import Filter, Page, PageNumberPaging, Record, Records

if TYPE_CHECKING:
    from sandbox.qonto.app import QontoSandbox

IDEMPOTENCY_HEADER = "X-Qonto-Idempotency-Key"
PAGING = PageNumberPaging(default_size=100, max_size=100, first_page=1, size_param="per_page")
Create = Callable[[Organization, dict[str, Any]], tuple[int, dict[str, Any]]]
Rules = Callable[[dict[str, Any], Organization], list[Problem]]
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
# The documents' creates are idempotent (`register_api_routes`); the subscriptions' are not.
ENDPOINTS = (
    Endpoint("clients", "/v2/clients", PAGING, ("list", "read")),
    Endpoint("quotes", "/v2/quotes", PAGING, ("list", "read")),
    Endpoint("invoices", "/v2/client_invoices", PAGING, ("list", "read")),
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
    """The hooks `sandbox.routes` serves Qonto's lists, reads and subscriptions through."""

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

    # Only the subscriptions are created and changed through these hooks.

    def new_record(self, endpoint: Endpoint, body: Any) -> Record:
        return webhooks.new_subscription(g.organization, body)

    def record_changes(self, endpoint: Endpoint, stored: Record, body: Any) -> Record:
        return webhooks.subscription_changes(body)

    def created_response(self, endpoint: Endpoint, record: Record) -> Response:
        return self.json(webhooks.shown(record, with_secret=True), endpoint.create_status)


def register_api_routes(sandbox: QontoSandbox, app: Flask) -> None:
    """The organization, the idempotent creates and the invoice actions."""

    def invalid(problems: list[Problem]) -> NoReturn:
        abort(sandbox.error_response(422, problems[0]["detail"], errors=problems))

    def unused(kind: str, number: str | None, documents_of: Records) -> None:
        # Numbers are unique per organization. The quote's conflict code is not documented;
        # the invoice one is `invoice_number_already_exists`.
        if number and any(d.get("number") == number for d in documents_of.values()):
            detail, code = f"The {kind} number is already used.", f"{kind}_number_already_exists"
            abort(sandbox.error_response(409, detail, code=code, pointer="/number"))

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

    def create_client(org: Organization, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return 200, {"client": sandbox.store.create("clients", org.id, documents.new_client(body))}

    def create_quote(org: Organization, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        number = body.get("number") or org.next_number("Q")
        unused("quote", number, org.quotes)
        quote = documents.new_quote(body, org, number=number)
        sandbox.store.create("quotes", org.id, quote)
        return 201, quote

    def create_invoice(org: Organization, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        unused("invoice", body.get("number"), org.invoices)
        invoice = documents.new_invoice(body, org)
        if invoice["status"] == "unpaid" and not invoice.get("number"):
            invoice["number"] = org.next_number("INV")
        sandbox.store.create("invoices", org.id, invoice)
        sandbox.invoice_stamps[invoice["id"]] = invoice["created_at"]
        sandbox.webhooks.invoice_changed(org, invoice)
        return 200, {"client_invoice": invoice}

    def idempotent(rules: Rules, create: Create) -> Callable[[], Response]:
        """Runs one create of a body the rules take; with X-Qonto-Idempotency-Key the first
        successful answer is stored for the TTL and returned for the same key, even when the
        body differs. The key is checked and the answer kept under the sandbox's lock, and
        kept before the connection may drop, so a retry after a lost answer gets it."""

        def view() -> Response:
            org: Organization = g.organization
            key = request.headers.get(IDEMPOTENCY_HEADER)
            with sandbox.lock:
                now = time.time()
                sandbox.idempotent_answers = {
                    k: a
                    for k, a in sandbox.idempotent_answers.items()
                    if a.stored_at > now - sandbox.idempotency_ttl
                }
                stored = sandbox.idempotent_answers.get((org.id, key)) if key else None
                if stored is not None:
                    return sandbox.json(stored.body, stored.status)
                body = request.get_json(silent=True)
                if not isinstance(body, dict):
                    detail = "The request body must be a JSON object"
                    return sandbox.error_response(400, detail, pointer="/")
                if problems := rules(body, org):
                    invalid(problems)
                status, answer = create(org, body)
                if key:
                    sandbox.idempotent_answers[(org.id, key)] = IdempotentAnswer(
                        request.method, request.path, status, answer, now
                    )
                sandbox.after_commit()
            return sandbox.json(answer, status)

        return view

    creates = (
        (documents.client_problems, create_client),
        (documents.quote_problems, create_quote),
        (documents.invoice_problems, create_invoice),
    )
    for endpoint, (rules, create) in zip(ENDPOINTS[:3], creates, strict=True):
        name = f"create_{endpoint.resource}"
        app.add_url_rule(endpoint.path, name, idempotent(rules, create), methods=["POST"])

    def change_invoice(record_id: str, action: str) -> Response:
        if action not in documents.INVOICE_ACTIONS:
            return sandbox.error_response(404, "Route not found", parameter="id")
        body = request.get_json(silent=True) if request.content_length else None
        paid_at = body.get("paid_at") if isinstance(body, dict) else None
        try:
            changed = sandbox.invoice_action(g.organization, record_id, action, paid_at=paid_at)
        except documents.Refused as refusal:
            invalid([refusal.problem])
        if changed is None:
            return sandbox.error_response(404, "Client invoice not found", parameter="id")
        return sandbox.json({"client_invoice": changed})

    rule = "/v2/client_invoices/<record_id>/<action>"
    app.add_url_rule(rule, "invoice_action", change_invoice, methods=["POST"])
