"""lexware office's event subscriptions and the signed callbacks it sends (fact sheet,
"Webhooks", "Webhook callback payload", "Webhook signature"), and what the vendor's app does to
a sales voucher that the API cannot: book a payment, void it, accept or reject a quotation."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from sandbox.lexoffice.errors import lexoffice_timestamp
from sandbox.store import Record

if TYPE_CHECKING:
    from sandbox.lexoffice.app import LexofficeSandbox

# Where Lexware publishes the public key of its webhook signatures (developers.lexware.io).
KEY_PATH = "/webhookSignature/public/public_key.pub"
# Retries after 10/20/40/80/160 s on 401, 403, 429 and 5xx; the later 30-minute pause and
# the 20 retries 2 h apart are left out.
RETRY_DELAYS = (10.0, 20.0, 40.0, 80.0, 160.0)
# A subscription's members besides its id, which is stored as `id`, shown as `subscriptionId`.
SUBSCRIPTION_FIELDS = ("organizationId", "createdDate", "eventType", "callbackUrl")
# The sandbox's document kinds (`document_status_set`) as lexware office's vouchers. There is
# no order confirmation: the spec has no path for them.
VOUCHERS = {"quote": "quotation", "invoice": "invoice"}
STATUSES = {
    "quotation": ("open", "accepted", "rejected"),
    "invoice": ("open", "paid", "partially_paid", "voided"),
}
CENT = Decimal("0.01")


def retried(status: int) -> bool:
    return status in (401, 403, 429) or status >= 500


class WebhookSigner:
    """The sandbox's own key pair, made at start: `X-Lxo-Signature` is the base64 RSA-SHA512
    (PKCS#1 v1.5) signature of the compact JSON body, and the public key is served at
    KEY_PATH as Lexware serves its own."""

    def __init__(self) -> None:
        # Lexware's key has 4096 bits; 2048 keeps the sandbox's start fast.
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_pem = self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def __call__(self, body: bytes) -> dict[str, str]:
        signature = self._key.sign(body, padding.PKCS1v15(), hashes.SHA512())
        return {"X-Lxo-Signature": base64.b64encode(signature).decode()}


def subscription_view(record: Record) -> Record:
    return {"subscriptionId": record["id"], **{key: record[key] for key in SUBSCRIPTION_FIELDS}}


def subscription(owner: str, body: Record, now: str) -> Record:
    """A new subscription of the organization (event types are matched in lower case)."""
    return {
        **{"organizationId": owner, "createdDate": now, "updatedDate": now, "version": 0},
        "eventType": str(body["eventType"]).lower(),
        "callbackUrl": str(body["callbackUrl"]),
    }


def subscribed(held: list[Record], new: Record) -> bool:
    """Whether the organization has a subscription of the new one's type and URL already."""
    return any(
        (s["eventType"], s["callbackUrl"]) == (new["eventType"], new["callbackUrl"]) for s in held
    )


# -- what the vendor's app does to a voucher ------------------------------------------------


def _amount(value: Any) -> Decimal:
    return Decimal(str(value or 0)).quantize(CENT)


def open_amount(invoice: Record, payments: Record | None) -> Decimal:
    if invoice["voucherStatus"] == "voided":
        return Decimal(0)  # "Voided vouchers report balanced / 0"
    paid = sum((_amount(i["amount"]) for i in (payments or {}).get("paymentItems", [])), CENT * 0)
    return max(_amount(invoice["totalPrice"]["totalGrossAmount"]) - paid, Decimal(0))


def status_change(
    voucher: Record, kind: str, status: str, *, payments: Record | None, amount: str, now: str
) -> tuple[Record, list[Record], list[str]] | None:
    """What `status` changes: the voucher's new members, the payment items booked and the
    event types lexware office sends about it; None for a change its app does not allow."""
    if status not in STATUSES[kind]:
        return None
    was = voucher["voucherStatus"]
    changes: Record = {"voucherStatus": "open" if status == "partially_paid" else status}
    booked: list[Record] = []
    if kind == "invoice" and status in ("paid", "partially_paid"):
        still_open = open_amount(voucher, payments)
        paid = still_open if status == "paid" else _amount(amount or "0")
        if status == "partially_paid" and not Decimal(0) < paid < still_open:
            return None
        booked.append({"paymentItemType": "manualPayment", "postingDate": now,
                       "amount": float(paid), "currency": "EUR"})  # fmt: skip
    events = [f"{kind}.status.changed"] if changes["voucherStatus"] != was else []
    if booked:
        events.append("payment.changed")
    return changes, booked, events


def payment_view(invoice: Record, payments: Record | None) -> Record:
    """`GET /v1/payments/{id}` of a finalized invoice."""
    still_open = open_amount(invoice, payments)
    items = (payments or {}).get("paymentItems", [])
    view: Record = {
        "openAmount": float(still_open),
        "currency": "EUR",
        "paymentStatus": "openRevenue" if still_open else "balanced",
        "voucherType": "invoice",
        "voucherStatus": invoice["voucherStatus"],
        "paymentItems": items,
    }
    if invoice["voucherStatus"] == "paid" and items:
        view["paidDate"] = items[-1]["postingDate"]  # the date of the last payment
    return view


def status_set(
    sandbox: LexofficeSandbox, kind: str, document_id: str, status: str, *, amount: str = ""
) -> Record | None:
    """What a user does to a voucher in lexware office's web app, which the API cannot:
    finalize a draft, book a payment, void an invoice, accept or reject a quotation. The change
    moves the voucher's update stamp and version and is sent, signed, to the organization's
    subscriptions of its event types. None when there is no such voucher or change."""
    voucher_kind = VOUCHERS.get(kind)
    if voucher_kind is None:
        return None
    resource, store = f"{voucher_kind}s", sandbox.store
    with sandbox.lock:
        found = store.locate(resource, document_id)
        if found is None:
            return None
        owner, voucher = found
        payments = store.find("payments", owner, document_id)
        now = lexoffice_timestamp()
        change = status_change(
            voucher, voucher_kind, status, payments=payments, amount=amount, now=now
        )
        if change is None:
            return None
        changes, booked, event_types = change
        if voucher["voucherStatus"] == "draft":
            changes["voucherNumber"] = sandbox.voucher_number(voucher_kind, owner)
        if booked:
            items = [*(payments or {}).get("paymentItems", []), *booked]
            # Stored under the voucher's id: replaces the earlier items.
            store.create("payments", owner, {"voucherId": document_id, "paymentItems": items})
        changes |= {"updatedDate": now, "version": voucher["version"] + 1}
        changed = store.update(resource, owner, document_id, changes)
        subscriptions = store.select("event-subscriptions", owner)
    for event_type in event_types:
        # Exactly the four documented members, compact: the signature covers these bytes.
        payload = {"organizationId": owner, "eventType": event_type, "resourceId": document_id,
                   "eventDate": now}  # fmt: skip
        body = json.dumps(payload, separators=(",", ":")).encode()
        for subscription in subscriptions:
            if subscription["eventType"] == event_type:
                sandbox.callbacks.send(subscription["callbackUrl"], body)
    return changed
