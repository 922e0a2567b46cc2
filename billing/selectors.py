"""The one billing question the rest of the product asks."""

from typing import Any

from django.db.models import QuerySet

from accounts.models import Tenant
from billing.models import Subscription

TRANSFERRING_STATUSES = frozenset({Subscription.Status.TRIALING, Subscription.Status.ACTIVE})


def transferring_tenant_ids() -> QuerySet[Subscription, Any]:
    """The ids of the tenants whose work may reach a vendor now, as a subquery: the same rule
    as may_transfer, for the periodic tasks that look at every tenant's work at once."""
    return Subscription.objects.filter(status__in=TRANSFERRING_STATUSES).values("tenant_id")


def may_transfer(*, tenant: Tenant) -> bool:
    """True while the tenant's subscription is in its trial or paid. Work of other tenants
    (events, transfers, imports) is kept on hold and done once payment resumes."""
    return transferring_tenant_ids().filter(tenant_id=tenant.pk).exists()


def plan_of(*, tenant: Tenant) -> str | None:
    subscription = Subscription.objects.for_tenant(tenant).first()
    return subscription.plan if subscription else None
