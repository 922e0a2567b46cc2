"""The Stripe-hosted pages a person sees: Checkout (checkout.stripe.com) and the customer
portal (billing.stripe.com). Plain HTML forms, so a test can "click" with one HTTP POST; the
browser test (tests/browser/test_customer_journey.py) fills `card_number` and clicks
"Subscribe"."""

from __future__ import annotations

import time
from html import escape

from flask import Response, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from sandbox.store import Record
from sandbox.stripe.lifecycle import Lifecycle
from sandbox.stripe.webhooks import ACCOUNT

# Stripe's documented test cards (https://docs.stripe.com/testing); any other number is
# refused in test mode.
CARD_OK = "4242424242424242"
CARD_DECLINES = {
    "4000000000000002": "Your card was declined.",
    "4000000000009995": "Your card has insufficient funds.",
}
STYLE = (
    "body{font:15px system-ui;margin:3rem auto;max-width:32rem}form{margin:1rem 0}"
    "input{padding:6px;width:100%;box-sizing:border-box;margin:4px 0}"
    "button{padding:8px 16px;margin:4px 0}.error{color:#b00020}.muted{color:#666}"
)
GONE = "This Checkout Session is no longer active."
CARD_FIELDS = "".join(
    f"<label>{label}<input name='{name}' placeholder='{hint}'></label>"
    for label, name, hint in (("Card number", "card_number", "4242 4242 4242 4242"),
                              ("Expiry", "card_expiry", "12/34"), ("CVC", "card_cvc", "123"))
)  # fmt: skip


def _html(title: str, body: str, status: int = 200) -> Response:
    page = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return Response(page, status=status, mimetype="text/html")


def _form(action: str, name: str, fields: str, button: str) -> str:
    return (
        f"<form method='post' action='{escape(action)}'><input type='hidden' name='action' "
        f"value='{name}'>{fields}<button type='submit'>{button}</button></form>"
    )


def card_problem(number: str) -> str:
    digits = "".join(ch for ch in number if ch.isdigit())
    return "" if digits == CARD_OK else CARD_DECLINES.get(digits, "Your card number is invalid.")


class HostedPages(Lifecycle):
    def checkout_page(self, session_id: str) -> Response:
        session = self.checkout_session(session_id)
        if session is None:
            return _html("Not found", "<p>This page does not exist.</p>", 404)
        if session["status"] != "open":
            return _html("Checkout", f"<p>{GONE}</p>", 410)
        return self._checkout_html(session, "")

    def checkout_submit(self, session_id: str) -> BaseResponse:
        with self.lock:
            session, action = self.checkout_session(session_id), request.form.get("action", "card")
            if session is None or session["status"] != "open":
                return self.checkout_page(session_id)
            if action == "cancel":
                # The session stays open: the customer may come back until it expires.
                return redirect(session["cancel_url"] or session["url"], 303)
            problem = card_problem(request.form.get("card_number", "")) if action == "card" else ""
            if problem:
                return self._checkout_html(session, problem, 402)
            if action not in ("card", "paypal") or action not in session["payment_method_types"]:
                return _html("Checkout", "<p>Unknown action.</p>", 400)
            self.complete_checkout(session, session["customer_email"] or request.form.get("email"))
        if session["success_url"]:
            url = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id)
            return redirect(url, 303)
        return _html("Thanks", "<p>Your payment was successful.</p>")

    def _checkout_html(self, session: Record, error: str, status: int = 200) -> Response:
        details, rows = self.store.get("checkout details", ACCOUNT, session["id"]), []
        for line in details["line_items"]:
            price, quantity = self.store.get("prices", ACCOUNT, line["price"]), line["quantity"]
            amount = f"{price['unit_amount'] * quantity / 100:.2f} {price['currency'].upper()}"
            per = price["recurring"]["interval"]
            rows.append(f"<li>{escape(price['id'])} x {quantity}: {amount} / {per}</li>")
        days = details["trial_period_days"]
        if details["trial_end"]:
            days = round((details["trial_end"] - time.time()) / 86400)
        action, methods = f"/c/pay/{session['id']}", session["payment_method_types"]
        given = escape(session["customer_email"] or "")
        email = f"<input name='email' type='email' value='{given}'>"
        body = "".join((
            f"<ul>{''.join(rows)}</ul>",
            f"<p class='muted'>{days} days free, then billed.</p>" if days else "",
            f"<p class='error' role='alert'>{escape(error)}</p>" if error else "",
            _form(action, "card", f"<label>Email{email}</label>{CARD_FIELDS}", "Subscribe")
            if "card" in methods else "",
            _form(action, "paypal", email, "Pay with PayPal") if "paypal" in methods else "",
            _form(action, "cancel", "", "Back"),
        ))  # fmt: skip
        return _html("Checkout", body, status)

    def portal_page(self, portal_id: str, notice: str = "", status: int = 200) -> Response:
        portal = self.find("billing portal sessions", portal_id)
        if portal is None:
            return _html("Not found", "<p>No such session.</p>", 404)
        items = []
        for subscription in self._subscriptions_of(portal["customer"]):
            state, ending = subscription["status"], subscription["cancel_at_period_end"]
            sub_id = escape(subscription["id"])
            hidden = f"<input type='hidden' name='subscription' value='{sub_id}'>"
            cancel = "" if state == "canceled" or ending else _form(
                f"/p/session/{portal['id']}", "cancel", hidden, "Cancel subscription")  # fmt: skip
            state += " (cancels at period end)" if ending else ""
            items.append(f"<li>{sub_id}: {escape(state)}{cancel}</li>")
        notice_html = f"<p role='status'>{escape(notice)}</p>" if notice else ""
        back = f"<p><a href='{escape(portal['return_url'] or '')}'>Return</a></p>"
        return _html("Billing", f"{notice_html}<ul>{''.join(items)}</ul>{back}", status)

    def portal_submit(self, portal_id: str) -> Response:
        with self.lock:
            portal = self.find("billing portal sessions", portal_id)
            if portal is None or request.form.get("action") != "cancel":
                return self.portal_page(portal_id, "Unknown action.", 400)
            chosen = request.form.get("subscription")
            mine = [s for s in self._subscriptions_of(portal["customer"]) if s["id"] == chosen]
            if not mine:
                return self.portal_page(portal_id, "No such subscription.", 404)
            if mine[0]["status"] != "canceled":
                self.schedule_cancel(mine[0])
        return self.portal_page(portal_id, "Your subscription will be canceled.")

    def _subscriptions_of(self, customer_id: str) -> list[Record]:
        return self.store.select(
            "subscriptions", ACCOUNT, where=lambda s: s["customer"] == customer_id
        )
