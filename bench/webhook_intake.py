"""P1, webhook intake on gunicorn + PostgreSQL + Redis (no Celery worker runs: the hand-off to
the queue is part of the request, the processing is not).

    .venv/bin/python -m bench.webhook_intake [--batches 600] [--singles 3000]
        [--connections 10,50] [--rates 10000,17660] [--web-workers 4]

gunicorn runs as docker-compose.yml runs it in production (4 sync workers, an access log;
here to var/bench-logs/intake-access.log), with bench.settings (development's settings with
DEBUG off, the product's URLs plus `/bench/bare`).

1. Signed batches of 100 events, as fast as the server answers, at 10 and at 50 concurrent
   connections: events per second, p50/p99 latency, errors, and the events stored.
2. The same batches offered at a fixed rate (events per second, over at most 50
   connections): p50/p99 latency from the moment each request was due, so a request that
   waited for a free connection counts its wait.
3. Single-event requests per second against a bare Django view answering 204 on the same
   gunicorn, same middleware, same client, at 50 connections: the ratio.

The client is one asyncio loop in this process sending prepared (pre-signed) requests, one
connection per request as gunicorn's sync workers close it after each answer; it shares the
two cores with the server, PostgreSQL and Redis. Each run also prints the CPU time gunicorn
and the database's backends spent per request, which, unlike the rates, hardly depends on
what else the machine is doing.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bench.common import (
    BENCH_DATABASE,
    LOG_DIR,
    Stack,
    children_of,
    percentile,
    stack,
    start_vendors,
)

TARGET_P99_MS = 100
TARGET_EVENTS_PER_SECOND = 10_000
N8N_EVENTS_PER_SECOND = 8_830  # n8n's webhook node, 100-event batches at 50 connections
TARGET_RATIO = 0.5


@dataclass
class Outcome:
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    # CPU seconds spent meanwhile by gunicorn, by the PostgreSQL backends of the benchmark
    # database, and by this process (the client).
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return len(self.latencies)

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def failures(self, ok: int) -> int:
        return self.errors + sum(n for status, n in self.statuses.items() if status != ok)


def sign_v3(secret: str, url: str, body: bytes) -> dict[str, str]:
    timestamp = str(int(time.time() * 1000))
    message = b"POST" + url.encode() + body + timestamp.encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": base64.b64encode(digest).decode(),
        "X-HubSpot-Request-Timestamp": timestamp,
    }


def http_request(url: str, body: bytes, headers: dict[str, str]) -> bytes:
    """The bytes of one POST, prepared before the clock starts."""
    parts = urlsplit(url)
    lines = [
        f"POST {parts.path} HTTP/1.1",
        f"Host: {parts.netloc}",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime


def _database_backends() -> list[int]:
    """PostgreSQL's processes serving the benchmark database ("postgres: … bench_intake …")."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if title.startswith(b"postgres:") and f" {BENCH_DATABASE} ".encode() in title:
            found.append(int(entry.name))
    return found


class CpuMeter:
    """CPU time used by the server side (gunicorn's processes, the database's backends) and
    by the client, between start() and stop(): unlike requests per second, it barely moves
    with what else runs on the machine, so it says what one request costs. Processes are
    sampled every quarter second, so that a database backend that ends during the run (a
    connection past its CONN_MAX_AGE) keeps what it used until its last sample."""

    INTERVAL = 0.25

    def __init__(self, web_pid: int) -> None:
        self.web_pid = web_pid
        self.first: dict[tuple[str, int], float] = {}
        self.last: dict[tuple[str, int], float] = {}
        self.done = threading.Event()

    def _sample(self, *, initial: bool = False) -> None:
        groups = {
            "gunicorn": [self.web_pid, *children_of(self.web_pid)],
            "postgres": _database_backends(),
        }
        for group, pids in groups.items():
            for pid in pids:
                used = _cpu_seconds(pid)
                # A process that starts during the run counts from zero.
                self.first.setdefault((group, pid), used if initial else 0.0)
                self.last[(group, pid)] = max(used, self.last.get((group, pid), 0.0))

    def _run(self) -> None:
        while not self.done.wait(self.INTERVAL):
            self._sample()

    def start(self) -> None:
        self.first, self.last = {}, {}
        self.done.clear()
        self._sample(initial=True)
        self.client = time.process_time()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def stop(self) -> dict[str, float]:
        self.done.set()
        self.thread.join()
        self._sample()
        used = {"gunicorn": 0.0, "postgres": 0.0, "client": time.process_time() - self.client}
        for (group, pid), last in self.last.items():
            used[group] += last - self.first[(group, pid)]
        return used


