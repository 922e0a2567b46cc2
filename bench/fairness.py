"""Fairness: one tenant's initial import of its HubSpot contacts against nine other tenants'
won deals, on PostgreSQL + Redis, gunicorn and real Celery worker processes.

    BENCH_DATABASE=apiup_bench_load BENCH_REDIS_URL=redis://127.0.0.1:6379/11 \\
        .venv/bin/python -m bench.fairness [--contacts 10000] [--tenants 9] [--deals 10]
        [--interval 5] [--workers 4] [--import-workers 1] [--watch-import 0]

Ten tenants, all on lexware office (2 requests per second per API key). Nine of them each win
`--deals` deals, one every `--interval` seconds, interleaved with the others. Measured: each
deal's latency from the webhook arriving (its first stored event) to the quote existing in
the vendor (the sandbox's record of the 201 answer), and p50, p95 and max over all of them.
The same load runs twice, each time with fresh worker processes: once alone (baseline) and
once while the tenth tenant's initial import of `--contacts` contacts runs, started as the
product starts it (`sync.services.imports.import_start` with `sync.tasks.enqueue_import`).
The import will not finish (it needs about three vendor calls per contact at 2 per second);
it only has to be running. Its progress during the run is printed. As deployed, imports
have a queue and a worker of their own (`--import-workers`, present in both runs).

Target: p95 with the import <= 1.5 x p95 without it.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections import Counter
from typing import Any

from bench.common import (
    DealRef,
    Stack,
    TenantHandle,
    Vendors,
    percentile,
    quote_latencies,
    seed_deals,
    stack,
    tally,
    wait_for,
    wait_settled,
    win,
    world,
)

TARGET_RATIO = 1.5


# -- the importing tenant ---------------------------------------------------------------------


def seed_contacts(vendors: Vendors, handle: TenantHandle, count: int) -> float:
    """`count` contacts in the tenant's HubSpot portal, each with a unique name and e-mail
    (neither a substring of another, so every lexware office search finds nothing); returns
    the seconds taken. The sandbox emits a contact.creation event per contact, but the app
    subscribes to deal stage changes only, so no webhook is sent (checked by the caller)."""
    hubspot = vendors.hubspot.sandbox
    started = time.monotonic()
    for index in range(count):
        hubspot.seed_object(
            handle.portal_id,
            "contacts",
            {
                "firstname": "Kim",
                "lastname": f"Importkontakt{index:05d}",
                "email": f"kontakt{index:05d}@import{handle.portal_id}.de",
                "city": "Berlin",
                "country": "Germany",
            },
        )
    return time.monotonic() - started


def start_import(handle: TenantHandle) -> None:
    """The product's import start, as its view calls it (the jobs are enqueued on commit)."""
    from django.db import transaction

    from accounts.models import Tenant
    from sync.services.imports import import_start
    from sync.tasks import enqueue_import

    tenant = Tenant.objects.get(pk=handle.tenant_id)
    with transaction.atomic():
        import_start(tenant=tenant, enqueue=enqueue_import)


@dataclasses.dataclass
class ImportProgress:
    job_state: str  # of the contact import job
    processed: int  # ImportJob.processed: contacts of pages finished
    customers: Counter[str]  # customer transfers of the importing tenant, by state
    last_finished: float  # when the newest customer transfer finished (epoch), 0 if none

    def line(self) -> str:
        states = ", ".join(f"{state} {n}" for state, n in sorted(self.customers.items()))
        return (
            f"contact import job {self.job_state}, ImportJob.processed {self.processed}; "
            f"customer transfers: {states or 'none'}"
        )


def import_progress(handle: TenantHandle) -> ImportProgress:
    from django.db.models import Count, Max

    from sync.models import ImportJob, Transfer

    job = (
        ImportJob.objects.filter(
            tenant_id=handle.tenant_id, object_type=Transfer.ObjectType.CONTACT
        )
        .order_by("-created_at")
        .first()
    )
    transfers = Transfer.objects.filter(tenant_id=handle.tenant_id, kind=Transfer.Kind.CUSTOMER)
    by_state = Counter(
        {
            row["state"]: row["n"]
            for row in transfers.values("state").annotate(n=Count("pk")).order_by()
        }
    )
    newest = transfers.aggregate(newest=Max("finished_at"))["newest"]
    return ImportProgress(
        job_state=job.state if job else "missing",
        processed=job.processed if job else 0,
        customers=by_state,
        last_finished=newest.timestamp() if newest else 0.0,
    )


