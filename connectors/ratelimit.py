"""Token buckets shared by every worker process, so that all of them together stay under a
vendor's limit. Redis holds the buckets when REDIS_URL is set; on the embedded default they
are small files under var/ guarded by a file lock, shared by the processes of one machine."""

from __future__ import annotations

import fcntl
import hashlib
import threading
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Protocol

from django.conf import settings


@dataclass(frozen=True, slots=True)
class Rate:
    per_second: float
    burst: float = 1.0  # tokens that may be spent at once; 1 = evenly spaced calls

    @property
    def tolerance(self) -> float:
        """Seconds of calls the burst lets through at once, beyond the first."""
        return (self.burst - 1) / self.per_second


class Limiter(Protocol):
    def try_take(self, key: str, rate: Rate) -> float:
        """Takes a token: 0.0 when granted, else the seconds until the next one."""

    def book(self, key: str, seconds: float, rate: Rate) -> float:
        """Books `seconds` of the key's time line after everything booked before and returns
        how long until the booking may start (0.0 when it may start now)."""


# KEYS[1] bucket; ARGV: rate per second, burst, now in microseconds.
# State: tokens and the time they were counted; the script runs atomically in Redis.
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + (now - at) / 1000000 * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""


# KEYS[1] the key's time line: when the last booking ends (GCRA's theoretical arrival time);
# ARGV: seconds booked, tolerance, now; all in microseconds.
_BOOK = """
local cost = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local ends = tonumber(redis.call('GET', KEYS[1]) or '0')
if ends < now then ends = now end
local wait = math.max(0, ends - now - tolerance)
ends = ends + cost
redis.call('SET', KEYS[1], tostring(ends), 'PX', math.ceil((ends - now) / 1000) + 1000)
return tostring(wait / 1000000)
"""


class RedisLimiter:
    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url)
        self._take = self._redis.register_script(_TAKE)
        self._book = self._redis.register_script(_BOOK)

    def _now(self) -> int:
        # The Redis server's clock, not this process's, so all workers agree on time.
        seconds, micros = self._redis.time()
        return int(seconds * 1_000_000 + micros)

    def try_take(self, key: str, rate: Rate) -> float:
        wait = self._take(
            keys=[f"apiup:bucket:{key}"], args=[rate.per_second, rate.burst, self._now()]
        )
        return float(wait)

    def book(self, key: str, seconds: float, rate: Rate) -> float:
        micros = [round(seconds * 1_000_000), round(rate.tolerance * 1_000_000), self._now()]
        return float(self._book(keys=[f"apiup:booked:{key}"], args=micros))


class FileLimiter:
    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # flock is per process; threads queue here first

    def _path(self, key: str) -> Path:
        return self._folder / hashlib.sha256(key.encode()).hexdigest()[:32]

    def try_take(self, key: str, rate: Rate) -> float:
        with self._lock, open(self._path(key), "a+", encoding="ascii") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.seek(0)
            now = time.time()
            try:
                tokens_text, at_text = handle.read().split()
                tokens, at = float(tokens_text), float(at_text)
            except ValueError:
                tokens, at = rate.burst, now
            tokens = min(rate.burst, tokens + max(0.0, now - at) * rate.per_second)
            wait = 0.0
            if tokens >= 1:
                tokens -= 1
            else:
                wait = (1 - tokens) / rate.per_second
            handle.seek(0)
            handle.truncate()
            handle.write(f"{tokens!r} {now!r}")
            return wait

    def book(self, key: str, seconds: float, rate: Rate) -> float:
        with self._lock, open(self._path(f"booked:{key}"), "a+", encoding="ascii") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.seek(0)
            now = time.time()
            try:
                ends = max(now, float(handle.read()))
            except ValueError:
                ends = now
            handle.seek(0)
            handle.truncate()
            handle.write(repr(ends + seconds))
            return max(0.0, ends - now - rate.tolerance)


@cache
def limiter() -> Limiter:
    url = getattr(settings, "REDIS_URL", "")
    if url:
        return RedisLimiter(url)
    return FileLimiter(Path(settings.VAR_DIR) / "buckets")


def acquire(key: str, rate: Rate, *, max_wait: float) -> float:
    """Blocks until a token is granted; returns the seconds waited. Raises TimeoutError when
    the wait would exceed `max_wait` (the caller then defers the work instead of sleeping)."""
    waited = 0.0
    while True:
        wait = limiter().try_take(key, rate)
        if wait <= 0:
            return waited
        if waited + wait > max_wait:
            raise TimeoutError(wait)
        time.sleep(wait)
        waited += wait
