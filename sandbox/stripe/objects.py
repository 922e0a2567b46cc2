"""Stripe's objects as the sandbox renders them: API version 2026-10-28.endive (the version of
the spec subset and of the installed `stripe` library), whatever `Stripe-Version` a request
pins. Since 2025-03-31.basil the billing period lives on each subscription item and an invoice
names its subscription under `parent.subscription_details`."""

from __future__ import annotations

import calendar
import json
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from sandbox.store import Record

API_VERSION = "2026-10-28.endive"


def new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:24]


def fields(text: str) -> Record:
    """`name=<JSON value>` pairs, a bare name being null: the many fields of a Stripe object
    that the sandbox keeps fixed, several to a line."""
    pairs = (pair.partition("=") for pair in text.split())
    return {name: json.loads(value or "null") for name, _, value in pairs}


def add_interval(timestamp: int, interval: str) -> int:
    if interval in ("day", "week"):
        return timestamp + 86400 * (7 if interval == "week" else 1)
    moment = datetime.fromtimestamp(timestamp, UTC)
    months = moment.month - 1 + (12 if interval == "year" else 1)
    year, month = moment.year + months // 12, months % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return int(moment.replace(year=year, month=month, day=day).timestamp())


def price(price_id: str, amount: int, currency: str, interval: str) -> Record:
    recurring = fields('interval_count=1 meter usage_type="licensed" trial_period_days')
    return {
        "id": price_id,
        **fields('object="price" active=true billing_scheme="per_unit" livemode=false'),
        **fields('lookup_key metadata={} nickname tax_behavior="unspecified" tiers_mode'),
        **fields('transform_quantity type="recurring"'),
        "created": int(time.time()),
        "currency": currency,
        "product": "prod_" + price_id.removeprefix("price_")[:14],
        "recurring": {"interval": interval, **recurring},
        "unit_amount": amount,
        "unit_amount_decimal": str(amount),
    }


def customer(chosen: Record) -> Record:
    """A customer with what its creator chose (email, name, description, phone, metadata)."""
    return {
        "id": None,
        **fields('object="customer" address balance=0 currency default_source delinquent=false'),
        **fields("description email name phone metadata={} next_invoice_sequence=1"),
        **fields('livemode=false preferred_locales=[] shipping tax_exempt="none" test_clock'),
        **chosen,
        "created": int(time.time()),
        "invoice_prefix": secrets.token_hex(4).upper(),
        "invoice_settings": fields("custom_fields default_payment_method footer rendering_options"),
    }


def checkout_session(chosen: Record) -> Record:
    """An open session with what its create parameters decided."""
    return {
        "id": None,
        **fields('object="checkout.session" after_expiration billing_address_collection'),
        **fields("client_secret consent custom_fields=[] customer_details invoice livemode=false"),
        **fields('payment_intent payment_link payment_method_collection="always" setup_intent'),
        **fields('payment_status="unpaid" status="open" submit_type subscription ui_mode="hosted"'),
        "automatic_tax": fields("enabled=false liability status"),
        "url": None,
        **chosen,
    }


def subscription(customer_id: str, lines: list[Record], chosen: Record, trial_end: Any) -> Record:
    """A subscription as a completed Checkout starts it: `lines` pair a price with its
    quantity; `chosen` holds the payment method, description and metadata."""
    now, subscription_id = int(time.time()), new_id("sub_")
    items = [
        {
            "id": new_id("si_"),
            **fields('object="subscription_item" discounts=[] metadata={} tax_rates=[]'),
            "created": now,
            "current_period_start": now,
            "current_period_end": trial_end
            or add_interval(now, line["price"]["recurring"]["interval"]),
            "price": line["price"],
            "quantity": line["quantity"],
            "subscription": subscription_id,
        }
        for line in lines
    ]
    return {
        "id": subscription_id,
        **fields('object="subscription" application cancel_at cancel_at_period_end=false'),
        **fields('canceled_at collection_method="charge_automatically" days_until_due'),
        **fields("discounts=[] ended_at latest_invoice livemode=false pending_setup_intent"),
        **fields("schedule test_clock"),
        "automatic_tax": fields("enabled=false liability disabled_reason"),
        "billing_cycle_anchor": trial_end or now,
        "cancellation_details": fields("comment feedback reason"),
        "created": now,
        "currency": items[0]["price"]["currency"],
        "customer": customer_id,
        "default_payment_method": chosen["payment_method"],
        "description": chosen["description"],
        "items": stripe_list(items, f"/v1/subscription_items?subscription={subscription_id}"),
        "metadata": chosen["metadata"],
        "start_date": now,
        "status": "trialing" if trial_end else "active",
        "trial_end": trial_end,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": now if trial_end else None,
    }


def stripe_list(data: list[Record], url: str) -> Record:
    return {"object": "list", "data": data, "has_more": False, "url": url}


def invoice(
    subscription: Record, customer: Record, reason: str, *, paid: bool, free: bool
) -> Record:
    """The invoice of the subscription's current period; `free` during a trial."""
    now, invoice_id = int(time.time()), new_id("in_")
    items = subscription["items"]["data"]
    lines = [_invoice_line(invoice_id, subscription["id"], item, free) for item in items]
    total = sum(line["amount"] for line in lines)
    return {
        "id": invoice_id,
        **fields('object="invoice" account_country="DE" account_name attempt_count=1'),
        **fields('attempted=true collection_method="charge_automatically" description'),
        **fields("due_date hosted_invoice_url invoice_pdf livemode=false metadata={}"),
        "amount_due": total,
        "amount_paid": total if paid else 0,
        "amount_remaining": 0 if paid else total,
        "auto_advance": not paid,
        "billing_reason": reason,
        "created": now,
        "currency": subscription["currency"],
        "customer": customer["id"],
        "customer_email": customer["email"],
        "customer_name": customer["name"],
        "lines": stripe_list(lines, f"/v1/invoices/{invoice_id}/lines"),
        "next_payment_attempt": None if paid else now + 3 * 86400,
        "number": f"{customer['invoice_prefix']}-{customer['next_invoice_sequence']:04d}",
        "parent": {
            "quote_details": None,
            "subscription_details": {
                "metadata": subscription["metadata"],
                "subscription": subscription["id"],
            },
            "type": "subscription_details",
        },
        "period_end": now,
        "period_start": now,
        "status": "paid" if paid else "open",
        "status_transitions": {
            "finalized_at": now,
            "paid_at": now if paid else None,
            **fields("marked_uncollectible_at voided_at"),
        },
        "subtotal": total,
        "total": total,
    }


def _invoice_line(invoice_id: str, subscription_id: str, item: Record, free: bool) -> Record:
    price = item["price"]
    return {
        "id": new_id("il_"),
        **fields('object="line_item" discount_amounts=[] discountable=true discounts=[]'),
        **fields("livemode=false metadata={}"),
        "amount": 0 if free else price["unit_amount"] * item["quantity"],
        "currency": price["currency"],
        "description": f"{item['quantity']} x {price['product']}",
        "invoice": invoice_id,
        "parent": {
            "invoice_item_details": None,
            "subscription_item_details": {
                **fields('invoice_item proration=false proration_details={"credited_items":null}'),
                "subscription": subscription_id,
                "subscription_item": item["id"],
            },
            "type": "subscription_item_details",
        },
        "period": {"start": item["current_period_start"], "end": item["current_period_end"]},
        "pricing": {
            "price_details": {"price": price["id"], "product": price["product"]},
            "type": "price_details",
            "unit_amount_decimal": price["unit_amount_decimal"],
        },
        "quantity": item["quantity"],
    }
