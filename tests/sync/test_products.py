"""Products by SKU over real HTTP: the lexware office and HubSpot sandboxes, the import and
the transfers run here."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.core.cache import cache

from connectors.models import Connection
from sandbox.lexoffice import articles as lexoffice_articles
from sync.models import ImportJob, Transfer
from sync.services import context, feeds, imports, products, transfers
from sync.services.transfer_settings import transfer_settings_update
from tests.sync.conftest import PORTAL, World

pytestmark = pytest.mark.django_db(transaction=True)
API_KEY = "lx-e2e-key"
SEVDESK_TOKEN = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def world(world_factory) -> World:  # type: ignore[no-untyped-def]
    built: World = world_factory("lexoffice", subscriptions=[])
    transfer_settings_update(tenant=built.tenant, product_direction="to_hubspot")
    return built


def _hubspot_products(world: World) -> list[dict[str, Any]]:
    store = world.hubspot_sandbox.store
    return [r["properties"] for _, r in store.everything("products") if not r["archived"]]


def _import(world: World, *, slices: int = 100) -> ImportJob:
    queued: list[str] = []
    job = products.products_import_start(
        tenant=world.tenant, enqueue=lambda job_id, seconds: queued.append(job_id)
    )
    for _ in range(slices):
        imports.import_run(str(job.pk), enqueue=lambda job_id, seconds: None)
        job.refresh_from_db()
        if job.state in (ImportJob.State.DONE, ImportJob.State.FAILED):
            break
    return job


def _seed(world: World, count: int) -> None:
    """`count` articles in the connected account of the world's accounting sandbox."""
    sandbox: Any = world.accounting.sandbox
    if world.system == "lexoffice":
        lexoffice_articles.seed(sandbox, API_KEY, count)
    elif world.system == "bexio":
        sandbox.seed_articles(1, count)  # the world's one company
    else:
        sandbox.seed_articles(SEVDESK_TOKEN, count)


