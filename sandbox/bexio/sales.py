"""bexio's invoices beyond their creation: made from a quote, searched, ordered by their last
change, issued, cancelled and paid, and the statuses the sandbox's document hook sets as a
user of bexio's app would (derived spec: /2.0/kb_offer/{id}/invoice, /2.0/kb_invoice/search,
/issue, /cancel, /payment)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, request

from sandbox.bexio import documents
from sandbox.store import BadPaging, OffsetPaging, Record, Store

if TYPE_CHECKING:
    from sandbox.bexio.app import BexioSandbox

# kb_item_status_id: third-party summaries (gigerIT/bexio-api-client), unverified (fact sheet).
QUOTE_DRAFT, QUOTE_PENDING, QUOTE_CONFIRMED, QUOTE_DECLINED = 1, 2, 3, 4
INVOICE_DRAFT, INVOICE_PENDING, INVOICE_PAID = 7, 8, 9
INVOICE_PARTIALLY_PAID, INVOICE_CANCELLED, INVOICE_UNPAID = 16, 19, 31
INVOICE_ISSUED = frozenset({INVOICE_PENDING, INVOICE_PARTIALLY_PAID, INVOICE_UNPAID})
# The fields POST /2.0/kb_invoice/search takes (the spec's description of it).
INVOICE_SEARCH_FIELDS = frozenset(
    {
        *("id", "kb_item_status_id", "document_nr", "title", "api_reference", "contact_id"),
        *("contact_sub_id", "user_id", "currency_id", "total_gross", "total_net", "total"),
        *("is_valid_from", "is_valid_to", "updated_at"),
    }
)
ORDER_FIELDS = frozenset({"id", "total", "total_net", "total_gross", "updated_at"})
ZERO = "0.000000"
# The quote an invoice was copied from: the sandbox's own record of the link, left out of
# every answer (bexio's answers name no source document).
SOURCE_OFFER = "_source_offer_id"
QUOTE_STATUSES = {"open": QUOTE_PENDING, "accepted": QUOTE_CONFIRMED, "rejected": QUOTE_DECLINED}


class Refused(Exception):
    """Answered 422 as a validation error."""


def public(record: Record) -> Record:
    return {k: v for k, v in record.items() if not k.startswith("_")}


def ordered(
    rows: list[Record], order_by: str, fields: frozenset[str] = ORDER_FIELDS
) -> list[Record]:
    """Rows in the order `order_by` asks for: `fields` joined with commas, each with `_asc`
    (the default) or `_desc`."""
    keys = []
    for part in filter(None, (p.strip() for p in (order_by or "id").split(","))):
        name, _, direction = part.rpartition("_")
        if direction not in ("asc", "desc"):
            name, direction = part, "asc"
        if name not in fields:
            raise Refused(f"order_by: {name} is no sort field.")
        keys.append((name, direction == "desc"))
    for name, descending in reversed(keys):
        rows = sorted(rows, key=_by(name), reverse=descending)
    return rows


def _by(name: str) -> Callable[[Record], tuple[bool, Decimal, str]]:
    return lambda record: _sortable(record.get(name))


def _sortable(value: Any) -> tuple[bool, Decimal, str]:
    """Numbers before texts (stamps sort as text)."""
    known = documents.comparable(value)
    if isinstance(known, Decimal):
        return False, known, ""
    return True, Decimal(0), str(known)


def invoice_fields(document: Record) -> Record:
    """What an invoice has beyond a quote: its payment totals and due date."""
    return {
        **document,
        "is_valid_to": document.get("is_valid_to") or document.get("is_valid_until"),
        "total_received_payments": ZERO,
        "total_credit_vouchers": ZERO,
        "total_remaining_payments": document["total"],
    }


def invoice_from_offer(offer: Record, positions: Callable[[], int]) -> Record:
    """A draft invoice with the quote's contact, texts and positions (bexio's copy); it
    carries no api_reference of its own until the client edits one in."""
    copied = {k: v for k, v in public(offer).items() if k not in ("id", "network_link")}
    copied["positions"] = [{**p, "id": positions()} for p in offer.get("positions", [])]
    copied.update(
        document_nr=None,
        kb_item_status_id=INVOICE_DRAFT,
        api_reference=None,
        updated_at=documents.now_text(),
        network_link="",
    )
    copied[SOURCE_OFFER] = offer["id"]
    return invoice_fields(copied)


def invoice_edit_problems(body: Any, rules: documents.Rules) -> list[str]:
    if not isinstance(body, dict):
        return ["body: Must be an object."]
    problems = []
    if "user_id" in body and body["user_id"] not in rules.user_ids:
        problems.append("user_id: References no user of this company.")
    if body.get("contact_id") is not None and not rules.has_contact(body["contact_id"]):
        problems.append("contact_id: References no contact.")
    return problems


def _six(value: Decimal) -> str:
    return f"{value:.6f}"


def paid(invoice: Record, value: Decimal) -> Record:
    """The invoice's totals and status after a payment of `value`."""
    received = Decimal(invoice["total_received_payments"]) + value
    remaining = Decimal(invoice["total"]) - received
    status = INVOICE_PAID if remaining <= 0 else INVOICE_PARTIALLY_PAID
    return {
        "total_received_payments": _six(received),
        "total_remaining_payments": _six(max(remaining, Decimal(0))),
        "kb_item_status_id": status,
        "updated_at": documents.now_text(),
    }


