"""The Stripe-hosted pages a person sees: Checkout (checkout.stripe.com) and the customer
portal (billing.stripe.com). Plain HTML forms, so a test can "click" with one HTTP POST; the
browser test (tests/browser/test_customer_journey.py) fills `card_number` and clicks
"Subscribe"."""

from __future__ import annotations

import copy
import time
from html import escape

from flask import Response, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from sandbox.store import Record
from sandbox.stripe.lifecycle import Lifecycle
from sandbox.stripe.objects import new_id
from sandbox.stripe.webhooks import ACCOUNT

# Stripe's documented test cards (https://docs.stripe.com/testing); any other number is
# refused in test mode.
CARD_OK = "4242424242424242"
CARD_DECLINES = {
    "4000000000000002": "Your card was declined.",
    "4000000000009995": "Your card has insufficient funds.",
}
_STYLE = (
    "body{font:15px system-ui;margin:3rem auto;max-width:32rem}"
    "form{margin:1rem 0}input{padding:6px;width:100%;box-sizing:border-box;margin:4px 0}"
    "button{padding:8px 16px;margin:4px 0}.error{color:#b00020}.muted{color:#666}"
)


def _html(title: str, body: str, status: int = 200) -> Response:
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>{body}</body></html>"
    )
    return Response(page, status=status, mimetype="text/html")


def _message(title: str, message: str, status: int = 200) -> Response:
    return _html(title, f"<h1>{escape(title)}</h1><p>{escape(message)}</p>", status)


def _form(action: str, name: str, fields: str, button: str) -> str:
    return (
        f"<form method='post' action='{action}'>"
        f"<input type='hidden' name='action' value='{name}'>{fields}"
        f"<button type='submit'>{button}</button></form>"
    )


def card_problem(number: str) -> str:
    digits = "".join(ch for ch in number if ch.isdigit())
    if digits == CARD_OK:
        return ""
    return CARD_DECLINES.get(digits, "Your card number is invalid.")


