"""Fault-injection runs on PostgreSQL + Redis, gunicorn and real Celery worker processes.

    .venv/bin/python -m bench.faults [--deals 1000] [--tenants 10] [--runs NAME ...]
    .venv/bin/python -m bench.faults --runs vendor-down-2h [--long-down-seconds 7200]

Each run wins `--deals` deals spread over `--tenants` tenants (lexware office, 2 requests
per second per tenant, unless the run says otherwise) with one fault switched on, and prints
quotes created, duplicates, lost (no quote and no visible failure), failures shown
(transfers failed with their reason in the activity log), unfinished (transfers with work
left when the wait ended) and the time to finish. Pass: one quote per deal, none twice,
none lost. Each run has its own gunicorn, workers and beat; their output is in
var/bench-logs/<run>-*.log.

Runs: baseline (all deals at once against the limit), duplicates (every webhook batch
delivered three times, two of them concurrently), vendor-5xx (20 % of vendor calls answer
500), drop-after-commit (5 % of quote creations commit, then drop the connection),
vendor-down (every vendor call answers 503 for --down-seconds, then the vendor is back),
vendor-down-2h (the same for --long-down-seconds, two hours unless told: longer than a
transfer's twelve attempts last, so it passes only because the circuit breaker holds the
transfers back without counting attempts; it also prints the vendor calls made while the
vendor was down and the notices sent; not in the default list, as it takes its two hours),
out-of-order (deliveries held back by a random 0-3 s each, in batches of at most 5, with
creation, stage and amount events), sigkill (a worker's pool process killed with SIGKILL
every 10 s), and three outages:

- redis-restart: the stack runs on a `redis-server` of its own (no persistence) on a free
  port. It is killed (SIGKILL) --redis-kill-after seconds after the first deals are won,
  stays down --redis-down-seconds, and starts again empty on the same port.
- postgres-refusing: the product's processes (gunicorn, workers, beat) reach PostgreSQL
  through a proxy (bench/proxy.py); the driver keeps its direct connection. From
  --pg-fault-after seconds after the first wins, the proxy refuses connections and has cut
  the open ones, for --pg-down-seconds. HubSpot keeps retrying the failed deliveries.
- token-expiry: Qonto instead of lexware office; HubSpot and Qonto connections made through
  the sandboxes' OAuth code flows, with access tokens living --token-seconds; 5 workers of
  4 pool processes (20 transfers at once). It prints the token refreshes each vendor saw
  next to the one per connection per token lifetime that is expected.

In both outage runs the last --late-share of the deals is won one second into the outage,
so that their webhooks arrive while it lasts; each prints the state of the run's webhook
events and transfers in the database, and what became of every deal without a quote.

With --documents, the runs baseline, duplicates, drop-after-commit and sigkill make the
document mix instead (bench/documents.py) for each of --systems (lexware office: status
pushed by its signed events; sevDesk: polled): each deal goes quote (contractsent) -> invoice
(closedwon, finalized where the system can) -> paid, booked in the vendor sandbox. Under
duplicates the vendor's event callbacks are sent twice as well; under drop-after-commit 5 %
of the vendor's creations (customers, quotes, invoices) commit and then drop the answer.
It prints the documents of each kind in the vendor, duplicates, deals without one, the
transfers per kind, and the deals whose `apiup_invoice_status` differs from the vendor's.

    .venv/bin/python -m bench.faults --documents --deals 60 --tenants 6

With --zep, the runs duplicates, drop-after-commit and sigkill make the ZEP mix instead
(bench/zep_faults.py): lexware office and ZEP per tenant, one customer per company and one
project per deal checked in the ZEP sandbox.
"""

from __future__ import annotations

import argparse
import math
import random
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol
from urllib.parse import urlsplit

