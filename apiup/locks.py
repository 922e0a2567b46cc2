"""A named lock shared by every process: Redis when REDIS_URL is set, a file lock under var/
on the embedded default (whose processes share one machine)."""

from __future__ import annotations

import fcntl
import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import cache
from pathlib import Path
from typing import Any

import redis
from django.conf import settings
from redis.exceptions import LockError


class LockTimeout(Exception):
    pass


@cache
def _redis() -> Any:
    return redis.Redis.from_url(settings.REDIS_URL)


@contextmanager
def named_lock(name: str, *, timeout: float = 60.0, wait: float = 30.0) -> Iterator[None]:
    """Holds the lock for the block; `timeout` frees it if the holder dies, `wait` is how
    long to queue for it before LockTimeout."""
    if getattr(settings, "REDIS_URL", ""):
        lock = _redis().lock(f"apiup:lock:{name}", timeout=timeout, blocking_timeout=wait)
        if not lock.acquire():
            raise LockTimeout(name)
        try:
            yield
        finally:
            # Expired meanwhile (the holder took longer than `timeout`): nothing to release.
            with suppress(LockError):
                lock.release()
        return
    folder = Path(settings.VAR_DIR) / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / hashlib.sha256(name.encode()).hexdigest()[:32]
    deadline = time.monotonic() + wait
    with open(path, "a") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LockTimeout(name) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
