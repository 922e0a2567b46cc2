"""The circuit breaker per vendor API: its states, its storage shared by processes, and the
HTTP client that stops calling a vendor that is down."""

import multiprocessing
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.utils import translation
from flask import Flask, Request, Response

from connectors import breaker, errors
from connectors.breaker import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    CircuitBreaker,
    FileStore,
    State,
    Thresholds,
    admit,
    record,
)
from connectors.http import HttpClient, VendorApi
from sandbox.core import RunningSandbox, VendorSandbox, running

THRESHOLDS = Thresholds(failures=3, window=60.0, cooldown=10.0, max_cooldown=40.0)


def fail(state: State, at: float) -> State:
    return record(state, at, reached=False, thresholds=THRESHOLDS)


def open_at(at: float) -> State:
    state = State()
    for _ in range(THRESHOLDS.failures):
        state = fail(state, at)
    return state


# -- the state machine ------------------------------------------------------------------------


def test_it_opens_after_the_threshold_of_failures_in_a_row() -> None:
    state = fail(fail(State(), 100.0), 101.0)
    assert state.status == CLOSED
    state = fail(state, 102.0)
    assert (state.status, state.opened_at, state.retry_at) == (OPEN, 102.0, 112.0)


def test_an_answer_in_between_starts_the_count_again() -> None:
    state = fail(fail(State(), 100.0), 101.0)
    state = record(state, 102.0, reached=True, thresholds=THRESHOLDS)
    state = fail(fail(state, 103.0), 104.0)
    assert state.status == CLOSED


def test_failures_spread_wider_than_the_window_do_not_open_it() -> None:
    state = fail(fail(State(), 0.0), 30.0)
    state = fail(state, 61.0)  # 61 s after the first of the run: a new run begins
    assert (state.status, state.failures) == (CLOSED, 1)


def test_while_open_calls_wait_and_after_the_cool_down_one_probe_goes() -> None:
    state = open_at(100.0)
    assert admit(state, 105.0, probe_seconds=65.0) == (state, 5.0)
    probing, wait = admit(state, 110.0, probe_seconds=65.0)
    assert (probing.status, wait) == (HALF_OPEN, 0.0)
    # Everyone else waits for the probe's answer.
    assert admit(probing, 111.0, probe_seconds=65.0)[1] > 0


def test_an_answered_probe_closes_it() -> None:
    probing, _ = admit(open_at(100.0), 110.0, probe_seconds=65.0)
    closed = record(probing, 110.5, reached=True, thresholds=THRESHOLDS)
    assert closed == State()
    assert admit(closed, 110.6, probe_seconds=65.0) == (closed, 0.0)


def test_a_failed_probe_opens_it_again_for_longer_within_the_same_outage() -> None:
    state = open_at(100.0)
    cooldowns = []
    at = 100.0
    for _ in range(4):
        at = state.retry_at
        state, _wait = admit(state, at, probe_seconds=65.0)
        state = fail(state, at + 1)
        cooldowns.append(state.cooldown)
        assert state.status == OPEN
    assert cooldowns == [20.0, 40.0, 40.0, 40.0]  # doubled up to the maximum
    assert state.opened_at == 100.0  # the outage began when it first opened


def test_a_probe_whose_worker_died_is_replaced_after_its_time() -> None:
    probing, _ = admit(open_at(100.0), 110.0, probe_seconds=65.0)
    assert admit(probing, 170.0, probe_seconds=65.0)[1] > 0
    again, wait = admit(probing, 175.0, probe_seconds=65.0)
    assert (again.status, again.retry_at, wait) == (HALF_OPEN, 240.0, 0.0)


# -- one breaker, shared through its store ----------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _breaker(store: breaker.Store, clock: Clock, key: str = "lexware office|x|") -> CircuitBreaker:
    return CircuitBreaker(
        key=key, name="lexware office", probe_seconds=65.0, thresholds=THRESHOLDS,
        store=store, clock=clock,
    )  # fmt: skip


