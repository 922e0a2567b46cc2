"""Writes of billing: starting a checkout, applying Stripe's events exactly once, and closing
an account (its subscription is cancelled first)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import uuid
from collections.abc import Callable
from contextlib import suppress
from functools import partial
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import Tenant
from apiup.locks import named_lock
from apiup.outages import OUTAGES
from billing import signals, stripe_gateway
from billing.models import StripeEvent, Subscription
from billing.selectors import TRANSFERRING_STATUSES

logger = logging.getLogger(__name__)

# An event not applied within this long is handed to a worker again (its task was lost, or
# gave up on a long outage), up to MAX_APPLY_ATTEMPTS runs in all; then it stays, with its
# error, for someone to look at (admin, and an error in the log).
RESUME_AFTER = dt.timedelta(minutes=5)
MAX_APPLY_ATTEMPTS = 30
RESUME_BATCH = 200

_HANDLED = {
    "checkout.session.completed",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.trial_will_end",
    "invoice.paid",
    "invoice.payment_failed",
}


def plan_choose(
    *, tenant: Tenant, plan: str, kind: str = Subscription.Kind.ACCOUNTING
) -> Subscription:
    """The tenant's plan of `kind` is for the system `plan` (chosen anew while unpaid): a
    tenant holds one plan per kind of system, e.g. an accounting system beside ZEP."""
    subscription, created = Subscription.objects.get_or_create(
        tenant=tenant, kind=kind, defaults={"plan": plan}
    )
    if not created and subscription.plan != plan:
        subscription.plan = plan
        subscription.save(update_fields=["plan", "updated_at"])
    return subscription


def plan_drop_unpaid(*, tenant: Tenant, plan: str) -> bool:
    """Removes the tenant's plan for `plan` while nothing was bought for it yet (no Stripe
    subscription); returns whether it was removed. A plan bought is ended in Stripe's portal."""
    deleted, _ = (
        Subscription.objects.for_tenant(tenant)
        .filter(plan=plan, status=Subscription.Status.INCOMPLETE, stripe_subscription_id="")
        .delete()
    )
    return bool(deleted)


def checkout_start(
    *, tenant: Tenant, system: str, price_id: str, email: str, success_url: str, cancel_url: str
) -> str:
    """Stripe Checkout for the tenant's plan for `system` at `price_id` (the plan's Stripe
    price). A second plan is bought by the same Stripe customer, as a subscription of its own,
    so that cancelling one leaves the other."""
    subscription = Subscription.objects.for_tenant(tenant).get(plan=system)
    if not subscription.stripe_customer_id:
        known = (
            Subscription.objects.for_tenant(tenant)
            .exclude(stripe_customer_id="")
            .values_list("stripe_customer_id", flat=True)
            .first()
        )
        subscription.stripe_customer_id = known or _stripe_customer_create(
            tenant=tenant, email=email
        )
        subscription.save(update_fields=["stripe_customer_id", "updated_at"])
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


def _stripe_customer_create(*, tenant: Tenant, email: str) -> str:
    """The Stripe customer, created before the first checkout so that Stripe's invoices name
    the customer's company and address (Checkout itself would ask only for an e-mail)."""
    name = tenant.display_name
    address = {
        "line1": f"{tenant.street} {tenant.house_number}".strip(),
        "postal_code": tenant.postcode,
        "city": tenant.city,
        "country": str(tenant.country.code or ""),
    }
    # The same data give the same key: a repeated click (or a lost answer) reuses the
    # customer Stripe created; changed company data create a new one.
    fingerprint = hashlib.sha256(
        json.dumps([email, name, address], sort_keys=True).encode()
    ).hexdigest()[:16]
    return stripe_gateway.customer_create(
        tenant_id=str(tenant.pk),
        email=email,
        name=name,
        address=address,
        idempotency_key=f"customer-{tenant.pk}-{fingerprint}",
    )


