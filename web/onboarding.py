"""Where a customer stands in the setup wizard, read from what exists (no stored flag), so a
returning customer resumes at the first unfinished step and a step undone later (a removed
connection) shows up again."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.http import HttpRequest
from django.urls import reverse

from accounts.models import Tenant
from accounts.roles import Action
from accounts.tenancy import tenant_of
from billing.models import Subscription
from billing.selectors import subscription_for
from connectors.models import Connection
from connectors.providers import Kind
from connectors.registry import provider

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
    """The wizard follows the tenant's first plan: one paid for (accounting first) if any. A
    second plan, for the other kind of system, is added from the dashboard and does not send
    the customer back into the wizard while it waits for its payment."""
    connections = {c.system: c for c in Connection.objects.for_tenant(tenant)}
    plans = list(Subscription.objects.for_tenant(tenant).order_by("kind"))
    paid = [s for s in plans if s.status != Subscription.Status.INCOMPLETE]
    subscription = next(iter(paid or plans), None)
    accounting = connections.get(subscription.plan) if subscription is not None else None
    return Progress(
        hubspot=connections.get("hubspot"),
        subscription=subscription,
        accounting=accounting,
    )


def plan_kind(system: str) -> str:
    """The kind of plan that sells `system` (billing's name for the provider's kind)."""
    if provider(system).kind is Kind.TIME_TRACKING:
        return Subscription.Kind.TIME_TRACKING
    return Subscription.Kind.ACCOUNTING


def chosen_subscription(request: HttpRequest) -> Subscription | None:
    """The plan a page is about: the one `?system=` (or a posted `system`) names among the
    tenant's plans, else the plan the setup wizard follows."""
    tenant = tenant_of(request)
    system = request.POST.get("system") or request.GET.get("system") or ""
    if system:
        named = subscription_for(tenant=tenant, system=system)
        if named is not None:
            return named
    return progress_of(tenant=tenant).subscription


def plan_url(name: str, subscription: Subscription, **params: str) -> str:
    """The page `name` for the plan's system: named in the query where it is not the plan
    the setup wizard follows."""
    primary = progress_of(tenant=subscription.tenant).subscription
    if primary is None or primary.pk != subscription.pk:
        params = {"system": subscription.plan, **params}
    url = reverse(name)
    return f"{url}?{urlencode(params)}" if params else url
