"""What every benchmark needs: the stack (PostgreSQL, Redis, gunicorn, real Celery worker
processes, beat), the sandbox vendors in this process, tenants made through the ORM, won
deals, and the tally of quotes per deal.

Everything listens on 127.0.0.1. Every wait is bounded in time, every loop in count. The
benchmark database (`apiup_bench`) and Redis database (9) are separate from the ones the
tests and the demo use, and are emptied at the start of a run. A stack can be pointed at
another Redis (a server of its own) and at PostgreSQL through another address (a proxy):
only the product's processes use those, the driver keeps its direct connection.

The accounting vendor is lexware office (API key) unless a run asks for sevDesk (API token)
or Qonto, whose connections, like HubSpot's when `oauth` is asked for, are made through the
sandbox's real OAuth code flow, so that they hold a refresh token and short-lived access
tokens.
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
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qs, urlsplit

import requests
from redis.exceptions import RedisError

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
    "TRANSFER_RESUME_AFTER_SECONDS": "10",
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


def database_url_via(address: str) -> str:
    """The benchmark database's URL with PostgreSQL reached at `address` ("host:port")."""
    parts = urlsplit(PG_SERVER)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{address}" if userinfo else address
    return f"{parts.scheme}://{netloc}/{BENCH_DATABASE}"


def flush_redis(url: str = BENCH_REDIS_URL) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


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
    """The process's children, whichever of its threads forked them (a Celery worker forks
    its pool from another thread than its main one)."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children.extend(int(child) for child in (task / "children").read_text().split())
        except OSError:
            continue
    return sorted(children)


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


def _log_file(name: str) -> BinaryIO:
    """Process output (warnings, errors) goes to var/bench-logs/, not between the figures."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    return (LOG_DIR / f"{name}.log").open("ab")


def start_web(
    *,
    workers: int = 3,
    threads: int = 1,
    extra_env: dict[str, str] | None = None,
    log_name: str = "",
    access_log: Path | None = None,
) -> Web:
    """gunicorn; its output goes to var/bench-logs/`log_name`.log when a name is given, and
    one line per request to `access_log` when given (as production logs to stdout)."""
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "apiup.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--threads", str(threads),
        "--backlog", "2048", "--log-level", "warning", "--timeout", "60",
    ]  # fmt: skip
    if access_log is not None:
        access_log.parent.mkdir(parents=True, exist_ok=True)
        command += ["--access-logfile", str(access_log)]
    log: BinaryIO | None = _log_file(log_name) if log_name else None
    try:
        process = subprocess.Popen(  # noqa: S603
            command, cwd=ROOT, env=bench_env(extra_env), start_new_session=True, stderr=log
        )
    finally:
        if log is not None:
            log.close()  # the child keeps its own copy
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
    """N Celery worker instances (prefork, `concurrency` pool processes each, one unless
    asked; or another `pool`, such as threads, with `concurrency` threads each) and one
    beat. Their logs are var/bench-logs/<log_prefix>worker<n>.log and <log_prefix>beat.log."""

    env: dict[str, str]
    count: int
    concurrency: int = 1
    pool: str = "prefork"
    log_prefix: str = ""
    # With import workers, the N workers take the won deals and these the imports (as
    # deployed, docker-compose.yml); without, the N workers take both.
    import_workers: int = 0
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    importers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    beat: subprocess.Popen[bytes] | None = None
    started: int = 0

    def _worker(self, queues: str | None = None) -> subprocess.Popen[bytes]:
        self.started += 1
        queues = queues or ("celery" if self.import_workers else "celery,imports")
        command = [
            sys.executable, "-m", "celery", "-A", "apiup", "worker",
            "--pool", self.pool, "--concurrency", str(self.concurrency), "--queues", queues,
            "-n", f"bench{self.started}@%h",
            "--without-mingle", "--without-gossip", "--loglevel", "WARNING",
        ]  # fmt: skip
        # The settings' pool wins over the command line's (a worker with `--pool prefork` ran
        # a thread pool while CELERY_WORKER_POOL said threads): both are passed.
        env = {
            **self.env,
            "CELERY_WORKER_POOL": self.pool,
            "CELERY_WORKER_CONCURRENCY": str(self.concurrency),
        }
        with self._log(f"worker{self.started}") as log:  # the child keeps its own copy
            return subprocess.Popen(  # noqa: S603
                command,
                cwd=ROOT,
                env=env,
                start_new_session=True,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    def _log(self, name: str) -> BinaryIO:
        return _log_file(f"{self.log_prefix}{name}")

    def start(self) -> None:
        self.processes = [self._worker() for _ in range(self.count)]
        self.importers = [self._worker("imports") for _ in range(self.import_workers)]
        with self._log("beat") as log:
            self.beat = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "celery", "-A", "apiup", "beat", "--loglevel", "WARNING",
                 "--schedule", str(ROOT / "var" / f"bench-beat-{os.getpid()}")],
                cwd=ROOT, env=self.env, start_new_session=True,
                stdout=subprocess.DEVNULL, stderr=log,
            )  # fmt: skip
        # The pools fork their children and connect to the broker; a thread pool forks none.
        children = self.concurrency if self.pool == "prefork" else 0
        wait_for(
            lambda: all(len(children_of(p.pid)) >= children for p in self.processes),
            timeout=30,
        )
        time.sleep(1.0 if children else 3.0)

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
        for process in [*self.processes, *self.importers, *([self.beat] if self.beat else [])]:
            _stop(process)
        with suppress(OSError):
            (ROOT / "var" / f"bench-beat-{os.getpid()}").unlink()


