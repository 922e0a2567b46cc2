"""Every Stripe call, through Stripe's own SDK. Stripe's quirks stay in this module."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import stripe
from django.conf import settings


def _client() -> stripe.StripeClient:
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses={"api": settings.VENDOR_API_URLS["stripe"]},
        stripe_version=settings.STRIPE_API_VERSION,
        max_network_retries=2,
    )


@dataclass(frozen=True)
class SubscriptionState:
    id: str
    status: str
    customer_id: str
    tenant_id: str
    plan: str  # the system the plan is for, from the metadata the checkout gave it
    current_period_end: datetime | None
    trial_end: datetime | None


def _timestamp(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), tz=UTC) if value else None


def customer_create(
    *,
    tenant_id: str,
    email: str,
    name: str,
    address: dict[str, str],
    idempotency_key: str,
) -> str:
    """The customer's Stripe record, with the name and address their invoices carry; returns
    its id. `address` holds Stripe's keys (line1, postal_code, city, country)."""
    params: dict[str, Any] = {
        "email": email,
        "name": name,
        "address": address,
        "metadata": {"tenant": tenant_id},
    }
    customer = _client().v1.customers.create(
        params,  # type: ignore[arg-type]
        {"idempotency_key": idempotency_key},
    )
    return str(customer.id)


def checkout_session_create(
    *,
    tenant_id: str,
    plan: str,
    price_id: str,
    email: str,
    customer_id: str,
    success_url: str,
    cancel_url: str,
    idempotency_key: str,
) -> str:
    """A Checkout Session in subscription mode with the trial; returns the hosted page URL."""
    params: dict[str, Any] = {
        "mode": "subscription",
        "line_items": [{"price": price_id, "quantity": 1}],
        "client_reference_id": tenant_id,
        "metadata": {"tenant": tenant_id, "plan": plan},
        "subscription_data": {
            "trial_period_days": settings.STRIPE_TRIAL_DAYS,
            "metadata": {"tenant": tenant_id, "plan": plan},
        },
        "payment_method_types": ["card", "paypal"],
        "success_url": success_url,
        "cancel_url": cancel_url,
    }
    if customer_id:
        params["customer"] = customer_id
    else:
        params["customer_email"] = email
    session = _client().v1.checkout.sessions.create(
        params,  # type: ignore[arg-type]
        {"idempotency_key": idempotency_key},
    )
    return str(session.url)


def portal_session_create(*, customer_id: str, return_url: str) -> str:
    session = _client().v1.billing_portal.sessions.create(
        {"customer": customer_id, "return_url": return_url}
    )
    return str(session.url)


def subscription_state(subscription_id: str) -> SubscriptionState:
    """The subscription as Stripe holds it now: events may arrive late or out of order, so
    the state is always read from the source instead of from the event."""
    subscription = _client().v1.subscriptions.retrieve(subscription_id).to_dict()
    items = (subscription.get("items") or {}).get("data") or []
    # Since API version 2025-03-31 the period lives on the subscription items.
    period_end = max((item.get("current_period_end") or 0 for item in items), default=0)
    return SubscriptionState(
        id=subscription["id"],
        status=subscription["status"],
        customer_id=str(subscription.get("customer") or ""),
        tenant_id=str((subscription.get("metadata") or {}).get("tenant", "")),
        plan=str((subscription.get("metadata") or {}).get("plan", "")),
        current_period_end=_timestamp(period_end),
        trial_end=_timestamp(subscription.get("trial_end")),
    )


def subscription_cancel(subscription_id: str) -> None:
    _client().v1.subscriptions.cancel(subscription_id)


def event_verify(*, payload: bytes, signature: str) -> dict[str, Any]:
    """Raises ValueError or stripe.SignatureVerificationError for a forged or stale event."""
    stripe.Webhook.construct_event(
        payload,
        signature,
        settings.STRIPE_WEBHOOK_SECRET,
        tolerance=settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS,
    )
    # The verified raw JSON is what gets stored, not the SDK's object (which holds Decimals).
    result: dict[str, Any] = json.loads(payload)
    return result


def subscription_id_of(event: dict[str, Any]) -> str:
    """Where an event names its subscription differs by event type and API version."""
    obj = event["data"]["object"]
    kind = obj.get("object")
    if kind == "subscription":
        return str(obj["id"])
    if kind == "checkout.session":
        return str(obj.get("subscription") or "")
    if kind == "invoice":
        parent = obj.get("parent") or {}
        details = parent.get("subscription_details") or {}
        return str(details.get("subscription") or "")
    return ""


def tenant_of_checkout(event: dict[str, Any]) -> str:
    obj = event["data"]["object"]
    return str(obj.get("client_reference_id") or (obj.get("metadata") or {}).get("tenant", ""))


def plan_of_checkout(event: dict[str, Any]) -> str:
    obj = event["data"]["object"]
    return str((obj.get("metadata") or {}).get("plan", ""))


def customer_id_of(event: dict[str, Any]) -> str:
    """The Stripe customer an event is about: a customer object itself, or the one an object
    names (as an id, or expanded)."""
    obj = event["data"]["object"]
    if obj.get("object") == "customer":
        return str(obj.get("id") or "")
    customer = obj.get("customer")
    if isinstance(customer, dict):
        return str(customer.get("id") or "")
    return str(customer or "")
