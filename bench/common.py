"""What every benchmark needs: the stack (PostgreSQL, Redis, gunicorn, real Celery worker
processes, beat), the sandbox vendors in this process, tenants made through the ORM, won
deals, and the tally of quotes per deal.

Everything listens on 127.0.0.1. Every wait is bounded in time, every loop in count. The
benchmark database (`apiup_bench`) and Redis database (9) are separate from the ones the
tests and the demo use, and are emptied at the start of a run.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import requests

ROOT = Path(__file__).resolve().parent.parent
PG_SERVER = os.environ.get("BENCH_PG_SERVER", "postgres://postgres@127.0.0.1:5432")
BENCH_DATABASE = os.environ.get("BENCH_DATABASE", "apiup_bench")
BENCH_REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
DEAL_STAGE_ONLY: list[str | dict[str, Any]] = [
    {"eventType": "deal.propertyChange", "propertyName": "dealstage"}
]
QUICK_RESUME = {
    # A lost worker's transfer is picked up after seconds, not the production five minutes.
    "TRANSFER_LEASE_SECONDS": "20",
    "TRANSFER_RESUME_AFTER_SECONDS": "3",
    "TRANSFER_RESUME_INTERVAL_SECONDS": "2",
}
LOG_DIR = ROOT / "var" / "bench-logs"
_REFERENCE = re.compile(r"HubSpot-Deal (\d+)-(\d+)")


def bench_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": f"{PG_SERVER}/{BENCH_DATABASE}",
        "REDIS_URL": BENCH_REDIS_URL,
        "DJANGO_DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "LOG_FORMAT": "text",
        "PYTHONPATH": str(ROOT),
    }
    env.update(extra or {})
    return env


def setup_django() -> None:
    """Points this process (the driver) at the benchmark database, then sets Django up."""
    import django

    for key in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "DJANGO_DEBUG"):
        os.environ[key] = bench_env()[key]
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    django.setup()
    # The sandboxes serve in this process; their request lines would drown the figures.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def recreate_database() -> float:
    """Drops and creates the benchmark database and migrates it; returns the seconds taken."""
    import psycopg2  # type: ignore[import-untyped]

    started = time.monotonic()
    connection = psycopg2.connect(f"{PG_SERVER}/postgres")
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{BENCH_DATABASE}"')
    connection.close()
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=bench_env(),
        check=True,
        timeout=300,
    )
    return time.monotonic() - started


def flush_redis() -> None:
    import redis

    redis.Redis.from_url(BENCH_REDIS_URL).flushdb()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: Callable[[], bool], *, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False


# -- processes ------------------------------------------------------------------------------


def _stop(process: subprocess.Popen[bytes], *, timeout: float = 15) -> None:
    if process.poll() is not None:
        return
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def children_of(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def resident_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class Web:
    """gunicorn serving the product (bench.settings: the product's URLs plus /bench/bare)."""

    process: subprocess.Popen[bytes]
    url: str

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/webhooks/hubspot"

    def stop(self) -> None:
        _stop(self.process)


def start_web(
    *, workers: int = 3, threads: int = 1, extra_env: dict[str, str] | None = None
) -> Web:
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "apiup.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--threads", str(threads),
        "--backlog", "2048", "--log-level", "warning", "--timeout", "60",
    ]  # fmt: skip
    process = subprocess.Popen(  # noqa: S603
        command, cwd=ROOT, env=bench_env(extra_env), start_new_session=True
    )
    web = Web(process, f"http://127.0.0.1:{port}")

    def up() -> bool:
        try:
            return requests.get(f"{web.url}/healthz", timeout=2).status_code < 500
        except requests.RequestException:
            return False

    if not wait_for(up, timeout=30):
        web.stop()
        raise RuntimeError("gunicorn did not answer within 30 s")
    return web


