"""A circuit breaker per vendor API (per vendor account where the vendor counts calls per
account), shared by every worker process the way the rate limits are (connectors/ratelimit.py):
in Redis when REDIS_URL is set, else in small files under var/ guarded by a file lock.

Without it, a vendor outage of an hour fails every transfer of every tenant one by one, each
spending its own attempts on a vendor that cannot answer. With it, the first few failures
open the breaker, and from then on nothing calls the vendor: callers are told how long to
wait (`CircuitOpen`), and a transfer waits without counting an attempt.

    closed ──THRESHOLD failures in a row, within WINDOW s──▶ open
    open ──COOLDOWN s over, the next caller is the probe──▶ half-open
    half-open ──the probe is answered──▶ closed
    half-open ──the probe fails──▶ open, for twice the cool-down (at most MAX_COOLDOWN s)
    half-open ──no outcome within the probe's time (its worker died)──▶ the next caller probes

A failure is what says the vendor cannot be reached: a connection that fails or times out,
or a 5xx answer. Any other answer (a 4xx included) shows that the vendor is there.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fcntl
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Protocol, TypeVar

from django.conf import settings
from django.utils.translation import gettext as _

from connectors import errors

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"

_T = TypeVar("_T")


@dataclass(frozen=True)
class Thresholds:
    """When the breaker opens and how long it stays open (settings CIRCUIT_BREAKER_*)."""

    failures: int = 10  # in a row, to open
    window: float = 60.0  # seconds the failures in a row must fall within
    cooldown: float = 30.0  # seconds open before the first probe
    max_cooldown: float = 300.0  # the cool-down doubles after each failed probe, up to this

    @classmethod
    def from_settings(cls) -> Thresholds:
        return cls(
            failures=settings.CIRCUIT_BREAKER_FAILURES,
            window=settings.CIRCUIT_BREAKER_WINDOW_SECONDS,
            cooldown=settings.CIRCUIT_BREAKER_COOLDOWN_SECONDS,
            max_cooldown=settings.CIRCUIT_BREAKER_MAX_COOLDOWN_SECONDS,
        )


@dataclass(frozen=True)
class State:
    status: str = CLOSED
    failures: int = 0  # failures in a row
    first_failure_at: float = 0.0  # epoch seconds, of the current run of failures
    opened_at: float = 0.0  # when the outage began; kept while probes fail
    retry_at: float = 0.0  # open: when a probe may go; half-open: when the probe counts as lost
    cooldown: float = 0.0

    @property
    def quiet(self) -> bool:
        """Nothing worth storing: closed, no failure counted."""
        return self.status == CLOSED and self.failures == 0


# -- the state machine: pure functions of a state and the time --------------------------------


def admit(state: State, now: float, *, probe_seconds: float) -> tuple[State, float]:
    """Whether a call may go now: (new state, 0.0) when it may, else (state, seconds to wait).
    When the cool-down is over, the caller that asks first becomes the one probe."""
    if state.status == CLOSED:
        return state, 0.0
    if now < state.retry_at:
        return state, state.retry_at - now
    return dataclasses.replace(state, status=HALF_OPEN, retry_at=now + probe_seconds), 0.0


def record(state: State, now: float, *, reached: bool, thresholds: Thresholds) -> State:
    """The state after a call's outcome: `reached` when the vendor answered below 500."""
    if reached:
        return State()
    if state.status == HALF_OPEN:
        cooldown = min(thresholds.max_cooldown, max(state.cooldown, thresholds.cooldown) * 2)
        return dataclasses.replace(state, status=OPEN, retry_at=now + cooldown, cooldown=cooldown)
    if state.status == OPEN:
        return state  # a call let through before the breaker opened, failing late
    if state.failures and now - state.first_failure_at <= thresholds.window:
        state = dataclasses.replace(state, failures=state.failures + 1)
    else:
        state = State(failures=1, first_failure_at=now)
    if state.failures < thresholds.failures:
        return state
    return dataclasses.replace(
        state,
        status=OPEN,
        opened_at=now,
        retry_at=now + thresholds.cooldown,
        cooldown=thresholds.cooldown,
    )


# -- where the states live, shared by every process -------------------------------------------


class Store(Protocol):
    def read(self, key: str) -> State: ...

    def change(self, key: str, step: Callable[[State], tuple[State, _T]]) -> _T:
        """Applies `step` to the key's state atomically across processes; returns its
        second value."""


def _dump(state: State) -> str:
    return json.dumps(dataclasses.asdict(state))


def _load(text: str | bytes | None) -> State:
    if not text:
        return State()
    try:
        return State(**json.loads(text))
    except (TypeError, ValueError):
        return State()


