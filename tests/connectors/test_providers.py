"""Every provider declaration is complete: what the wizard, billing, the sandbox and the
contract tests derive from it exists, and its customer-facing words are translated."""

from __future__ import annotations

import pytest
from django.utils import translation

from connectors.base import AccountingConnector
from connectors.models import Connection
from connectors.providers import Kind, OAuth2, Provider
from connectors.registry import (
    PROVIDERS,
    accounting_providers,
    connector_class,
    plan_choices,
    price_id,
    system_choices,
    vendor_url,
)
from sandbox.contract import SPECS_DIR
from sandbox.core import VendorSandbox
from sandbox.registry import SANDBOXES, sandbox_class

ACCOUNTING = [p for p in PROVIDERS if p.kind is Kind.ACCOUNTING]


def _translated(text: object, language: str) -> bool:
    with translation.override("en"):
        msgid = str(text)
    catalogue = translation.trans_real.translation(language)
    return bool(catalogue._catalog.get(msgid))  # type: ignore[attr-defined]


def test_keys_are_unique_and_fit_the_model_fields() -> None:
    keys = [p.key for p in PROVIDERS]
    assert len(keys) == len(set(keys))
    field = Connection._meta.get_field("system")
    assert all(len(key) <= field.max_length for key in keys)  # type: ignore[operator]
    assert [key for key, _ in system_choices()] == keys
    assert [key for key, _ in plan_choices()] == [p.key for p in accounting_providers()]


@pytest.mark.parametrize("declared", ACCOUNTING, ids=lambda p: p.key)
def test_an_accounting_system_is_sold_by_a_plan_with_a_price(declared: Provider) -> None:
    assert declared.plan is not None
    assert price_id(declared).startswith("price_")
    assert declared.plan.price_label.strip()
    assert declared.capabilities is not None
    assert declared.calls_budget.get("quote", 0) >= 1


@pytest.mark.parametrize("declared", ACCOUNTING, ids=lambda p: p.key)
def test_an_accounting_system_has_a_connector_bound_to_its_declaration(
    declared: Provider,
) -> None:
    connector = connector_class(declared.key)
    assert issubclass(connector, AccountingConnector)
    assert connector.provider is declared


@pytest.mark.parametrize("declared", PROVIDERS, ids=lambda p: p.key)
def test_every_provider_has_a_sandbox_and_its_spec_files(declared: Provider) -> None:
    assert SANDBOXES[declared.key] == (declared.sandbox.app, declared.sandbox.port)
    stand_in = sandbox_class(declared.key)
    assert issubclass(stand_in, VendorSandbox)
    assert declared.spec_files
    for spec in declared.spec_files:
        assert (SPECS_DIR / spec).is_file(), spec
    # The sandbox validates against files the provider names.
    assert set(stand_in.spec_files) <= set(declared.spec_files)


def test_sandbox_ports_do_not_collide() -> None:
    ports = [port for _, port in SANDBOXES.values()]
    assert len(ports) == len(set(ports))


@pytest.mark.parametrize("declared", PROVIDERS, ids=lambda p: p.key)
def test_the_words_a_customer_reads_are_translated(declared: Provider) -> None:
    texts: list[object] = [declared.description] if declared.is_accounting else []
    for scheme in declared.auth:
        for field in getattr(scheme, "fields", ()):
            texts += [field.label, field.help_text]
    texts.append(declared.manual_revoke_hint)
    for text in texts:
        if str(text):
            assert _translated(text, "de"), str(text)
            assert _translated(text, "fr"), str(text)


@pytest.mark.parametrize("declared", PROVIDERS, ids=lambda p: p.key)
def test_vendor_urls_resolve_from_the_declaration(declared: Provider, settings: object) -> None:
    settings.VENDOR_API_URLS = {}  # type: ignore[attr-defined]
    settings.SANDBOX_VENDORS = False  # type: ignore[attr-defined]
    assert vendor_url(declared).startswith("https://")
    settings.SANDBOX_VENDORS = True  # type: ignore[attr-defined]
    assert vendor_url(declared) == (
        f"http://127.0.0.1:{declared.sandbox.port}{declared.sandbox.api_path}"
    )
    settings.VENDOR_API_URLS = {declared.key: "http://elsewhere:1/"}  # type: ignore[attr-defined]
    assert vendor_url(declared) == "http://elsewhere:1"


def test_a_per_customer_instance_url_takes_the_connections_fields() -> None:
    zep_like = Provider(
        key="instance",
        label="Instance",
        kind=Kind.TIME_TRACKING,
        auth=(),
        hosts={"api": "https://{instance}.example.com/api"},
        sandbox=PROVIDERS[0].sandbox,
        spec_files=(),
    )
    assert vendor_url(zep_like, fields={"instance": "acme"}) == "https://acme.example.com/api"


@pytest.mark.parametrize("declared", PROVIDERS, ids=lambda p: p.key)
def test_where_nothing_can_be_revoked_the_customer_is_told_where_to_remove_access(
    declared: Provider,
) -> None:
    oauth = next((scheme for scheme in declared.auth if isinstance(scheme, OAuth2)), None)
    revocable_only = oauth is not None and oauth.revoke_path and len(declared.auth) == 1
    assert revocable_only or str(declared.manual_revoke_hint), declared.key
