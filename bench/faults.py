"""Fault-injection runs on PostgreSQL + Redis, gunicorn and real Celery worker processes.

    .venv/bin/python -m bench.faults [--deals 1000] [--tenants 10] [--runs NAME ...]

Each run wins `--deals` deals spread over `--tenants` tenants (lexware office, 2 requests
per second per tenant) all at once, with one fault switched on, and prints quotes created,
duplicates, lost (no quote and no visible failure), failures shown (transfers failed with
their reason in the activity log), and the time to finish. Pass: one quote per deal, none
twice, none lost.

Runs: baseline (all deals at once against the limit), duplicates (every webhook batch
delivered three times, two of them concurrently), vendor-5xx (20 % of vendor calls answer
500), drop-after-commit (5 % of quote creations commit, then drop the connection),
vendor-down (every vendor call answers 503 for --down-seconds, then the vendor is back),
out-of-order (deliveries held back by a random 0-3 s each, in batches of at most 5, with
creation, stage and amount events), sigkill (a worker's pool process killed with SIGKILL
every 10 s).
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from bench.common import (
    QUICK_RESUME,
    DealRef,
    Stack,
    Tally,
    Vendors,
    Workers,
    seed_deals,
    settled,
    stack,
    tally,
    wait_for,
    win,
    world,
)

RUNS = [
    "baseline",
    "duplicates",
    "vendor-5xx",
    "drop-after-commit",
    "vendor-down",
    "out-of-order",
    "sigkill",
]

ALL_DEAL_EVENTS: list[str | dict[str, Any]] = ["deal.creation", "deal.propertyChange"]


# -- how each fault is switched on ------------------------------------------------------------


def deliver_three_times(vendors: Vendors) -> None:
    """Every webhook delivery is sent three times: twice at once, once again up to 1.5 s
    later, each with its own signature and timestamp (as HubSpot's own retries are)."""
    dispatcher = vendors.hubspot.sandbox.webhooks
    send_once: Callable[[Any], None] = dispatcher._send

    def send_three_times(delivery: Any) -> None:
        send_once(delivery)
        if delivery.attempts:  # a retry of a failed delivery is sent once
            return
        send_once(delivery)
        threading.Timer(random.uniform(0.1, 1.5), send_once, (delivery,)).start()

    dispatcher._send = send_three_times


def deliver_out_of_order(vendors: Vendors, *, hold_back: float = 3.0) -> None:
    """Small batches, each held back by a random time, so they arrive shuffled."""
    dispatcher = vendors.hubspot.sandbox.webhooks
    dispatcher.max_batch_size = 5
    send_once: Callable[[Any], None] = dispatcher._send

    def send_later(delivery: Any) -> None:
        threading.Timer(random.uniform(0.0, hold_back), send_once, (delivery,)).start()

    dispatcher._send = send_later


class Killer:
    """SIGKILLs one worker pool process every `every` seconds, round robin, until stopped."""

    def __init__(self, pool: Workers, *, every: float, limit: int = 1000) -> None:
        self.pool = pool
        self.every = every
        self.limit = limit
        self.kills = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        for round_ in range(self.limit):
            if self._stop.wait(self.every):
                return
            if self.pool.kill_pool_process(round_ % len(self.pool.processes)) is not None:
                self.kills += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


# -- one run ----------------------------------------------------------------------------------


def _win_all(vendors: Vendors, deals: list[DealRef], *, amounts: bool = False) -> None:
    win(vendors, deals)
    if amounts:
        hubspot = vendors.hubspot.sandbox
        for deal in deals:
            hubspot.update_object(
                deal.portal_id, "deals", deal.deal_id, {"amount": "4100"}, "CRM_UI"
            )


def run_one(
    name: str,
    running: Stack,
    *,
    deals: int,
    tenants: int,
    workers: int,
    first_portal: int,
    down_seconds: float,
    timeout: float,
) -> Tally:
    subscriptions = ALL_DEAL_EVENTS if name == "out-of-order" else None
    options: dict[str, Any] = {"subscriptions": subscriptions} if subscriptions else {}
    with world(
        running,
        tenants=tenants,
        workers=workers,
        first_portal=first_portal,
        worker_env=QUICK_RESUME,
        **options,
    ) as (vendors, pool):
        lexoffice = vendors.lexoffice.sandbox
        killer: Killer | None = None
        # Delivery faults apply to every event of the deals, their creation included.
        if name == "duplicates":
            deliver_three_times(vendors)
        elif name == "out-of-order":
            deliver_out_of_order(vendors)
        batch = seed_deals(vendors, deals, prefix=name)
        if name == "vendor-5xx":
            lexoffice.faults.update({"server_error_rate": 0.2})
        elif name == "drop-after-commit":
            lexoffice.faults.update({"drop_after_commit_rate": 0.05})
        elif name == "vendor-down":
            lexoffice.faults.update({"down_for_seconds": down_seconds})
        elif name == "sigkill":
            killer = Killer(pool, every=10.0)
        started = time.monotonic()
        if killer is not None:
            killer.start()
        _win_all(vendors, batch, amounts=name == "out-of-order")
        finished = wait_for(lambda: settled(batch), timeout=timeout, interval=0.5)
        seconds = time.monotonic() - started
        if killer is not None:
            killer.stop()
        result = tally(vendors, batch, seconds=seconds)
        note = "" if finished else f"  (not finished within {timeout:.0f} s)"
        if killer is not None:
            note += f"  ({killer.kills} pool processes killed)"
        calls = lexoffice.api_calls()
        statuses: dict[int, int] = {}
        for call in calls:
            statuses[call.status] = statuses.get(call.status, 0) + 1
        print(result.line(name) + note, flush=True)
        print(
            f"    vendor calls {len(calls)} by status {dict(sorted(statuses.items()))}, "
            f"customers in the vendor {len(lexoffice.contacts)} for {tenants} tenants"
        )
        deliveries = vendors.hubspot.sandbox.webhooks.snapshot()
        print(
            f"    webhook deliveries {len(deliveries)}, "
            f"attempts {sum(len(d.attempts) for d in deliveries)}, "
            f"failed {sum(1 for d in deliveries if d.state == 'failed')}",
            flush=True,
        )
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deals", type=int, default=1000, help="won deals per run")
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--runs", nargs="*", choices=RUNS, default=RUNS)
    parser.add_argument("--down-seconds", type=float, default=30.0)
    parser.add_argument(
        "--timeout", type=float, default=0.0, help="seconds per run (default: from --deals)"
    )
    args = parser.parse_args()
    # The limit allows one quote per second per tenant (2 calls each), but the workers sleep
    # through one tenant's limit at a time (docs/benchmarks.md): about one quote per second
    # in all. Leave room for the faults.
    timeout = args.timeout or max(120.0, args.deals * 1.6 + args.down_seconds + 60)
    print(
        f"fault runs: {args.deals} deals over {args.tenants} tenants, {args.workers} workers, "
        f"at most {timeout:.0f} s per run",
        flush=True,
    )
    results: list[tuple[str, Tally]] = []
    with stack() as running:
        for index, name in enumerate(args.runs):
            result = run_one(
                name,
                running,
                deals=args.deals,
                tenants=args.tenants,
                workers=args.workers,
                first_portal=7001 + index * 100,
                down_seconds=args.down_seconds,
                timeout=timeout,
            )
            results.append((name, result))
    print("\n== summary ==")
    for name, result in results:
        print(result.line(name))


if __name__ == "__main__":
    main()
