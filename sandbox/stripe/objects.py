"""Stripe's objects as the sandbox renders them: API version 2026-10-28.endive (the version of
the spec subset and of the installed `stripe` library), whatever `Stripe-Version` a request
pins. Since 2025-03-31.basil the billing period lives on each subscription item and an invoice
names its subscription under `parent.subscription_details`."""

from __future__ import annotations

import calendar
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from sandbox.store import Record

API_VERSION = "2026-10-28.endive"


def new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:24]


def nulls(names: str) -> dict[str, None]:
    """Fields Stripe renders as null where the sandbox has nothing to say."""
    return dict.fromkeys(names.split())


def add_interval(timestamp: int, interval: str) -> int:
    if interval in ("day", "week"):
        return timestamp + 86400 * (7 if interval == "week" else 1)
    moment = datetime.fromtimestamp(timestamp, UTC)
    months = moment.month - 1 + (12 if interval == "year" else 1)
    year, month = moment.year + months // 12, months % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return int(moment.replace(year=year, month=month, day=day).timestamp())


def price(price_id: str, amount: int, currency: str, interval: str) -> Record:
    return {
        "id": price_id,
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit",
        "created": int(time.time()),
        "currency": currency,
        "livemode": False,
        "metadata": {},
        **nulls("lookup_key nickname tiers_mode transform_quantity"),
        "product": "prod_" + price_id.removeprefix("price_")[:14],
        "recurring": {
            "interval": interval,
            "interval_count": 1,
            "usage_type": "licensed",
            **nulls("meter trial_period_days"),
        },
        "tax_behavior": "unspecified",
        "type": "recurring",
        "unit_amount": amount,
        "unit_amount_decimal": str(amount),
    }


def customer(fields: dict[str, Any]) -> Record:
    """A customer from the create parameters the sandbox keeps (email, name, ...)."""
    return {
        "id": None,
        "object": "customer",
        **nulls("address currency default_source description email name phone shipping"),
        **nulls("test_clock"),
        **fields,
        "balance": 0,
        "created": int(time.time()),
        "delinquent": False,
        "invoice_prefix": secrets.token_hex(4).upper(),
        "invoice_settings": nulls("custom_fields default_payment_method footer rendering_options"),
        "livemode": False,
        "metadata": fields.get("metadata") or {},
        "next_invoice_sequence": 1,
        "preferred_locales": [],
        "tax_exempt": "none",
    }


def checkout_session(fields: dict[str, Any]) -> Record:
    """An open session from what its create parameters decide."""
    return {
        "id": None,
        "object": "checkout.session",
        **nulls("after_expiration billing_address_collection client_secret consent invoice"),
        **nulls("customer_details payment_intent payment_link setup_intent submit_type"),
        **nulls("subscription url"),
        **fields,
        "automatic_tax": {"enabled": False, **nulls("liability status")},
        "custom_fields": [],
        "livemode": False,
        "payment_method_collection": "always",
        "payment_status": "unpaid",
        "status": "open",
        "ui_mode": "hosted",
    }


def subscription(
    customer_id: str, lines: list[Record], details: Record, trial_end: int | None
) -> Record:
    """A subscription as a completed Checkout starts it; `lines` pair each price with its
    quantity."""
    now, subscription_id = int(time.time()), new_id("sub_")
    items = [
        {
            "id": new_id("si_"),
            "object": "subscription_item",
            "created": now,
            "current_period_start": now,
            "current_period_end": trial_end
            or add_interval(now, line["price"]["recurring"]["interval"]),
            "discounts": [],
            "metadata": {},
            "price": line["price"],
            "quantity": line["quantity"],
            "subscription": subscription_id,
            "tax_rates": [],
        }
        for line in lines
    ]
    return {
        "id": subscription_id,
        "object": "subscription",
        **nulls("application cancel_at canceled_at days_until_due ended_at latest_invoice"),
        **nulls("pending_setup_intent schedule test_clock"),
        "automatic_tax": {"enabled": False, **nulls("liability disabled_reason")},
        "billing_cycle_anchor": trial_end or now,
        "cancel_at_period_end": False,
        "cancellation_details": nulls("comment feedback reason"),
        "collection_method": "charge_automatically",
        "created": now,
        "currency": items[0]["price"]["currency"],
        "customer": customer_id,
        "default_payment_method": details["payment_method"],
        "description": details["description"],
        "discounts": [],
        "items": stripe_list(items, f"/v1/subscription_items?subscription={subscription_id}"),
        "livemode": False,
        "metadata": details["metadata"],
        "start_date": now,
        "status": "trialing" if trial_end else "active",
        "trial_end": trial_end,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": now if trial_end else None,
    }


def stripe_list(data: list[Record], url: str) -> Record:
    return {"object": "list", "data": data, "has_more": False, "url": url}


def invoice(
    subscription: Record, customer: Record, billing_reason: str, *, paid: bool, free: bool
) -> Record:
    """The invoice of the subscription's current period; `free` during a trial."""
    now, invoice_id = int(time.time()), new_id("in_")
    lines = [
        _invoice_line(invoice_id, subscription, item, free)
        for item in subscription["items"]["data"]
    ]
    total = sum(line["amount"] for line in lines)
    return {
        "id": invoice_id,
        "object": "invoice",
        **nulls("account_name description due_date hosted_invoice_url invoice_pdf"),
        "account_country": "DE",
        "amount_due": total,
        "amount_paid": total if paid else 0,
        "amount_remaining": 0 if paid else total,
        "attempt_count": 1,
        "attempted": True,
        "auto_advance": not paid,
        "billing_reason": billing_reason,
        "collection_method": "charge_automatically",
        "created": now,
        "currency": subscription["currency"],
        "customer": customer["id"],
        "customer_email": customer["email"],
        "customer_name": customer["name"],
        "lines": stripe_list(lines, f"/v1/invoices/{invoice_id}/lines"),
        "livemode": False,
        "metadata": {},
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
            **nulls("marked_uncollectible_at voided_at"),
        },
        "subtotal": total,
        "total": total,
    }


def _invoice_line(invoice_id: str, subscription: Record, item: Record, free: bool) -> Record:
    price = item["price"]
    return {
        "id": new_id("il_"),
        "object": "line_item",
        "amount": 0 if free else price["unit_amount"] * item["quantity"],
        "currency": price["currency"],
        "description": f"{item['quantity']} x {price['product']}",
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "invoice": invoice_id,
        "livemode": False,
        "metadata": {},
        "parent": {
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": subscription["id"],
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