from bench.common import (
    BENCH_DATABASE,
    LOG_DIR,
    PG_SERVER,
    QUICK_RESUME,
    DealRef,
    Stack,
    Tally,
    Vendors,
    Workers,
    customers_in_vendor,
    free_port,
    quotes_per_deal,
    recreate_database,
    seed_deals,
    settled,
    stack,
    tally,
    wait_for,
    win,
    world,
)
from bench.documents import (
    DOCUMENT_RUNS,
    DOCUMENT_SYSTEMS,
    EARLY_STAGE,
    INVOICE_STAGE,
    QUOTE_STAGE,
    DocumentTally,
    StatusWatch,
    connect_documents,
    deliver_callbacks_twice,
    disconnect,
    document_tally,
    kind_settled,
    mark_paid,
    move,
)
from bench.products import products_main
from bench.proxy import RefusingProxy

RUNS = [
    "baseline",
    "duplicates",
    "vendor-5xx",
    "drop-after-commit",
    "vendor-down",
    "out-of-order",
    "sigkill",
    "redis-restart",
    "postgres-refusing",
    "token-expiry",
]
OUTAGE_RUNS = ("redis-restart", "postgres-refusing")
# Runs left out unless named, for their length.
LONG_RUNS = ["vendor-down-2h"]
# vendor-down-2h: the breaker's production thresholds, but probes at most a minute apart, so
# that the run ends within a minute or two of the vendor's return (production: five).
LONG_OUTAGE_BREAKER = {"CIRCUIT_BREAKER_MAX_COOLDOWN_SECONDS": "60"}

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


class Outage(Protocol):
    def begin(self) -> str:
        """Takes the service away; returns what was done, for the report."""

    def end(self) -> str:
        """Brings the service back; returns what was done."""


class RedisServer:
    """A `redis-server` of the run's own on a free port, without persistence, so that a
    restart starts empty. Its output goes to var/bench-logs/<log_name>.log."""

    def __init__(self, *, log_name: str) -> None:
        self.port = free_port()
        self.log_name = log_name
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redis

        LOG_DIR.mkdir(parents=True, exist_ok=True)
        command = [
            "redis-server", "--save", "", "--appendonly", "no",
            "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(LOG_DIR),
        ]  # fmt: skip
        with (LOG_DIR / f"{self.log_name}.log").open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603
                command, stdout=log, stderr=log, start_new_session=True
            )
        self.starts += 1
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        if not wait_for(answers, timeout=10, interval=0.05):
            self.stop()
            raise RuntimeError(f"redis-server on port {self.port} did not answer within 10 s")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()

    # As an outage:
    def begin(self) -> str:
        self.kill()
        return f"redis-server on port {self.port} killed (SIGKILL)"

    def end(self) -> str:
        self.start()
        return f"redis-server started again, empty, on port {self.port}"


class PostgresRefusal:
    """The proxy in front of PostgreSQL as an outage: refuse, then accept again."""

    def __init__(self, proxy: RefusingProxy) -> None:
        self.proxy = proxy

    def begin(self) -> str:
        cut = self.proxy.refuse()
        return f"proxy {self.proxy.address} refuses connections, {cut} open ones cut"

    def end(self) -> str:
        self.proxy.accept()
        return f"proxy {self.proxy.address} accepts connections again"


# -- what the database holds ----------------------------------------------------------------


