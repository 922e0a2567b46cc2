"""Transfer benchmarks on PostgreSQL + Redis, gunicorn and real Celery worker processes,
against the HubSpot and lexware office sandboxes (2 requests per second per API key).

    .venv/bin/python -m bench.transfers [--deals 200] [--latency-deals 30] [--workers 4] [--linked]

1. Rate-limit efficiency: all deals of one tenant won at once; quotes per second achieved
   divided by the ceiling (the limit divided by the fewest vendor calls one quote needs);
   429 answers as a share of vendor calls.
2. API economy: calls per deal-to-quote transfer, HubSpot and vendor apart, from the
   sandboxes' call logs, against the fewest possible.
3. Latency: webhook arrival to the quote existing in the vendor, with deals won one at a
   time below the limit; p50 and p99.

Without `--linked` each deal has a HubSpot company of its own, with the name and e-mail of the
tenant's one customer, which is found by e-mail; with it every deal has the same company,
whose customer is linked after the first quote.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from typing import Any

from bench.common import (
    Vendors,
    percentile,
    quote_latencies,
    seed_deals,
    stack,
    tally,
    wait_settled,
    win,
    world,
)

LEXOFFICE_RATE = 2.0
# The fewest calls one quote can need. A linked customer is named as the link has it: one
# lexware office call creates the quote. A customer found by e-mail: one call finds it and
# one creates the quote (its contact person is then remembered as well). HubSpot is asked for
# the deal with its associations, line items, company and contact, and once to write back.
FEWEST_VENDOR_CALLS = {True: 1, False: 2}


def _calls(vendors: Vendors, since: float) -> tuple[list[Any], list[Any]]:
    hubspot = [c for c in vendors.hubspot.sandbox.api_calls() if c.at >= since]
    lexoffice = [c for c in vendors.lexoffice.sandbox.api_calls() if c.at >= since]
    return hubspot, lexoffice


def _describe(calls: list[Any]) -> str:
    kinds = Counter(f"{c.method} {_shape(c.path)} {c.status}" for c in calls)
    return ", ".join(f"{n}x {k}" for k, n in kinds.most_common(12))


def _shape(path: str) -> str:
    parts = [
        ("{id}" if any(ch.isdigit() for ch in p) and len(p) > 6 else p) for p in path.split("/")
    ]
    return "/".join(parts)


def rate_limit_and_economy(stack_: Any, *, deals: int, workers: int, linked: bool) -> None:
    fewest = FEWEST_VENDOR_CALLS[linked]
    with world(stack_, tenants=1, workers=workers, first_portal=6001) as (vendors, _pool):
        # One warm-up deal: the customer is created and linked, as for a tenant in daily use.
        warm, *batch = seed_deals(vendors, deals + 1, linked=linked)
        win(vendors, [warm])
        if not wait_settled([warm], timeout=60):
            print("warm-up deal did not finish within 60 s")
        time.sleep(1.0)
        started = time.time()
        win(vendors, batch)
        finished = wait_settled(batch, timeout=deals * 3 + 60)
        seconds = time.time() - started
        result = tally(vendors, batch, seconds=seconds)
        hubspot, lexoffice = _calls(vendors, started)
        quotes_created = result.quotes
        limited = sum(1 for c in lexoffice if c.status == 429)
        ceiling = LEXOFFICE_RATE / fewest
        # Quote time: from the first won deal to the last quote's creation call.
        creates = sorted(c.at for c in lexoffice if c.method == "POST" and c.status == 201)
        span = (creates[-1] - started) if creates else seconds
        achieved = quotes_created / span if span > 0 else 0.0
        print("\n== rate-limit efficiency (1 tenant, lexware office 2 req/s, "
              f"{workers} workers, {deals} deals won at once, linked: {linked}) ==")  # fmt: skip
        print(result.line("rate limit run") + ("" if finished else "  (timed out)"))
        print(f"quotes per second       {achieved:.3f} (first win to last quote {span:.1f} s)")
        print(f"ceiling                 {ceiling:.3f} (2 req/s / {fewest} calls)")
        print(f"efficiency              {achieved / ceiling:.3f}  (target >= 0.95)")
        share = limited / len(lexoffice) if lexoffice else 0.0
        print(f"429 answers             {limited} of {len(lexoffice)} vendor calls "
              f"= {share * 100:.2f} %  (target <= 0.1 %)")  # fmt: skip
        print("\n== API economy (same run) ==")
        print(f"HubSpot calls per transfer  {len(hubspot) / max(1, deals):.2f}")
        print(f"vendor calls per transfer   {len(lexoffice) / max(1, deals):.2f}"
              f"  (fewest possible {fewest})")  # fmt: skip
        print(f"HubSpot: {_describe(hubspot)}")
        print(f"vendor:  {_describe(lexoffice)}")


def latency(stack_: Any, *, deals: int, workers: int, interval: float, linked: bool) -> None:
    with world(stack_, tenants=1, workers=workers, first_portal=6101) as (vendors, _pool):
        warm, *batch = seed_deals(vendors, deals + 1, linked=linked)
        win(vendors, [warm])
        wait_settled([warm], timeout=60)
        started = time.time()
        for deal in batch:
            win(vendors, [deal])
            time.sleep(interval)
        wait_settled(batch, timeout=deals * 3 + 60)
        seconds = time.time() - started
        result = tally(vendors, batch, seconds=seconds)
        latencies = list(quote_latencies(vendors, batch).values())
        print(f"\n== latency, webhook arrival to quote in the vendor ({deals} deals, one every "
              f"{interval:g} s, {workers} workers, linked: {linked}) ==")  # fmt: skip
        print(result.line("latency run"))
        print(f"measured {len(latencies)}  p50 {percentile(latencies, 0.5):.3f} s  "
              f"p99 {percentile(latencies, 0.99):.3f} s  max {max(latencies, default=0):.3f} s"
              "  (targets p50 <= 1 s, p99 <= 5 s)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deals", type=int, default=200)
    parser.add_argument("--latency-deals", type=int, default=30)
    parser.add_argument("--latency-interval", type=float, default=1.5)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--only", choices=["rate", "latency"], default=None)
    parser.add_argument("--linked", action="store_true", help="every deal has the same company")
    args = parser.parse_args()
    with stack() as running:
        if args.only in (None, "rate"):
            rate_limit_and_economy(
                running, deals=args.deals, workers=args.workers, linked=args.linked
            )
        if args.only in (None, "latency"):
            latency(
                running,
                deals=args.latency_deals,
                workers=args.workers,
                interval=args.latency_interval,
                linked=args.linked,
            )


if __name__ == "__main__":
    main()