def stripe_event_receive(*, payload: bytes, signature: str, enqueue: Callable[[str], None]) -> bool:
    """Verifies and stores the event, and hands it to a worker once stored: nothing here
    calls Stripe or waits for a lock, so Stripe has its answer at once. Returns False for an
    event applied already (a repeated delivery); one stored but not yet applied is handed
    out again, which is safe (stripe_event_apply)."""
    event = stripe_gateway.event_verify(payload=payload, signature=signature)
    # get_or_create treats a concurrent delivery's insert as "already stored", not an error.
    stored, _created = StripeEvent.objects.get_or_create(
        id=event["id"],
        defaults={"type": event["type"], "payload": event, "tenant_id": _tenant_id_of(event)},
    )
    if stored.processed_at is not None:
        return False
    transaction.on_commit(partial(_hand_off, enqueue, stored.pk))
    return True


def _hand_off(enqueue: Callable[[str], None], event_id: str) -> None:
    try:
        enqueue(event_id)
    except OUTAGES:
        # The event is stored, so Stripe gets its success; the resume task hands it out.
        logger.warning("broker unreachable: stripe event %s waits for the resume task", event_id)


def _tenant_id_of(event: dict[str, Any]) -> uuid.UUID | None:
    """The tenant whose subscription, Stripe customer or checkout the event names; None for
    an event about no customer of the product (or one whose account was closed)."""
    matches = Q()
    subscription_id = stripe_gateway.subscription_id_of(event)
    if subscription_id:
        matches |= Q(stripe_subscription_id=subscription_id)
    customer_id = stripe_gateway.customer_id_of(event)
    if customer_id:
        matches |= Q(stripe_customer_id=customer_id)
    with suppress(ValueError):
        matches |= Q(tenant_id=uuid.UUID(stripe_gateway.tenant_of_checkout(event)))
    if not matches:
        return None
    return Subscription.objects.filter(matches).values_list("tenant_id", flat=True).first()


def stripe_event_apply(*, event_id: str) -> bool:
    """The task's service: applies a stored event once; returns False when it was applied
    already. The subscription's state is read from Stripe outside any database transaction;
    only the write that follows takes a row lock, briefly. A failure is noted on the event
    (attempts, error) and raised, for the task to try again."""
    stored = StripeEvent.objects.filter(pk=event_id, processed_at__isnull=True).first()
    if stored is None:
        return False
    StripeEvent.objects.filter(pk=event_id).update(
        attempts=F("attempts") + 1, attempted_at=timezone.now()
    )
    event = stored.payload
    try:
        if event["type"] not in _HANDLED:
            logger.info("stripe: event type %s acknowledged, not handled", event["type"])
            return _record(event_id=event_id, state=None)
        subscription_id = stripe_gateway.subscription_id_of(event)
        if not subscription_id:
            return _record(event_id=event_id, state=None)
        # One subscription's events are applied one at a time (a lock outside the database),
        # so that the state read from Stripe last is the one written last.
        with named_lock(f"stripe:subscription:{subscription_id}", timeout=60, wait=30):
            state = stripe_gateway.subscription_state(subscription_id)
            return _record(event_id=event_id, state=state)
    except Exception as failure:
        StripeEvent.objects.filter(pk=event_id).update(
            error=f"{type(failure).__name__}: {failure}"[:1000]
        )
        if stored.attempts + 1 >= MAX_APPLY_ATTEMPTS:
            logger.error(
                "stripe event %s not applied after %d attempts; it stays for someone to look at",
                event_id, MAX_APPLY_ATTEMPTS,
            )  # fmt: skip
        else:
            logger.warning("stripe event %s failed: %s", event_id, type(failure).__name__)
        raise


def _record(*, event_id: str, state: stripe_gateway.SubscriptionState | None) -> bool:
    """Writes the subscription's state and marks the event applied, in one transaction."""
    with transaction.atomic():
        stored = StripeEvent.objects.select_for_update().get(pk=event_id)
        if stored.processed_at is not None:
            return False  # another worker applied it meanwhile
        subscription = None if state is None else _apply(stored.payload, state)
        tenant_id = subscription.tenant_id if subscription else _tenant_id_of(stored.payload)
        stored.tenant_id = tenant_id
        if tenant_id is None:
            # About no customer of the product, such as the cancellation that closing an
            # account sends after the account is gone: nothing of it is kept but id and type.
            stored.payload = {}
        stored.processed_at = timezone.now()
        stored.error = ""
        stored.save(update_fields=["tenant", "payload", "processed_at", "error"])
    return True


