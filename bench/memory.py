"""Memory: resident memory of the Celery worker processes after the first 100 transfers and
after 10,000, on PostgreSQL + Redis, gunicorn and real worker processes (prefork, one pool
process each, no max-tasks-per-child, so growth stays visible; or, with `--pool threads
--concurrency 16`, production's thread pool, measured on each worker process itself).

    BENCH_DATABASE=apiup_bench_load BENCH_REDIS_URL=redis://127.0.0.1:6379/11 \\
        .venv/bin/python -m bench.memory [--transfers 10000] [--first 100] [--tenants 100]
        [--workers 10] [--window 40] [--lexoffice-rate 50] [--timeout 3600]

The transfers are quotes of won deals (the product's main job), spread round robin over
`--tenants` tenants so that no tenant's limit binds: the product paces lexware office at 1.95
requests per second per API key and HubSpot at 10 per second per portal, and at most
`--window` deals are won and unfinished at a time (fewer than the tenants, so a tenant has
at most one). The lexware office sandbox allows `--lexoffice-rate` requests per second per
key instead of 2, so it never answers 429 to the product's pacing.

What binds then is that pacing inside each transfer: its two lexware office calls (customer
look-up, quote) share a bucket of 1 token at 1.95/s, so the second waits about 0.5 s in the
worker. One worker thus finishes at most about 1.5 quotes per second whatever its CPU, and 4
workers about 6 per second (10,000 in about half an hour). Hence 10 workers by default (11
per second measured, 10,000 in 15 minutes); each pool process then runs about 1,000 of the
10,000 transfers, so the growth per 1,000 transfers a pool process runs is printed too.

Measured: VmRSS of every worker's parent and pool process after the first `--first`
transfers finished and after all `--transfers` finished, with the ratio, and at every tenth
on the way; throughput (transfers per second). A pool process that is replaced or a worker
that exits during the run is printed, since it would hide growth.

Target: every pool process's resident memory after 10,000 transfers <= 1.1 x after 100.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from collections import Counter
from pathlib import Path

from bench.common import (
    DealRef,
    Vendors,
    Workers,
    children_of,
    resident_kib,
    seed_deals,
    stack,
    tally,
    win,
    world,
)

TARGET_RATIO = 1.1
POLL_SECONDS = 0.2


@dataclasses.dataclass(frozen=True)
class WorkerMemory:
    parent_pid: int
    parent_kib: int
    pool_pids: tuple[int, ...]
    pool_kib: int  # all pool processes of this worker (one with --concurrency 1)
    pool_cpu: float  # CPU seconds of those pool processes
    parent_cpu: float


@dataclasses.dataclass(frozen=True)
class Snapshot:
    transfers: int
    workers: tuple[WorkerMemory, ...]

    @property
    def pool_total(self) -> int:
        return sum(w.pool_kib for w in self.workers)

    @property
    def parent_total(self) -> int:
        return sum(w.parent_kib for w in self.workers)

    @property
    def cpu(self) -> float:
        return sum(w.pool_cpu + w.parent_cpu for w in self.workers)


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    # After the command name: state is field 3, utime 14 and stime 15 (man 5 proc).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pool_pids_of(pool: Workers, pid: int) -> tuple[int, ...]:
    """The processes that run the tasks: a prefork worker's children, or a thread-pool worker
    itself (its threads share its memory)."""
    return (pid,) if pool.pool == "threads" else tuple(children_of(pid))


def snapshot(pool: Workers, transfers: int) -> Snapshot:
    workers = []
    for process in pool.processes:
        pool_pids = pool_pids_of(pool, process.pid)
        workers.append(
            WorkerMemory(
                parent_pid=process.pid,
                parent_kib=resident_kib(process.pid),
                pool_pids=pool_pids,
                pool_kib=sum(resident_kib(pid) for pid in pool_pids),
                pool_cpu=sum(cpu_seconds(pid) for pid in pool_pids),
                parent_cpu=cpu_seconds(process.pid),
            )
        )
    return Snapshot(transfers, tuple(workers))


class PoolWatch:
    """Notices a pool process replaced (recycled, killed by a time limit, crashed) or a
    worker exited, with how many transfers had finished by then."""

    def __init__(self, pool: Workers) -> None:
        self.pool = pool
        self.known = [pool_pids_of(pool, p.pid) for p in pool.processes]
        self.exited: set[int] = set()
        self.events: list[str] = []

    def check(self, transfers: int) -> None:
        for index, process in enumerate(self.pool.processes):
            if process.poll() is not None and index not in self.exited:
                self.exited.add(index)
                self.events.append(
                    f"worker {index + 1} (pid {process.pid}) exited with {process.returncode} "
                    f"after {transfers} transfers"
                )
                continue
            children = pool_pids_of(self.pool, process.pid)
            # An empty list is a fork in progress; the replacement shows on the next look.
            if children and children != self.known[index]:
                self.events.append(
                    f"worker {index + 1}: pool process {self.known[index]} replaced by "
                    f"{children} after {transfers} transfers"
                )
                self.known[index] = children


def finished_transfers() -> int:
    """Quote transfers with no work left (done, failed or skipped); the database holds only
    this run's tenants."""
    from sync.models import Transfer

    return (
        Transfer.objects.filter(kind=Transfer.Kind.QUOTE)
        .exclude(state__in=Transfer.ACTIVE_STATES)
        .count()
    )