@dataclass
class Workers:
    """N Celery worker instances (prefork, one pool process each) and one beat."""

    env: dict[str, str]
    count: int
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    beat: subprocess.Popen[bytes] | None = None
    started: int = 0

    def _worker(self) -> subprocess.Popen[bytes]:
        self.started += 1
        command = [
            sys.executable, "-m", "celery", "-A", "apiup", "worker",
            "--pool", "prefork", "--concurrency", "1", "-n", f"bench{self.started}@%h",
            "--without-mingle", "--without-gossip", "--loglevel", "WARNING",
        ]  # fmt: skip
        with self._log(f"worker{self.started}") as log:  # the child keeps its own copy
            return subprocess.Popen(  # noqa: S603
                command,
                cwd=ROOT,
                env=self.env,
                start_new_session=True,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    def _log(self, name: str) -> BinaryIO:
        """Worker output (warnings, errors) goes to var/bench-logs/, not between the figures."""
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        return (LOG_DIR / f"{name}.log").open("ab")

    def start(self) -> None:
        self.processes = [self._worker() for _ in range(self.count)]
        with self._log("beat") as log:
            self.beat = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "celery", "-A", "apiup", "beat", "--loglevel", "WARNING",
                 "--schedule", str(ROOT / "var" / f"bench-beat-{os.getpid()}")],
                cwd=ROOT, env=self.env, start_new_session=True,
                stdout=subprocess.DEVNULL, stderr=log,
            )  # fmt: skip
        # The pools fork their children and connect to the broker.
        wait_for(lambda: all(children_of(p.pid) for p in self.processes), timeout=30)
        time.sleep(1.0)

    def kill_pool_process(self, index: int) -> int | None:
        """SIGKILLs the pool process of worker `index` (the one running tasks); its parent
        starts a new one and the broker redelivers the task (late acknowledgement)."""
        children = children_of(self.processes[index].pid)
        if not children:
            return None
        with suppress(ProcessLookupError):
            os.kill(children[0], signal.SIGKILL)
        return children[0]

    def pool_pids(self) -> list[int]:
        return [pid for p in self.processes for pid in children_of(p.pid)]

    def stop(self) -> None:
        for process in [*self.processes, *([self.beat] if self.beat else [])]:
            _stop(process)
        with suppress(OSError):
            (ROOT / "var" / f"bench-beat-{os.getpid()}").unlink()


# -- vendors and tenants --------------------------------------------------------------------


@dataclass
class TenantHandle:
    portal_id: int
    tenant_id: str
    api_key: str


@dataclass
class Vendors:
    """The HubSpot and lexware office sandboxes, serving in this process, and the tenants."""

    hubspot: Any  # RunningSandbox of a HubSpotSandbox
    lexoffice: Any  # RunningSandbox of a LexofficeSandbox
    tenants: list[TenantHandle]

    def urls(self) -> dict[str, str]:
        return {"hubspot": self.hubspot.url, "lexoffice": self.lexoffice.url}

    def env(self) -> dict[str, str]:
        return {f"{name.upper()}_API_URL": url for name, url in self.urls().items()}

    def stop(self) -> None:
        self.hubspot.sandbox.webhooks.stop()
        self.hubspot.stop()
        self.lexoffice.stop()


