"""Where one webhook request spends its time: signed requests run in this process through
Django's WSGI handler (every middleware, as gunicorn calls it) against PostgreSQL and Redis,
under cProfile, and the same number through the bare view for comparison.

    .venv/bin/python -m bench.intake_profile [--requests 300] [--events 1] [--top 25]

Uses the benchmark database and Redis of bench/common.py (BENCH_DATABASE, BENCH_REDIS_URL),
dropped and created at the start.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import itertools
import json
import pstats
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bench.common import flush_redis, recreate_database, setup_django
from bench.webhook_intake import _events, sign_v3

URL = "http://testserver/webhooks/hubspot"


def _environ(path: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/json",
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }
    for name, value in headers.items():
        if name.lower() != "content-type":
            environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def _call(app: Callable[..., Any], path: str, body: bytes, headers: dict[str, str]) -> str:
    status: list[str] = []
    chunks = app(_environ(path, body, headers), lambda s, h, *a: status.append(s))
    for _ in chunks:
        pass
    close = getattr(chunks, "close", None)
    if close:
        close()
    return status[0]


# Phases timed separately; those in _TOP_LEVEL do not overlap each other.
_PHASES = {
    "signature (connectors.hubspot.webhooks)": ("connectors.hubspot.webhooks", "verify_signature"),
    "parse and check the events (parse_batch)": ("sync.intake", "parse_batch"),
    "store (store_batch), of which:": ("sync.intake", "store_batch"),
    "    tenant and billing state, one query": ("sync.intake", "_portals"),
    "    insert ... on conflict ... returning": ("sync.intake", "_insert_new"),
    "hand-off to Celery (one message)": ("sync.services.events", "dispatch"),
}
_TOP_LEVEL = (
    "signature (connectors.hubspot.webhooks)",
    "parse and check the events (parse_batch)",
    "store (store_batch), of which:",
    "hand-off to Celery (one message)",
)


@contextmanager
def _phases() -> Iterator[tuple[dict[str, float], dict[str, float]]]:
    """Wraps the functions of each phase with a clock while the block runs."""
    import importlib

    spent = dict.fromkeys(_PHASES, 0.0)
    cpu = dict.fromkeys(_PHASES, 0.0)
    originals = []
    for name, (module_name, attribute) in _PHASES.items():
        module = importlib.import_module(module_name)
        original = getattr(module, attribute)
        originals.append((module, attribute, original))

        def timed(*a: Any, _name: str = name, _original: Any = original, **k: Any) -> Any:
            started, started_cpu = time.perf_counter(), time.process_time()
            try:
                return _original(*a, **k)
            finally:
                spent[_name] += time.perf_counter() - started
                cpu[_name] += time.process_time() - started_cpu

        setattr(module, attribute, timed)
    try:
        yield spent, cpu
    finally:
        for module, attribute, original in originals:
            setattr(module, attribute, original)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--events", type=int, default=1, help="events per request")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--sort", default="cumulative", help="pstats order: cumulative, tottime")
    args = parser.parse_args()

    recreate_database()
    from bench.common import BENCH_REDIS_URL

    flush_redis(BENCH_REDIS_URL)
    setup_django()
    from django.conf import settings
    from django.core.wsgi import get_wsgi_application

    from accounts.models import Tenant
    from billing.models import Subscription
    from connectors.models import Connection

    settings.ALLOWED_HOSTS = ["*"]
    tenant = Tenant.objects.create(company_name="Profile GmbH", country="DE")
    credentials: Any = {"access_token": "profile"}  # the field encrypts a JSON object
    Connection.objects.create(
        tenant=tenant, system="hubspot", external_account_id="7001", credentials=credentials
    )
    Subscription.objects.create(tenant=tenant, plan="lexoffice", status="active")
    app = get_wsgi_application()
    secret = settings.HUBSPOT_CLIENT_SECRET
    ids = itertools.count(10**9)

    def bodies(count: int) -> list[tuple[bytes, dict[str, str]]]:
        made = [json.dumps(_events(7001, args.events, ids)).encode() for _ in range(count)]
        return [(body, sign_v3(secret, URL, body)) for body in made]

    for body, headers in bodies(20):  # warm-up: connections, imports, caches
        _call(app, "/webhooks/hubspot", body, headers)
        _call(app, "/bench/bare", b"{}", {})

    signed = bodies(args.requests)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    statuses = {_call(app, "/webhooks/hubspot", body, headers) for body, headers in signed}
    profiler.disable()
    profiled = time.perf_counter() - started

    signed = bodies(args.requests)
    with _phases() as (spent, cpu):
        started, started_cpu = time.perf_counter(), time.process_time()
        for body, headers in signed:
            _call(app, "/webhooks/hubspot", body, headers)
        webhook = (time.perf_counter() - started) / args.requests
        webhook_cpu = (time.process_time() - started_cpu) / args.requests
    started = time.perf_counter()
    for _ in range(args.requests):
        _call(app, "/bench/bare", b"{}", {})
    bare = (time.perf_counter() - started) / args.requests

    print(f"{args.requests} webhook requests of {args.events} event(s): answers {statuses}")
    print(f"    under the profiler {profiled / args.requests * 1000:.2f} ms per request")
    print(f"    webhook {webhook * 1000:.2f} ms, bare view {bare * 1000:.2f} ms per request "
          f"(ratio {bare / webhook:.2f})")  # fmt: skip
    print("    where a request's time goes, without the profiler (ms per request):")
    print(f"        {'':<44} {'wall':>6} {'CPU':>6}  (CPU of this process only)")
    for name, seconds in spent.items():
        print(f"        {name:<44} {seconds / args.requests * 1000:6.2f} "
              f"{cpu[name] / args.requests * 1000:6.2f}")  # fmt: skip
    rest = webhook - sum(spent[name] for name in _TOP_LEVEL) / args.requests
    rest_cpu = webhook_cpu - sum(cpu[name] for name in _TOP_LEVEL) / args.requests
    print(f"        {'Django, middleware, view (the rest)':<44} {rest * 1000:6.2f} "
          f"{rest_cpu * 1000:6.2f}")  # fmt: skip
    print(f"        {'whole request':<44} {webhook * 1000:6.2f} {webhook_cpu * 1000:6.2f}")
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.top)
    print(out.getvalue())
    flush_redis(BENCH_REDIS_URL)


if __name__ == "__main__":
    main()