# -- vendors and tenants --------------------------------------------------------------------

ACCOUNTING_SYSTEMS = ("lexoffice", "sevdesk", "qonto", "eaccounting")
# The address the OAuth code flows send the customer back to; the sandboxes accept any.
OAUTH_REDIRECT_URI = "http://127.0.0.1/bench/oauth/callback"


@dataclass
class TenantHandle:
    portal_id: int
    tenant_id: str
    api_key: str  # lexware office's API key, or the Qonto organization's slug


@dataclass
class Vendors:
    """The HubSpot and accounting sandboxes, serving in this process, and the tenants."""

    hubspot: Any  # RunningSandbox of a HubSpotSandbox
    accounting: Any  # RunningSandbox of a LexofficeSandbox or a QontoSandbox
    tenants: list[TenantHandle]
    system: str = "lexoffice"

    @property
    def lexoffice(self) -> Any:
        """The lexware office sandbox (the accounting vendor unless a run chose another)."""
        if self.system != "lexoffice":
            raise AttributeError(f"the accounting vendor of this run is {self.system}")
        return self.accounting

    @property
    def accounting_api_url(self) -> str:
        """Where the product calls the accounting vendor (sevDesk's and eAccounting's APIs
        are under a path)."""
        prefix = {"sevdesk": "/api/v1", "eaccounting": "/v2"}.get(self.system, "")
        return self.accounting.url + prefix

    def urls(self) -> dict[str, str]:
        return {"hubspot": self.hubspot.url, self.system: self.accounting_api_url}

    def env(self) -> dict[str, str]:
        env = {f"{name.upper()}_API_URL": url for name, url in self.urls().items()}
        if self.system in ("qonto", "eaccounting"):  # their token endpoints are elsewhere
            env[f"{self.system.upper()}_OAUTH_URL"] = self.accounting.url
        return env

    def stop(self) -> None:
        self.hubspot.sandbox.webhooks.stop()
        self.hubspot.stop()
        self.accounting.stop()


def _redirected_code(answer: requests.Response, *, what: str) -> str:
    if answer.status_code != 302:
        raise RuntimeError(f"{what}: the consent answered {answer.status_code}, not a redirect")
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    if "code" not in query:
        raise RuntimeError(f"{what}: the consent was refused: {query}")
    return query["code"][0]


def _credentials(tokens: Any) -> dict[str, Any]:
    return {
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
        "expires_at": time.time() + tokens.expires_in,
    }