# -- one run -------------------------------------------------------------------------------


@dataclasses.dataclass
class RunResult:
    name: str
    latencies: list[float]
    deals: int
    lines: list[str]

    @property
    def p95(self) -> float:
        return percentile(self.latencies, 0.95)

    def figures(self) -> str:
        return (
            f"{self.name:<16} measured {len(self.latencies):>3} of {self.deals:>3}  "
            f"p50 {percentile(self.latencies, 0.5):6.3f} s  p95 {self.p95:6.3f} s  "
            f"max {max(self.latencies, default=float('nan')):6.3f} s"
        )


def _win_spread(vendors: Vendors, deals: list[DealRef], *, interval: float, tenants: int) -> None:
    """Wins the deals in their (round-robin) order, each tenant one every `interval` seconds,
    so one deal every interval / tenants seconds in all; keeps to the schedule, not to sleeps."""
    step = interval / tenants
    started = time.monotonic()
    for index, deal in enumerate(deals):
        delay = started + index * step - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        win(vendors, [deal])


def one_run(
    running: Stack,
    *,
    with_import: bool,
    contacts: int,
    tenants: int,
    deals_each: int,
    interval: float,
    workers: int,
    import_workers: int,
    first_portal: int,
    watch_import: float,
) -> RunResult:
    name = "with import" if with_import else "without import"
    lines: list[str] = []
    # The importing tenant exists in both runs, so the runs differ only in the import.
    # The import worker runs in both runs too (idle in the first), as deployed.
    with world(
        running,
        tenants=tenants + 1,
        workers=workers,
        import_workers=import_workers,
        first_portal=first_portal,
    ) as (vendors, pool):
        importer, others = vendors.tenants[0], vendors.tenants[1:]
        loaders = dataclasses.replace(vendors, tenants=others)
        if with_import:
            sent_before = len(vendors.hubspot.sandbox.webhooks.snapshot())
            seconds = seed_contacts(vendors, importer, contacts)
            vendors.hubspot.sandbox.webhooks.wait_idle(timeout=5)
            sent = len(vendors.hubspot.sandbox.webhooks.snapshot()) - sent_before
            lines.append(
                f"seeded {contacts} contacts in portal {importer.portal_id} in {seconds:.1f} s; "
                f"webhook deliveries caused by the seeding: {sent}"
            )
        # One warm-up deal per tenant: its customer is created and found from then on, as
        # for a tenant in daily use.
        warm = seed_deals(loaders, len(others), prefix="Warm-up")
        win(loaders, warm)
        if not wait_settled(warm, timeout=90):
            lines.append("warm-up deals did not finish within 90 s")
        batch = seed_deals(loaders, len(others) * deals_each)
        import_started = 0.0
        if with_import:
            import_started = time.time()
            start_import(importer)

            def importing() -> bool:
                progress = import_progress(importer)
                return progress.job_state == "running" and sum(progress.customers.values()) > 0

            if not wait_for(importing, timeout=60, interval=0.5):
                lines.append("the import did not start transferring contacts within 60 s")
            lines.append(
                f"import running {time.time() - import_started:.1f} s before the first deal: "
                + import_progress(importer).line()
            )
        pools_before = pool.pool_pids()
        started = time.time()
        _win_spread(loaders, batch, interval=interval, tenants=len(others))
        finished = wait_settled(batch, timeout=120 + len(batch) * 2)
        ended = time.time()
        result = tally(vendors, batch, seconds=ended - started)
        lines.append(result.line(f"{name} run") + ("" if finished else "  (timed out)"))
        calls = vendors.lexoffice.sandbox.api_calls()
        mine = [c for c in calls if c.at >= started and c.credential != importer.api_key]
        limited = sum(1 for c in mine if c.status == 429)
        lines.append(f"the {len(others)} tenants' vendor calls {len(mine)}, 429 answers {limited}")
        if with_import:
            progress = import_progress(importer)
            theirs = [c for c in calls if c.credential == importer.api_key]
            during = [c for c in theirs if started <= c.at <= ended]
            kinds = Counter(f"{c.method} {c.path} {c.status}" for c in theirs)
            lines.append(f"import after {ended - import_started:.1f} s: {progress.line()}")
            lines.append(
                f"importing tenant's vendor calls: {len(theirs)} since the start, "
                f"{len(during)} while the deals ran ({len(during) / (ended - started):.2f}/s); "
                + ", ".join(f"{n}x {k}" for k, n in kinds.most_common(6))
            )
            quiet = ended - progress.last_finished if progress.last_finished else float("inf")
            lines.append(
                "import transferring until the end of the run: "
                + ("yes" if quiet < 10 else f"NO (last contact finished {quiet:.0f} s before)")
            )
        pools_after = pool.pool_pids()
        if pools_after != pools_before:
            lines.append(f"pool processes changed during the run: {pools_before} -> {pools_after}")
        latencies = quote_latencies(vendors, batch)
        if with_import and watch_import > 0:
            _watch(importer, seconds=watch_import, since=import_started, lines=lines)
    return RunResult(name, list(latencies.values()), len(batch), lines)