async def _exchange(host: str, port: int, request: bytes) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(request)
        answer = await reader.read()  # to the end: the server closes after its answer
    finally:
        writer.close()
    # "HTTP/1.1 200 OK": the status is the second word of the first line.
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else -1


async def _hammer(
    url: str, requests: list[bytes], connections: int, rate: float | None, timeout: float
) -> Outcome:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    outcome = Outcome()
    pending = iter(enumerate(requests))
    started = time.monotonic()
    deadline = started + timeout

    async def client() -> None:
        while True:
            try:
                index, request = next(pending)
            except StopIteration:
                return
            if rate:
                due = started + index / rate
                if due > time.monotonic():
                    await asyncio.sleep(due - time.monotonic())
            else:
                due = time.monotonic()
            if due > deadline:
                return
            try:
                status = await asyncio.wait_for(_exchange(host, port, request), 30)
            except (OSError, TimeoutError, ValueError, IndexError):
                status = -1
            outcome.latencies.append(time.monotonic() - due)
            if status < 0:
                outcome.errors += 1
            else:
                outcome.statuses[status] = outcome.statuses.get(status, 0) + 1

    await asyncio.gather(*(client() for _ in range(connections)))
    outcome.seconds = time.monotonic() - started
    return outcome


def hammer(
    *,
    url: str,
    requests: list[bytes],
    connections: int,
    rate: float | None = None,
    timeout: float = 120,
    meter: CpuMeter | None = None,
) -> Outcome:
    """Sends every request once over at most `connections` connections at a time: as fast as
    answers come (closed loop), or each at its due time when `rate` (requests per second) is
    given (open loop). Stops starting new requests after `timeout` seconds."""
    if meter:
        meter.start()
    outcome = asyncio.run(_hammer(url, requests, connections, rate, timeout))
    if meter:
        outcome.cpu = meter.stop()
    return outcome


def _events(portal_id: int, count: int, ids: itertools.count[int]) -> list[dict[str, object]]:
    now = int(time.time() * 1000)
    events: list[dict[str, object]] = []
    for _ in range(count):
        n = next(ids)
        events.append(
            {
                "eventId": n,
                "subscriptionId": 1,
                "portalId": portal_id,
                "appId": 1001,
                "occurredAt": now,
                "subscriptionType": "deal.propertyChange",
                "attemptNumber": 0,
                "objectId": n,
                "propertyName": "dealstage",
                "propertyValue": "contractsent",
                "changeSource": "CRM_UI",
            }
        )
    return events


def _latency(outcome: Outcome) -> str:
    lat = outcome.latencies
    return (
        f"p50 {percentile(lat, 0.5) * 1000:.0f} ms  p99 {percentile(lat, 0.99) * 1000:.0f} ms  "
        f"max {max(lat, default=0) * 1000:.0f} ms"
    )


def _report(title: str, outcome: Outcome, *, events_per_request: int, ok: int) -> None:
    rate = outcome.per_second
    print(f"{title}")
    print(
        f"    requests {outcome.requests} in {outcome.seconds:.2f} s = {rate:.0f} req/s"
        + (f" = {rate * events_per_request:.0f} events/s" if events_per_request > 1 else "")
    )
    print(f"    latency {_latency(outcome)}")
    print(
        f"    answers {dict(sorted(outcome.statuses.items()))}  connection errors "
        f"{outcome.errors}  failures {outcome.failures(ok)}",
        flush=True,
    )
    if outcome.cpu and outcome.requests:
        per = {name: seconds / outcome.requests * 1000 for name, seconds in outcome.cpu.items()}
        server = per["gunicorn"] + per["postgres"]
        capacity = f"{2000 / server:.0f} req/s"
        if events_per_request > 1:
            capacity += f" = {2000 / server * events_per_request:.0f} events/s"
        print(
            f"    CPU per request: gunicorn {per['gunicorn']:.2f} ms + PostgreSQL "
            f"{per['postgres']:.2f} ms = {server:.2f} ms (client {per['client']:.2f} ms); "
            f"two free cores would serve {capacity}",
            flush=True,
        )