def rows_report(deals: list[DealRef], vendors: Vendors) -> list[str]:
    """The run's webhook events and quote transfers by state, and for every deal without a
    quote: its transfer (state, attempts, error) or its stage events (state, attempt).
    Times are local (TIME_ZONE), as in the logs."""
    from django.utils import timezone

    from sync.models import Transfer, WebhookEvent

    tenant_ids = {d.tenant_id for d in deals}
    events = WebhookEvent.objects.filter(tenant_id__in=tenant_ids)
    transfers = Transfer.objects.filter(tenant_id__in=tenant_ids, kind=Transfer.Kind.QUOTE)
    event_states = Counter(events.values_list("state", flat=True))
    transfer_states = Counter(transfers.values_list("state", flat=True))
    lines = [
        f"    webhook events by state {dict(sorted(event_states.items()))}, "
        f"quote transfers by state {dict(sorted(transfer_states.items()))}"
    ]
    errors = Counter(transfers.filter(state=Transfer.State.FAILED).values_list("error", flat=True))
    for error, count in errors.most_common(3):
        lines.append(f"    failed {count}x: {error[:150]}")
    counts = quotes_per_deal(vendors)
    missing = [d for d in deals if not counts.get((d.portal_id, d.deal_id))]
    by_deal = {t.object_id: t for t in transfers.filter(object_id__in=[d.deal_id for d in missing])}
    shown = 0
    for deal in missing:
        if shown >= 12:
            lines.append(f"    ... {len(missing) - shown} more deals without a quote")
            break
        shown += 1
        transfer = by_deal.get(deal.deal_id)
        if transfer is not None:
            lines.append(
                f"    deal {deal.portal_id}-{deal.deal_id}: transfer {transfer.pk} "
                f"{transfer.state}, {transfer.attempts} attempts, "
                f"error {transfer.error[:100]!r}"
            )
            continue
        stage_events = list(
            events.filter(object_id=deal.deal_id).values_list(
                "id", "state", "attempt_number", "received_at"
            )
        )
        described = ", ".join(
            f"event {pk} {state} (delivery attempt {attempt}, "
            f"stored {timezone.localtime(received):%H:%M:%S})"
            for pk, state, attempt, received in stage_events
        )
        lines.append(
            f"    deal {deal.portal_id}-{deal.deal_id}: no transfer; "
            f"{described or 'no webhook event stored'}"
        )
    return lines


# -- one run ----------------------------------------------------------------------------------


@dataclass
class RunOptions:
    deals: int
    tenants: int
    workers: int
    first_portal: int
    down_seconds: float
    timeout: float
    redis_down_seconds: float = 60.0
    redis_kill_after: float = 5.0
    pg_down_seconds: float = 30.0
    pg_fault_after: float = 1.0
    late_share: float = 0.25
    token_seconds: float = 30.0
    long_down_seconds: float = 7200.0
    token_workers: int = 5
    token_concurrency: int = 4


def _win_all(vendors: Vendors, deals: list[DealRef], *, amounts: bool = False) -> None:
    win(vendors, deals)
    if amounts:
        hubspot = vendors.hubspot.sandbox
        for deal in deals:
            hubspot.update_object(
                deal.portal_id, "deals", deal.deal_id, {"amount": "4100"}, "CRM_UI"
            )


def _print_result(name: str, result: Tally, vendors: Vendors, *, note: str = "") -> None:
    calls = vendors.accounting.sandbox.api_calls()
    statuses = Counter(call.status for call in calls)
    print(result.line(name) + note, flush=True)
    print(
        f"    vendor calls {len(calls)} by status {dict(sorted(statuses.items()))}, "
        f"customers in the vendor {customers_in_vendor(vendors)} "
        f"for {len(vendors.tenants)} tenants"
    )
    deliveries = vendors.hubspot.sandbox.webhooks.snapshot()
    attempts = [a for d in deliveries for a in d.attempts]
    retried = [d for d in deliveries if len(d.attempts) > 1]
    spans = [d.attempts[-1].at - d.attempts[0].at for d in retried]
    failures = Counter(a.error for a in attempts if a.error)
    print(
        f"    webhook deliveries {len(deliveries)}, attempts {len(attempts)} "
        f"({failures.total()} failed{': ' if failures else ''}"
        f"{', '.join(f'{n}x {error}' for error, n in failures.most_common())}), "
        f"failed for good {sum(1 for d in deliveries if d.state == 'failed')}"
        + (
            f"; {len(retried)} retried, {min(len(d.attempts) for d in retried)}-"
            f"{max(len(d.attempts) for d in retried)} attempts over "
            f"{min(spans):.1f}-{max(spans):.1f} s"
            if retried
            else ""
        ),
        flush=True,
    )