def start_vendors(
    *,
    tenants: int,
    webhook_url: str,
    client_secret: str,
    first_portal: int = 5001,
    subscriptions: Iterable[str | dict[str, Any]] = DEAL_STAGE_ONLY,
    retry_base_delay: float = 1.0,
    lexoffice_rate: float = 2.0,
    token_lifetime: float = 1800.0,
) -> Vendors:
    """Sandboxes for `tenants` portals and lexware office accounts, and the tenants in the
    database: HubSpot connected, lexware office connected, subscription active."""
    from accounts.models import Tenant
    from billing.models import Subscription
    from connectors.models import Connection, System
    from sandbox.core import serve
    from sandbox.hubspot.app import HubSpotSandbox
    from sandbox.lexoffice.app import LexofficeSandbox

    portals = {first_portal + i: f"Bench Portal {first_portal + i}" for i in range(tenants)}
    hubspot_sandbox = HubSpotSandbox(
        portals=portals,
        client_secret=client_secret,
        webhook_target_url=webhook_url,
        webhook_subscriptions=list(subscriptions),
        webhook_retry_base_delay=retry_base_delay,
    )
    lexoffice_sandbox = LexofficeSandbox(api_keys={}, rate_per_second=lexoffice_rate, burst=1)
    hubspot = serve(hubspot_sandbox)
    lexoffice = serve(lexoffice_sandbox)
    handles = []
    for portal_id in portals:
        api_key = f"bench-lx-{portal_id}"
        lexoffice_sandbox.add_api_key(api_key, company_name=f"Buchhaltung {portal_id}")
        tenant = Tenant.objects.create(
            company_name=f"Bench GmbH {portal_id}",
            street="Hauptstraße",
            house_number="1",
            postcode="10115",
            city="Berlin",
            country="DE",
        )
        token = hubspot_sandbox.issue_token(portal_id, expires_in=token_lifetime)
        # The field encrypts a JSON object; its type hint only knows the stored text.
        hubspot_credentials: Any = {
            "access_token": token,
            "refresh_token": "",
            "expires_at": time.time() + token_lifetime,
        }
        lexoffice_credentials: Any = {"api_key": api_key}
        Connection.objects.create(
            tenant=tenant,
            system=System.HUBSPOT,
            external_account_id=str(portal_id),
            account_name=portals[portal_id],
            credentials=hubspot_credentials,
        )
        Connection.objects.create(
            tenant=tenant,
            system=System.LEXOFFICE,
            account_name=f"Buchhaltung {portal_id}",
            credentials=lexoffice_credentials,
        )
        Subscription.objects.create(
            tenant=tenant, plan="lexoffice", status=Subscription.Status.ACTIVE
        )
        handles.append(TenantHandle(portal_id, str(tenant.pk), api_key))
    return Vendors(hubspot, lexoffice, handles)


@dataclass(frozen=True)
class DealRef:
    portal_id: int
    deal_id: str
    tenant_id: str


def seed_deals(vendors: Vendors, count: int, *, prefix: str = "Deal") -> list[DealRef]:
    """`count` deals in a stage before won, spread round-robin over the tenants. One company
    per tenant, so after the first quote the customer is linked (the fewest vendor calls)."""
    hubspot = vendors.hubspot.sandbox
    deals = []
    for index in range(count):
        handle = vendors.tenants[index % len(vendors.tenants)]
        deal_id = hubspot.seed_deal(
            handle.portal_id,
            name=f"{prefix} {index}",
            stage="contractsent",
            company={
                "name": f"Kunde {handle.portal_id} GmbH",
                "domain": f"kunde{handle.portal_id}.de",
                "address": "Hauptstraße 5",
                "zip": "10115",
                "city": "Berlin",
                "country": "Germany",
            },
            contact={
                "firstname": "Anna",
                "lastname": "Muster",
                "email": f"anna@kunde{handle.portal_id}.de",
            },
            line_items=[
                {"name": "Konzeption", "quantity": "2", "price": "450.00"},
                {"name": "Design", "quantity": "1", "price": "1200.00"},
                {"name": "Umsetzung", "quantity": "10", "price": "95.50"},
            ],
        )
        deals.append(DealRef(handle.portal_id, deal_id, handle.tenant_id))
    return deals


def win(vendors: Vendors, deals: Iterable[DealRef]) -> None:
    hubspot = vendors.hubspot.sandbox
    for deal in deals:
        hubspot.move_deal(deal.portal_id, deal.deal_id, "closedwon")


# -- the tally ------------------------------------------------------------------------------


@dataclass
class Tally:
    deals: int
    quotes: int  # quotes in the vendor for these deals (duplicates included)
    duplicates: int  # quotes beyond the first for a deal
    lost: int  # deals with no quote, no visible failure and no work left
    failures_shown: int  # deals whose transfer failed visibly (activity log, with its reason)
    unfinished: int  # transfers still active when the wait ended
    seconds: float

    @property
    def passed(self) -> bool:
        return (
            self.quotes == self.deals
            and self.duplicates == 0
            and self.lost == 0
            and self.unfinished == 0
        )

    def line(self, name: str) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        return (
            f"{name:<28} deals {self.deals:>5}  quotes {self.quotes:>5}  "
            f"duplicates {self.duplicates:>3}  lost {self.lost:>3}  "
            f"failures shown {self.failures_shown:>3}  unfinished {self.unfinished:>3}  "
            f"time {self.seconds:7.1f} s  {verdict}"
        )