def _watch(handle: TenantHandle, *, seconds: float, since: float, lines: list[str]) -> None:
    """Follows the import after the load (a product check: does a slice hand over?)."""
    deadline = time.monotonic() + seconds
    rounds = int(seconds // 15) + 1
    for _ in range(rounds):
        if time.monotonic() >= deadline:
            break
        time.sleep(min(15.0, max(0.0, deadline - time.monotonic())))
        progress = import_progress(handle)
        quiet = time.time() - progress.last_finished if progress.last_finished else -1
        lines.append(
            f"  import at {time.time() - since:6.1f} s: {progress.line()}; "
            f"newest contact finished {quiet:.0f} s ago"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--tenants", type=int, default=9, help="tenants winning deals")
    parser.add_argument("--deals", type=int, default=10, help="deals per tenant")
    parser.add_argument(
        "--interval", type=float, default=5.0, help="seconds between a tenant's deals"
    )
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument(
        "--import-workers",
        type=int,
        default=1,
        help="workers of the imports queue (0: the --workers take imports too)",
    )
    parser.add_argument(
        "--watch-import", type=float, default=0.0,
        help="seconds to follow the import after the measured load",
    )  # fmt: skip
    args = parser.parse_args()
    options: dict[str, Any] = {
        "contacts": args.contacts,
        "tenants": args.tenants,
        "deals_each": args.deals,
        "interval": args.interval,
        "workers": args.workers,
        "import_workers": args.import_workers,
        "watch_import": args.watch_import,
    }
    with stack() as running:
        baseline = one_run(running, with_import=False, first_portal=7001, **options)
        loaded = one_run(running, with_import=True, first_portal=7101, **options)
    print(
        f"\n== fairness: {args.tenants} tenants x {args.deals} deals (one each every "
        f"{args.interval:g} s, interleaved), {args.workers} workers "
        f"+ {args.import_workers} for imports, lexware office 2 req/s; "
        f"with and without a {args.contacts}-contact import of a tenth tenant =="
    )
    for result in (baseline, loaded):
        print(f"-- {result.name}")
        for line in result.lines:
            print(line)
    print("-- latency, webhook arrival to quote in the vendor")
    print(baseline.figures())
    print(loaded.figures())
    ratio = loaded.p95 / baseline.p95 if baseline.p95 > 0 else float("nan")
    verdict = "met" if ratio <= TARGET_RATIO else "missed"
    print(f"ratio p95(with) / p95(without) = {ratio:.2f}  (target <= {TARGET_RATIO}: {verdict})")


if __name__ == "__main__":
    main()
