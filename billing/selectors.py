"""The one billing question the rest of the product asks."""

from accounts.models import Tenant
from billing.models import Subscription

TRANSFERRING_STATUSES = frozenset({Subscription.Status.TRIALING, Subscription.Status.ACTIVE})


def may_transfer(*, tenant: Tenant) -> bool:
    """True while the tenant's subscription is in its trial or paid; events of other tenants
    are kept on hold and transferred once payment resumes."""
    return Subscription.objects.for_tenant(tenant).filter(status__in=TRANSFERRING_STATUSES).exists()


def plan_of(*, tenant: Tenant) -> str | None:
    subscription = Subscription.objects.for_tenant(tenant).first()
    return subscription.plan if subscription else None