def run_one(name: str, running: Stack, options: RunOptions) -> Tally:
    """The runs whose fault is in the vendors or the workers."""
    subscriptions = ALL_DEAL_EVENTS if name == "out-of-order" else None
    vendor_options: dict[str, Any] = {"subscriptions": subscriptions} if subscriptions else {}
    worker_env = {**QUICK_RESUME, **(LONG_OUTAGE_BREAKER if name in LONG_RUNS else {})}
    with world(
        running,
        tenants=options.tenants,
        workers=options.workers,
        first_portal=options.first_portal,
        worker_env=worker_env,
        **vendor_options,
    ) as (vendors, pool):
        lexoffice = vendors.lexoffice.sandbox
        killer: Killer | None = None
        # Delivery faults apply to every event of the deals, their creation included.
        if name == "duplicates":
            deliver_three_times(vendors)
        elif name == "out-of-order":
            deliver_out_of_order(vendors)
        batch = seed_deals(vendors, options.deals, prefix=name)
        if name == "vendor-5xx":
            lexoffice.faults.update({"server_error_rate": 0.2})
        elif name == "drop-after-commit":
            lexoffice.faults.update({"drop_after_commit_rate": 0.05})
        elif name == "vendor-down":
            lexoffice.faults.update({"down_for_seconds": options.down_seconds})
        elif name == "vendor-down-2h":
            lexoffice.faults.update({"down_for_seconds": options.long_down_seconds})
        elif name == "sigkill":
            killer = Killer(pool, every=10.0)
        started = time.monotonic()
        if killer is not None:
            killer.start()
        _win_all(vendors, batch, amounts=name == "out-of-order")
        finished = wait_for(lambda: settled(batch), timeout=options.timeout, interval=0.5)
        seconds = time.monotonic() - started
        if killer is not None:
            killer.stop()
        result = tally(vendors, batch, seconds=seconds)
        note = "" if finished else f"  (not finished within {options.timeout:.0f} s)"
        if killer is not None:
            note += f"  ({killer.kills} pool processes killed)"
        _print_result(name, result, vendors, note=note)
        if name in LONG_RUNS:
            _print_outage(vendors, batch, result, down_seconds=options.long_down_seconds)
        return result


def _print_outage(
    vendors: Vendors, deals: list[DealRef], result: Tally, *, down_seconds: float
) -> None:
    """What the circuit breaker did during a long outage: the vendor calls sent while the
    vendor was down (the calls that opened the breaker and its probes), the notices, and
    whether any transfer failed (none may: the run's own pass condition)."""
    from sync.models import Notice

    calls = vendors.accounting.sandbox.api_calls()
    began = min((call.at for call in calls), default=0.0)
    during = [call for call in calls if call.at < began + down_seconds]
    notices = Counter(
        Notice.objects.filter(
            tenant_id__in={d.tenant_id for d in deals}, kind=Notice.Kind.VENDOR_UNREACHABLE
        ).values_list("tenant_id", flat=True)
    )
    verdict = "PASS" if result.passed and result.failures_shown == 0 else "FAIL"
    print(
        f"    while down ({down_seconds:.0f} s): {len(during)} vendor calls "
        f"({len(during) / max(1.0, down_seconds / 60):.1f} per minute); "
        f"'not reachable' notices per tenant {sorted(notices.values())} "
        f"for {len(vendors.tenants)} tenants; failures shown {result.failures_shown}: {verdict}",
        flush=True,
    )


def run_outage(name: str, running: Stack, outage: Outage, options: RunOptions) -> Tally:
    """Wins most deals, takes a service away, wins the rest while it is gone (so their
    webhooks arrive during the outage), brings it back and waits for every deal."""
    if name == "redis-restart":
        fault_after, down_seconds = options.redis_kill_after, options.redis_down_seconds
    else:
        fault_after, down_seconds = options.pg_fault_after, options.pg_down_seconds
    with world(
        running,
        tenants=options.tenants,
        workers=options.workers,
        first_portal=options.first_portal,
        worker_env=QUICK_RESUME,
    ) as (vendors, _pool):
        batch = seed_deals(vendors, options.deals, prefix=name)
        late_count = min(len(batch), math.ceil(len(batch) * options.late_share))
        early, late = batch[: len(batch) - late_count], batch[len(batch) - late_count :]
        started = time.monotonic()

        def say(text: str) -> None:
            # Local wall time (TIME_ZONE, as in the logs) to find the lines in var/bench-logs.
            print(f"    {time.strftime('%H:%M:%S')} {time.monotonic() - started:5.1f} s  {text}")

        win(vendors, early)
        say(f"{len(early)} deals won")
        time.sleep(fault_after)
        began = outage.begin()
        down_at = time.monotonic()
        say(began)
        time.sleep(min(1.0, down_seconds / 2))
        win(vendors, late)
        say(f"{len(late)} more deals won (their webhooks arrive during the outage)")
        time.sleep(max(0.0, down_at + down_seconds - time.monotonic()))
        say(outage.end())
        left = max(1.0, options.timeout - (time.monotonic() - started))
        finished = wait_for(lambda: settled(batch), timeout=left, interval=0.5)
        seconds = time.monotonic() - started
        result = tally(vendors, batch, seconds=seconds)
        note = "" if finished else f"  (not finished within {options.timeout:.0f} s)"
        _print_result(name, result, vendors, note=note)
        for line in rows_report(batch, vendors):
            print(line)
        return result


