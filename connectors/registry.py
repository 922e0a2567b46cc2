"""Every system the product connects, declared once (`connectors/<system>/provider.py`), and
what is derived from the list: model choices, plans, vendor URLs, connector classes.

Adding a system is a package under `connectors/` with its provider declaration, one line in
PROVIDERS, a sandbox under `sandbox/` and its spec files under `vendor-specs/`.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import import_module
from typing import TYPE_CHECKING

from django.conf import settings

from connectors.bexio.provider import PROVIDER as BEXIO
from connectors.eaccounting.provider import PROVIDER as EACCOUNTING
from connectors.hubspot.provider import PROVIDER as HUBSPOT
from connectors.lexoffice.provider import PROVIDER as LEXOFFICE
from connectors.providers import Kind, Provider
from connectors.qonto.provider import PROVIDER as QONTO
from connectors.sevdesk.provider import PROVIDER as SEVDESK
from connectors.zep.provider import PROVIDER as ZEP

if TYPE_CHECKING:
    from connectors.base import AccountingConnector, Connector

PROVIDERS: tuple[Provider, ...] = (HUBSPOT, LEXOFFICE, BEXIO, SEVDESK, QONTO, EACCOUNTING, ZEP)

_BY_KEY = {p.key: p for p in PROVIDERS}


def provider(key: str) -> Provider:
    """The declaration of `key`; KeyError for a system the product does not know."""
    return _BY_KEY[str(key)]


def accounting_providers() -> tuple[Provider, ...]:
    """The systems a plan can be bought for, in the order the wizard shows them."""
    return tuple(p for p in PROVIDERS if p.kind is Kind.ACCOUNTING)


def system_choices() -> list[tuple[str, str]]:
    """Choices of every model field that names a system (callable: no migration per system)."""
    return [(p.key, p.label) for p in PROVIDERS]


def plan_choices() -> list[tuple[str, str]]:
    return [(p.key, p.label) for p in accounting_providers()]


def plan_providers() -> tuple[Provider, ...]:
    """Every system sold by a plan (accounting first, then time tracking), as the plan page
    shows them."""
    sold = [p for p in PROVIDERS if p.plan is not None and p.kind is not Kind.CRM]
    return tuple(sorted(sold, key=lambda p: p.kind is not Kind.ACCOUNTING))


def sold_plan_choices() -> list[tuple[str, str]]:
    return [(p.key, p.label) for p in plan_providers()]


def connector_class(system: str) -> type[AccountingConnector]:
    declared = provider(system)
    if not declared.connector or not declared.is_accounting:
        raise KeyError(f"{system} is no accounting system")
    module_name, class_name = declared.connector.split(":")
    connector: type[AccountingConnector] = getattr(import_module(module_name), class_name)
    return connector


def connector_for(system: str) -> type[Connector]:
    """The connector class of any system that declares one (accounting or time tracking)."""
    declared = provider(system)
    if not declared.connector:
        raise KeyError(f"{system} has no connector")
    module_name, class_name = declared.connector.split(":")
    connector: type[Connector] = getattr(import_module(module_name), class_name)
    return connector


def vendor_url(
    declared: Provider, host: str = "api", *, fields: Mapping[str, str] | None = None
) -> str:
    """Where the provider's `host` ("api", "oauth") lives: an address configured for it
    (<KEY>_API_URL, <KEY>_OAUTH_URL, or a test's override), else its local sandbox when the
    product runs on sandbox vendors, else the vendor's production host."""
    name = declared.key if host == "api" else f"{declared.key}_{host}"
    url = settings.VENDOR_API_URLS.get(name, "")
    if not url and settings.SANDBOX_VENDORS:
        path = declared.sandbox.api_path if host == "api" else ""
        url = f"http://{settings.SANDBOX_HOST}:{declared.sandbox.port}{path}"
    if not url:
        url = declared.hosts[host]
    if "{" in url:
        # A field the caller does not name stays a placeholder (a declaration's template).
        url = url.format_map(_Placeholders(fields or {}))
    return url.rstrip("/")


def price_label(declared: Provider) -> str:
    """The monthly price the wizard shows: PLAN_PRICE_<KEY> when set, else the declared one."""
    assert declared.plan is not None, f"{declared.key} is sold by no plan"
    return str(settings.PLAN_PRICES.get(declared.key) or declared.plan.price_label)


def price_id(declared: Provider) -> str:
    """Stripe's price of the provider's plan: STRIPE_PRICE_<KEY> when set, else the default."""
    assert declared.plan is not None, f"{declared.key} is sold by no plan"
    return str(settings.STRIPE_PRICES.get(declared.key) or declared.plan.default_price_id)


class _Placeholders(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"
