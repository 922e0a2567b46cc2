"""Token buckets shared by every worker process, so that all of them together stay under a
vendor's limit. Redis holds the buckets when REDIS_URL is set; otherwise each process keeps
its own (the embedded default runs one worker)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from functools import cache
from typing import Protocol

from django.conf import settings


@dataclass(frozen=True, slots=True)
class Rate:
    per_second: float
    burst: float = 1.0  # tokens that may be spent at once; 1 = evenly spaced calls


class Limiter(Protocol):
    def try_take(self, key: str, rate: Rate) -> float:
        """Takes a token: 0.0 when granted, else the seconds until the next one."""


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


class RedisLimiter:
    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url)
        self._take = self._redis.register_script(_TAKE)

    def try_take(self, key: str, rate: Rate) -> float:
        # The Redis server's clock, not this process's, so all workers agree on time.
        seconds, micros = self._redis.time()
        now = seconds * 1_000_000 + micros
        wait = self._take(keys=[f"apiup:bucket:{key}"], args=[rate.per_second, rate.burst, now])
        return float(wait)


class LocalLimiter:
    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def try_take(self, key: str, rate: Rate) -> float:
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.get(key, (rate.burst, now))
            tokens = min(rate.burst, tokens + (now - at) * rate.per_second)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / rate.per_second


@cache
def limiter() -> Limiter:
    url = getattr(settings, "REDIS_URL", "")
    return RedisLimiter(url) if url else LocalLimiter()


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