def token_refreshes(vendors: Vendors) -> dict[str, int]:
    """Refresh-token grants each vendor's token endpoint answered (the first tokens of each
    connection came from an authorization code and are not counted)."""
    endpoints = {"hubspot": (vendors.hubspot, "/oauth/v1/token")}
    if vendors.system == "qonto":
        endpoints["qonto"] = (vendors.accounting, "/oauth2/token")
    counts = {}
    for vendor, (running, path) in endpoints.items():
        counts[vendor] = sum(
            1
            for call in running.sandbox.api_calls(path_prefix=path)
            if isinstance(call.request_body, dict)
            and call.request_body.get("grant_type") == "refresh_token"
        )
    return counts


def _running_per_tenant(deals: list[DealRef]) -> Counter[str]:
    """Quote transfers held by a worker right now, per tenant."""
    from django.utils import timezone

    from sync.models import Transfer

    held = Transfer.objects.filter(
        kind=Transfer.Kind.QUOTE,
        tenant_id__in={d.tenant_id for d in deals},
        state__in=Transfer.ACTIVE_STATES,
        lease_until__gt=timezone.now(),
    ).values_list("tenant_id", flat=True)
    return Counter(str(tenant_id) for tenant_id in held)


def run_token_expiry(name: str, running: Stack, options: RunOptions) -> Tally:
    lifetime = options.token_seconds
    processes = options.token_workers * options.token_concurrency
    with world(
        running,
        tenants=options.tenants,
        workers=options.token_workers,
        concurrency=options.token_concurrency,
        first_portal=options.first_portal,
        worker_env=QUICK_RESUME,
        accounting="qonto",
        oauth=True,
        token_lifetime=lifetime,
    ) as (vendors, _pool):
        per_tenant = options.deals // max(1, options.tenants)
        if per_tenant < processes:
            print(
                f"    note: {per_tenant} deals per tenant, fewer than the {processes} pool "
                "processes: at most that many transfers of one tenant run at once"
            )
        batch = seed_deals(vendors, options.deals, prefix=name)
        already = token_refreshes(vendors)  # none expected: the code flows just ran
        started = time.monotonic()
        win(vendors, batch)
        peak: Counter[str] = Counter()

        def done() -> bool:
            for tenant_id, count in _running_per_tenant(batch).items():
                peak[tenant_id] = max(peak[tenant_id], count)
            return settled(batch)

        finished = wait_for(done, timeout=options.timeout, interval=0.5)
        seconds = time.monotonic() - started
        result = tally(vendors, batch, seconds=seconds)
        note = "" if finished else f"  (not finished within {options.timeout:.0f} s)"
        _print_result(name, result, vendors, note=note)
        counts = token_refreshes(vendors)
        # One refresh per connection per token lifetime.
        expected = options.tenants * math.ceil(seconds / lifetime)
        hubspot_calls = Counter(
            c.status for c in vendors.hubspot.sandbox.api_calls(path_prefix="/crm/")
        )
        qonto_calls = Counter(
            c.status for c in vendors.accounting.sandbox.api_calls(path_prefix="/v2/")
        )
        print(
            f"    token refreshes (access tokens live {lifetime:g} s, {options.tenants} "
            f"connections per vendor, {seconds:.0f} s): "
            + ", ".join(f"{vendor} {counts[vendor] - already.get(vendor, 0)}" for vendor in counts)
            + f"; expected about {expected} per vendor"
        )
        print(
            f"    API calls beside them: hubspot {hubspot_calls.total()} "
            f"{dict(sorted(hubspot_calls.items()))}, qonto {qonto_calls.total()} "
            f"{dict(sorted(qonto_calls.items()))}; "
            f"{processes} pool processes, peak quote transfers running at once per tenant "
            f"{sorted(peak.values(), reverse=True)}"
        )
        return result


