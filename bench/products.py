"""The product mix of the fault runs (`bench/faults.py --products`): products by SKU in both
directions on lexware office, under the faults of the document runs.

Half the tenants let lexware office lead: their articles are seeded there and the catalogue
import (the products page's button) brings them to HubSpot, paged and batched. The other half
let HubSpot lead: products are created in their portals, and HubSpot's product webhooks bring
each to lexware office. The runs add duplicate webhook deliveries, answers dropped after the
vendor committed (both sandboxes), or a worker pool process SIGKILLed every 10 s.

The tally reads both sandboxes. Pass: every seeded SKU exactly once on each side of its
tenant, one transfer per SKU, none failed.
"""

from __future__ import annotations

import argparse
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from bench.common import QUICK_RESUME, TenantHandle, Vendors, wait_for

PRODUCT_RUNS = ["baseline", "duplicates", "drop-after-commit", "sigkill"]
PRODUCT_EVENTS = ["product.creation", "product.propertyChange"]


@dataclass
class ProductTally:
    skus: int = 0  # seeded, over every tenant
    missing: int = 0  # SKUs one side lacks
    duplicated: int = 0  # SKUs one side holds more than once
    failed: int = 0  # product transfers that ended failed
    seconds: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def passed(self) -> bool:
        return self.skus > 0 and not (self.missing or self.duplicated or self.failed)

    def line(self, name: str) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        rate = self.skus / self.seconds if self.seconds else 0.0
        return (
            f"{name:<18} {verdict}  {self.skus} SKUs in {self.seconds:.1f} s "
            f"({rate:.1f}/s): missing {self.missing}, duplicated {self.duplicated}, "
            f"failed {self.failed}"
        )


def _leads(index: int) -> str:
    return "to_hubspot" if index % 2 == 0 else "to_accounting"


def _skus(handle: TenantHandle, count: int) -> list[str]:
    return [f"P{handle.portal_id}-{n:05d}" for n in range(1, count + 1)]  # as seed() numbers


def start_products(vendors: Vendors, *, per_tenant: int) -> None:
    """Directions set, articles seeded in lexware office and the import started for the
    tenants it leads; products created in HubSpot (each sends its webhook) for the others."""
    from accounts.models import Tenant
    from sandbox.lexoffice import articles
    from sync import tasks
    from sync.services import products
    from sync.services.transfer_settings import transfer_settings_update

    for index, handle in enumerate(vendors.tenants):
        tenant = Tenant.objects.get(pk=handle.tenant_id)
        transfer_settings_update(tenant=tenant, product_direction=_leads(index))
        if _leads(index) == "to_hubspot":
            articles.seed(
                vendors.accounting.sandbox,
                handle.api_key,
                per_tenant,
                prefix=f"P{handle.portal_id}",
            )
            products.products_import_start(tenant=tenant, enqueue=tasks.enqueue_import)
    hubspot = vendors.hubspot.sandbox
    for index, handle in enumerate(vendors.tenants):
        if _leads(index) == "to_accounting":
            for sku in _skus(handle, per_tenant):
                properties = {"hs_sku": sku, "name": f"Produkt {sku}", "price": "12.5"}
                hubspot.create_object(handle.portal_id, "products", properties, "CRM_UI")


def settled(vendors: Vendors, *, per_tenant: int) -> bool:
    """Every import done and every SKU's transfer without work left."""
    from sync.models import ImportJob, Transfer

    tenant_ids = [h.tenant_id for h in vendors.tenants]
    imports = ImportJob.objects.filter(tenant_id__in=tenant_ids, object_type="product")
    if imports.exclude(state__in=[ImportJob.State.DONE, ImportJob.State.FAILED]).exists():
        return False
    rows = Transfer.objects.filter(tenant_id__in=tenant_ids, kind=Transfer.Kind.PRODUCT)
    if rows.filter(state__in=Transfer.ACTIVE_STATES).exists():
        return False
    return rows.count() >= per_tenant * len(tenant_ids)