def hubspot_oauth_credentials(hubspot: Any, portal_id: int) -> dict[str, Any]:
    """The customer installs the app on `portal_id` (consent with PKCE, code exchange through
    the product's own `exchange_code`); returns what the connection stores."""
    import secrets

    from connectors import oauth
    from connectors.registry import provider

    declared = provider("hubspot")
    assert declared.oauth is not None
    client_id, _secret = oauth.client_credentials(declared)

    verifier = secrets.token_urlsafe(48)
    answer = requests.post(
        f"{hubspot.url}/oauth/authorize",
        data={
            "client_id": client_id,
            "redirect_uri": OAUTH_REDIRECT_URI,
            "scope": " ".join(declared.oauth.scopes),
            "state": f"bench-{portal_id}",
            "code_challenge": oauth.code_challenge(verifier),
            "code_challenge_method": "S256",
            "portal_id": str(portal_id),
            "decision": "approve",
        },
        allow_redirects=False,
        timeout=10,
    )
    tokens = oauth.exchange_code(
        declared,
        code=_redirected_code(answer, what=f"HubSpot portal {portal_id}"),
        redirect_uri=OAUTH_REDIRECT_URI,
        code_verifier=verifier,
        oauth_url=hubspot.url,
    )
    return _credentials(tokens)


def sandbox_oauth_credentials(
    system: str, accounting: Any, *, account: tuple[str, str], what: str
) -> dict[str, Any]:
    """The customer approves the vendor's consent for one account (`account` is the consent
    form's field and value: Qonto's organization, eAccounting's company); the code is exchanged
    through the product's own `exchange_code`. Returns what the connection stores."""
    from connectors import oauth
    from connectors.registry import provider

    declared = provider(system)
    assert declared.oauth is not None
    client_id, _secret = oauth.client_credentials(declared)
    field, account_id = account
    answer = requests.post(
        f"{accounting.url}{declared.oauth.authorize_path}",
        data={
            "client_id": client_id,
            "redirect_uri": OAUTH_REDIRECT_URI,
            "response_type": "code",
            "scope": " ".join(declared.oauth.scopes),
            "state": f"bench-{account_id}",
            field: account_id,
            "decision": "approve",
        },
        allow_redirects=False,
        timeout=10,
    )
    tokens = oauth.exchange_code(
        declared,
        code=_redirected_code(answer, what=f"{what} {account_id}"),
        redirect_uri=OAUTH_REDIRECT_URI,
        oauth_url=accounting.url,
    )
    return _credentials(tokens)


def _oauth_sandbox(system: str, sandbox: Any) -> Any:
    """The vendor's sandbox with the product's OAuth client registered."""
    from connectors.oauth import client_credentials
    from connectors.registry import provider

    client_id, client_secret = client_credentials(provider(system))
    sandbox.add_oauth_client(client_id=client_id, client_secret=client_secret)
    return sandbox


def _accounting_sandbox(system: str, *, lexoffice_rate: float, token_lifetime: float) -> Any:
    if system == "lexoffice":
        from sandbox.lexoffice.app import LexofficeSandbox

        return LexofficeSandbox(api_keys={}, rate_per_second=lexoffice_rate, burst=1)
    if system == "sevdesk":
        from sandbox.sevdesk.app import SevdeskSandbox

        return SevdeskSandbox(demo_token=None)  # sevDesk publishes no rate limit
    if system == "qonto":
        from sandbox.qonto.app import QontoSandbox

        qonto = QontoSandbox(access_token_lifetime=token_lifetime, seed_demo=False)
        return _oauth_sandbox(system, qonto)
    if system == "eaccounting":
        from sandbox.eaccounting.app import EAccountingSandbox

        return _oauth_sandbox(system, EAccountingSandbox(access_token_lifetime=token_lifetime))
    raise ValueError(f"no accounting sandbox for {system!r} (one of {ACCOUNTING_SYSTEMS})")


