"""Stripe's objects and what happens to them as payments and time pass: a Checkout completes, a
period renews or its payment fails, an open invoice is paid, a subscription is canceled. The
API, the hosted pages and the admin routes all change state through here, so each change sends
the events Stripe sends for it (vendor-specs/stripe/webhook-events.md).

Objects carry what the spec subset declares and what the product reads, in API version
2026-10-28.endive: since 2025-03-31.basil the billing period lives on each subscription item
and an invoice names its subscription under `parent.subscription_details`."""

from __future__ import annotations

import calendar
import copy
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from sandbox.store import Record, Resource
from sandbox.stripe.webhooks import ACCOUNT, Webhooks

TRIAL_WILL_END_DAYS = 3  # Stripe sends trial_will_end three days before the trial ends

RESOURCES = (
    *(Resource(name, ids="hex", id_prefix=prefix) for name, prefix in (
        ("customers", "cus_"), ("prices", "price_"), ("checkout sessions", "cs_test_"),
        ("billing portal sessions", "bps_"), ("subscriptions", "sub_"), ("invoices", "in_"))),
    # What a session keeps for its completion but does not show (under the session's id):
    # line items, trial and the subscription's metadata.
    Resource("checkout details"),
)  # fmt: skip


def add_interval(timestamp: int, interval: str) -> int:
    if interval in ("day", "week"):
        return timestamp + 86400 * (7 if interval == "week" else 1)
    moment = datetime.fromtimestamp(timestamp, UTC)
    months = moment.month - 1 + (12 if interval == "year" else 1)
    year, month = moment.year + months // 12, months % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return int(moment.replace(year=year, month=month, day=day).timestamp())


def stripe_object(kind: str, **fields: Any) -> Record:
    return {"id": None, "object": kind, "livemode": False, "created": int(time.time()), **fields}