def stripe_events_resume(*, enqueue: Callable[[str], None]) -> int:
    """Events stored but not applied after a while: their task was lost (a broker restarted
    empty) or gave up on an outage. Each is handed out again, until MAX_APPLY_ATTEMPTS."""
    quiet_since = timezone.now() - RESUME_AFTER
    waiting = StripeEvent.objects.filter(
        processed_at__isnull=True, attempts__lt=MAX_APPLY_ATTEMPTS, received_at__lte=quiet_since
    ).filter(Q(attempted_at__isnull=True) | Q(attempted_at__lte=quiet_since))
    ids = list(waiting.values_list("pk", flat=True)[:RESUME_BATCH])
    for event_id in ids:
        enqueue(event_id)
    return len(ids)


def stripe_events_purge(*, received_before: dt.datetime) -> int:
    """Retention: Stripe's events carry the customer's e-mail address; they go with the
    other stored payloads (PAYLOAD_RETENTION_DAYS), applied or not."""
    deleted, _ = StripeEvent.objects.filter(received_at__lt=received_before).delete()
    return deleted


def _apply(event: dict[str, Any], state: stripe_gateway.SubscriptionState) -> Subscription | None:
    tenant_id = state.tenant_id or stripe_gateway.tenant_of_checkout(event)
    subscription = (
        Subscription.objects.select_for_update().filter(stripe_subscription_id=state.id).first()
    )
    if subscription is None and tenant_id:
        # Not linked yet: the tenant's plan that the checkout was for (its metadata names it).
        plan = state.plan or stripe_gateway.plan_of_checkout(event)
        with suppress(ValueError):
            candidates = Subscription.objects.select_for_update().filter(
                tenant_id=uuid.UUID(tenant_id)
            )
            subscription = (candidates.filter(plan=plan) if plan else candidates).first()
    if subscription is None:
        logger.warning("stripe: subscription %s belongs to no known tenant", state.id)
        return None
    was_transferring = subscription.status in TRANSFERRING_STATUSES
    subscription.stripe_subscription_id = state.id
    subscription.stripe_customer_id = state.customer_id or subscription.stripe_customer_id
    subscription.status = _status(state.status)
    subscription.current_period_end = state.current_period_end
    subscription.trial_end = state.trial_end
    subscription.save()
    if subscription.status in TRANSFERRING_STATUSES and not was_transferring:
        # sync releases the work it kept on hold (sync.receivers).
        signals.subscription_activated.send(sender=Subscription, tenant=subscription.tenant)
    return subscription


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
    """Closes the customer's account: its Stripe subscriptions are cancelled first (if that
    fails, nothing is deleted and the customer may try again), then the tenant and everything
    it owns, its users and its Stripe events included, is deleted. Stripe's events about the
    cancellation arrive later and keep no payload (_record)."""
    subscriptions = list(Subscription.objects.for_tenant(tenant))
    for subscription in subscriptions:
        if (
            subscription.stripe_subscription_id
            and subscription.status != Subscription.Status.CANCELED
        ):
            stripe_gateway.subscription_cancel(subscription.stripe_subscription_id)
    customer_ids = {s.stripe_customer_id for s in subscriptions if s.stripe_customer_id}
    with transaction.atomic():
        for customer_id in customer_ids:
            # Not yet linked to the tenant (stored before its customer id was known, and not
            # applied yet); the linked ones go with the tenant (on_delete=CASCADE).
            StripeEvent.objects.filter(
                tenant__isnull=True, payload__data__object__customer=customer_id
            ).delete()
        Tenant.objects.filter(pk=tenant.pk).delete()