def _accounting_account(accounting: Any, system: str, portal_id: int) -> tuple[str, Any]:
    """A new account at the accounting vendor: (its handle, the connection's credentials)."""
    sandbox = accounting.sandbox
    if system == "lexoffice":
        api_key = f"bench-lx-{portal_id}"
        sandbox.add_api_key(api_key, company_name=f"Buchhaltung {portal_id}")
        return api_key, {"api_key": api_key}
    if system == "sevdesk":
        token = f"{portal_id:032d}"  # 32 hexadecimal characters, as sevDesk's tokens
        sandbox.add_account(token=token, company_name=f"Buchhaltung {portal_id}")
        return token, {"api_token": token}
    if system == "eaccounting":
        company_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench-eaccounting-{portal_id}"))
        sandbox.add_company(company_id, f"Boekhouding {portal_id} B.V.")
        return company_id, sandbox_oauth_credentials(
            system, accounting, account=("company_id", company_id), what="eAccounting company"
        )
    from sandbox.qonto.app import DEMO_IBAN

    organization = sandbox.add_organization(
        slug=f"bench-{portal_id}",
        secret_key=f"bench-secret-{portal_id}",
        name=f"Buchhaltung {portal_id} SAS",
        iban=DEMO_IBAN,
    )
    return organization.slug, sandbox_oauth_credentials(
        system, accounting, account=("organization_id", organization.id), what="Qonto organization"
    )


def start_vendors(
    *,
    tenants: int,
    webhook_url: str,
    client_secret: str,
    client_id: str = "",
    first_portal: int = 5001,
    subscriptions: Iterable[str | dict[str, Any]] = DEAL_STAGE_ONLY,
    retry_base_delay: float = 1.0,
    lexoffice_rate: float = 2.0,
    token_lifetime: float = 1800.0,
    accounting: str = "lexoffice",
    oauth: bool = False,
    accounting_port: int = 0,
) -> Vendors:
    """Sandboxes for `tenants` portals and accounting accounts, and the tenants in the
    database: HubSpot connected, the accounting vendor connected, subscription active.

    With `oauth`, HubSpot connections come from the code flow (refresh token, access token of
    `token_lifetime` seconds, renewed through the sandbox's token endpoint); otherwise they
    hold one access token of that lifetime and no refresh token. Qonto connections always
    come from its code flow, with access tokens of `token_lifetime` seconds. `accounting_port`:
    where the accounting sandbox listens (0: a free port), for a stack that must know it
    before the sandbox starts."""
    from django.conf import settings

    from accounts.models import Tenant
    from billing.models import Subscription
    from connectors.models import Connection
    from sandbox.core import serve
    from sandbox.hubspot.app import HubSpotSandbox

    portals = {first_portal + i: f"Bench Portal {first_portal + i}" for i in range(tenants)}
    hubspot_sandbox = HubSpotSandbox(
        portals=portals,
        client_secret=client_secret,
        webhook_target_url=webhook_url,
        webhook_subscriptions=list(subscriptions),
        webhook_retry_base_delay=retry_base_delay,
        access_token_lifetime=token_lifetime,
        client_id=client_id or settings.HUBSPOT_CLIENT_ID,
    )
    accounting_sandbox = _accounting_sandbox(
        accounting, lexoffice_rate=lexoffice_rate, token_lifetime=token_lifetime
    )
    hubspot = serve(hubspot_sandbox)
    accounting_vendor = serve(accounting_sandbox, port=accounting_port)
    handles = []
    for portal_id in portals:
        handle, accounting_credentials = _accounting_account(
            accounting_vendor, accounting, portal_id
        )
        tenant = Tenant.objects.create(
            company_name=f"Bench GmbH {portal_id}",
            street="Hauptstraße",
            house_number="1",
            postcode="10115",
            city="Berlin",
            country="DE",
        )
        # The field encrypts a JSON object; its type hint only knows the stored text.
        hubspot_credentials: Any
        if oauth:
            hubspot_credentials = hubspot_oauth_credentials(hubspot, portal_id)
        else:
            token = hubspot_sandbox.issue_token(portal_id, expires_in=token_lifetime)
            hubspot_credentials = {
                "access_token": token,
                "refresh_token": "",
                "expires_at": time.time() + token_lifetime,
            }
        Connection.objects.create(
            tenant=tenant,
            system="hubspot",
            external_account_id=str(portal_id),
            account_name=portals[portal_id],
            credentials=hubspot_credentials,
        )
        Connection.objects.create(
            tenant=tenant,
            system=accounting,
            account_name=f"Buchhaltung {portal_id}",
            credentials=accounting_credentials,
        )
        Subscription.objects.create(
            tenant=tenant, plan=accounting, status=Subscription.Status.ACTIVE
        )
        handles.append(TenantHandle(portal_id, str(tenant.pk), handle))
    return Vendors(hubspot, accounting_vendor, handles, accounting)