class Checkpoint:
    """Prints progress (rate and resident memory) at a number of finished transfers."""

    def __init__(self, pool: Workers, started: float) -> None:
        self.pool = pool
        self.started = started

    def __call__(self, mark: int, done: int) -> None:
        seconds = time.monotonic() - self.started
        memory = snapshot(self.pool, done)
        pools = " ".join(f"{w.pool_kib / 1024:6.1f}" for w in memory.workers)
        print(
            f"  {done:>6} transfers  {seconds:7.1f} s  {done / seconds:6.2f}/s   "
            f"pool MiB {pools}   parents MiB {memory.parent_total / 1024:6.1f}   "
            f"CPU s workers {memory.cpu:6.1f} driver {time.process_time():6.1f}",
            flush=True,
        )


@dataclasses.dataclass
class Driver:
    """Wins deals in order, keeping at most `window` won and unfinished."""

    vendors: Vendors
    deals: list[DealRef]
    window: int
    watch: PoolWatch
    deadline: float
    won: int = 0
    done: int = 0

    def run_until(self, target: int, *, checkpoints: list[int], on_checkpoint: Checkpoint) -> bool:
        """Returns True when `target` transfers finished before the deadline."""
        rounds = int(max(0.0, self.deadline - time.monotonic()) / POLL_SECONDS) + 2
        pending = sorted(c for c in checkpoints if c > self.done)
        for _ in range(rounds):
            if time.monotonic() >= self.deadline:
                return False
            self.done = finished_transfers()
            self.watch.check(self.done)
            while pending and self.done >= pending[0]:
                on_checkpoint(pending.pop(0), self.done)
            if self.done >= target:
                return True
            room = self.window - (self.won - self.done)
            if room > 0 and self.won < target:
                batch = self.deals[self.won : min(target, self.won + room)]
                win(self.vendors, batch)
                self.won += len(batch)
            time.sleep(POLL_SECONDS)
        return False