class Lifecycle(Webhooks):
    def find(self, resource: str, record_id: str | None) -> Record | None:
        return self.store.find(resource, ACCOUNT, record_id or "")

    def save(self, resource: str, record: Record) -> Record:
        return self.store.update(resource, ACCOUNT, record["id"], record)

    def checkout_session(self, session_id: str) -> Record | None:
        """The session, expired once its `expires_at` has passed."""
        with self.lock:
            session = self.find("checkout sessions", session_id)
            if session and session["status"] == "open" and time.time() >= session["expires_at"]:
                session.update(status="expired", url=None)
                self.save("checkout sessions", session)
        return session

    def complete_checkout(self, session: Record, email: str | None) -> None:
        """Called under the lock: creates what a completed Checkout creates, sends events."""
        customer = self.find("customers", session["customer"]) or self.store.create(
            "customers", ACCOUNT, stripe_object("customer", email=email, name=None, metadata={})
        )
        details = {"email": customer["email"], "name": customer["name"]}
        session.update(customer=customer["id"], status="complete", url=None)
        session.update(customer_details=details, payment_status="paid")
        subscription = None
        if session["mode"] == "subscription":
            subscription = self._subscribe(session, customer)
        self.save("checkout sessions", session)
        self.emit("checkout.session.completed", session)
        trial_end = subscription and subscription["trial_end"]
        if subscription and trial_end and trial_end - time.time() <= TRIAL_WILL_END_DAYS * 86400:
            self.emit("customer.subscription.trial_will_end", subscription)

    def _subscribe(self, session: Record, customer: Record) -> Record:
        """The subscription a completed Checkout starts, with its first invoice."""
        now, chosen = int(time.time()), self.store.get("checkout details", ACCOUNT, session["id"])
        days = chosen["trial_period_days"]
        trial_end = chosen["trial_end"] or (now + days * 86400 if days else None)
        subscription = self.store.create("subscriptions", ACCOUNT, stripe_object(
            "subscription", status="trialing" if trial_end else "active", customer=customer["id"],
            cancel_at_period_end=False, cancel_at=None, canceled_at=None, ended_at=None,
            trial_start=now if trial_end else None, trial_end=trial_end, latest_invoice=None,
            metadata=chosen["metadata"], currency=session["currency"],
        ))  # fmt: skip
        items = []
        for line in chosen["line_items"]:
            price = self.store.get("prices", ACCOUNT, line["price"])
            end = trial_end or add_interval(now, price["recurring"]["interval"])
            items.append(stripe_object(
                "subscription_item", id="si_" + secrets.token_hex(12), current_period_start=now,
                current_period_end=end, price=price, quantity=line["quantity"],
                subscription=subscription["id"],
            ))  # fmt: skip
        url = f"/v1/subscription_items?subscription={subscription['id']}"
        subscription["items"] = {"object": "list", "data": items, "has_more": False, "url": url}
        invoice = self._invoice(
            subscription, "subscription_create", paid=True, free=bool(trial_end)
        )
        # A trial with nothing due now completes without a payment.
        session.update(subscription=subscription["id"], invoice=invoice["id"])
        session["payment_status"] = "no_payment_required" if trial_end else "paid"
        self.save("subscriptions", subscription)
        self.emit("customer.subscription.created", subscription)
        self.emit("invoice.paid", invoice)
        return subscription

    def _invoice(
        self, subscription: Record, reason: str, *, paid: bool, free: bool = False
    ) -> Record:
        """The invoice of the subscription's current period; nothing due during a trial."""
        items = subscription["items"]["data"]
        total = 0 if free else sum(i["price"]["unit_amount"] * i["quantity"] for i in items)
        now = int(time.time())
        customer = self.store.get("customers", ACCOUNT, subscription["customer"])
        parent = {"type": "subscription_details", "subscription_details": {
            "subscription": subscription["id"], "metadata": subscription["metadata"]}}  # fmt: skip
        invoice = self.store.create("invoices", ACCOUNT, stripe_object(
            "invoice", status="paid" if paid else "open", billing_reason=reason,
            amount_due=total, amount_paid=total if paid else 0,
            amount_remaining=0 if paid else total, attempt_count=1, parent=parent,
            currency=subscription["currency"], customer=customer["id"],
            customer_email=customer["email"], period_start=now, period_end=now,
            next_payment_attempt=None if paid else now + 3 * 86400,
        ))  # fmt: skip
        subscription["latest_invoice"] = invoice["id"]
        return invoice

    def updated(self, subscription: Record, before: Record) -> Record:
        """Saves the subscription; sends `customer.subscription.updated` with what changed."""
        saved = self.save("subscriptions", subscription)
        changed = {key: value for key, value in before.items() if saved.get(key) != value}
        if changed:
            self.emit("customer.subscription.updated", saved, changed)
        return saved

    def schedule_cancel(self, subscription: Record) -> None:
        before = copy.deepcopy(subscription)
        period_end = subscription["items"]["data"][0]["current_period_end"]
        subscription.update(cancel_at_period_end=True, cancel_at=period_end)
        subscription["canceled_at"] = int(time.time())
        self.updated(subscription, before)

    def end(self, subscription: Record) -> None:
        now = int(time.time())
        subscription.update(status="canceled", ended_at=now)
        subscription["canceled_at"] = subscription["canceled_at"] or now
        saved = self.save("subscriptions", subscription)
        self.emit("customer.subscription.deleted", saved)

    def charge_cycle(self, subscription: Record, *, paid: bool) -> Record:
        """A renewal: the period moves on and an invoice is paid or left open."""
        before = copy.deepcopy(subscription)
        for item in subscription["items"]["data"]:
            start = item["current_period_start"] = item["current_period_end"]
            interval = item["price"]["recurring"]["interval"]
            item["current_period_end"] = add_interval(start, interval)
        invoice = self._invoice(subscription, "subscription_cycle", paid=paid)
        subscription["status"] = "active" if paid else "past_due"
        self.emit("invoice.paid" if paid else "invoice.payment_failed", invoice)
        self.updated(subscription, before)
        return invoice

    def pay_open_invoice(self, subscription: Record) -> Record | None:
        invoice = self.find("invoices", subscription["latest_invoice"])
        if invoice is None or invoice["status"] != "open":
            return None
        attempts = invoice["attempt_count"] + 1
        invoice.update(status="paid", amount_paid=invoice["amount_due"], amount_remaining=0,
                       attempt_count=attempts, next_payment_attempt=None)  # fmt: skip
        self.save("invoices", invoice)
        before = copy.deepcopy(subscription)
        subscription["status"] = "active"
        self.emit("invoice.paid", invoice)
        self.updated(subscription, before)
        return invoice
