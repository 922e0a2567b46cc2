"""Everything a transfer needs to know about its tenant, loaded once per run."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

from accounts.models import Tenant
from billing.selectors import plan_of, subscriptions_of
from connectors import errors
from connectors.base import AccountingConnector, Connector
from connectors.hubspot.client import HubSpotClient
from connectors.models import Connection
from connectors.registry import connector_class, connector_for, provider
from connectors.rules import Placeholder
from sync.messages import Message, Refusal
from sync.models import TransferSettings

logger = logging.getLogger(__name__)

# The standard VAT rate of the tenant's country: the default where the accounting system
# allows it, until the tenant chooses its own.
STANDARD_TAX_RATES = {
    "DE": Decimal("19"),
    "AT": Decimal("20"),
    "CH": Decimal("8.1"),
    "LI": Decimal("8.1"),
    "FR": Decimal("20"),
}
# The VAT rates of the tenant's country, offered where the accounting system names none.
COUNTRY_TAX_RATES = {
    "DE": frozenset({Decimal(0), Decimal(7), Decimal(19)}),
    "AT": frozenset({Decimal(0), Decimal(10), Decimal(13), Decimal(20)}),
    "CH": frozenset({Decimal(0), Decimal("2.6"), Decimal("3.8"), Decimal("8.1")}),
    "LI": frozenset({Decimal(0), Decimal("2.6"), Decimal("3.8"), Decimal("8.1")}),
    "FR": frozenset({Decimal(0), Decimal("2.1"), Decimal("5.5"), Decimal(10), Decimal(20)}),
}
# Offered for deals without a currency where the accounting system does not list its own.
COMMON_CURRENCIES = ("CHF", "EUR", "GBP", "USD")


def transfer_settings(*, tenant: Tenant) -> TransferSettings:
    found = TransferSettings.objects.for_tenant(tenant).first()
    if found is not None:
        return found
    settings, _ = TransferSettings.objects.get_or_create(tenant=tenant)
    return settings


def _country(tenant: Tenant) -> str:
    return str(tenant.country.code or "DE")


def standard_tax_rate(*, tenant: Tenant, allowed: frozenset[Decimal] | None) -> Decimal:
    """The default where the tenant chose none: its country's standard rate where the
    account allows it, else the account's highest rate (the standard rate in every country
    served)."""
    rate = STANDARD_TAX_RATES.get(_country(tenant), Decimal("19"))
    if allowed and rate not in allowed:
        return max(allowed)
    return rate


def offered_tax_rates(*, tenant: Tenant) -> tuple[frozenset[Decimal], Decimal]:
    """What the settings page offers: the rates the connected account allows, else those of
    the tenant's country, with the standard rate that applies while none is chosen. An
    account that cannot be asked right now offers its country's rates."""
    allowed = None
    try:
        connector = _connected_accounting(tenant)
        allowed = connector.tax_rates() if connector is not None else None
    except errors.ConnectorError as exc:
        logger.warning("tax rates of %s not read (%s)", tenant.pk, type(exc).__name__)
    offered = allowed or COUNTRY_TAX_RATES.get(_country(tenant), COUNTRY_TAX_RATES["DE"])
    return offered, standard_tax_rate(tenant=tenant, allowed=offered)


def offered_currencies(*, tenant: Tenant) -> tuple[tuple[str, ...], str]:
    """What the settings page offers for deals without a currency: the currencies of the
    connected account (else common ones), and the HubSpot account's company currency ("" when
    it cannot be read now)."""
    accepted: frozenset[str] | None = None
    try:
        connector = _connected_accounting(tenant)
        accepted = connector.currencies() if connector is not None else None
    except errors.ConnectorError as exc:
        logger.warning("currencies of %s not read (%s)", tenant.pk, type(exc).__name__)
    company = ""
    try:
        company = portal_currency(tenant=tenant)
    except errors.ConnectorError as exc:
        logger.warning("company currency of %s not read (%s)", tenant.pk, type(exc).__name__)
    return tuple(sorted(accepted or COMMON_CURRENCIES)), company


def portal_currency(*, tenant: Tenant) -> str:
    """The HubSpot account's company currency (cached by the client); "" when HubSpot is not
    connected or names none."""
    connection = Connection.objects.for_tenant(tenant).filter(system="hubspot").first()
    if connection is None:
        return ""
    return HubSpotClient(connection=connection).company_currency()


def _connected_accounting(tenant: Tenant) -> AccountingConnector | None:
    try:
        return accounting_connector(tenant=tenant)
    except (Refusal, errors.ReconnectRequired):
        return None


def hubspot_connection(*, tenant: Tenant) -> Connection:
    connection = Connection.objects.for_tenant(tenant).filter(system="hubspot").first()
    if connection is None:
        raise errors.ReconnectRequired("HubSpot is not connected.")
    return connection


def accounting_connector(*, tenant: Tenant) -> AccountingConnector:
    plan = plan_of(tenant=tenant)
    if plan is None:
        if subscriptions_of(tenant=tenant):
            raise NoAccountingSystem("The tenant's plans are for systems without books.")
        raise Refusal(Message("plan.missing"))
    connection = Connection.objects.for_tenant(tenant).filter(system=plan).first()
    if connection is None:
        raise errors.ReconnectRequired(f"{provider(plan).label} is not connected.")
    return connector_class(plan)(connection=connection)


def system_connector(*, tenant: Tenant, system: str) -> Connector:
    """The connector of the tenant's connection to `system` (accounting or time tracking):
    what a transfer to that system books its calls on."""
    if system == plan_of(tenant=tenant):
        return accounting_connector(tenant=tenant)
    connection = Connection.objects.for_tenant(tenant).filter(system=system).first()
    if connection is None:
        raise errors.ReconnectRequired(f"{provider(system).label} is not connected.")
    return connector_for(system)(connection=connection)


class NoAccountingSystem(errors.ReconnectRequired):
    """The tenant's plans are for systems without books (time tracking): for the accounting
    flows it is as if none were connected."""


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