def _table(first: Snapshot, last: Snapshot) -> list[str]:
    lines = [
        f"{'process':<28}{'after ' + str(first.transfers):>14}{'after ' + str(last.transfers):>14}"
        f"{'ratio':>8}"
    ]
    for index, (a, b) in enumerate(zip(first.workers, last.workers, strict=True)):
        same = "" if a.pool_pids == b.pool_pids else "  (pool process replaced!)"
        lines.append(
            f"{f'worker {index + 1} pool {b.pool_pids}':<28}{a.pool_kib:>10} KiB"
            f"{b.pool_kib:>10} KiB{b.pool_kib / max(1, a.pool_kib):>8.3f}{same}"
        )
        lines.append(
            f"{f'worker {index + 1} parent {b.parent_pid}':<28}{a.parent_kib:>10} KiB"
            f"{b.parent_kib:>10} KiB{b.parent_kib / max(1, a.parent_kib):>8.3f}"
        )
    lines.append(
        f"{'all pool processes':<28}{first.pool_total:>10} KiB{last.pool_total:>10} KiB"
        f"{last.pool_total / max(1, first.pool_total):>8.3f}"
    )
    lines.append(
        f"{'all parents':<28}{first.parent_total:>10} KiB{last.parent_total:>10} KiB"
        f"{last.parent_total / max(1, first.parent_total):>8.3f}"
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--transfers", type=int, default=10_000)
    parser.add_argument("--first", type=int, default=100)
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--workers", type=int, default=10)
    parser.add_argument("--window", type=int, default=40)
    parser.add_argument("--lexoffice-rate", type=float, default=50.0)
    parser.add_argument("--timeout", type=float, default=3600.0, help="bound of the whole run")
    parser.add_argument("--pool", default="prefork", help="threads: production's pool")
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()
    total, first = args.transfers, min(args.first, args.transfers)
    with (
        stack() as running,
        world(
            running,
            tenants=args.tenants,
            workers=args.workers,
            worker_pool=args.pool,
            concurrency=args.concurrency,
            first_portal=8001,
            lexoffice_rate=args.lexoffice_rate,
            token_lifetime=args.timeout + 3600,  # no token may expire during the run
        ) as (vendors, pool),
    ):
        seeding = time.monotonic()
        deals = seed_deals(vendors, total)
        print(f"seeded {total} deals over {args.tenants} tenants in "
              f"{time.monotonic() - seeding:.1f} s")  # fmt: skip
        watch = PoolWatch(pool)
        started = time.monotonic()
        driver = Driver(vendors, deals, args.window, watch, deadline=started + args.timeout)
        marks = [total * i // 10 for i in range(1, 10)]
        progress = Checkpoint(pool, started)
        print(f"== memory: {total} quote transfers, {args.tenants} tenants, {args.workers} "
              f"workers, at most {args.window} unfinished ==")  # fmt: skip
        ok_first = driver.run_until(first, checkpoints=[], on_checkpoint=progress)
        first_seconds = time.monotonic() - started
        time.sleep(1.0)  # the pool processes finish their bookkeeping after the last task
        after_first = snapshot(pool, driver.done)
        first_driver_cpu = time.process_time()
        progress(first, driver.done)
        phase_started = time.monotonic()
        ok_all = ok_first and driver.run_until(total, checkpoints=marks, on_checkpoint=progress)
        seconds = time.monotonic() - started
        phase_seconds = time.monotonic() - phase_started
        time.sleep(1.0)
        after_all = snapshot(pool, driver.done)
        driver_cpu = time.process_time()
        watch.check(driver.done)
        result = tally(vendors, deals[: driver.won], seconds=seconds)
        statuses = Counter(
            f"{name} {c.status}"
            for name, sandbox in (
                ("HubSpot", vendors.hubspot),
                ("lexware office", vendors.lexoffice),
            )
            for c in sandbox.sandbox.api_calls()
            if c.status >= 400
        )
    print(result.line("memory run") + ("" if ok_all else "  (timed out)"))
    print(f"vendor error answers: {dict(statuses) or 'none'}")
    print(f"first {first} transfers in {first_seconds:.1f} s; all {driver.done} in {seconds:.1f} s")
    rest = driver.done - after_first.transfers
    print(f"throughput {driver.done / seconds:.2f} transfers/s overall, "
          f"{rest / max(phase_seconds, 1e-9):.2f} transfers/s after the first {first}")  # fmt: skip
    worker_ms = (after_all.cpu - after_first.cpu) / max(1, rest) * 1000
    cores = (after_all.cpu - after_first.cpu) / max(phase_seconds, 1e-9)
    driver_ms = (driver_cpu - first_driver_cpu) / max(1, rest) * 1000
    print(f"CPU per transfer after the first {first}: workers {worker_ms:.0f} ms (all "
          f"{args.workers}: {cores:.2f} cores busy), this process with the sandboxes "
          f"{driver_ms:.0f} ms")  # fmt: skip
    print("-- resident memory (VmRSS)")
    for line in _table(after_first, after_all):
        print(line)
    growth = (after_all.pool_total - after_first.pool_total) / max(1, len(after_all.workers))
    each = rest / max(1, len(after_all.workers))
    print(f"pool process growth {growth:.0f} KiB on average over about {each:.0f} transfers "
          f"each = {growth / max(1.0, each) * 1000:.0f} KiB per 1,000 transfers a pool process "
          "runs")  # fmt: skip
    print("-- pool processes")
    print("\n".join(watch.events) if watch.events else "no pool process replaced, no worker exited")
    ratios = [
        b.pool_kib / max(1, a.pool_kib)
        for a, b in zip(after_first.workers, after_all.workers, strict=True)
    ]
    worst = max(ratios, default=float("nan"))
    verdict = "met" if worst <= TARGET_RATIO else "missed"
    if watch.events:
        verdict = "not shown: a pool process was replaced, which hides growth"
    print(f"largest pool process ratio {worst:.3f}  (target <= {TARGET_RATIO}: {verdict})")


if __name__ == "__main__":
    main()