def product_tally(vendors: Vendors, *, per_tenant: int, seconds: float) -> ProductTally:
    from sync.models import Transfer

    tally = ProductTally(seconds=seconds)
    hubspot = vendors.hubspot.sandbox.store
    lexoffice = vendors.accounting.sandbox
    for handle in vendors.tenants:
        in_hubspot = Counter(
            record["properties"].get("hs_sku")
            for record in hubspot.select("products", str(handle.portal_id))
            if not record["archived"]
        )
        owner = lexoffice.organizations[handle.api_key].organization_id
        in_lexoffice = Counter(
            record.get("articleNumber") for record in lexoffice.store.select("articles", owner)
        )
        for sku in _skus(handle, per_tenant):
            tally.skus += 1
            counts = (in_hubspot[sku], in_lexoffice[sku])
            tally.missing += counts.count(0)
            tally.duplicated += sum(1 for count in counts if count > 1)
    failed = Transfer.objects.filter(
        tenant_id__in=[h.tenant_id for h in vendors.tenants],
        kind=Transfer.Kind.PRODUCT,
        state=Transfer.State.FAILED,
    )
    tally.failed = failed.count()
    tally.errors.update(error[:120] for error in failed.values_list("error", flat=True))
    return tally


# A vendor's record id in a path (a UUID, or digits), for counting calls by endpoint.
_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f-]{27}|\d+")


def run_products(name: str, running: Any, options: Any, *, per_tenant: int) -> ProductTally:
    from bench.common import world
    from bench.documents import disconnect
    from bench.faults import Killer, _keys_port, deliver_three_times

    with world(
        running,
        tenants=options.tenants,
        workers=options.workers,
        first_portal=options.first_portal,
        worker_env=QUICK_RESUME,
        accounting="lexoffice",
        accounting_port=_keys_port(running),
        subscriptions=PRODUCT_EVENTS,
    ) as (vendors, pool):
        try:
            if name == "duplicates":
                deliver_three_times(vendors)
            if name == "drop-after-commit":
                for vendor in (vendors.hubspot, vendors.accounting):
                    vendor.sandbox.faults.update({"drop_after_commit_rate": 0.05})
            killer = Killer(pool, every=10.0) if name == "sigkill" else None
            if killer is not None:
                killer.start()
            started = time.monotonic()
            start_products(vendors, per_tenant=per_tenant)
            finished = wait_for(
                lambda: settled(vendors, per_tenant=per_tenant), timeout=options.timeout
            )
            seconds = time.monotonic() - started
            if killer is not None:
                killer.stop()
            for vendor in (vendors.hubspot, vendors.accounting):
                vendor.sandbox.faults.update({"drop_after_commit_rate": 0.0})
            result = product_tally(vendors, per_tenant=per_tenant, seconds=seconds)
            note = "" if finished else "  (not finished in time)"
            if killer is not None:
                note += f"  ({killer.kills} pool processes killed)"
            print(result.line(name) + note, flush=True)
            for error, count in result.errors.most_common(5):
                print(f"    {count} x {error}")
            for vendor, sandbox in (
                ("hubspot", vendors.hubspot.sandbox),
                ("lexoffice", vendors.accounting.sandbox),
            ):
                calls = Counter(
                    f"{c.status} {c.method} {_ID.sub('{id}', c.path)}" for c in sandbox.api_calls()
                )
                print(f"    {vendor} calls: {dict(calls.most_common())}", flush=True)
            return result
        finally:
            disconnect(vendors)


def products_main(args: argparse.Namespace) -> None:
    from bench.faults import run_mix

    runs = [name for name in args.runs if name in PRODUCT_RUNS] or PRODUCT_RUNS
    per_tenant = max(1, args.deals // max(1, args.tenants))
    run_mix(
        args,
        header=(
            f"product runs: {per_tenant} products for each of {args.tenants} tenants "
            f"(half lexware office leads, half HubSpot), {args.workers} workers"
        ),
        runs=[(name, "lexoffice", partial(run_products, per_tenant=per_tenant)) for name in runs],
        first_portal=9001,
        seconds_per_deal=1.0,
        at_least=180.0,
    )