def new_payment(invoice_id: int, day: str, value: Decimal, bank_account_id: Any) -> Record:
    return {
        "date": day,
        "value": _six(value),
        "bank_account_id": bank_account_id,
        "title": "Received Payment",
        "payment_service_id": None,
        "is_client_account_redemption": False,
        "is_cash_discount": False,
        "kb_invoice_id": invoice_id,
        "kb_credit_voucher_id": None,
        "kb_bill_id": None,
        "kb_credit_voucher_text": "",
    }


class Sales:
    """The routes and the status hook, on the sandbox's store."""

    def __init__(self, sandbox: BexioSandbox, paging: OffsetPaging) -> None:
        self.sandbox = sandbox
        self.paging = paging

    @property
    def store(self) -> Store:
        return self.sandbox.store

    def page(self, rows: list[Record]) -> Response:
        try:
            page = self.paging.cut(rows, request.args)
        except BadPaging as exc:
            raise Refused(f"limit, offset: {exc}") from None
        return self.sandbox.json([public(r) for r in page.items])

    def _invoice(self, owner: str, invoice_id: int) -> Record:
        return self.store.get("invoices", owner, invoice_id)

    def _change(self, resource: str, owner: str, record_id: Any, changes: Record) -> Record:
        return self.store.update(resource, owner, record_id, changes)

    def _book(self, owner: str, invoice: Record, value: Decimal, day: str, bank: Any) -> Record:
        if invoice["kb_item_status_id"] not in INVOICE_ISSUED:
            raise Refused("kb_invoice: Payments are booked on issued, open invoices only.")
        if value <= 0:
            raise Refused("value: Must be more than 0.")
        with self.sandbox.lock:
            payment = self.store.create(
                "payments", owner, new_payment(invoice["id"], day, value, bank)
            )
            self._change("invoices", owner, invoice["id"], paid(invoice, value))
        return payment

    def register(self, app: Flask) -> None:
        sandbox = self.sandbox

        @app.get("/2.0/kb_offer")
        def offer_list() -> Response:
            rows = self.store.select("offers", sandbox.owner())
            return self.page(ordered(rows, request.args.get("order_by", "id")))

        @app.get("/2.0/kb_invoice")
        def invoice_list() -> Response:
            rows = self.store.select("invoices", sandbox.owner())
            return self.page(ordered(rows, request.args.get("order_by", "id")))

        @app.post("/2.0/kb_invoice/search")
        def invoice_search() -> Response:
            criteria: list[dict[str, Any]] = request.get_json(force=True)
            unknown = [c["field"] for c in criteria if c["field"] not in INVOICE_SEARCH_FIELDS]
            if unknown:
                raise Refused(f"field: {', '.join(unknown)} is not a searchable field.")
            rows = self.store.select(
                "invoices",
                sandbox.owner(),
                where=lambda r: all(documents.matches(r, one) for one in criteria),
            )
            return self.page(ordered(rows, request.args.get("order_by", "id")))

        @app.post("/2.0/kb_offer/<int:quote_id>/invoice")
        def invoice_from_quote(quote_id: int) -> Response:
            owner = sandbox.owner()
            offer = self.store.get("offers", owner, quote_id)
            numbers = sandbox.position_ids[int(owner)]
            invoice = invoice_from_offer(offer, lambda: next(numbers))
            created = sandbox.created_record("invoices", invoice, "document_nr", "RE-{:05d}")
            return sandbox.json(public(created))

        @app.delete("/2.0/kb_invoice/<int:invoice_id>")
        def invoice_delete(invoice_id: int) -> Response:
            self.store.delete("invoices", sandbox.owner(), invoice_id)
            return sandbox.json({"success": True})

        @app.post("/2.0/kb_invoice/<int:invoice_id>/issue")
        def invoice_issue(invoice_id: int) -> Response:
            owner = sandbox.owner()
            with sandbox.lock:
                if self._invoice(owner, invoice_id)["kb_item_status_id"] != INVOICE_DRAFT:
                    raise Refused("kb_item_status_id: Only a draft can be issued.")
                self._change("invoices", owner, invoice_id, _status(INVOICE_PENDING))
            return sandbox.json({"success": True})

        @app.post("/2.0/kb_invoice/<int:invoice_id>/cancel")
        def invoice_cancel(invoice_id: int) -> Response:
            owner = sandbox.owner()
            with sandbox.lock:
                if self._invoice(owner, invoice_id)["kb_item_status_id"] not in INVOICE_ISSUED:
                    raise Refused("kb_item_status_id: Only an issued invoice can be cancelled.")
                self._change("invoices", owner, invoice_id, _status(INVOICE_CANCELLED))
            return sandbox.json({"success": True})

        @app.get("/2.0/kb_invoice/<int:invoice_id>/payment")
        def payment_list(invoice_id: int) -> Response:
            owner = sandbox.owner()
            self._invoice(owner, invoice_id)
            rows = self.store.select(
                "payments", owner, where=lambda p: p["kb_invoice_id"] == invoice_id
            )
            return self.page(rows)

        @app.post("/2.0/kb_invoice/<int:invoice_id>/payment")
        def payment_create(invoice_id: int) -> Response:
            body: dict[str, Any] = request.get_json(force=True)
            value = documents.decimal_or_none(body["value"])
            if value is None:
                raise Refused("value: Must be a decimal number as a string.")
            owner = sandbox.owner()
            with sandbox.lock:
                invoice = self._invoice(owner, invoice_id)
                payment = self._book(
                    owner, invoice, value, body["date"], body.get("bank_account_id")
                )
            return sandbox.json(payment, 201)

    # -- the sandbox's document hook ----------------------------------------------------------

    def status_set(self, kind: str, document_id: str, status: str, amount: str) -> Record | None:
        """`document_status_set`: a quote accepted, rejected or issued; an invoice issued,
        paid (the remaining amount, or `amount` for partially_paid) or cancelled."""
        resource = {"quote": "offers", "invoice": "invoices"}.get(kind)
        if resource is None or not document_id.isdigit():
            return None
        # Ids count per company; a test's company is the last one made.
        owners = [o for o, r in self.store.everything(resource) if r["id"] == int(document_id)]
        if not owners:
            return None
        owner, record_id = owners[-1], int(document_id)
        with self.sandbox.lock:
            if resource == "offers":
                if status not in QUOTE_STATUSES:
                    raise Refused(f"status: A quote cannot be {status}.")
                changed = self._change("offers", owner, record_id, _status(QUOTE_STATUSES[status]))
                return public(changed)
            invoice = self._invoice(owner, record_id)
            if invoice["kb_item_status_id"] == INVOICE_DRAFT and status != "voided":
                invoice = self._change("invoices", owner, record_id, _status(INVOICE_PENDING))
            if status in ("paid", "partially_paid"):
                remaining = Decimal(invoice["total_remaining_payments"])
                value = (
                    documents.decimal_or_none(amount) if status == "partially_paid" else remaining
                )
                if value is None or (status == "partially_paid" and value >= remaining):
                    raise Refused("amount: A partial payment is less than what is open.")
                self._book(owner, invoice, value, date.today().isoformat(), None)
            elif status == "voided":
                self._change("invoices", owner, record_id, _status(INVOICE_CANCELLED))
            elif status != "open":
                raise Refused(f"status: An invoice cannot be {status}.")
            return public(self._invoice(owner, record_id))


def _status(status_id: int) -> Record:
    return {"kb_item_status_id": status_id, "updated_at": documents.now_text()}