@dataclass(frozen=True)
class DealRef:
    portal_id: int
    deal_id: str
    tenant_id: str


def seed_deals(
    vendors: Vendors,
    count: int,
    *,
    prefix: str = "Deal",
    stage: str = "contractsent",
    linked: bool = False,
) -> list[DealRef]:
    """`count` deals in `stage` (one before won unless told), spread round-robin over the
    tenants. One customer per tenant: a new HubSpot company (and contact) per deal with the
    same name and e-mail, found by e-mail after the first quote; with `linked`, every deal of a
    tenant has its first deal's company and contact, so the customer is linked (the fewest
    vendor calls, as for a tenant in daily use)."""
    hubspot = vendors.hubspot.sandbox
    deals = []
    firsts: dict[int, str] = {}
    for index in range(count):
        handle = vendors.tenants[index % len(vendors.tenants)]
        first = firsts.get(handle.portal_id) if linked else None
        deal_id = hubspot.seed_deal(
            handle.portal_id,
            name=f"{prefix} {index}",
            stage=stage,
            company=None if first else {
                "name": f"Kunde {handle.portal_id} GmbH",
                "domain": f"kunde{handle.portal_id}.de",
                "address": "Hauptstraße 5",
                "zip": "10115",
                "city": "Berlin",
                "country": "Germany",
            },
            contact=None if first else {
                "firstname": "Anna",
                "lastname": "Muster",
                "email": f"anna@kunde{handle.portal_id}.de",
            },
            line_items=[
                {"name": "Konzeption", "quantity": "2", "price": "450.00"},
                {"name": "Design", "quantity": "1", "price": "1200.00"},
                {"name": "Umsetzung", "quantity": "10", "price": "95.50"},
            ],
        )  # fmt: skip
        if first:
            for kind in ("companies", "contacts"):
                for other in hubspot.linked(handle.portal_id, "deals", first, kind):
                    hubspot.associate(
                        handle.portal_id, "deals", deal_id, kind, other, kind == "companies"
                    )
        firsts.setdefault(handle.portal_id, deal_id)
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


def _quote_texts(vendors: Vendors) -> list[str]:
    """The text of each quote in the accounting vendor that carries the deal reference:
    lexware office's `introduction`, Qonto's `header` (it has no title or introduction)."""
    sandbox = vendors.accounting.sandbox
    with sandbox.lock:
        if vendors.system == "lexoffice":
            return [str(q.get("introduction") or "") for q in sandbox.quotations.values()]
        if vendors.system == "qonto":
            return [
                str(q.get("header") or "")
                for organization in sandbox.organizations.values()
                for q in organization.quotes.values()
            ]
    raise ValueError(f"no quote reader for {vendors.system!r}")


def customers_in_vendor(vendors: Vendors) -> int:
    sandbox = vendors.accounting.sandbox
    with sandbox.lock:
        if vendors.system == "qonto":
            return sum(len(o.clients) for o in sandbox.organizations.values())
        return len(sandbox.contacts)


def quotes_per_deal(vendors: Vendors) -> Counter[tuple[int, str]]:
    """Quotes in the accounting vendor per (portal, deal), read from the reference
    "HubSpot-Deal <portal>-<deal>" that every quote carries."""
    counts: Counter[tuple[int, str]] = Counter()
    for text in _quote_texts(vendors):
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