@pytest.fixture(params=["configured", "file"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> breaker.Store:
    """The store the settings choose (Redis when REDIS_URL is set) and the file one."""
    if request.param == "file":
        return FileStore(tmp_path)
    return breaker.store()


def test_two_workers_share_one_breaker(store: breaker.Store, clock: Clock) -> None:
    key = f"test|{uuid.uuid4()}|"
    one, other = _breaker(store, clock, key), _breaker(store, clock, key)
    one.failed()
    other.failed()
    one.failed()
    with translation.override("en"), pytest.raises(errors.CircuitOpen) as caught:
        other.admit()
    assert 9.9 < caught.value.wait_seconds <= 10.0
    assert caught.value.vendor == "lexware office"
    assert "lexware office is not reachable" in caught.value.vendor_message  # for the customer
    outage = other.outage()
    assert outage is not None
    assert outage.since.timestamp() == clock.now

    clock.now += 10
    other.admit()  # the probe
    with pytest.raises(errors.CircuitOpen):
        one.admit()  # waits for the probe's answer
    other.succeeded()
    one.admit()
    assert one.outage() is None


def test_breakers_of_other_vendors_and_accounts_are_not_touched(
    store: breaker.Store, clock: Clock
) -> None:
    down = _breaker(store, clock, f"test|{uuid.uuid4()}|account-1")
    for _ in range(3):
        down.failed()
    _breaker(store, clock, f"test|{uuid.uuid4()}|account-2").admit()


def _open_in_another_process(folder: str, key: str) -> None:
    shared = FileStore(Path(folder))
    for _ in range(THRESHOLDS.failures):
        shared.change(key, lambda state: (fail(state, time.time()), None))


def test_the_file_store_is_shared_by_processes(tmp_path: Path) -> None:
    process = multiprocessing.get_context("fork").Process(
        target=_open_in_another_process, args=(str(tmp_path), "k")
    )
    process.start()
    process.join(timeout=10)
    assert FileStore(tmp_path).read("k").status == OPEN


# -- the HTTP client --------------------------------------------------------------------------


class Vendor(VendorSandbox):
    name = "vendor"

    def credential_of(self, req: Request) -> str | None:
        return "k"

    def error_response(self, status: int, message: str, **extra: object) -> Response:
        return self.json({"message": message}, status)

    def register_routes(self, app: Flask) -> None:
        @app.get("/things")
        def listing() -> Response:
            return self.json({"things": []})


@pytest.fixture(autouse=True)
def _breakers_of_this_test(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
    """The HTTP client's breakers in a store of this test's own: a sandbox port used again
    by a later test must not find an earlier test's breaker open."""
    if "store" in request.fixturenames:
        yield
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(breaker, "store", lambda: FileStore(tmp_path / "breakers"))
        yield


@pytest.fixture
def vendor() -> Iterator[RunningSandbox]:
    with running(Vendor()) as handle:
        yield handle


@pytest.fixture
def short_breaker(settings) -> None:  # type: ignore[no-untyped-def]
    settings.CIRCUIT_BREAKER_FAILURES = 3
    settings.CIRCUIT_BREAKER_COOLDOWN_SECONDS = 0.5
    settings.CIRCUIT_BREAKER_MAX_COOLDOWN_SECONDS = 1.0


def _client(vendor: RunningSandbox, **api: object) -> HttpClient:
    declaration = VendorApi(name="vendor", base_url=vendor.url, backoff_base=0.01, **api)  # type: ignore[arg-type]
    return HttpClient(declaration, limiter_key="k")


def test_a_vendor_that_is_down_is_not_called_while_the_breaker_is_open(
    vendor: RunningSandbox, short_breaker: None
) -> None:
    vendor.sandbox.faults.update({"down_for_seconds": 30})
    with pytest.raises(errors.TransientError) as first:
        _client(vendor, max_attempts=5).request("GET", "/things")
    # The third 503 opened it: the client stopped retrying at once.
    assert isinstance(first.value, errors.CircuitOpen)
    assert len(vendor.sandbox.api_calls()) == 3
    # Another worker's client of the same vendor sends nothing either.
    for _ in range(5):
        with pytest.raises(errors.CircuitOpen):
            _client(vendor).request("GET", "/things")
    assert len(vendor.sandbox.api_calls()) == 3


def test_after_the_cool_down_one_probe_goes_and_its_answer_closes_the_breaker(
    vendor: RunningSandbox, short_breaker: None
) -> None:
    vendor.sandbox.faults.update({"down_for_seconds": 30})
    with pytest.raises(errors.TransientError):
        _client(vendor, max_attempts=3).request("GET", "/things")
    time.sleep(0.6)
    with pytest.raises(errors.CircuitOpen):  # the probe failed: open again, for 1 s
        _client(vendor, max_attempts=3).request("GET", "/things")
    assert len(vendor.sandbox.api_calls()) == 4

    vendor.sandbox.faults.update({"down_until": 0.0})
    time.sleep(1.1)
    assert _client(vendor).request("GET", "/things").status_code == 200
    assert _client(vendor).outage() is None
    assert _client(vendor).request("GET", "/things").status_code == 200
    assert len(vendor.sandbox.api_calls()) == 6


def test_answers_below_500_keep_the_breaker_closed(
    vendor: RunningSandbox, short_breaker: None
) -> None:
    for _ in range(5):
        with pytest.raises(errors.NotFound):
            _client(vendor).request("GET", "/nothing-here")
    assert _client(vendor).outage() is None


def test_a_vendor_that_refuses_connections_opens_it_too(short_breaker: None) -> None:
    client = HttpClient(
        VendorApi(name="nowhere", base_url=f"http://127.0.0.1:9/{uuid.uuid4()}", max_attempts=1),
        limiter_key="k",
    )
    for _ in range(3):
        with pytest.raises(errors.TransientError):
            client.request("GET", "/things")
    assert client.outage() is not None
    with pytest.raises(errors.CircuitOpen):
        client.request("GET", "/things")
    assert client.calls == 3
