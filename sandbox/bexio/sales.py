"""bexio's invoices beyond their creation: made from a quote, issued, cancelled and paid, and
the statuses the sandbox's document hook sets as a user of bexio's app would (derived spec:
/2.0/kb_offer/{id}/invoice, /issue, /cancel, /payment)."""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import date
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, request

from sandbox.bexio.documents import Record, decimal_or_none, invalid, now_text, public

if TYPE_CHECKING:
    from sandbox.bexio.app import BexioSandbox

# kb_item_status_id: third-party summaries (gigerIT/bexio-api-client), unverified (fact sheet).
QUOTE_DRAFT, QUOTE_PENDING, QUOTE_CONFIRMED, QUOTE_DECLINED = 1, 2, 3, 4
INVOICE_DRAFT, INVOICE_PENDING, INVOICE_PAID = 7, 8, 9
INVOICE_PARTIALLY_PAID, INVOICE_CANCELLED, INVOICE_UNPAID = 16, 19, 31
INVOICE_ISSUED = frozenset({INVOICE_PENDING, INVOICE_PARTIALLY_PAID, INVOICE_UNPAID})
# The fields POST /2.0/kb_invoice/search takes (the spec's description of it).
INVOICE_SEARCH_FIELDS = frozenset({
    "id", "kb_item_status_id", "document_nr", "title", "api_reference", "contact_id",
    "contact_sub_id", "user_id", "currency_id", "total_gross", "total_net", "total",
    "is_valid_from", "is_valid_to", "updated_at",
})  # fmt: skip
ORDER_FIELDS = frozenset({"id", "total", "total_net", "total_gross", "updated_at"})
ZERO = "0.000000"
# The quote an invoice was copied from: the sandbox's own record of the link, left out of
# every answer (bexio's answers name no source document).
SOURCE_OFFER = "_source_offer_id"
QUOTE_STATUSES = {"open": QUOTE_PENDING, "accepted": QUOTE_CONFIRMED, "rejected": QUOTE_DECLINED}


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
    copied.update(document_nr=None, kb_item_status_id=INVOICE_DRAFT, api_reference=None,
                  updated_at=now_text(), network_link="")  # fmt: skip
    copied[SOURCE_OFFER] = offer["id"]
    return invoice_fields(copied)


def _status(status_id: int) -> Record:
    return {"kb_item_status_id": status_id, "updated_at": now_text()}


def _paid(invoice: Record, value: Decimal) -> Record:
    """The invoice's totals and status after a payment of `value`."""
    received = Decimal(invoice["total_received_payments"]) + value
    remaining = Decimal(invoice["total"]) - received
    return {
        "total_received_payments": f"{received:.6f}",
        "total_remaining_payments": f"{max(remaining, Decimal(0)):.6f}",
        **_status(INVOICE_PAID if remaining <= 0 else INVOICE_PARTIALLY_PAID),
    }


def _book(sandbox: BexioSandbox, owner: str, invoice: Record, value: Decimal, day: str,
          bank_account_id: Any) -> Record:  # fmt: skip
    if invoice["kb_item_status_id"] not in INVOICE_ISSUED:
        raise invalid("kb_invoice: Payments are booked on issued, open invoices only.")
    if value <= 0:
        raise invalid("value: Must be more than 0.")
    payment = {
        "date": day, "value": f"{value:.6f}", "bank_account_id": bank_account_id,
        "title": "Received Payment", "payment_service_id": None,
        "is_client_account_redemption": False, "is_cash_discount": False,
        "kb_invoice_id": invoice["id"], "kb_credit_voucher_id": None, "kb_bill_id": None,
        "kb_credit_voucher_text": "",
    }  # fmt: skip
    with sandbox.lock:
        stored = sandbox.store.create("payments", owner, payment)
        sandbox.store.update("invoices", owner, invoice["id"], _paid(invoice, value))
    return stored


