"""The product's main job over real HTTP: the HubSpot and accounting sandboxes, the product's
live server and real Celery worker processes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from accounts.models import Tenant
from billing.models import Subscription
from sandbox.core import RunningSandbox, VendorSandbox, serve
from sandbox.hubspot.app import HubSpotSandbox
from sync.models import Transfer
from sync.services import events, transfers
from tests.factories import ConnectionFactory, TenantFactory

PORTAL = 4711


@dataclass
class World:
    hubspot: RunningSandbox
    accounting: RunningSandbox
    tenant: Tenant
    system: str

    @property
    def hubspot_sandbox(self) -> HubSpotSandbox:
        return self.hubspot.sandbox  # type: ignore[return-value]

    def vendor_urls(self) -> dict[str, str]:
        return {"hubspot": self.hubspot.url, self.system: self.accounting_api_url}

    @property
    def accounting_api_url(self) -> str:
        return self.accounting.url + {"sevdesk": "/api/v1", "eaccounting": "/v2"}.get(
            self.system, ""
        )

    def won_deal(self, name: str = "Website Relaunch", **extra: Any) -> str:
        deal_id = self.hubspot_sandbox.seed_deal(
            PORTAL,
            name=name,
            stage="contractsent",
            company={
                "name": "Beispiel GmbH",
                "domain": "beispiel.de",
                "address": "Hauptstraße 5",
                "zip": "10115",
                "city": "Berlin",
                "country": "Germany",
            },
            contact={"firstname": "Anna", "lastname": "Muster", "email": "anna@beispiel.de"},
            line_items=[
                {"name": "Konzeption", "quantity": "2", "price": "450.00"},
                {"name": "Design", "quantity": "1", "price": "1200.00"},
                {"name": "Umsetzung", "quantity": "10", "price": "95.50"},
            ],
            **extra,
        )
        self.hubspot_sandbox.move_deal(PORTAL, deal_id, "closedwon")
        return deal_id


def run_here(world: World, kind: str, object_id: str, object_type: str = "deal") -> Transfer:
    """The transfer of a HubSpot record, requested as its event would request it and run in
    this process as a worker would; returned as stored afterwards."""
    transfer, _ = events.transfer_request(
        tenant=world.tenant, kind=kind, object_type=object_type, object_id=object_id
    )
    transfers.run_transfer(str(transfer.pk), enqueue=lambda *a, **k: None, paced=True)
    transfer.refresh_from_db()
    return transfer


def accounting_sandbox(system: str) -> tuple[VendorSandbox, dict[str, str]]:
    """The accounting sandbox and the credentials a connection to it holds."""
    if system == "lexoffice":
        from sandbox.lexoffice.app import LexofficeSandbox

        return LexofficeSandbox(api_keys={"lx-e2e-key": "Beispiel Buchhaltung"}), {
            "api_key": "lx-e2e-key"
        }
    if system == "bexio":
        from sandbox.bexio.app import BexioSandbox

        bexio = BexioSandbox()
        bexio.add_company(name="Beispiel AG", personal_access_token="bexio-e2e-token")
        return bexio, {"access_token": "bexio-e2e-token"}
    if system == "sevdesk":
        from sandbox.sevdesk.app import SevdeskSandbox

        sevdesk = SevdeskSandbox()
        token = "0123456789abcdef0123456789abcdef"
        return sevdesk, {"api_token": token}
    if system == "eaccounting":
        from sandbox.eaccounting.app import DEFAULT_SCOPE, DEMO_COMPANY, EAccountingSandbox
        from sandbox.oauth_server import Grant

        eaccounting = EAccountingSandbox()
        # The demo company's consent, as an access token known before the sandbox starts.
        eaccounting.oauth.access_tokens["eaccounting-e2e-token"] = Grant(
            DEMO_COMPANY, DEFAULT_SCOPE, client_id="apiup-sandbox-client"
        )
        return eaccounting, {"access_token": "eaccounting-e2e-token"}
    from sandbox.qonto.app import QontoSandbox

    return QontoSandbox(), {"login": "apiup-demo", "secret_key": "apiup-sandbox-secret-key"}


@pytest.fixture
def world_factory(live_server, settings) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    started: list[RunningSandbox] = []

    def build(
        system: str = "lexoffice", subscriptions: list[str] | None = None, **hubspot_options: Any
    ) -> World:
        hubspot = serve(
            HubSpotSandbox(
                client_id=settings.HUBSPOT_CLIENT_ID,
                client_secret=settings.HUBSPOT_CLIENT_SECRET,
                webhook_target_url=f"{live_server.url}/webhooks/hubspot",
                webhook_subscriptions=(
                    subscriptions
                    if subscriptions is not None
                    else [
                        "deal.propertyChange",
                        "deal.creation",
                        "contact.creation",
                        "contact.propertyChange",
                        "company.creation",
                        "company.propertyChange",
                        "contact.deletion",
                    ]
                ),
                webhook_retry_base_delay=0.5,
                **hubspot_options,
            )
        )
        vendor, credentials = accounting_sandbox(system)
        accounting = serve(vendor)
        started.extend([hubspot, accounting])
        tenant = TenantFactory(country="CH" if system == "bexio" else "DE")
        token = hubspot.sandbox.issue_token(PORTAL)  # type: ignore[attr-defined]
        ConnectionFactory(
            tenant=tenant,
            system="hubspot",
            external_account_id=str(PORTAL),
            account_name="Beispiel GmbH",
            credentials={
                "access_token": token,
                "refresh_token": "",
                "expires_at": time.time() + 1800,
            },
        )
        ConnectionFactory(tenant=tenant, system=system, credentials=credentials)
        Subscription.objects.create(tenant=tenant, plan=system, status=Subscription.Status.ACTIVE)
        world = World(hubspot=hubspot, accounting=accounting, tenant=tenant, system=system)
        # The product in this process (live server) talks to the same sandboxes.
        settings.VENDOR_API_URLS = {
            **settings.VENDOR_API_URLS,
            "hubspot": hubspot.url,
            system: world.accounting_api_url,
        }
        return world

    yield build
    for handle in started:
        if isinstance(handle.sandbox, HubSpotSandbox):
            handle.sandbox.webhooks.stop()
        handle.stop()


@pytest.fixture
def every_tenant_pays() -> Iterator[None]:
    """Every tenant made during the test has a paid subscription, for the system it connects
    (lexware office until it connects one): for tests of work that only a paying tenant's
    workers do (billing.selectors.may_transfer)."""
    from django.db.models.signals import post_save

    from connectors.models import Connection
    from connectors.providers import Kind
    from connectors.registry import provider

    def subscribe(*, instance: Tenant, created: bool, raw: bool = False, **_: Any) -> None:
        if created and not raw:
            Subscription.objects.get_or_create(
                tenant=instance,
                kind=Subscription.Kind.ACCOUNTING,
                defaults={"plan": "lexoffice", "status": Subscription.Status.ACTIVE},
            )

    def pay_for(*, instance: Connection, created: bool, raw: bool = False, **_: Any) -> None:
        if not created or raw:
            return
        try:
            declared = provider(instance.system)
        except KeyError:
            return
        if declared.kind is Kind.CRM:
            return
        kind = (
            Subscription.Kind.ACCOUNTING
            if declared.kind is Kind.ACCOUNTING
            else Subscription.Kind.TIME_TRACKING
        )
        Subscription.objects.update_or_create(
            tenant=instance.tenant,
            kind=kind,
            defaults={"plan": instance.system, "status": Subscription.Status.ACTIVE},
        )

    post_save.connect(subscribe, sender=Tenant, dispatch_uid="tests.every_tenant_pays")
    post_save.connect(pay_for, sender=Connection, dispatch_uid="tests.every_tenant_pays_for")
    try:
        yield
    finally:
        post_save.disconnect(sender=Tenant, dispatch_uid="tests.every_tenant_pays")
        post_save.disconnect(sender=Connection, dispatch_uid="tests.every_tenant_pays_for")
