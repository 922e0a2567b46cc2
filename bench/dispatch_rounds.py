"""What one dispatcher round costs (sync/services/dispatch.py) against the size of the backlog,
in this process, on PostgreSQL.

    BENCH_DATABASE=bench_dispatch .venv/bin/python -m bench.dispatch_rounds \
        [--tenants 100,1000,10000] [--per-tenant 10] [--rounds 20]

For each number of tenants: a fresh database with that many paying tenants on lexware
office, each with `--per-tenant` quote transfers waiting (their turns booked in the past,
so that every account has one due); then `--rounds` rounds, each handing out up to
TRANSFER_DISPATCH_LIMIT transfers (to nowhere) and finishing them again, so that every round
finds as much work as the one before. Figures: the first round (it also books every
transfer's turn), then the median and p95 of the rest, wall time and this process's CPU, and
the database's share (wall minus this process's CPU)."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import time
import uuid

from bench.common import percentile, recreate_database, setup_django


def _fill(tenants: int, per_tenant: int) -> None:
    from django.db import connection
    from django.utils import timezone

    from accounts.models import Tenant
    from billing.models import Subscription
    from sync.models import Transfer

    made = Tenant.objects.bulk_create(
        [Tenant(company_name=f"Dispatch {n} GmbH") for n in range(tenants)], batch_size=1000
    )
    Subscription.objects.bulk_create(
        [Subscription(tenant=t, plan="lexoffice", status="active") for t in made],
        batch_size=1000,
    )
    created = timezone.now() - dt.timedelta(minutes=5)
    rows = [
        Transfer(
            tenant=tenant,
            kind=Transfer.Kind.QUOTE,
            object_type=Transfer.ObjectType.DEAL,
            object_id=str(uuid.uuid4().int % 10**12),
            system="lexoffice",
            state=Transfer.State.PENDING,
        )
        for tenant in made
        for _ in range(per_tenant)
    ]
    Transfer.objects.bulk_create(rows, batch_size=2000)
    Transfer.objects.update(created_at=created)
    # As autovacuum would have by now: the planner's figures for a table this size.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def _measure(rounds: int) -> tuple[float, list[float], list[float]]:
    from django.db import connection
    from django.utils import timezone

    from sync.models import Transfer
    from sync.services import dispatch

    handed: list[str] = []

    def hand_out(ids: list[str]) -> None:
        handed.extend(ids)

    def one() -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        dispatch.transfers_dispatch(hand_out=hand_out)
        dispatch.next_due_in()
        return time.perf_counter() - wall, time.process_time() - cpu

    # Turns spaced at the tenant's rate lie in the future: the first round books them, then
    # they are moved into the past so that every account has a due transfer in every round.
    first, _ = one()
    Transfer.objects.update(turn_at=timezone.now() - dt.timedelta(minutes=1))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE sync_transfer")
    Transfer.objects.filter(pk__in=handed).update(dispatched_until=None)
    handed.clear()
    walls, cpus = [], []
    for _ in range(rounds):
        wall, cpu = one()
        walls.append(wall)
        cpus.append(cpu)
        # The workers' part, without the work: the hand-outs end and free their accounts.
        Transfer.objects.filter(pk__in=handed).update(dispatched_until=None)
        handed.clear()
    return first, walls, cpus


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--tenants", default="100,1000,10000")
    parser.add_argument("--per-tenant", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}")
    setup_django()
    from django.conf import settings
    from django.db import connections

    for tenants in [int(n) for n in args.tenants.split(",")]:
        connections.close_all()  # the database is dropped under this process's connection
        recreate_database()

        _fill(tenants, args.per_tenant)
        first, walls, cpus = _measure(args.rounds)
        database = [w - c for w, c in zip(walls, cpus, strict=True)]
        print(
            f"{tenants:>6} tenants, {tenants * args.per_tenant:>7} transfers waiting, "
            f"{settings.TRANSFER_DISPATCH_LIMIT} handed out a round: first round "
            f"{first * 1000:.0f} ms; then p50 {statistics.median(walls) * 1000:.1f} ms, "
            f"p95 {percentile(walls, 0.95) * 1000:.1f} ms wall; this process "
            f"{statistics.median(cpus) * 1000:.1f} ms CPU, the database about "
            f"{statistics.median(database) * 1000:.1f} ms"
        )
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
