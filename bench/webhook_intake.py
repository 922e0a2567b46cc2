"""Webhook intake on gunicorn + PostgreSQL + Redis (no Celery worker runs: the hand-off to
the queue is part of the request, the processing is not).

    .venv/bin/python -m bench.webhook_intake [--batches 600] [--singles 3000] [--concurrency 50]

1. Signed batches of 100 events at 50 concurrent connections: events per second, p50/p99
   latency, errors, and how many events the database holds afterwards.
2. Single-event requests per second, against a bare Django view answering 204
   (`/bench/bare`, bench/urls.py) on the same gunicorn, same middleware, same client.

The client runs in this process on the same machine, so it shares the CPU with the server.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from bench.common import Stack, percentile, stack, start_vendors


@dataclass
class Outcome:
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0

    @property
    def requests(self) -> int:
        return len(self.latencies)

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


def hammer(
    *,
    url: str,
    bodies: list[bytes],
    headers_for: Callable[[bytes], dict[str, str]],
    concurrency: int,
    timeout: float,
) -> Outcome:
    """Posts every body once, `concurrency` at a time, each on a new connection (gunicorn's
    sync workers close after each answer); stops early when `timeout` seconds are over."""
    parts = urlsplit(url)
    host, port, path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path
    outcome = Outcome()
    lock = threading.Lock()
    queue = iter(bodies)
    deadline = time.monotonic() + timeout

    def client() -> None:
        while time.monotonic() < deadline:
            with lock:
                body = next(queue, None)
            if body is None:
                return
            started = time.monotonic()
            status = 0
            try:
                connection = http.client.HTTPConnection(host, port, timeout=30)
                connection.request("POST", path, body=body, headers=headers_for(body))
                response = connection.getresponse()
                response.read()
                status = response.status
                connection.close()
            except OSError:
                status = -1
            elapsed = time.monotonic() - started
            with lock:
                outcome.latencies.append(elapsed)
                if status < 0:
                    outcome.errors += 1
                else:
                    outcome.statuses[status] = outcome.statuses.get(status, 0) + 1

    threads = [threading.Thread(target=client, daemon=True) for _ in range(concurrency)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(1.0, deadline - time.monotonic() + 35))
    outcome.seconds = time.monotonic() - started
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


def _report(title: str, outcome: Outcome, *, events_per_request: int, ok: int) -> None:
    lat = outcome.latencies
    rate = outcome.requests / outcome.seconds if outcome.seconds else 0.0
    print(f"{title}")
    print(
        f"    requests {outcome.requests} in {outcome.seconds:.2f} s = {rate:.0f} req/s"
        + (f" = {rate * events_per_request:.0f} events/s" if events_per_request > 1 else "")
    )
    print(
        f"    latency p50 {percentile(lat, 0.5) * 1000:.0f} ms  "
        f"p99 {percentile(lat, 0.99) * 1000:.0f} ms  max {max(lat, default=0) * 1000:.0f} ms"
    )
    print(
        f"    answers {dict(sorted(outcome.statuses.items()))}  connection errors "
        f"{outcome.errors}  failures {outcome.failures(ok)}",
        flush=True,
    )


def run(running: Stack, *, batches: int, singles: int, concurrency: int) -> None:
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
        sign: Callable[[bytes], dict[str, str]] = lambda body: sign_v3(secret, url, body)  # noqa: E731

        # Warm-up: every gunicorn worker opens its database connection.
        warm = [json.dumps(_events(portal, 1, ids)).encode() for _ in range(50)]
        hammer(url=url, bodies=warm, headers_for=sign, concurrency=10, timeout=30)
        before = WebhookEvent.objects.filter(tenant_id=tenant_id).count()

        bodies = [json.dumps(_events(portal, 100, ids)).encode() for _ in range(batches)]
        outcome = hammer(url=url, bodies=bodies, headers_for=sign, concurrency=concurrency,
                         timeout=300)  # fmt: skip
        stored = WebhookEvent.objects.filter(tenant_id=tenant_id).count() - before
        print(f"\n== webhook intake: {batches} signed batches of 100 events, "
              f"{concurrency} concurrent connections ==")  # fmt: skip
        _report("batches", outcome, events_per_request=100, ok=200)
        print(f"    events stored {stored} of {outcome.statuses.get(200, 0) * 100} accepted"
              "  (targets >= 3000 events/s, p99 <= 100 ms, no errors)")  # fmt: skip

        single_bodies = [json.dumps(_events(portal, 1, ids)).encode() for _ in range(singles)]
        webhook = hammer(url=url, bodies=single_bodies, headers_for=sign,
                         concurrency=concurrency, timeout=300)  # fmt: skip
        bare_url = f"{running.web.url}/bench/bare"
        bare = hammer(url=bare_url, bodies=[b"{}"] * singles,
                      headers_for=lambda _: {"Content-Type": "application/json"},
                      concurrency=concurrency, timeout=300)  # fmt: skip
        print(f"\n== single-event requests vs a bare 204 view, {singles} requests each, "
              f"{concurrency} concurrent connections ==")  # fmt: skip
        _report("webhook, 1 event per request", webhook, events_per_request=1, ok=200)
        _report("bare Django view (204)", bare, events_per_request=1, ok=204)
        ratio = (webhook.requests / webhook.seconds) / (bare.requests / bare.seconds)
        print(f"    ratio webhook / bare = {ratio:.2f}  (target >= 0.5)")
    finally:
        vendors.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=600)
    parser.add_argument("--singles", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--web-threads", type=int, default=1)
    args = parser.parse_args()
    with stack(web_workers=args.web_workers, web_threads=args.web_threads) as running:
        print(f"gunicorn: {args.web_workers} workers x {args.web_threads} threads", flush=True)
        run(running, batches=args.batches, singles=args.singles, concurrency=args.concurrency)


if __name__ == "__main__":
    main()
