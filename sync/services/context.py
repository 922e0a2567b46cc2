"""Everything a transfer needs to know about its tenant, loaded once per run."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from accounts.models import Tenant
from billing.selectors import plan_of
from connectors import errors
from connectors.base import AccountingConnector
from connectors.models import Connection
from connectors.registry import connector_class, provider
from connectors.rules import Placeholder
from sync.messages import Message, Refusal
from sync.models import TransferSettings

# The standard VAT rate of the tenant's country, until the tenant sets its own default.
STANDARD_TAX_RATES = {
    "DE": Decimal("19"),
    "AT": Decimal("20"),
    "CH": Decimal("8.1"),
    "LI": Decimal("8.1"),
    "FR": Decimal("20"),
}


def transfer_settings(*, tenant: Tenant) -> TransferSettings:
    found = TransferSettings.objects.for_tenant(tenant).first()
    if found is not None:
        return found
    rate = STANDARD_TAX_RATES.get(str(tenant.country.code), Decimal("19"))
    settings, _ = TransferSettings.objects.get_or_create(
        tenant=tenant, defaults={"default_tax_rate": rate}
    )
    return settings


def hubspot_connection(*, tenant: Tenant) -> Connection:
    connection = Connection.objects.for_tenant(tenant).filter(system="hubspot").first()
    if connection is None:
        raise errors.ReconnectRequired("HubSpot is not connected.")
    return connection


def accounting_connector(*, tenant: Tenant) -> AccountingConnector:
    plan = plan_of(tenant=tenant)
    if plan is None:
        raise Refusal(Message("plan.missing"))
    connection = Connection.objects.for_tenant(tenant).filter(system=plan).first()
    if connection is None:
        raise errors.ReconnectRequired(f"{provider(plan).label} is not connected.")
    return connector_class(plan)(connection=connection)


@dataclass(frozen=True)
class TenantContext:
    tenant: Tenant
    settings: TransferSettings

    @property
    def placeholder(self) -> Placeholder:
        return Placeholder(
            name=self.settings.placeholder_name,
            street=self.settings.placeholder_street,
            city=self.settings.placeholder_city,
        )

    @property
    def default_country(self) -> str:
        return str(self.tenant.country.code or "DE")
