"""Celery tasks of billing: thin interfaces that call one service."""

from __future__ import annotations

import stripe
from celery import shared_task

from apiup.locks import LockTimeout
from apiup.outages import OUTAGES
from billing import services

# What may succeed on the next try: Stripe unreachable, rate-limited or failing (its SDK has
# retried twice already), another worker applying an event of the same subscription, a busy
# database or broker. A refusal (an unknown subscription, a revoked key) is not retried here;
# it stays on the event, with its error, and the resume task tries it again later.
RETRYABLE = (
    *OUTAGES,
    LockTimeout,
    stripe.APIConnectionError,
    stripe.RateLimitError,
    stripe.APIError,
)


@shared_task(
    name="billing.apply_stripe_event",
    autoretry_for=RETRYABLE,
    retry_backoff=2,
    retry_backoff_max=300,
    max_retries=8,
)
def apply_stripe_event(event_id: str) -> None:
    services.stripe_event_apply(event_id=event_id)


@shared_task(name="billing.resume_stripe_events")
def resume_stripe_events() -> int:
    return services.stripe_events_resume(enqueue=enqueue_stripe_event)


def enqueue_stripe_event(event_id: str) -> None:
    apply_stripe_event.delay(event_id)