def _move(sandbox: BexioSandbox, invoice_id: int, allowed: Collection[int], status: int,
          refusal: str) -> Response:  # fmt: skip
    """Issues or cancels an invoice: from a status in `allowed` to `status`."""
    owner = sandbox.owner()
    with sandbox.lock:
        if sandbox.store.get("invoices", owner, invoice_id)["kb_item_status_id"] not in allowed:
            raise invalid(f"kb_item_status_id: {refusal}")
        sandbox.store.update("invoices", owner, invoice_id, _status(status))
    return sandbox.json({"success": True})


def register(app: Flask, sandbox: BexioSandbox) -> None:
    store = sandbox.store

    @app.post("/2.0/kb_offer/<int:quote_id>/invoice")
    def invoice_from_quote(quote_id: int) -> Response:
        offer = store.get("offers", sandbox.owner(), quote_id)
        invoice = invoice_from_offer(offer, partial(sandbox.next_id, "positions"))
        created = store.create("invoices", sandbox.owner(), sandbox.numbered("invoices", invoice))
        sandbox.after_commit()
        return sandbox.json(public(created))

    moves = (("issue", (INVOICE_DRAFT,), INVOICE_PENDING, "Only a draft can be issued."),
             ("cancel", INVOICE_ISSUED, INVOICE_CANCELLED,
              "Only an issued invoice can be cancelled."))  # fmt: skip
    for action, allowed, status, refusal in moves:
        move = partial(_move, sandbox, allowed=allowed, status=status, refusal=refusal)
        app.add_url_rule(f"/2.0/kb_invoice/<int:invoice_id>/{action}", f"invoice_{action}", move,
                         methods=["POST"])  # fmt: skip

    @app.get("/2.0/kb_invoice/<int:invoice_id>/payment")
    def payment_list(invoice_id: int) -> Response:
        owner = sandbox.owner()
        store.get("invoices", owner, invoice_id)
        return sandbox.page(
            store.select("payments", owner, where=lambda p: p["kb_invoice_id"] == invoice_id)
        )

    @app.post("/2.0/kb_invoice/<int:invoice_id>/payment")
    def payment_create(invoice_id: int) -> Response:
        body: Record = request.get_json(force=True)
        value = decimal_or_none(body["value"])
        if value is None:
            raise invalid("value: Must be a decimal number as a string.")
        owner = sandbox.owner()
        with sandbox.lock:
            invoice = store.get("invoices", owner, invoice_id)
            payment = _book(sandbox, owner, invoice, value, body["date"],
                            body.get("bank_account_id"))  # fmt: skip
        return sandbox.json(payment, 201)


def status_set(
    sandbox: BexioSandbox, kind: str, document_id: str, status: str, amount: str
) -> Record | None:
    """`document_status_set`: a quote accepted, rejected or issued; an invoice issued,
    paid (the remaining amount, or `amount` for partially_paid) or cancelled."""
    resource = {"quote": "offers", "invoice": "invoices"}.get(kind)
    if resource is None or not document_id.isdigit():
        return None
    # Ids count per company; a test's company is the last one made.
    store, record_id = sandbox.store, int(document_id)
    owners = [o for o, r in store.everything(resource) if r["id"] == record_id]
    if not owners:
        return None
    owner = owners[-1]
    with sandbox.lock:
        if resource == "offers":
            if status not in QUOTE_STATUSES:
                raise invalid(f"status: A quote cannot be {status}.")
            return public(store.update(resource, owner, record_id, _status(QUOTE_STATUSES[status])))
        invoice = store.get(resource, owner, record_id)
        if invoice["kb_item_status_id"] == INVOICE_DRAFT and status != "voided":
            invoice = store.update(resource, owner, record_id, _status(INVOICE_PENDING))
        if status in ("paid", "partially_paid"):
            remaining = Decimal(invoice["total_remaining_payments"])
            some = status == "partially_paid"
            value = decimal_or_none(amount) if some else remaining
            if value is None or (some and value >= remaining):
                raise invalid("amount: A partial payment is less than what is open.")
            _book(sandbox, owner, invoice, value, date.today().isoformat(), None)
        elif status == "voided":
            store.update(resource, owner, record_id, _status(INVOICE_CANCELLED))
        elif status != "open":
            raise invalid(f"status: An invoice cannot be {status}.")
        return public(store.get(resource, owner, record_id))
