"""Qonto's Business API routes the product calls: the organization, clients, quotes and client
invoices (with their status actions), each create behind `X-Qonto-Idempotency-Key`, each list
paged with its `meta`. Filters, sort orders and paging are checked against the spec before a
handler runs; the filters themselves are the resources' (`app.QontoSandbox.resources`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn

from flask import Response, abort, g, request

from sandbox.qonto import documents
from sandbox.qonto.documents import Problem
from sandbox.qonto.state import IdempotentAnswer, Organization, timestamp
from sandbox.store import Filter, PageNumberPaging, Record

if TYPE_CHECKING:
    from sandbox.qonto.app import QontoSandbox

IDEMPOTENCY_HEADER = "X-Qonto-Idempotency-Key"
PAGING = PageNumberPaging(default_size=100, max_size=100, first_page=1, size_param="per_page")
Create = Callable[[Organization, dict[str, Any]], tuple[int, dict[str, Any]]]


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


def register_api_routes(sandbox: QontoSandbox) -> None:
    route = sandbox.route

    def invalid(problems: list[Problem]) -> NoReturn:
        abort(sandbox.error_response(422, problems[0]["detail"], errors=problems))

    def conflict(kind: str) -> NoReturn:
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

    route("/v2/organization", "organization", organization, scope="organization.read")

    def create_client(org: Organization, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if problems := documents.client_problems(body, org):
            invalid(problems)
        return 200, {"client": sandbox.store.create("clients", org.id, documents.new_client(body))}

    def create_quote(org: Organization, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if problems := documents.quote_problems(body, org):
            invalid(problems)
        number = body.get("number") or org.next_number("Q")
        if any(q["number"] == number for q in org.quotes.values()):
            # Numbers are unique per organization. The quote's conflict code is not
            # documented; the invoice one is `invoice_number_already_exists`.
            conflict("quote")
        quote = documents.new_quote(body, org, number=number)
        sandbox.store.create("quotes", org.id, quote)
        # The 2026 docs answer with the quote itself, not wrapped in {"quote": ...}.
        return 201, quote

    def create_invoice(org: Organization, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if problems := documents.invoice_problems(body, org):
            invalid(problems)
        number = body.get("number")
        if number and any(i.get("number") == number for i in org.invoices.values()):
            conflict("invoice")
        invoice = documents.new_invoice(body, org)
        if invoice["status"] == "unpaid" and not invoice.get("number"):
            invoice["number"] = org.next_number("INV")
        sandbox.store.create("invoices", org.id, invoice)
        sandbox.invoice_stamps[invoice["id"]] = invoice["created_at"]
        sandbox.webhooks.invoice_changed(org, invoice)
        return 200, {"client_invoice": invoice}

    def idempotent(create: Create) -> Callable[[], Response]:
        """Runs one create; with X-Qonto-Idempotency-Key the first successful answer is
        stored for the TTL and returned for the same key, even when the body differs."""

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
                status, answer = create(org, body)
                if key:
                    sandbox.idempotent_answers[(org.id, key)] = IdempotentAnswer(
                        request.method, request.path, status, answer, now
                    )
                sandbox.after_commit()
            return sandbox.json(answer, status)

        return view

    def updated_within(invoice: Record) -> bool:
        # Qonto filters invoices by an update stamp its answers do not show.
        bounds = between("updated_at", lambda i: sandbox.invoice_stamps[i["id"]])
        return all(f(invoice, request.args[p]) for p, f in bounds.items() if p in request.args)

    def listing(resource: str, key: str) -> Callable[[], Response]:
        def view() -> Response:
            where = updated_within if resource == "invoices" else None
            records = sandbox.store.select(
                resource, g.organization.id, params=request.args, where=where
            )
            sort_by = request.args.get("sort_by", "created_at:asc")
            if sort_by.startswith("name"):
                records.sort(key=lambda c: str(c.get("name", "")).casefold())
            return paged(sandbox, key, records, sort_by)

        return view

    def reading(resource: str, label: str, key: str | None) -> Callable[[str], Response]:
        def view(record_id: str) -> Response:
            record = sandbox.store.find(resource, g.organization.id, record_id)
            if record is None:
                return sandbox.error_response(404, f"{label} not found", parameter="id")
            return sandbox.json({key: record} if key else record)

        return view

    for resource, path, key, label, create in (
        ("clients", "/v2/clients", "client", "Client", create_client),
        ("quotes", "/v2/quotes", None, "Quote", create_quote),
        ("invoices", "/v2/client_invoices", "client_invoice", "Client invoice", create_invoice),
    ):
        # The scopes as the spec's operation descriptions name them ("OAuth scope `...`").
        read, write = ("client_invoices.read", "client_invoice.write")
        if resource == "clients":
            read, write = ("client.read", "client.write")
        route(
            path, f"list_{resource}", listing(resource, f"{key}s" if key else resource), scope=read
        )
        route(path, f"create_{resource}", idempotent(create), "POST", write)
        route(f"{path}/<record_id>", resource, reading(resource, label, key), scope=read)

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
    route(rule, "invoice_action", change_invoice, "POST", "client_invoice.write")


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
