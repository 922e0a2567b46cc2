"""The Stripe-hosted pages a person sees: Checkout (checkout.stripe.com) and the customer
portal (billing.stripe.com). Plain HTML forms, so a test can "click" with one HTTP POST."""

from __future__ import annotations

from html import escape
from typing import Any

_STYLE = (
    "body{font:15px system-ui;margin:3rem auto;max-width:32rem}"
    "form{margin:1rem 0}input{padding:6px;width:100%;box-sizing:border-box;margin:4px 0}"
    "button{padding:8px 16px;margin:4px 0}.error{color:#b00020}.muted{color:#666}"
)


def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )


def _money(amount: int, currency: str) -> str:
    return f"{amount / 100:.2f} {currency.upper()}"


def _line(item: dict[str, Any], price: dict[str, Any]) -> str:
    amount = _money(price["unit_amount"] * item["quantity"], price["currency"])
    interval = (price.get("recurring") or {}).get("interval", "")
    return f"<li>{escape(item['price'])} x {item['quantity']}: {amount} / {escape(interval)}</li>"


def checkout_page(session: dict[str, Any], prices: dict[str, dict[str, Any]], error: str) -> str:
    rows = "".join(_line(item, prices[item["price"]]) for item in session["_line_items"])
    trial = session["_trial_period_days"]
    trial_note = f"<p class='muted'>{trial} days free, then billed.</p>" if trial else ""
    email = session.get("customer_email") or ""
    error_html = f"<p class='error' role='alert'>{escape(error)}</p>" if error else ""
    action = f"/c/pay/{escape(session['id'])}"
    paypal = (
        f"<form method='post' action='{action}'><input type='hidden' name='action' value='paypal'>"
        f"<input type='hidden' name='email' value='{escape(email)}'>"
        "<button type='submit'>Pay with PayPal</button></form>"
        if "paypal" in session["payment_method_types"]
        else ""
    )
    card = (
        f"<form method='post' action='{action}'><input type='hidden' name='action' value='card'>"
        f"<label>Email<input name='email' type='email' value='{escape(email)}'></label>"
        "<label>Card number<input name='card_number' placeholder='4242 4242 4242 4242'></label>"
        "<label>Expiry<input name='card_expiry' placeholder='12/34'></label>"
        "<label>CVC<input name='card_cvc' placeholder='123'></label>"
        "<button type='submit'>Subscribe</button></form>"
        if "card" in session["payment_method_types"]
        else ""
    )
    cancel = (
        f"<form method='post' action='{action}'><input type='hidden' name='action' value='cancel'>"
        "<button type='submit'>Back</button></form>"
    )
    return _page(
        "Checkout",
        f"<h1>Checkout</h1><ul>{rows}</ul>{trial_note}{error_html}{card}{paypal}{cancel}",
    )


def message_page(title: str, message: str) -> str:
    return _page(title, f"<h1>{escape(title)}</h1><p>{escape(message)}</p>")


def portal_page(portal: dict[str, Any], subscriptions: list[dict[str, Any]], notice: str) -> str:
    action = f"/p/session/{escape(portal['id'])}"
    items = []
    for subscription in subscriptions:
        state = subscription["status"]
        if subscription["cancel_at_period_end"]:
            state += " (cancels at period end)"
        cancel = (
            f"<form method='post' action='{action}'>"
            "<input type='hidden' name='action' value='cancel'>"
            f"<input type='hidden' name='subscription' value='{escape(subscription['id'])}'>"
            "<button type='submit'>Cancel subscription</button></form>"
            if subscription["status"] != "canceled" and not subscription["cancel_at_period_end"]
            else ""
        )
        items.append(f"<li>{escape(subscription['id'])}: {escape(state)}{cancel}</li>")
    card = (
        f"<form method='post' action='{action}'>"
        "<input type='hidden' name='action' value='update_card'>"
        "<label>New card number<input name='card_number' placeholder='4242 4242 4242 4242'>"
        "</label><button type='submit'>Update payment method</button></form>"
    )
    back = f"<p><a href='{escape(portal['return_url'] or '')}'>Return</a></p>"
    notice_html = f"<p role='status'>{escape(notice)}</p>" if notice else ""
    return _page(
        "Customer portal",
        f"<h1>Billing</h1>{notice_html}<ul>{''.join(items)}</ul>{card}{back}",
    )
