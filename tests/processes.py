"""Real Celery worker processes for tests, pointed at the test database and broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def test_database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}{port}/{db['NAME']}"


def worker_environment(
    vendor_urls: dict[str, str] | None = None, extra: dict[str, str] | None = None
) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "apiup.settings.test",
        "DATABASE_URL": test_database_url(),
        "CELERY_FILESYSTEM_BROKER_DIR": os.environ["CELERY_FILESYSTEM_BROKER_DIR"],
        "LOG_LEVEL": "WARNING",
    }
    if getattr(settings, "REDIS_URL", ""):
        env["REDIS_URL"] = settings.REDIS_URL
    for name, url in (vendor_urls or {}).items():
        env[f"{name.upper()}_API_URL"] = url
    env.update(extra or {})
    return env


@contextmanager
def celery_worker(
    *,
    concurrency: int | None = None,
    vendor_urls: dict[str, str] | None = None,
    beat: bool = False,
    env: dict[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """A real worker until the block ends: the deployed pool (CELERY_WORKER_POOL), with
    `concurrency` threads or processes (else the deployed CELERY_WORKER_CONCURRENCY), late
    acknowledgement."""
    concurrency = concurrency or settings.CELERY_WORKER_CONCURRENCY
    command = [
        sys.executable, "-m", "celery", "-A", "apiup", "worker",
        "--pool", settings.CELERY_WORKER_POOL, "--concurrency", str(concurrency),
        "--queues", "celery,imports",
        "--without-mingle", "--without-gossip", "--loglevel", "WARNING",
    ]  # fmt: skip
    if beat:
        command.append("--beat")
    process = subprocess.Popen(  # noqa: S603
        command, cwd=ROOT, env=worker_environment(vendor_urls, env), start_new_session=True
    )
    time.sleep(2.5)  # the worker connects to the broker (a prefork pool forks its children)
    try:
        yield process
    finally:
        if process.poll() is None:  # else the test killed it itself
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def wait_until(condition: object, *, timeout: float = 30.0, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")