class RedisStore:
    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url)

    @staticmethod
    def _key(key: str) -> str:
        return f"apiup:breaker:{key}"

    def read(self, key: str) -> State:
        return _load(self._redis.get(self._key(key)))

    def change(self, key: str, step: Callable[[State], tuple[State, _T]]) -> _T:
        import redis

        name = self._key(key)
        with self._redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(name)
                    before = _load(pipe.get(name))
                    after, result = step(before)
                    if after == before:
                        pipe.reset()
                        return result
                    pipe.multi()
                    if after.quiet:
                        pipe.delete(name)
                    else:
                        # Kept a day at most: a breaker nobody asks about has nothing to say.
                        pipe.set(name, _dump(after), ex=86400)
                    pipe.execute()
                    return result
                except redis.WatchError:
                    continue  # another process changed it meanwhile: read it again


class FileStore:
    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # flock is per process; threads queue here first

    def _path(self, key: str) -> Path:
        return self._folder / hashlib.sha256(key.encode()).hexdigest()[:32]

    def read(self, key: str) -> State:
        try:
            with open(self._path(key), encoding="ascii") as handle:
                fcntl.flock(handle, fcntl.LOCK_SH)  # not half of a state being written
                return _load(handle.read())
        except FileNotFoundError:
            return State()

    def change(self, key: str, step: Callable[[State], tuple[State, _T]]) -> _T:
        with self._lock, open(self._path(key), "a+", encoding="ascii") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.seek(0)
            before = _load(handle.read())
            after, result = step(before)
            if after != before:
                handle.seek(0)
                handle.truncate()
                handle.write("" if after.quiet else _dump(after))
            return result


@cache
def store() -> Store:
    url = getattr(settings, "REDIS_URL", "")
    if url:
        return RedisStore(url)
    return FileStore(Path(settings.VAR_DIR) / "breakers")


# -- one vendor API's breaker -----------------------------------------------------------------


def now() -> float:
    """Epoch seconds: the breakers' clock (a test of a long outage moves it)."""
    return time.time()


@dataclass(frozen=True)
class Outage:
    since: dt.datetime  # when the breaker opened
    retry_in: float  # seconds until a call may go (the probe, or everyone once it closes)


@dataclass
class CircuitBreaker:
    """The breaker of one vendor API (and account). `probe_seconds`: how long the probe may
    take before another caller may probe instead (its worker may have died)."""

    key: str
    name: str  # the vendor's name, for the error message
    probe_seconds: float
    thresholds: Thresholds = field(default_factory=Thresholds.from_settings)
    store: Store = field(default_factory=lambda: store())
    clock: Callable[[], float] = field(default_factory=lambda: now)

    def admit(self) -> None:
        """Lets a call go, or raises CircuitOpen with the time to wait."""
        state = self.store.read(self.key)
        if state.status == CLOSED:
            return  # the usual case: one read, no lock
        at = self.clock()

        def step(current: State) -> tuple[State, tuple[State, float]]:
            after, wait = admit(current, at, probe_seconds=self.probe_seconds)
            return after, (current, wait)

        current, wait = self.store.change(self.key, step)
        if wait > 0:
            raise errors.CircuitOpen(
                f"{self.name} is not reachable; calls wait {wait:.0f} s for it",
                vendor=self.name,
                vendor_message=_(
                    "%(vendor)s is not reachable right now; APIUP waits until it is back."
                )
                % {"vendor": self.name},
                wait_seconds=self._spread(current, wait),
                since=current.opened_at,
            )

    def _spread(self, state: State, wait: float) -> float:
        # While the probe is under way, its answer is due long before its time runs out:
        # waiting callers look again after a cool-down instead.
        if state.status == HALF_OPEN:
            return min(wait, self.thresholds.cooldown)
        return wait

    def succeeded(self) -> None:
        if self.store.read(self.key).quiet:
            return
        self._record(reached=True)

    def failed(self) -> None:
        self._record(reached=False)

    def _record(self, *, reached: bool) -> None:
        at = self.clock()
        self.store.change(
            self.key,
            lambda state: (record(state, at, reached=reached, thresholds=self.thresholds), None),
        )

    def outage(self) -> Outage | None:
        """The outage under way, or None when the breaker is closed."""
        state = self.store.read(self.key)
        if state.status == CLOSED:
            return None
        wait = max(0.0, state.retry_at - self.clock())
        since = dt.datetime.fromtimestamp(state.opened_at, tz=dt.UTC)
        return Outage(since=since, retry_in=self._spread(state, wait))
