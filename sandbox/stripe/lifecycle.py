"""What happens to Stripe's objects as payments and time pass: a Checkout completes, a period
renews or its payment fails, an open invoice is paid, a subscription is canceled. The API, the
hosted pages and the admin routes all change state through here, so each change sends the
events Stripe sends for it (vendor-specs/stripe/webhook-events.md)."""

from __future__ import annotations

import copy
import threading
import time

from sandbox.store import Record, Resource, Store
from sandbox.stripe import objects
from sandbox.stripe.webhooks import ACCOUNT, Webhooks

TRIAL_WILL_END_DAYS = 3  # Stripe sends trial_will_end three days before the trial ends

RESOURCES = (
    Resource("customers", ids="hex", id_prefix="cus_"),
    Resource("prices", ids="hex", id_prefix="price_"),
    Resource("checkout sessions", ids="hex", id_prefix="cs_test_"),
    # What a session keeps for its completion but does not show: line items, trial, the
    # subscription's description and metadata (under the session's id).
    Resource("checkout details"),
    Resource("billing portal sessions", ids="hex", id_prefix="bps_"),
    # Subscriptions and invoices bring their ids: their items and lines name them.
    Resource("subscriptions", ids="hex", id_prefix="sub_"),
    Resource("invoices", ids="hex", id_prefix="in_"),
)


class Lifecycle:
    store: Store
    lock: threading.RLock
    webhooks: Webhooks

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

    def complete_checkout(self, session: Record, email: str | None, payment_method: str) -> None:
        """Called under the lock: creates what a completed Checkout creates, sends events."""
        customer = self.find("customers", session["customer"]) or self.store.create(
            "customers", ACCOUNT, objects.customer({"email": email})
        )
        customer["invoice_settings"]["default_payment_method"] = payment_method
        self.save("customers", customer)
        session.update(customer=customer["id"], status="complete", url=None)
        session["payment_status"] = (
            "paid" if session["mode"] == "payment" else "no_payment_required"
        )
        session["customer_details"] = {
            **objects.fields('address phone tax_exempt="none" tax_ids=[]'),
            "email": customer["email"],
            "name": customer["name"],
        }
        subscription = None
        if session["mode"] == "subscription":
            subscription = self._subscribe(session, customer["id"], payment_method)
        self.save("checkout sessions", session)
        self.webhooks.emit("checkout.session.completed", session)
        trial_end = subscription and subscription["trial_end"]
        if subscription and trial_end and trial_end - time.time() <= TRIAL_WILL_END_DAYS * 86400:
            self.webhooks.emit("customer.subscription.trial_will_end", subscription)

    def _subscribe(self, session: Record, customer_id: str, payment_method: str) -> Record:
        """The subscription a completed Checkout starts, with its first invoice."""
        details = self.store.get("checkout details", ACCOUNT, session["id"])
        now, days = int(time.time()), details["trial_period_days"]
        trial_end = details["trial_end"] or (now + days * 86400 if days else None)
        lines = [
            {
                "price": self.store.get("prices", ACCOUNT, line["price"]),
                "quantity": line["quantity"],
            }
            for line in details["line_items"]
        ]
        chosen = details | {"payment_method": payment_method}
        subscription = objects.subscription(customer_id, lines, chosen, trial_end)
        invoice = self._invoice(
            subscription, "subscription_create", paid=True, free=bool(trial_end)
        )
        self.store.create("subscriptions", ACCOUNT, subscription)
        # A trial with nothing due now completes without a payment.
        session.update(subscription=subscription["id"], invoice=invoice["id"])
        session["payment_status"] = "no_payment_required" if trial_end else "paid"
        self.webhooks.emit("customer.subscription.created", subscription)
        self.webhooks.emit("invoice.paid", invoice)
        return subscription

    def _invoice(
        self, subscription: Record, reason: str, *, paid: bool, free: bool = False
    ) -> Record:
        customer = self.store.get("customers", ACCOUNT, subscription["customer"])
        invoice = objects.invoice(subscription, customer, reason, paid=paid, free=free)
        self.store.create("invoices", ACCOUNT, invoice)
        sequence = {"next_invoice_sequence": customer["next_invoice_sequence"] + 1}
        self.store.update("customers", ACCOUNT, customer["id"], sequence)
        subscription["latest_invoice"] = invoice["id"]
        return invoice

    def updated(self, subscription: Record, before: Record) -> Record:
        """Saves the subscription; sends `customer.subscription.updated` with what changed."""
        saved = self.save("subscriptions", subscription)
        changed = {key: value for key, value in before.items() if saved.get(key) != value}
        if changed:
            self.webhooks.emit("customer.subscription.updated", saved, changed)
        return saved

    @staticmethod
    def schedule_cancel(subscription: Record, cancel: bool) -> None:
        period_end = subscription["items"]["data"][0]["current_period_end"]
        subscription["cancel_at_period_end"] = cancel
        subscription["cancel_at"] = period_end if cancel else None
        subscription["canceled_at"] = int(time.time()) if cancel else None
        subscription["cancellation_details"]["reason"] = (
            "cancellation_requested" if cancel else None
        )

    def end(self, subscription: Record) -> None:
        now = int(time.time())
        subscription.update(status="canceled", ended_at=now)
        subscription["canceled_at"] = subscription["canceled_at"] or now
        subscription["cancellation_details"]["reason"] = "cancellation_requested"
        self.webhooks.emit(
            "customer.subscription.deleted", self.save("subscriptions", subscription)
        )

    def charge_cycle(self, subscription: Record, *, paid: bool) -> Record:
        """A renewal: the period moves on and an invoice is paid or left open."""
        before = copy.deepcopy(subscription)
        for item in subscription["items"]["data"]:
            start = item["current_period_start"] = item["current_period_end"]
            interval = item["price"]["recurring"]["interval"]
            item["current_period_end"] = objects.add_interval(start, interval)
        invoice = self._invoice(subscription, "subscription_cycle", paid=paid)
        subscription["status"] = "active" if paid else "past_due"
        self.webhooks.emit("invoice.paid" if paid else "invoice.payment_failed", invoice)
        self.updated(subscription, before)
        return invoice

    def pay_open_invoice(self, subscription: Record) -> Record | None:
        invoice = self.find("invoices", subscription["latest_invoice"])
        if invoice is None or invoice["status"] != "open":
            return None
        invoice.update(
            status="paid",
            amount_paid=invoice["amount_due"],
            amount_remaining=0,
            attempt_count=invoice["attempt_count"] + 1,
            next_payment_attempt=None,
            auto_advance=False,
        )
        invoice["status_transitions"]["paid_at"] = int(time.time())
        self.save("invoices", invoice)
        before = copy.deepcopy(subscription)
        subscription["status"] = "active"
        self.webhooks.emit("invoice.paid", invoice)
        self.updated(subscription, before)
        return invoice
