"""HubSpot to ZEP over real HTTP: HubSpot sandbox webhooks, the product's live server, a real
Celery worker process and the ZEP sandbox (REST and SOAP). The rules are those of ZEP's own
HubSpot module (reference 002)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from accounts.models import Tenant
from billing.models import Subscription
from billing.signals import subscription_activated
from sandbox.core import RunningSandbox, serve
from sandbox.hubspot.app import HubSpotSandbox
from sandbox.lexoffice.app import LexofficeSandbox
from sandbox.zep.app import ZepSandbox
from sync.models import ImportJob, ObjectLink, Transfer
from sync.services import zep
from sync.services.transfer_settings import transfer_settings_update
from sync.tasks import enqueue_import, enqueue_transfer
from tests.factories import ConnectionFactory, TenantFactory
from tests.processes import celery_worker, wait_until

PORTAL = 4711
INSTANCE = "beispiel"
TOKENS = ("zep-rest-e2e", "zep-soap-e2e")
SUBSCRIPTIONS = [
    "deal.propertyChange",
    "deal.creation",
    "contact.creation",
    "contact.propertyChange",
    "company.creation",
    "company.propertyChange",
]
pytestmark = pytest.mark.django_db(transaction=True)


@dataclass
class ZepWorld:
    hubspot: RunningSandbox
    zep: RunningSandbox
    tenant: Tenant

    @property
    def crm(self) -> HubSpotSandbox:
        return self.hubspot.sandbox  # type: ignore[return-value]

    @property
    def time_tracking(self) -> ZepSandbox:
        return self.zep.sandbox  # type: ignore[return-value]

    books: RunningSandbox | None = None  # an accounting system beside ZEP

    def vendor_urls(self) -> dict[str, str]:
        urls = {"hubspot": self.hubspot.url, "zep": self.zep.url + "/{instance}/next/api/v1"}
        if self.books is not None:
            urls["lexoffice"] = self.books.url
        return urls

    def customers(self) -> list[dict[str, Any]]:
        return [r for _, r in self.time_tracking.store.everything("customers")]

    def projects(self) -> list[dict[str, Any]]:
        return [r for _, r in self.time_tracking.store.everything("projects")]

    def deal(
        self, *, name: str = "Website relaunch", zep: str = "", stage: str = "qualifiedtobuy",
        line_items: tuple[dict[str, str], ...] = (),
    ) -> str:  # fmt: skip
        company = {"name": "Beispiel Consulting GmbH", "domain": "beispiel.de", "phone": "+49 30 1",
                   "address": "Hauptstraße 5", "zip": "10115", "city": "Berlin",
                   "country": "Germany"}  # fmt: skip
        if zep:
            company["ZEP"] = zep
        return self.crm.seed_deal(
            PORTAL,
            name=name,
            stage=stage,
            company=company,
            contact={"firstname": "Anna", "lastname": "Muster", "email": "anna@beispiel.de"},
            line_items=line_items,
        )

    def company_of(self, deal_id: str) -> str:
        (company_id,) = self.crm.linked(PORTAL, "deals", deal_id, "companies")
        return str(company_id)


@pytest.fixture
def zep_world(live_server, settings) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    started: list[RunningSandbox] = []

    def build(
        stage_ids: str, *, accounting: bool = False, subscriptions: list[str] = SUBSCRIPTIONS
    ) -> ZepWorld:
        """With `accounting`, the tenant has two plans: lexware office, connected beside ZEP."""
        hubspot = serve(
            HubSpotSandbox(
                client_id=settings.HUBSPOT_CLIENT_ID,
                client_secret=settings.HUBSPOT_CLIENT_SECRET,
                webhook_target_url=f"{live_server.url}/webhooks/hubspot",
                webhook_subscriptions=subscriptions,
                webhook_retry_base_delay=0.5,
            )
        )
        zep = serve(ZepSandbox(instances={INSTANCE: TOKENS}, contract=True))
        started.extend([hubspot, zep])
        tenant = TenantFactory(country="DE")
        token = hubspot.sandbox.issue_token(PORTAL)  # type: ignore[attr-defined]
        ConnectionFactory(
            tenant=tenant,
            system="hubspot",
            external_account_id=str(PORTAL),
            account_name="Beispiel Consulting GmbH",
            credentials={
                "access_token": token,
                "refresh_token": "",
                "expires_at": time.time() + 1800,
            },
        )
        ConnectionFactory(
            tenant=tenant,
            system="zep",
            external_account_id=INSTANCE,
            credentials={"instance": INSTANCE, "api_token": TOKENS[0], "soap_token": TOKENS[1]},
        )
        world = ZepWorld(hubspot=hubspot, zep=zep, tenant=tenant)
        Subscription.objects.create(
            tenant=tenant,
            plan="zep",
            kind=Subscription.Kind.TIME_TRACKING,
            status=Subscription.Status.ACTIVE,
        )
        if accounting:
            world.books = serve(LexofficeSandbox(api_keys={"lx-zep-key": "Beispiel Buchhaltung"}))
            started.append(world.books)
            ConnectionFactory(
                tenant=tenant, system="lexoffice", credentials={"api_key": "lx-zep-key"}
            )
            Subscription.objects.create(
                tenant=tenant, plan="lexoffice", status=Subscription.Status.ACTIVE
            )
        transfer_settings_update(tenant=tenant, project_stage_ids=stage_ids)
        settings.VENDOR_API_URLS = {**settings.VENDOR_API_URLS, **world.vendor_urls()}
        return world

    yield build
    for handle in started:
        if isinstance(handle.sandbox, HubSpotSandbox):
            handle.sandbox.webhooks.stop()
        handle.stop()
        if isinstance(handle.sandbox, ZepSandbox):
            assert handle.sandbox.contract is not None
            assert handle.sandbox.contract.violations == []


def _settled(kind: str, object_id: str) -> bool:
    return (
        Transfer.objects.filter(kind=kind, object_id=object_id)
        .exclude(state__in=Transfer.ACTIVE_STATES)
        .exists()
    )


def _transfer(kind: str, object_id: str) -> Transfer:
    return Transfer.objects.get(kind=kind, object_id=object_id)


def test_a_deal_in_a_chosen_stage_becomes_a_project_of_its_company(zep_world) -> None:  # type: ignore[no-untyped-def]
    world: ZepWorld = zep_world("contractsent, closedwon")
    with celery_worker(vendor_urls=world.vendor_urls()):
        started = time.monotonic()
        deal_id = world.deal()
        world.crm.move_deal(PORTAL, deal_id, "contractsent")
        wait_until(lambda: bool(world.projects()), timeout=60)
        latency = time.monotonic() - started
        company_id = world.company_of(deal_id)
        wait_until(lambda: _settled(Transfer.Kind.TIME_CUSTOMER, company_id), timeout=30)

    (customer,) = world.customers()
    (project,) = world.projects()
    assert customer["customer_number"] == company_id
    assert (customer["name"], customer["website"]) == (
        "Beispiel Consulting GmbH",
        "https://beispiel.de",
    )
    assert [a["city"] for a in customer["addresses"]] == ["Berlin"]
    assert [(c["vorname"], c["name"]) for c in customer["contacts"]] == [("Anna", "Muster")]
    assert (project["name"], project["description"]) == (deal_id, "Website relaunch")
    assert project["customer_id"] == customer["id"]
    transfer = _transfer(Transfer.Kind.PROJECT, deal_id)
    assert (transfer.state, transfer.system, transfer.vendor_id) == (
        Transfer.State.DONE, "zep", str(project["id"]),
    )  # fmt: skip
    print(f"\nwebhook to ZEP project: {latency:.2f} s")


@pytest.mark.parametrize("value", ["no", "Nein", "NO"])
def test_a_company_marked_no_or_nein_is_not_transferred(zep_world, value: str) -> None:  # type: ignore[no-untyped-def]
    world: ZepWorld = zep_world("all")
    with celery_worker(vendor_urls=world.vendor_urls()):
        deal_id = world.deal(zep=value)
        company_id = world.company_of(deal_id)
        wait_until(lambda: _settled(Transfer.Kind.TIME_CUSTOMER, company_id), timeout=60)
        world.crm.move_deal(PORTAL, deal_id, "closedwon")
        wait_until(lambda: _settled(Transfer.Kind.PROJECT, deal_id), timeout=60)
    assert world.customers() == []
    assert world.projects() == []
    assert _transfer(Transfer.Kind.TIME_CUSTOMER, company_id).state == Transfer.State.SKIPPED


def test_without_chosen_stages_no_deal_becomes_a_project(zep_world) -> None:  # type: ignore[no-untyped-def]
    world: ZepWorld = zep_world("")
    with celery_worker(vendor_urls=world.vendor_urls()):
        deal_id = world.deal()
        company_id = world.company_of(deal_id)
        world.crm.move_deal(PORTAL, deal_id, "closedwon")
        wait_until(lambda: _settled(Transfer.Kind.TIME_CUSTOMER, company_id), timeout=60)
        time.sleep(2)  # the stage change had its chance
    assert len(world.customers()) == 1
    assert world.projects() == []
    assert not Transfer.objects.filter(kind=Transfer.Kind.PROJECT).exists()


def test_a_deal_leaving_the_stages_keeps_its_project_unchanged(zep_world) -> None:  # type: ignore[no-untyped-def]
    world: ZepWorld = zep_world("contractsent")
    with celery_worker(vendor_urls=world.vendor_urls()):
        deal_id = world.deal()
        world.crm.move_deal(PORTAL, deal_id, "contractsent")
        wait_until(lambda: bool(world.projects()), timeout=60)
        wait_until(lambda: _settled(Transfer.Kind.PROJECT, deal_id), timeout=30)
        world.crm.move_deal(PORTAL, deal_id, "closedlost")
        world.crm.update_object(PORTAL, "deals", deal_id, {"dealname": "Renamed"}, "CRM_UI")
        wait_until(
            lambda: _transfer(Transfer.Kind.PROJECT, deal_id).state == Transfer.State.SKIPPED,
            timeout=60,
        )
    (project,) = world.projects()
    assert project["description"] == "Website relaunch"


def test_a_customer_number_changed_in_zep_keeps_the_link(zep_world) -> None:  # type: ignore[no-untyped-def]
    world: ZepWorld = zep_world("all")
    with celery_worker(vendor_urls=world.vendor_urls()):
        deal_id = world.deal()
        company_id = world.company_of(deal_id)
        wait_until(lambda: len(world.customers()) == 1, timeout=60)
        wait_until(lambda: _settled(Transfer.Kind.TIME_CUSTOMER, company_id), timeout=30)
        world.time_tracking.renumber_customer(INSTANCE, company_id, "K-1000")
        world.crm.update_object(PORTAL, "companies", company_id, {"name": "Beispiel AG"}, "CRM_UI")
        wait_until(lambda: world.customers()[0]["name"] == "Beispiel AG", timeout=60)
    (customer,) = world.customers()
    assert customer["customer_number"] == "K-1000"
    link = ObjectLink.objects.get(system="zep", object_type="company", object_id=company_id)
    assert (link.vendor_id, link.vendor_number) == (str(customer["id"]), "K-1000")


def test_dropped_answers_leave_one_customer_per_company_and_one_project_per_deal(zep_world) -> None:  # type: ignore[no-untyped-def]
    world: ZepWorld = zep_world("closedwon")
    world.time_tracking.faults.update({"drop_after_commit_rate": 1.0})
    with celery_worker(vendor_urls=world.vendor_urls()):
        deal_id = world.deal()
        world.crm.move_deal(PORTAL, deal_id, "closedwon")
        wait_until(lambda: bool(world.projects()), timeout=60)
        world.time_tracking.faults.update({"drop_after_commit_rate": 0.0})
        # HubSpot delivers at least once: the same change again.
        world.crm.move_deal(PORTAL, deal_id, "contractsent")
        world.crm.move_deal(PORTAL, deal_id, "closedwon")
        wait_until(
            lambda: _transfer(Transfer.Kind.PROJECT, deal_id).state == Transfer.State.DONE,
            timeout=90,
        )
    assert len(world.customers()) == 1
    assert len(world.projects()) == 1


def test_unlinking_stops_updates_and_relinking_resumes_them(zep_world) -> None:  # type: ignore[no-untyped-def]
    world: ZepWorld = zep_world("closedwon")
    tenant = world.tenant
    with celery_worker(vendor_urls=world.vendor_urls()):
        deal_id = world.deal()
        company_id = world.company_of(deal_id)
        wait_until(lambda: len(world.customers()) == 1, timeout=60)
        wait_until(lambda: _settled(Transfer.Kind.TIME_CUSTOMER, company_id), timeout=30)

        assert zep.link_unlink(tenant=tenant, object_type="company", object_id=company_id)
        world.crm.update_object(PORTAL, "companies", company_id, {"name": "Beispiel AG"}, "CRM_UI")
        wait_until(
            lambda: (
                _transfer(Transfer.Kind.TIME_CUSTOMER, company_id).error_message
                == {"code": "link.unlinked", "params": {}}
            ),
            timeout=60,
        )
        assert world.customers()[0]["name"] == "Beispiel Consulting GmbH"

        zep.link_relink(
            tenant=tenant, object_type="company", object_id=company_id, enqueue=enqueue_transfer
        )
        wait_until(lambda: world.customers()[0]["name"] == "Beispiel AG", timeout=60)

        # A project made by hand in ZEP, linked to the deal by hand: it is the deal's from now.
        customer = world.customers()[0]
        hand_made = world.time_tracking.store.create(
            "projects",
            INSTANCE,
            {"name": "P-HAND", "description": "x", "customer_id": customer["id"]},
        )
        zep.link_relink(
            tenant=tenant, object_type="deal", object_id=deal_id, enqueue=enqueue_transfer,
            vendor_id=str(hand_made["id"]), vendor_number="P-HAND",
        )  # fmt: skip
        world.crm.move_deal(PORTAL, deal_id, "closedwon")
        wait_until(
            lambda: (
                world.time_tracking.store.get("projects", INSTANCE, hand_made["id"])["description"]
                == "Website relaunch"
            ),
            timeout=60,
        )
    assert [p["name"] for p in world.projects()] == ["P-HAND"]
    rows = zep.links_csv(zep.links_list(tenant=tenant, search="P-HAND")).splitlines()
    assert rows == [
        "hubspot_object,hubspot_id,zep_id,zep_number,synchronised",
        f"deal,{deal_id},{hand_made['id']},P-HAND,yes",
    ]


def test_a_won_deal_reaches_both_the_accounting_system_and_zep(zep_world) -> None:  # type: ignore[no-untyped-def]
    world: ZepWorld = zep_world("closedwon", accounting=True)
    with celery_worker(vendor_urls=world.vendor_urls()):
        deal_id = world.deal(line_items=({"name": "Beratung", "quantity": "8", "price": "120"},))
        world.crm.move_deal(PORTAL, deal_id, "closedwon")
        wait_until(lambda: _settled(Transfer.Kind.QUOTE, deal_id), timeout=60)
        wait_until(
            lambda: _transfer(Transfer.Kind.PROJECT, deal_id).state == Transfer.State.DONE,
            timeout=60,
        )
        time.sleep(2)  # the quote's link written back to the deal asks nothing of ZEP
    assert world.books is not None
    quotes = world.books.sandbox.quotations  # type: ignore[attr-defined]
    assert len(quotes) == 1
    assert _transfer(Transfer.Kind.QUOTE, deal_id).system == "lexoffice"
    (project,) = world.projects()
    (customer,) = world.customers()
    assert project["name"] == deal_id
    assert customer["customer_number"] == world.company_of(deal_id)
    assert project["customer_id"] == customer["id"]
    assert _transfer(Transfer.Kind.PROJECT, deal_id).state == Transfer.State.DONE


@pytest.mark.parametrize("cancelled", ["zep", "lexoffice"])
def test_cancelling_one_of_two_plans_stops_only_that_systems_flows(
    zep_world,  # type: ignore[no-untyped-def]
    cancelled: str,
) -> None:
    world: ZepWorld = zep_world("closedwon", accounting=True)
    Subscription.objects.filter(tenant=world.tenant, plan=cancelled).update(
        status=Subscription.Status.CANCELED
    )
    assert world.books is not None
    quotes = world.books.sandbox.quotations  # type: ignore[attr-defined]
    held_kind, going_kind = (
        (Transfer.Kind.PROJECT, Transfer.Kind.QUOTE)
        if cancelled == "zep"
        else (Transfer.Kind.QUOTE, Transfer.Kind.PROJECT)
    )
    with celery_worker(vendor_urls=world.vendor_urls()):
        deal_id = world.deal(line_items=({"name": "Beratung", "quantity": "8", "price": "120"},))
        world.crm.move_deal(PORTAL, deal_id, "closedwon")
        wait_until(lambda: _settled(going_kind, deal_id), timeout=60)
        time.sleep(3)  # time enough for the held system's transfer, were it not held
        held = _transfer(held_kind, deal_id)

        # Paid again: the held transfer is done, nothing of the other system twice.
        Subscription.objects.filter(tenant=world.tenant, plan=cancelled).update(
            status=Subscription.Status.ACTIVE
        )
        subscription_activated.send(sender=Subscription, tenant=world.tenant)
        wait_until(lambda: _settled(held_kind, deal_id), timeout=60)

    assert _transfer(going_kind, deal_id).state == Transfer.State.DONE
    assert (held.state, held.attempts) == (Transfer.State.PENDING, 0)
    assert held.system == cancelled
    assert _transfer(held_kind, deal_id).state == Transfer.State.DONE
    assert len(quotes) == 1
    assert [p["name"] for p in world.projects()] == [deal_id]


def test_the_initial_import_brings_every_company_and_the_deals_in_the_stages(zep_world) -> None:  # type: ignore[no-untyped-def]
    world: ZepWorld = zep_world("closedwon", subscriptions=[])  # no webhooks: only the import
    won = world.deal(name="Wartung", stage="closedwon")
    world.deal(name="Offen", stage="qualifiedtobuy")
    world.deal(name="Ausgeschlossen", stage="closedwon", zep="Nein")
    with celery_worker(vendor_urls=world.vendor_urls()):
        jobs = zep.import_start(tenant=world.tenant, enqueue=enqueue_import)
        wait_until(
            lambda: all(
                ImportJob.objects.get(pk=job.pk).state == ImportJob.State.DONE for job in jobs
            ),
            timeout=120,
        )
    assert sorted(job.object_type for job in jobs) == ["company", "deal"]
    assert [ImportJob.objects.get(pk=job.pk).processed for job in jobs] == [3, 3]
    assert len(world.customers()) == 2  # the third company says "Nein"
    assert [(p["name"], p["description"]) for p in world.projects()] == [(won, "Wartung")]


def test_a_worker_killed_in_the_middle_leaves_one_customer_and_one_project(zep_world) -> None:  # type: ignore[no-untyped-def]
    world: ZepWorld = zep_world("closedwon")
    # Slow answers, so the kill lands while the project's transfer is under way.
    world.time_tracking.faults.update({"latency_ms": 1500})
    quick_resume = {
        "TRANSFER_LEASE_SECONDS": "3",
        "TRANSFER_RESUME_AFTER_SECONDS": "1",
        "TRANSFER_RESUME_INTERVAL_SECONDS": "1",
    }
    with celery_worker(vendor_urls=world.vendor_urls(), env=quick_resume) as worker:
        deal_id = world.deal()
        world.crm.move_deal(PORTAL, deal_id, "closedwon")
        wait_until(
            lambda: Transfer.objects.filter(
                kind=Transfer.Kind.PROJECT, object_id=deal_id, lease_until__isnull=False
            ).exists(),
            timeout=60,
            interval=0.02,
        )
        time.sleep(2)  # inside its calls to ZEP
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
    world.time_tracking.faults.update({"latency_ms": 0})

    with celery_worker(vendor_urls=world.vendor_urls(), beat=True, env=quick_resume):
        wait_until(
            lambda: _transfer(Transfer.Kind.PROJECT, deal_id).state == Transfer.State.DONE,
            timeout=90,
        )
        wait_until(
            lambda: _settled(Transfer.Kind.TIME_CUSTOMER, world.company_of(deal_id)), timeout=60
        )
    assert len(world.customers()) == 1
    assert len(world.projects()) == 1