def run(
    running: Stack,
    *,
    batches: int,
    singles: int,
    connections: list[int],
    rates: list[int],
) -> None:
    from sync.models import WebhookEvent

    vendors = start_vendors(
        tenants=1, webhook_url="", client_secret=running.client_secret, first_portal=9001
    )
    try:
        portal = vendors.tenants[0].portal_id
        tenant_id = vendors.tenants[0].tenant_id
        url = running.web.webhook_url
        secret = running.client_secret
        ids = itertools.count(10**9)
        meter = CpuMeter(running.web.process.pid)

        def signed(count: int, events: int) -> list[bytes]:
            bodies = [json.dumps(_events(portal, events, ids)).encode() for _ in range(count)]
            return [http_request(url, body, sign_v3(secret, url, body)) for body in bodies]

        def stored() -> int:
            return WebhookEvent.objects.filter(tenant_id=tenant_id).count()

        # Warm-up: every gunicorn worker opens its database and Redis connections.
        hammer(url=url, requests=signed(200, 1), connections=10)

        print("\n== P1 webhook intake: signed batches of 100 events ==")
        fastest = 0.0
        for count in connections:
            before = stored()
            outcome = hammer(url=url, requests=signed(batches, 100), connections=count, meter=meter)
            fastest = max(fastest, outcome.per_second * 100)
            _report(f"{count} connections, as fast as answered", outcome,
                    events_per_request=100, ok=200)  # fmt: skip
            print(f"    events stored {stored() - before} of "
                  f"{outcome.statuses.get(200, 0) * 100} accepted")  # fmt: skip
        for events_per_second in rates:
            per_second = events_per_second / 100
            count = max(int(per_second * 5), 50)  # five seconds of load
            outcome = hammer(url=url, requests=signed(count, 100), connections=max(connections),
                             rate=per_second, meter=meter)  # fmt: skip
            _report(f"offered {events_per_second} events/s ({per_second:.0f} batches/s), "
                    f"at most {max(connections)} connections", outcome,
                    events_per_request=100, ok=200)  # fmt: skip
        print(f"    targets: p99 <= {TARGET_P99_MS} ms, >= {TARGET_EVENTS_PER_SECOND} events/s, "
              f">= {2 * N8N_EVENTS_PER_SECOND} events/s (2x n8n's {N8N_EVENTS_PER_SECOND}); "
              f"fastest here {fastest:.0f} events/s = {fastest / N8N_EVENTS_PER_SECOND:.2f}x "
              "n8n")  # fmt: skip

        count = max(connections)
        webhook = hammer(url=url, requests=signed(singles, 1), connections=count, meter=meter)
        bare_url = f"{running.web.url}/bench/bare"
        bare_request = http_request(bare_url, b"{}", {"Content-Type": "application/json"})
        bare = hammer(
            url=bare_url, requests=[bare_request] * singles, connections=count, meter=meter
        )
        print(f"\n== single-event requests vs a bare 204 view, {singles} requests each, "
              f"{count} connections ==")  # fmt: skip
        _report("webhook, 1 event per request", webhook, events_per_request=1, ok=200)
        _report("bare Django view (204)", bare, events_per_request=1, ok=204)
        ratio = webhook.per_second / bare.per_second if bare.per_second else 0.0
        print(f"    ratio webhook / bare = {ratio:.2f}  (target >= {TARGET_RATIO})")
        if webhook.cpu and bare.cpu:
            webhook_cost, bare_cost = (
                (o.cpu["gunicorn"] + o.cpu["postgres"]) / o.requests for o in (webhook, bare)
            )
            print(f"    ratio of server CPU per request, bare / webhook = "
                  f"{bare_cost / webhook_cost:.2f}")  # fmt: skip
    finally:
        vendors.stop()


def _numbers(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=600, help="per connection count")
    parser.add_argument("--singles", type=int, default=3000)
    parser.add_argument("--connections", type=_numbers, default=[10, 50])
    parser.add_argument("--rates", type=_numbers, default=[TARGET_EVENTS_PER_SECOND,
                        2 * N8N_EVENTS_PER_SECOND], help="offered events/s")  # fmt: skip
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--web-threads", type=int, default=1)
    args = parser.parse_args()
    access_log = LOG_DIR / "intake-access.log"
    with stack(
        web_workers=args.web_workers, web_threads=args.web_threads, access_log=access_log
    ) as running:
        shown = access_log.relative_to(LOG_DIR.parent.parent)
        print(f"gunicorn: {args.web_workers} sync workers x {args.web_threads} threads, "
              f"access log {shown}", flush=True)  # fmt: skip
        run(
            running,
            batches=args.batches,
            singles=args.singles,
            connections=args.connections,
            rates=args.rates,
        )


if __name__ == "__main__":
    main()
