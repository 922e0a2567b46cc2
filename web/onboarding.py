"""Where a customer stands in the setup wizard, read from what exists (no stored flag), so a
returning customer resumes at the first unfinished step and a step undone later (a removed
connection) shows up again."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse

from accounts.models import Tenant
from accounts.roles import Action
from billing.models import Subscription
from connectors.models import Connection

# The numbers of the progress indicator (templates/accounts/_steps.html); 1 to 3 are the
# registration itself: personal data, e-mail confirmation, company data.
HUBSPOT, PLAN, ACCOUNTING, PAYMENT, OVERVIEW = 4, 5, 6, 7, 8

STEP_URLS = {
    HUBSPOT: "setup:hubspot",
    PLAN: "billing:plan",
    ACCOUNTING: "setup:accounting",
    PAYMENT: "billing:payment",
    OVERVIEW: "dashboard:home",
}

# What a person's role must allow to take each step (accounts.roles).
STEP_ACTIONS = {
    HUBSPOT: Action.CONNECT,
    PLAN: Action.BILLING,
    ACCOUNTING: Action.CONNECT,
    PAYMENT: Action.BILLING,
    OVERVIEW: Action.VIEW,
}


@dataclass(frozen=True, slots=True)
class Progress:
    hubspot: Connection | None
    subscription: Subscription | None
    accounting: Connection | None

    @property
    def next_step(self) -> int:
        if self.hubspot is None:
            return HUBSPOT
        if self.subscription is None:
            return PLAN
        if self.accounting is None:
            return ACCOUNTING
        # Only Stripe's webhook moves the subscription out of "awaiting payment".
        if self.subscription.status == Subscription.Status.INCOMPLETE:
            return PAYMENT
        return OVERVIEW

    @property
    def finished(self) -> bool:
        return self.next_step == OVERVIEW

    @property
    def next_action(self) -> Action:
        return STEP_ACTIONS[self.next_step]

    @property
    def next_url(self) -> str:
        return reverse(STEP_URLS[self.next_step])


def progress_of(*, tenant: Tenant) -> Progress:
    connections = {c.system: c for c in Connection.objects.for_tenant(tenant)}
    subscription = Subscription.objects.for_tenant(tenant).first()
    accounting = connections.get(subscription.plan) if subscription is not None else None
    return Progress(
        hubspot=connections.get("hubspot"),
        subscription=subscription,
        accounting=accounting,
    )