def run_documents(name: str, running: Stack, options: RunOptions, *, system: str) -> DocumentTally:
    """The document mix under one fault: quotes, then invoices, then paid; each phase waits
    until its transfers (or, for paid, every deal's status) are done."""
    accounting_port = _keys_port(running)
    with world(
        running,
        tenants=options.tenants,
        workers=options.workers,
        first_portal=options.first_portal,
        worker_env={**QUICK_RESUME, "PUBLIC_BASE_URL": running.web.url},
        accounting=system,
        accounting_port=accounting_port,
    ) as (vendors, pool):
        try:
            connect_documents(vendors, public_base_url=running.web.url)
            if name == "duplicates":
                deliver_three_times(vendors)
                if system == "lexoffice":
                    deliver_callbacks_twice(vendors)
            batch = seed_deals(vendors, options.deals, prefix=f"{name}-doc", stage=EARLY_STAGE)
            if name == "drop-after-commit":
                vendors.accounting.sandbox.faults.update({"drop_after_commit_rate": 0.05})
            killer = Killer(pool, every=10.0) if name == "sigkill" else None
            if killer is not None:
                killer.start()
            phases: dict[str, float] = {}
            finished = True
            started = time.monotonic()
            for phase, stage, kind in (
                ("quotes", QUOTE_STAGE, "quote"),
                ("invoices", INVOICE_STAGE, "invoice"),
            ):
                begun = time.monotonic()
                move(vendors, batch, stage)
                finished &= wait_for(partial(kind_settled, batch, kind), timeout=options.timeout)
                phases[phase] = time.monotonic() - begun
            begun = time.monotonic()
            watch = StatusWatch(vendors, batch, mark_paid(vendors, batch))
            # sevDesk's changes are seen by the next poll of the tenant's feed (every 60 s,
            # from beat's round every 30 s).
            finished &= watch.wait(timeout=options.timeout + 120)
            phases["paid on the deals"] = time.monotonic() - begun
            phases["all"] = time.monotonic() - started
            if killer is not None:
                killer.stop()
            result = document_tally(vendors, batch)
            result.phases = phases
            result.status_latencies = watch.latencies()
            note = "" if finished else "  (not finished in time)"
            if killer is not None:
                note += f"  ({killer.kills} pool processes killed)"
            print(result.line(name) + note, flush=True)
            for line in result.detail():
                print(line)
            calls = vendors.accounting.sandbox.api_calls()
            statuses = Counter(call.status for call in calls)
            print(
                f"    vendor calls {len(calls)} by status {dict(sorted(statuses.items()))}; "
                f"webhook deliveries {len(vendors.hubspot.sandbox.webhooks.snapshot())}"
                + _callbacks_seen(vendors),
                flush=True,
            )
            unusual = Counter(
                f"{call.status} {call.method} {_ID.sub('{id}', call.path)}"
                for call in calls
                if call.status not in (200, 201)
            )
            if unusual:
                print(f"    other answers: {dict(unusual.most_common())}", flush=True)
            return result
        finally:
            disconnect(vendors)


# A vendor's record id in a path (a UUID, or digits), for counting calls by endpoint.
_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f-]{27}|\d+")


def _keys_port(running: Stack) -> int:
    """The port the run's accounting sandbox listens on: chosen with the stack, whose web
    server reads lexware office's webhook key from it (BENCH_LEXOFFICE_KEYS_URL)."""
    url = running.env.get("BENCH_LEXOFFICE_KEYS_URL", "")
    return urlsplit(url).port or 0 if url else 0