def quote_latencies(vendors: Vendors, deals: list[DealRef]) -> dict[DealRef, float]:
    """Seconds from each deal's first stored webhook event to its quote's creation answer in
    the vendor sandbox, for deals of any number of tenants
    (keyed by portal and deal, read from the quote's reference)."""
    from sync.models import WebhookEvent

    arrivals: dict[tuple[int, str], float] = {}
    rows = WebhookEvent.objects.filter(
        tenant_id__in={d.tenant_id for d in deals}, object_id__in=[d.deal_id for d in deals]
    ).values_list("portal_id", "object_id", "received_at")
    for portal_id, object_id, received_at in rows:
        key = (int(portal_id), str(object_id))
        stamp = received_at.timestamp()
        arrivals[key] = min(stamp, arrivals.get(key, stamp))
    lexoffice = vendors.lexoffice.sandbox
    quotations = dict(lexoffice.quotations.items())  # one copy of them all, not one per call
    created: dict[tuple[int, str], float] = {}
    for call in lexoffice.api_calls(path_prefix="/v1/quotations"):
        if call.method != "POST" or call.status != 201 or not call.response_body:
            continue
        quote = quotations.get(call.response_body.get("id"))
        match = _REFERENCE.search(str((quote or {}).get("introduction") or ""))
        if match:
            key = (int(match.group(1)), match.group(2))
            created[key] = min(call.at, created.get(key, call.at))
    latencies = {}
    for deal in deals:
        key = (deal.portal_id, deal.deal_id)
        if key in arrivals and key in created:
            latencies[deal] = created[key] - arrivals[key]
    return latencies


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
    client_id: str = ""
    redis_url: str = BENCH_REDIS_URL
    # What every product process (gunicorn, workers, beat) gets on top of bench_env().
    env: dict[str, str] = field(default_factory=dict)
    log_prefix: str = ""


@contextmanager
def stack(
    *,
    web_workers: int = 3,
    web_threads: int = 1,
    fresh: bool = True,
    redis_url: str = "",
    database_address: str = "",
    log_prefix: str = "",
    access_log: Path | None = None,
    product_env: dict[str, str] | None = None,
) -> Iterator[Stack]:
    """gunicorn on the benchmark database. `redis_url` points the product's processes at
    another Redis (broker, cache, locks, rate limits); `database_address` ("host:port") at
    PostgreSQL through another address, such as a proxy. With `log_prefix`, gunicorn's and
    the workers' output goes to var/bench-logs/<log_prefix>*.log. `product_env`: more
    environment for gunicorn and the workers."""
    if fresh:
        seconds = recreate_database()
        print(f"database {BENCH_DATABASE} created and migrated in {seconds:.1f} s")
    product_env = dict(product_env or {})
    if redis_url:
        product_env["REDIS_URL"] = redis_url
    if database_address:
        product_env["DATABASE_URL"] = database_url_via(database_address)
    redis_url = redis_url or BENCH_REDIS_URL
    flush_redis(redis_url)
    setup_django()
    from django.conf import settings

    web = start_web(
        workers=web_workers,
        threads=web_threads,
        extra_env=product_env,
        log_name=f"{log_prefix}web" if log_prefix else "",
        access_log=access_log,
    )
    try:
        yield Stack(
            web=web,
            client_secret=settings.HUBSPOT_CLIENT_SECRET,
            client_id=settings.HUBSPOT_CLIENT_ID,
            redis_url=redis_url,
            env=product_env,
            log_prefix=log_prefix,
        )
    finally:
        web.stop()
        with suppress(RedisError):  # a Redis of the run's own may be gone by now
            flush_redis(redis_url)


@contextmanager
def world(
    running: Stack,
    *,
    tenants: int,
    workers: int = 4,
    concurrency: int = 1,
    worker_pool: str = "prefork",
    import_workers: int = 0,
    first_portal: int = 5001,
    worker_env: dict[str, str] | None = None,
    **vendor_options: Any,
) -> Iterator[tuple[Vendors, Workers]]:
    """Sandboxes, tenants and fresh worker processes pointed at them, for one run."""
    flush_redis(running.redis_url)  # no task, bucket or lock of an earlier run
    vendors = start_vendors(
        tenants=tenants,
        webhook_url=running.web.webhook_url,
        client_secret=running.client_secret,
        client_id=running.client_id,
        first_portal=first_portal,
        **vendor_options,
    )
    pool = Workers(
        env=bench_env({**running.env, **vendors.env(), **(worker_env or {})}),
        count=workers,
        concurrency=concurrency,
        pool=worker_pool,
        log_prefix=running.log_prefix,
        import_workers=import_workers,
    )
    try:
        pool.start()
        yield vendors, pool
    finally:
        pool.stop()
        vendors.stop()