def quotes_per_deal(vendors: Vendors) -> Counter[tuple[int, str]]:
    lexoffice = vendors.lexoffice.sandbox
    with lexoffice.lock:
        introductions = [str(q.get("introduction") or "") for q in lexoffice.quotations.values()]
    counts: Counter[tuple[int, str]] = Counter()
    for text in introductions:
        match = _REFERENCE.search(text)
        if match:
            counts[(int(match.group(1)), match.group(2))] += 1
    return counts


def _transfers(deals: list[DealRef]) -> Any:
    from sync.models import Transfer

    return Transfer.objects.filter(
        kind=Transfer.Kind.QUOTE,
        tenant_id__in={d.tenant_id for d in deals},
        object_id__in=[d.deal_id for d in deals],
    )


def settled(deals: list[DealRef]) -> bool:
    """True when every deal has a quote transfer and none has work left."""
    from sync.models import Transfer

    transfers = _transfers(deals)
    finished = transfers.exclude(state__in=Transfer.ACTIVE_STATES).count()
    return finished >= len(deals)


def wait_settled(deals: list[DealRef], *, timeout: float) -> bool:
    """Waits (bounded) until every deal has a transfer with no work left."""
    return wait_for(lambda: settled(deals), timeout=timeout, interval=0.5)


def tally(vendors: Vendors, deals: list[DealRef], *, seconds: float) -> Tally:
    from sync.models import Transfer

    counts = quotes_per_deal(vendors)
    transfers = list(_transfers(deals).values_list("object_id", "state", "error"))
    failed = {oid for oid, state, error in transfers if state == Transfer.State.FAILED and error}
    active = {oid for oid, state, _ in transfers if state in Transfer.ACTIVE_STATES}
    quotes = duplicates = lost = 0
    for deal in deals:
        n = counts.get((deal.portal_id, deal.deal_id), 0)
        quotes += n
        duplicates += max(0, n - 1)
        # Still being worked on when the wait ended is "unfinished", not lost.
        if n == 0 and deal.deal_id not in failed and deal.deal_id not in active:
            lost += 1
    return Tally(
        deals=len(deals),
        quotes=quotes,
        duplicates=duplicates,
        lost=lost,
        failures_shown=len(failed),
        unfinished=len(active),
        seconds=seconds,
    )


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


# -- the whole stack ------------------------------------------------------------------------


@dataclass
class Stack:
    """The product on PostgreSQL + Redis: gunicorn and, per world, Celery workers and beat."""

    web: Web
    client_secret: str


@contextmanager
def stack(*, web_workers: int = 3, web_threads: int = 1, fresh: bool = True) -> Iterator[Stack]:
    if fresh:
        seconds = recreate_database()
        print(f"database {BENCH_DATABASE} created and migrated in {seconds:.1f} s")
    flush_redis()
    setup_django()
    from django.conf import settings

    web = start_web(workers=web_workers, threads=web_threads)
    try:
        yield Stack(web=web, client_secret=settings.HUBSPOT_CLIENT_SECRET)
    finally:
        web.stop()
        flush_redis()


@contextmanager
def world(
    running: Stack,
    *,
    tenants: int,
    workers: int = 4,
    first_portal: int = 5001,
    worker_env: dict[str, str] | None = None,
    **vendor_options: Any,
) -> Iterator[tuple[Vendors, Workers]]:
    """Sandboxes, tenants and fresh worker processes pointed at them, for one run."""
    flush_redis()  # no task, bucket or lock of an earlier run
    vendors = start_vendors(
        tenants=tenants,
        webhook_url=running.web.webhook_url,
        client_secret=running.client_secret,
        first_portal=first_portal,
        **vendor_options,
    )
    pool = Workers(env=bench_env({**vendors.env(), **(worker_env or {})}), count=workers)
    try:
        pool.start()
        yield vendors, pool
    finally:
        pool.stop()
        vendors.stop()