def _callbacks_seen(vendors: Vendors) -> str:
    if vendors.system != "lexoffice":
        return ""
    sent = vendors.accounting.sandbox.callbacks.sent
    states = Counter(callback.state for callback in sent)
    return f"; event callbacks {len(sent)} by state {dict(sorted(states.items()))}"


# -- the stacks -------------------------------------------------------------------------------


def _fresh_logs(prefix: str) -> None:
    """Each run's processes log to var/bench-logs/<run>-*.log, emptied when the run starts."""
    for path in LOG_DIR.glob(f"{prefix}*.log"):
        with suppress(OSError):
            path.unlink()


@contextmanager
def run_stack(name: str, *, system: str = "") -> Iterator[tuple[Stack, Outage | None]]:
    """The stack a run needs: on a Redis of its own, behind a PostgreSQL proxy, or plain;
    for a document run of `system`, one that knows where lexware office's key is."""
    prefix = f"{name}-{system}-" if system else f"{name}-"
    _fresh_logs(prefix)
    if system:
        # The web server reads the vendor's events, so it is told the vendor's address too
        # (without it, importing connectors/lexoffice/mapping.py fails under SANDBOX_VENDORS).
        url = f"http://127.0.0.1:{free_port()}"
        vendor_env = {
            "BENCH_LEXOFFICE_KEYS_URL": url,
            f"{system.upper()}_API_URL": url
            + {"sevdesk": "/api/v1", "eaccounting": "/v2"}.get(system, ""),
        }
        with stack(fresh=False, log_prefix=prefix, product_env=vendor_env) as running:
            yield running, None
        return
    if name == "redis-restart":
        server = RedisServer(log_name=f"{prefix}redis")
        server.start()
        try:
            with stack(fresh=False, redis_url=server.url, log_prefix=prefix) as running:
                yield running, server
        finally:
            server.stop()
    elif name == "postgres-refusing":
        address = urlsplit(PG_SERVER)
        proxy = RefusingProxy(target=(address.hostname or "127.0.0.1", address.port or 5432))
        proxy.accept()
        try:
            with stack(fresh=False, database_address=proxy.address, log_prefix=prefix) as running:
                yield running, PostgresRefusal(proxy)
        finally:
            proxy.stop()
    else:
        with stack(fresh=False, log_prefix=prefix) as running:
            yield running, None


