"""Writes of billing: starting a checkout, applying Stripe's events exactly once, and closing
an account (its subscription is cancelled first)."""

from __future__ import annotations

import logging
import uuid

from django.db import IntegrityError, transaction

from accounts.models import Tenant
from billing import signals, stripe_gateway
from billing.models import StripeEvent, Subscription
from billing.selectors import TRANSFERRING_STATUSES

logger = logging.getLogger(__name__)

_HANDLED = {
    "checkout.session.completed",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.trial_will_end",
    "invoice.paid",
    "invoice.payment_failed",
}


def plan_choose(*, tenant: Tenant, plan: str) -> Subscription:
    subscription, created = Subscription.objects.get_or_create(
        tenant=tenant, defaults={"plan": plan}
    )
    if not created and subscription.plan != plan:
        subscription.plan = plan
        subscription.save(update_fields=["plan", "updated_at"])
    return subscription


def checkout_start(
    *, tenant: Tenant, price_id: str, email: str, success_url: str, cancel_url: str
) -> str:
    """Stripe Checkout for the tenant's plan at `price_id` (the plan's Stripe price)."""
    subscription = Subscription.objects.for_tenant(tenant).get()
    return stripe_gateway.checkout_session_create(
        tenant_id=str(tenant.pk),
        plan=subscription.plan,
        price_id=price_id,
        email=email,
        customer_id=subscription.stripe_customer_id,
        success_url=success_url,
        cancel_url=cancel_url,
        idempotency_key=f"checkout-{tenant.pk}-{uuid.uuid4()}",
    )


def stripe_event_receive(*, payload: bytes, signature: str) -> bool:
    """Verifies and stores the event, then applies it; returns False for a duplicate."""
    event = stripe_gateway.event_verify(payload=payload, signature=signature)
    try:
        with transaction.atomic():
            StripeEvent.objects.create(id=event["id"], type=event["type"], payload=event)
    except IntegrityError:
        # A concurrent or repeated delivery of an event already stored: already handled.
        pass
    return stripe_event_process(event_id=event["id"])


def stripe_event_process(*, event_id: str) -> bool:
    with transaction.atomic():
        stored = StripeEvent.objects.select_for_update().get(pk=event_id)
        if stored.processed_at is not None:
            return False
        event = stored.payload
        if event["type"] in _HANDLED:
            _apply(event)
        else:
            logger.info("stripe: event type %s acknowledged, not handled", event["type"])
        from django.utils import timezone

        stored.processed_at = timezone.now()
        stored.save(update_fields=["processed_at"])
    return True


def _apply(event: dict[str, object]) -> None:
    subscription_id = stripe_gateway.subscription_id_of(event)
    if not subscription_id:
        return
    state = stripe_gateway.subscription_state(subscription_id)
    tenant_id = state.tenant_id or stripe_gateway.tenant_of_checkout(event)
    subscription = (
        Subscription.objects.select_for_update()
        .filter(stripe_subscription_id=subscription_id)
        .first()
    )
    if subscription is None and tenant_id:
        subscription = Subscription.objects.select_for_update().filter(tenant_id=tenant_id).first()
    if subscription is None:
        logger.warning("stripe: subscription %s belongs to no known tenant", subscription_id)
        return
    was_transferring = subscription.status in TRANSFERRING_STATUSES
    subscription.stripe_subscription_id = state.id
    subscription.stripe_customer_id = state.customer_id or subscription.stripe_customer_id
    subscription.status = _status(state.status)
    subscription.current_period_end = state.current_period_end
    subscription.trial_end = state.trial_end
    subscription.save()
    if subscription.status in TRANSFERRING_STATUSES and not was_transferring:
        # sync releases the webhook events it kept on hold (sync.receivers).
        signals.subscription_activated.send(sender=Subscription, tenant=subscription.tenant)


def _status(stripe_status: str) -> str:
    return {
        "trialing": Subscription.Status.TRIALING,
        "active": Subscription.Status.ACTIVE,
        "past_due": Subscription.Status.PAST_DUE,
        "unpaid": Subscription.Status.PAST_DUE,
        "canceled": Subscription.Status.CANCELED,
        "incomplete_expired": Subscription.Status.CANCELED,
        "paused": Subscription.Status.PAST_DUE,
    }.get(stripe_status, Subscription.Status.INCOMPLETE)


def tenant_close(*, tenant: Tenant) -> None:
    """Closes the customer's account: the Stripe subscription is cancelled first (if that
    fails, nothing is deleted and the customer may try again), then the tenant and everything
    it owns, its users included, is deleted."""
    subscription = Subscription.objects.for_tenant(tenant).first()
    if (
        subscription is not None
        and subscription.stripe_subscription_id
        and subscription.status != Subscription.Status.CANCELED
    ):
        stripe_gateway.subscription_cancel(subscription.stripe_subscription_id)
    with transaction.atomic():
        Tenant.objects.filter(pk=tenant.pk).delete()
