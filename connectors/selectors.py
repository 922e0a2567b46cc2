from accounts.models import Tenant
from accounts.tenancy import TenantQuerySet
from connectors.models import Connection


def connection_list(*, tenant: Tenant) -> TenantQuerySet[Connection]:
    return Connection.objects.for_tenant(tenant).order_by("system")
