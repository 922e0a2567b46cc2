"""Qonto's Business API routes the product calls: the organization, clients, quotes and client
invoices (with their status actions), each create behind `X-Qonto-Idempotency-Key`, each list
paged with its `meta`."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, g, request

from sandbox.qonto import documents
from sandbox.qonto.documents import Problem
from sandbox.qonto.state import IdempotentAnswer, Organization, timestamp
from sandbox.store import PageNumberPaging, Record

if TYPE_CHECKING:
    from sandbox.qonto.app import QontoSandbox

IDEMPOTENCY_HEADER = "X-Qonto-Idempotency-Key"
PAGING = PageNumberPaging(default_size=100, max_size=100, first_page=1, size_param="per_page")
Created = tuple[int, dict[str, Any]]
Create = Callable[[Organization, dict[str, Any]], Created | Response]


def register_api_routes(sandbox: QontoSandbox, app: Flask) -> None:
    def route(rule: str, endpoint: str, method: str = "GET") -> Callable[..., Any]:
        # The endpoint names are the keys of the scope table (app.ENDPOINT_SCOPES).
        return app.route(rule, endpoint=endpoint, methods=[method])

    def invalid(problems: list[Problem]) -> Response:
        return sandbox.error_response(422, problems[0]["detail"], errors=problems)

    def missing(what: str) -> Response:
        return sandbox.error_response(404, f"{what} not found", parameter="id")

    @route("/v2/organization", "organization")
    def organization() -> Response:
        org: Organization = g.organization
        account = {
            "id": org.bank_account_id,
            "slug": f"{org.slug}-bank-account-1",
            "iban": org.iban,
            "bic": "QNTOFRP1XXX",
            "currency": "EUR",
            "balance": 0,
            "balance_cents": 0,
            "authorized_balance": 0,
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

    # Filters, sort orders and paging of the lists are checked against the spec before
    # a handler runs.

    @route("/v2/clients", "clients")
    def list_clients() -> Response:
        sort_by = request.args.get("sort_by", "created_at:asc")
        clients = sandbox.store.select("clients", g.organization.id, params=request.args)
        if sort_by.startswith("name"):
            clients.sort(key=lambda c: str(c.get("name", "")).casefold())
        return page("clients", clients, sort_by)

    @route("/v2/clients", "create_client", "POST")
    def create_client() -> Response:
        def create(org: Organization, body: dict[str, Any]) -> Created | Response:
            problems = documents.client_problems(body, org)
            if problems:
                return invalid(problems)
            client = sandbox.store.create("clients", org.id, documents.client_object(body))
            return 200, {"client": client}

        return idempotent(create)

    @route("/v2/clients/<client_id>", "client")
    def get_client(client_id: str) -> Response:
        client = g.organization.clients.get(client_id)
        return missing("Client") if client is None else sandbox.json({"client": client})

    @route("/v2/quotes", "quotes")
    def list_quotes() -> Response:
        bounds = [request.args.get(f"filter[created_at_{end}]") for end in ("from", "to")]
        low, high = (None if b is None else datetime.fromisoformat(b) for b in bounds)
        quotes = sandbox.store.select(
            "quotes",
            g.organization.id,
            params=request.args,
            where=lambda q: _within(q["created_at"], low, high),
        )
        return page("quotes", quotes, request.args.get("sort_by", "created_at:asc"))

    @route("/v2/quotes", "create_quote", "POST")
    def create_quote() -> Response:
        def create(org: Organization, body: dict[str, Any]) -> Created | Response:
            problems = documents.quote_problems(body, org)
            if problems:
                return invalid(problems)
            number = body.get("number") or org.next_number("Q")
            if any(q["number"] == number for q in org.quotes.values()):
                # Numbers are unique per organization. The quote's conflict code is not
                # documented; the invoice one is `invoice_number_already_exists`.
                return conflict("quote")
            quote = documents.quote_object(body, org, number=number)
            sandbox.store.create("quotes", org.id, quote)
            # The 2026 docs answer with the quote itself, not wrapped in {"quote": ...}.
            return 201, quote

        return idempotent(create)

    @route("/v2/quotes/<quote_id>", "quote")
    def get_quote(quote_id: str) -> Response:
        quote = g.organization.quotes.get(quote_id)
        return missing("Quote") if quote is None else sandbox.json(quote)

    @route("/v2/client_invoices", "create_invoice", "POST")
    def create_invoice() -> Response:
        def create(org: Organization, body: dict[str, Any]) -> Created | Response:
            problems = documents.invoice_problems(body, org, (org.iban,))
            if problems:
                return invalid(problems)
            number = body.get("number")
            if number and any(i.get("number") == number for i in org.invoices.values()):
                return conflict("invoice")
            invoice = documents.invoice_object(body, org)
            if invoice["status"] == "unpaid" and not invoice.get("number"):
                invoice["number"] = org.next_number("INV")
            sandbox.store.create("invoices", org.id, invoice)
            sandbox.invoice_stamps[invoice["id"]] = invoice["created_at"]
            sandbox.webhooks.invoice_changed(org, invoice)
            return 200, {"client_invoice": invoice}

        return idempotent(create)

    @route("/v2/client_invoices", "invoices")
    def list_invoices() -> Response:
        # Imported invoices are not kept, so exclude_imported changes nothing here.
        bounds = {
            f"{name}_{end}": request.args.get(f"filter[{name}_{end}]")
            for name in ("created_at", "updated_at")
            for end in ("from", "to")
        }
        low, high, updated_low, updated_high = (
            None if b is None else datetime.fromisoformat(b) for b in bounds.values()
        )
        statuses = request.args.get("filter[status]")
        invoices = sandbox.store.select(
            "invoices",
            g.organization.id,
            where=lambda i: (
                _within(i["created_at"], low, high)
                and _within(sandbox.invoice_stamps[i["id"]], updated_low, updated_high)
                and (statuses is None or i["status"] in statuses.split(","))
            ),
        )
        return page("client_invoices", invoices, request.args.get("sort_by", "created_at:asc"))

    @route("/v2/client_invoices/<invoice_id>", "invoice")
    def get_invoice(invoice_id: str) -> Response:
        invoice = g.organization.invoices.get(invoice_id)
        if invoice is None:
            return missing("Client invoice")
        return sandbox.json({"client_invoice": invoice})

    @route("/v2/client_invoices/<invoice_id>/<action>", "invoice_action", "POST")
    def change_invoice(invoice_id: str, action: str) -> Response:
        if action not in documents.INVOICE_ACTIONS:
            return missing("Route")
        body = request.get_json(silent=True) if request.content_length else None
        paid_at = body.get("paid_at") if isinstance(body, dict) else None
        try:
            changed = sandbox.invoice_action(g.organization, invoice_id, action, paid_at=paid_at)
        except documents.Refused as refusal:
            return invalid([refusal.problem])
        if changed is None:
            return missing("Client invoice")
        return sandbox.json({"client_invoice": changed})

    def conflict(kind: str) -> Response:
        detail = f"The {kind} number is already used."
        code = f"{kind}_number_already_exists"
        return sandbox.error_response(409, detail, code=code, pointer="/number")

    def page(key: str, records: list[Record], sort_by: str) -> Response:
        return paged(sandbox, key, records, sort_by)

    def idempotent(create: Create) -> Response:
        """Runs one create; with X-Qonto-Idempotency-Key the first successful answer is
        stored for the TTL and returned for the same key, even when the body differs."""
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
            created = create(org, body)
            if isinstance(created, Response):
                return created
            status, answer = created
            if key:
                sandbox.idempotent_answers[(org.id, key)] = IdempotentAnswer(
                    org.id, request.method, request.path, status, answer, now
                )
            sandbox.after_commit()
        return sandbox.json(answer, status)


def paged(
    sandbox: QontoSandbox, key: str, records: list[Record], sort_by: str = "created_at:asc"
) -> Response:
    if sort_by.endswith(":desc"):
        # The reverse of the oldest-first order, so records of one instant stay newest
        # first too.
        records.reverse()
    cut = PAGING.cut(records, request.args)
    meta = {
        "current_page": cut.number,
        "next_page": cut.number + 1 if cut.has_more else None,
        "prev_page": cut.number - 1 if cut.number > 1 else None,
        "total_pages": cut.total_pages,
        "total_count": cut.total,
        "per_page": cut.limit,
    }
    return sandbox.json({key: cut.items, "meta": meta})


def _within(created_at: str, start: datetime | None, end: datetime | None) -> bool:
    moment = datetime.fromisoformat(created_at)
    return (start is None or moment >= start) and (end is None or moment <= end)
