"""The one billing question the rest of the product asks: may this tenant's work reach this
system now? A tenant holds one plan per kind of system (Subscription.Kind); each plan's
payment holds or releases the work of its own system only."""

from typing import Any

from django.db.models import Exists, OuterRef, QuerySet

from accounts.models import Tenant
from billing.models import Subscription

TRANSFERRING_STATUSES = frozenset({Subscription.Status.TRIALING, Subscription.Status.ACTIVE})


def transferring_tenant_ids() -> QuerySet[Subscription, Any]:
    """The ids of the tenants with at least one plan in its trial or paid, as a subquery: whose
    HubSpot events are processed at all, for the periodic tasks that look at every tenant's
    work at once. Which system each piece of work may reach is `system_paid_for`'s to say."""
    return Subscription.objects.filter(status__in=TRANSFERRING_STATUSES).values("tenant_id")


def system_paid_for(*, tenant_field: str = "tenant_id", system_field: str = "system") -> Exists:
    """A filter for rows naming a tenant and a system (transfers, vendor events): true where
    that tenant's plan for that system is in its trial or paid."""
    return Exists(
        Subscription.objects.filter(
            tenant_id=OuterRef(tenant_field),
            plan=OuterRef(system_field),
            status__in=TRANSFERRING_STATUSES,
        )
    )


def may_transfer(*, tenant: Tenant, system: str = "") -> bool:
    """True while the tenant's plan for `system` is in its trial or paid; without a system,
    while any of its plans is. Work held (events, transfers, imports) is kept and done once
    payment resumes."""
    paying = Subscription.objects.for_tenant(tenant).filter(status__in=TRANSFERRING_STATUSES)
    if system:
        paying = paying.filter(plan=system)
    return paying.exists()


def plan_of(*, tenant: Tenant, kind: str = Subscription.Kind.ACCOUNTING) -> str | None:
    """The system the tenant's plan of `kind` is for (by default its accounting system), paid
    or not; None without such a plan."""
    return (
        Subscription.objects.for_tenant(tenant).filter(kind=kind).values_list("plan", flat=True)
    ).first()


def subscriptions_of(*, tenant: Tenant) -> dict[str, Subscription]:
    """The tenant's plans by system key, accounting first."""
    plans = Subscription.objects.for_tenant(tenant).order_by("kind")
    return {subscription.plan: subscription for subscription in plans}


def subscription_for(*, tenant: Tenant, system: str) -> Subscription | None:
    return Subscription.objects.for_tenant(tenant).filter(plan=system).first()