@pytest.mark.parametrize("system", ["lexoffice", "bexio", "sevdesk"])
def test_500_products_are_imported_once_per_sku_also_when_interrupted(
    world_factory: Any, system: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # HubSpot's side is checked against its spec (the accounting sides' own tests check theirs).
    world: World = world_factory(system, subscriptions=[], contract=True)
    transfer_settings_update(tenant=world.tenant, product_direction="to_hubspot")
    _seed(world, 500)
    # Slices end after one chunk of 100: the import is cut off twice and resumes there.
    monkeypatch.setattr(imports, "SLICE_SECONDS", 0.0)
    job = _import(world, slices=2)
    assert job.state == ImportJob.State.RUNNING
    assert job.processed == 200  # the progress the products page shows
    # HubSpot creates the next chunk but its answer is lost: the chunk is repeated.
    world.hubspot_sandbox.faults.drop_after_commit_rate = 1.0
    job = _import(world, slices=1)
    assert job.state == ImportJob.State.RUNNING
    assert job.processed == 200
    assert 200 < len(_hubspot_products(world)) <= 300  # created there, not known here
    world.hubspot_sandbox.faults.drop_after_commit_rate = 0.0
    monkeypatch.setattr(imports, "SLICE_SECONDS", 60.0)
    job = _import(world)

    assert job.state == ImportJob.State.DONE, job.error_text
    assert job.processed == 500
    skus = [p["hs_sku"] for p in _hubspot_products(world)]
    assert len(skus) == 500
    assert len(set(skus)) == 500
    done = Transfer.objects.filter(kind=Transfer.Kind.PRODUCT, state="done")
    assert done.count() == 500
    assert set(done.values_list("vendor_number", flat=True)) == set(skus)
    # A second import finds every product and writes nothing.
    before = len(world.hubspot_sandbox.api_calls(path_prefix="/crm/v3/objects/products"))
    again = _import(world)
    assert again.state == ImportJob.State.DONE
    calls = world.hubspot_sandbox.api_calls(path_prefix="/crm/v3/objects/products")[before:]
    assert {(c.method, c.path) for c in calls} == {("POST", "/crm/v3/objects/products/search")}
    assert len(calls) <= 6  # one look-up per chunk of at most 100 SKUs of a page
    assert len(_hubspot_products(world)) == 500
    assert world.hubspot_sandbox.contract is not None
    assert world.hubspot_sandbox.contract.violations == []


def test_a_price_changed_in_accounting_leaves_an_enriched_description_alone(
    world: World,
) -> None:
    lexoffice_articles.seed(world.accounting.sandbox, API_KEY, 3)  # type: ignore[arg-type]
    _import(world)
    product_id, product = next(
        (record["id"], record["properties"])
        for _, record in world.hubspot_sandbox.store.everything("products")
        if record["properties"]["hs_sku"] == "SKU-00002"
    )
    world.hubspot_sandbox.store.update(
        "products", str(PORTAL), product_id, {"properties": {**product, "description": "Enriched"}}
    )
    store = world.accounting.sandbox.store
    owner, article = next(
        (owner, record)
        for owner, record in store.everything("articles")
        if record["articleNumber"] == "SKU-00002"
    )
    store.update(
        "articles", owner, article["id"],
        {"price": {**article["price"], "netPrice": 99.5}, "description": "Neu"},
    )  # fmt: skip
    connection = Connection.objects.get(tenant=world.tenant, system="lexoffice")
    requested: list[str] = []
    connector = context.accounting_connector(tenant=world.tenant)
    feeds.articles_poll(connection=connection, connector=connector, enqueue=requested.append)

    assert len(requested) == 1  # the one article whose version moved
    transfers.run_transfer(requested[0], enqueue=lambda *a, **k: None, paced=True)

    transfer = Transfer.objects.get(pk=requested[0])
    assert transfer.state == Transfer.State.DONE, transfer.error_text
    changed = world.hubspot_sandbox.store.get("products", str(PORTAL), product_id)["properties"]
    assert Decimal(changed["price"]) == Decimal("99.5")
    assert changed["description"] == "Enriched"  # the settings overwrite the price only


def test_two_articles_with_one_sku_are_reported_not_merged(world: World) -> None:
    sandbox: Any = world.accounting.sandbox
    lexoffice_articles.seed(sandbox, API_KEY, 2, prefix="SAME")
    lexoffice_articles.seed(sandbox, API_KEY, 1, prefix="SAME")  # SAME-00001 twice

    job = _import(world)

    assert job.state == ImportJob.State.DONE
    failed = Transfer.objects.get(kind=Transfer.Kind.PRODUCT, object_id="SAME-00001")
    assert failed.state == Transfer.State.FAILED
    assert "SAME-00001" in failed.error_text
    assert [p["hs_sku"] for p in _hubspot_products(world)].count("SAME-00001") <= 1


def test_a_line_item_whose_sku_is_an_article_becomes_a_position_that_refers_to_it(
    world: World,
) -> None:
    sandbox: Any = world.accounting.sandbox
    lexoffice_articles.seed(sandbox, API_KEY, 1)
    (article,) = [record for _, record in sandbox.store.everything("articles")]
    deal_id = world.hubspot_sandbox.seed_deal(
        PORTAL,
        name="Wartung",
        stage="closedwon",
        company={
            "name": "Beispiel GmbH",
            "address": "Hauptstraße 5",
            "zip": "10115",
            "city": "Berlin",
            "country": "Germany",
        },
        line_items=[
            {"name": "Artikel", "quantity": "2", "price": "11.00", "hs_sku": "SKU-00001"},
            {"name": "Beratung", "quantity": "1", "price": "100.00"},
        ],
    )
    transfer, _ = imports_request(world, deal_id)
    transfers.run_transfer(str(transfer.pk), enqueue=lambda *a, **k: None, paced=True)

    transfer.refresh_from_db()
    assert transfer.state == Transfer.State.DONE, transfer.error_text
    (quotation,) = sandbox.quotations.values()
    first, second = quotation["lineItems"]
    assert first["type"] == "material"
    assert first["id"] == article["id"]
    assert second["type"] == "custom"


def imports_request(world: World, deal_id: str) -> tuple[Transfer, bool]:
    from sync.services.events import transfer_request

    return transfer_request(
        tenant=world.tenant,
        kind=Transfer.Kind.QUOTE,
        object_type=Transfer.ObjectType.DEAL,
        object_id=deal_id,
    )


def test_hubspot_leads_a_product_created_and_deleted_there(world: World) -> None:
    from sync.models import WebhookEvent
    from sync.services import events

    transfer_settings_update(tenant=world.tenant, product_direction="to_accounting")
    product_id = world.hubspot_sandbox.seed_object(
        PORTAL, "products", {"name": "Wartungspaket", "hs_sku": "WP-1", "price": "120"}
    )

    def run(action: str) -> Transfer:
        event = WebhookEvent(
            tenant=world.tenant,
            portal_id=str(PORTAL),
            subscription_type=f"product.{action}",
            object_id=product_id,
            payload={},
        )
        ((kind, object_type, sku),) = events._accounting_routes(event, world.tenant)
        transfer, _ = events.transfer_request(
            tenant=world.tenant, kind=kind, object_type=object_type, object_id=sku
        )
        transfers.run_transfer(str(transfer.pk), enqueue=lambda *a, **k: None, paced=True)
        return Transfer.objects.get(pk=transfer.pk)

    created = run("creation")

    assert created.state == Transfer.State.DONE, created.error_text
    stored = [r for _, r in world.accounting.sandbox.store.everything("articles")]
    assert [(a["articleNumber"], a["title"], a["price"]["netPrice"]) for a in stored] == [
        ("WP-1", "Wartungspaket", 120.0)
    ]

    world.hubspot_sandbox.store.delete("products", str(PORTAL), product_id)
    deleted = run("deletion")

    assert deleted.state == Transfer.State.DONE, deleted.error_text
    assert world.accounting.sandbox.store.everything("articles") == []


def test_a_product_event_whose_read_fails_for_now_waits_and_is_not_lost(world: World) -> None:
    from sync.models import WebhookEvent
    from sync.services import events

    transfer_settings_update(tenant=world.tenant, product_direction="to_accounting")
    product_id = world.hubspot_sandbox.seed_object(
        PORTAL, "products", {"name": "Wartungspaket", "hs_sku": "WP-2", "price": "90"}
    )
    event = WebhookEvent.objects.create(
        tenant=world.tenant,
        portal_id=str(PORTAL),
        subscription_type="product.creation",
        object_id=product_id,
        payload={},
    )
    queued: list[str] = []

    def process() -> None:
        events.events_process(
            tenant_id=str(world.tenant.pk), event_ids=[str(event.pk)], enqueue=queued.append
        )

    world.hubspot_sandbox.faults.update({"down_for_seconds": 60})

    process()

    event.refresh_from_db()
    assert event.state == WebhookEvent.State.RECEIVED  # kept for the resume task
    assert queued == []

    world.hubspot_sandbox.faults.down_until = 0.0
    process()

    event.refresh_from_db()
    assert event.state == WebhookEvent.State.PROCESSED
    assert [Transfer.objects.get(pk=pk).object_id for pk in queued] == ["WP-2"]


def test_a_product_hubspot_search_does_not_show_yet_is_found_by_its_remembered_id(
    world: World,
) -> None:
    from sync.models import WebhookEvent
    from sync.services import events

    world.hubspot_sandbox.search_lag_seconds = 30.0  # nothing new is searchable in this test
    transfer_settings_update(tenant=world.tenant, product_direction="to_accounting")
    product_id = world.hubspot_sandbox.seed_object(
        PORTAL, "products", {"name": "Schulung", "hs_sku": "SCH-1", "price": "450"}
    )
    event = WebhookEvent(
        tenant=world.tenant,
        portal_id=str(PORTAL),
        subscription_type="product.creation",
        object_id=product_id,
        payload={},
    )
    ((kind, object_type, sku),) = events._accounting_routes(event, world.tenant)
    transfer, _ = events.transfer_request(
        tenant=world.tenant, kind=kind, object_type=object_type, object_id=sku
    )
    transfers.run_transfer(str(transfer.pk), enqueue=lambda *a, **k: None, paced=True)

    transfer.refresh_from_db()
    assert transfer.state == Transfer.State.DONE, transfer.error_text
    stored = [r["articleNumber"] for _, r in world.accounting.sandbox.store.everything("articles")]
    assert stored == ["SCH-1"]  # created, not taken for a product deleted in HubSpot


@pytest.mark.parametrize("system", ["lexoffice", "sevdesk"])
def test_an_article_deleted_in_accounting_is_archived_in_hubspot_by_the_hourly_sweep(
    world_factory: Any, system: str
) -> None:
    world: World = world_factory(system, subscriptions=[])
    transfer_settings_update(tenant=world.tenant, product_direction="to_hubspot")
    _seed(world, 3)
    assert _import(world).state == ImportJob.State.DONE
    store = world.accounting.sandbox.store
    resource = "articles" if system == "lexoffice" else "parts"
    owner, gone = next(
        (owner, record)
        for owner, record in store.everything(resource)
        if (record.get("articleNumber") or record.get("partNumber")) == "SKU-00002"
    )
    if system == "lexoffice":
        store.delete(resource, owner, gone["id"])  # lexware office deletes articles
    else:
        store.update(resource, owner, gone["id"], {"status": 50})  # sevDesk archives parts
    connection = Connection.objects.get(tenant=world.tenant, system=system)
    connector = context.accounting_connector(tenant=world.tenant)
    requested: list[str] = []

    def sweep() -> int:
        return feeds.catalogue_sweep(
            connection=connection, connector=connector, enqueue=requested.append
        )

    assert sweep() == 1
    transfers.run_transfer(requested[0], enqueue=lambda *a, **k: None, paced=True)

    assert sorted(p["hs_sku"] for p in _hubspot_products(world)) == ["SKU-00001", "SKU-00003"]
    # A later sweep does not ask again for what it carried.
    cache.delete(f"catalogue-sweep:{connection.pk}")
    assert sweep() == 0