def run(name: str, options: RunOptions) -> Tally:
    with run_stack(name) as (running, outage):
        if outage is not None:
            return run_outage(name, running, outage, options)
        if name == "token-expiry":
            return run_token_expiry(name, running, options)
        return run_one(name, running, options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deals", type=int, default=1000, help="won deals per run")
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--runs", nargs="*", choices=RUNS + LONG_RUNS, default=RUNS)
    parser.add_argument("--down-seconds", type=float, default=30.0, help="vendor-down")
    parser.add_argument("--long-down-seconds", type=float, default=7200.0, help="vendor-down-2h")
    parser.add_argument("--redis-down-seconds", type=float, default=60.0)
    parser.add_argument(
        "--redis-kill-after", type=float, default=5.0, help="seconds after the first wins"
    )
    parser.add_argument("--pg-down-seconds", type=float, default=30.0)
    parser.add_argument(
        "--pg-fault-after", type=float, default=1.0, help="seconds after the first wins"
    )
    parser.add_argument(
        "--late-share",
        type=float,
        default=0.25,
        help="share of the deals won during an outage (redis-restart, postgres-refusing)",
    )
    parser.add_argument("--token-seconds", type=float, default=30.0, help="token-expiry")
    parser.add_argument(
        "--timeout", type=float, default=0.0, help="seconds per run (default: from --deals)"
    )
    parser.add_argument(
        "--zep",
        action="store_true",
        help="the ZEP mix (bench/zep_faults.py): lexware office and ZEP per tenant",
    )
    parser.add_argument(
        "--documents",
        action="store_true",
        help=f"the document mix, in the runs {', '.join(DOCUMENT_RUNS)}",
    )
    parser.add_argument(
        "--systems", nargs="*", choices=DOCUMENT_SYSTEMS, default=list(DOCUMENT_SYSTEMS)
    )
    parser.add_argument(
        "--products",
        action="store_true",
        help="the product mix (bench/products.py): --deals products over --tenants",
    )
    args = parser.parse_args()
    if args.zep:
        from bench.zep_faults import zep_main

        zep_main(args)
        return
    if args.documents:
        documents_main(args)
        return
    if args.products:
        products_main(args)
        return
    # The limit allows one quote per second per tenant (2 calls each), but the workers sleep
    # through one tenant's limit at a time (docs/benchmarks.md): about one quote per second
    # in all. Leave room for the faults.
    outages = {
        "vendor-down": args.down_seconds,
        "vendor-down-2h": args.long_down_seconds,
        "redis-restart": args.redis_kill_after + args.redis_down_seconds,
        "postgres-refusing": args.pg_fault_after + args.pg_down_seconds,
    }
    print(
        f"fault runs: {args.deals} deals over {args.tenants} tenants, {args.workers} workers, "
        f"at most {args.deals * 1.6 + 60:.0f} s per run plus its outage",
        flush=True,
    )
    seconds = recreate_database()
    print(f"database {BENCH_DATABASE} created and migrated in {seconds:.1f} s", flush=True)
    results: list[tuple[str, Tally]] = []
    for index, name in enumerate(args.runs):
        outage = outages.get(name, args.down_seconds)
        timeout = args.timeout or max(120.0, args.deals * 1.6 + outage + 60)
        options = RunOptions(
            deals=args.deals,
            tenants=args.tenants,
            workers=args.workers,
            first_portal=7001 + index * 100,
            down_seconds=args.down_seconds,
            timeout=timeout,
            redis_down_seconds=args.redis_down_seconds,
            redis_kill_after=args.redis_kill_after,
            pg_down_seconds=args.pg_down_seconds,
            pg_fault_after=args.pg_fault_after,
            late_share=args.late_share,
            token_seconds=args.token_seconds,
            long_down_seconds=args.long_down_seconds,
        )
        results.append((name, run(name, options)))
    print("\n== summary ==")
    for name, result in results:
        print(result.line(name))


class Tallied(Protocol):
    def line(self, name: str) -> str: ...


# One run of a mix: its name, the system its stack serves, and what runs on that stack.
MixRun = tuple[str, str, Callable[[str, Stack, RunOptions], Tallied]]


def run_mix(
    args: argparse.Namespace,
    *,
    header: str,
    runs: list[MixRun],
    first_portal: int,
    stack_prefix: str = "",
    seconds_per_deal: float = 1.6,
    at_least: float = 120.0,
) -> None:
    """Runs of one mix on a fresh database, each on a stack and portals of its own, then
    their summary."""
    print(header, flush=True)
    seconds = recreate_database()
    print(f"database {BENCH_DATABASE} created and migrated in {seconds:.1f} s", flush=True)
    results: list[tuple[str, Tallied]] = []
    for index, (name, system, run_one) in enumerate(runs):
        options = RunOptions(
            deals=args.deals,
            tenants=args.tenants,
            workers=args.workers,
            first_portal=first_portal + index * 100,
            down_seconds=args.down_seconds,
            timeout=args.timeout or max(at_least, args.deals * seconds_per_deal + 60),
        )
        with run_stack(f"{stack_prefix}{name}", system=system) as (running, _outage):
            results.append((name, run_one(name, running, options)))
    print("\n== summary ==")
    for name, result in results:
        print(result.line(name))


def documents_main(args: argparse.Namespace) -> None:
    runs = [name for name in args.runs if name in DOCUMENT_RUNS] or DOCUMENT_RUNS
    if args.runs == RUNS:  # not named: all of the document runs
        runs = DOCUMENT_RUNS
    run_mix(
        args,
        header=(
            f"document runs: {args.deals} deals over {args.tenants} tenants, {args.workers} "
            f"workers, systems {', '.join(args.systems)}"
        ),
        runs=[
            (name, system, partial(run_documents, system=system))
            for system in args.systems
            for name in runs
        ],
        first_portal=7001,
    )


if __name__ == "__main__":
    main()