class HostedPages(Lifecycle):
    def checkout_page(self, session_id: str) -> Response:
        session = self.checkout_session(session_id)
        if session is None:
            return _message("Not found", "This page does not exist.", 404)
        if session["status"] != "open":
            return _message("Checkout", "This Checkout Session is no longer active.", 410)
        return self._checkout_html(session, "")

    def checkout_submit(self, session_id: str) -> BaseResponse:
        form = request.form
        with self.lock:
            session = self.checkout_session(session_id)
            if session is None:
                return _message("Not found", "No such session.", 404)
            if session["status"] != "open":
                return _message("Checkout", "This Checkout Session is no longer active.", 410)
            action = form.get("action", "card")
            if action == "cancel":
                # The session stays open: the customer may come back until it expires.
                return redirect(session["cancel_url"] or session["url"], 303)
            problem = card_problem(form.get("card_number", "")) if action == "card" else ""
            if problem:
                return self._checkout_html(session, problem, 402)
            paypal = action == "paypal" and "paypal" in session["payment_method_types"]
            if action != "card" and not paypal:
                return _message("Checkout", "Unknown action.", 400)
            email = session["customer_email"] or form.get("email") or None
            self.complete_checkout(session, email, new_id("pm_"))
        if session["success_url"]:
            return redirect(
                session["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id), 303
            )
        return _message("Thanks", "Your payment was successful.")

    def _checkout_html(self, session: Record, error: str, status: int = 200) -> Response:
        details = self.store.get("checkout details", ACCOUNT, session["id"])
        rows = []
        for line in details["line_items"]:
            price = self.store.get("prices", ACCOUNT, line["price"])
            amount = price["unit_amount"] * line["quantity"] / 100
            rows.append(
                f"<li>{escape(line['price'])} x {line['quantity']}: {amount:.2f} "
                f"{price['currency'].upper()} / {escape(price['recurring']['interval'])}</li>"
            )
        days = details["trial_period_days"]
        if details["trial_end"]:
            days = round((details["trial_end"] - time.time()) / 86400)
        trial = f"<p class='muted'>{days} days free, then billed.</p>" if days else ""
        error_html = f"<p class='error' role='alert'>{escape(error)}</p>" if error else ""
        action, methods = f"/c/pay/{escape(session['id'])}", session["payment_method_types"]
        email = escape(session["customer_email"] or "")
        card = (
            f"<label>Email<input name='email' type='email' value='{email}'></label>"
            "<label>Card number<input name='card_number' placeholder='4242 4242 4242 4242'>"
            "</label><label>Expiry<input name='card_expiry' placeholder='12/34'></label>"
            "<label>CVC<input name='card_cvc' placeholder='123'></label>"
        )
        paypal = f"<input type='hidden' name='email' value='{email}'>"
        forms = [
            _form(action, "card", card, "Subscribe") if "card" in methods else "",
            _form(action, "paypal", paypal, "Pay with PayPal") if "paypal" in methods else "",
            _form(action, "cancel", "", "Back"),
        ]
        body = f"<h1>Checkout</h1><ul>{''.join(rows)}</ul>{trial}{error_html}{''.join(forms)}"
        return _html("Checkout", body, status)

    def portal_page(self, portal_id: str, notice: str = "", status: int = 200) -> Response:
        portal = self.find("billing portal sessions", portal_id)
        if portal is None:
            return _message("Not found", "No such session.", 404)
        action = f"/p/session/{escape(portal['id'])}"
        items = []
        for subscription in self._subscriptions_of(portal["customer"]):
            state, ending = subscription["status"], subscription["cancel_at_period_end"]
            hidden = (
                f"<input type='hidden' name='subscription' value='{escape(subscription['id'])}'>"
            )
            cancel = (
                ""
                if state == "canceled" or ending
                else _form(action, "cancel", hidden, "Cancel subscription")
            )
            state += " (cancels at period end)" if ending else ""
            items.append(f"<li>{escape(subscription['id'])}: {escape(state)}{cancel}</li>")
        card = (
            "<label>New card number<input name='card_number' placeholder='4242 4242 4242 4242'>"
            "</label>"
        )
        notice_html = f"<p role='status'>{escape(notice)}</p>" if notice else ""
        back = f"<p><a href='{escape(portal['return_url'] or '')}'>Return</a></p>"
        body = (
            f"<h1>Billing</h1>{notice_html}<ul>{''.join(items)}</ul>"
            f"{_form(action, 'update_card', card, 'Update payment method')}{back}"
        )
        return _html("Customer portal", body, status)

    def portal_submit(self, portal_id: str) -> Response:
        with self.lock:
            portal = self.find("billing portal sessions", portal_id)
            if portal is None:
                return _message("Not found", "No such session.", 404)
            action, mine = request.form.get("action"), self._subscriptions_of(portal["customer"])
            if action == "cancel":
                chosen = [s for s in mine if s["id"] == request.form.get("subscription")]
                if not chosen:
                    return self.portal_page(portal_id, "No such subscription.", 404)
                if chosen[0]["status"] != "canceled":
                    before = copy.deepcopy(chosen[0])
                    self.schedule_cancel(chosen[0], True)
                    self.updated(chosen[0], before)
                return self.portal_page(portal_id, "Your subscription will be canceled.")
            if action == "update_card":
                return self._update_card(portal_id, portal["customer"], mine)
        return self.portal_page(portal_id, "Unknown action.", 400)

    def _update_card(self, portal_id: str, customer_id: str, mine: list[Record]) -> Response:
        problem = card_problem(request.form.get("card_number", ""))
        if problem:
            return self.portal_page(portal_id, problem, 402)
        payment_method = new_id("pm_")
        customer = self.store.get("customers", ACCOUNT, customer_id)
        customer["invoice_settings"]["default_payment_method"] = payment_method
        self.save("customers", customer)
        for subscription in mine:
            subscription["default_payment_method"] = payment_method
            self.save("subscriptions", subscription)
            if subscription["status"] == "past_due":
                self.pay_open_invoice(subscription)
        return self.portal_page(portal_id, "Payment method updated.")

    def _subscriptions_of(self, customer_id: str) -> list[Record]:
        return self.store.select(
            "subscriptions", ACCOUNT, where=lambda s: s["customer"] == customer_id
        )
