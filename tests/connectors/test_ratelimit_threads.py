"""The shared rate limits under a thread-pool worker: many threads of one process booking and
taking turns on one credential at the same moment."""

import itertools
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from connectors import ratelimit
from connectors.ratelimit import FileLimiter, Limiter, Rate

LEXOFFICE = Rate(per_second=2, burst=1)
THREADS = 16


@pytest.fixture(params=["configured", "file"])
def limiter(request: pytest.FixtureRequest, tmp_path: Path) -> Limiter:
    """The limiter the settings choose (Redis when REDIS_URL is set) and the file one."""
    if request.param == "file":
        return FileLimiter(tmp_path)
    return ratelimit.limiter()


def all_at_once(call: Callable[[], float]) -> list[float]:
    """`call` on THREADS threads released together; their results."""
    start = threading.Barrier(THREADS)
    results: list[float] = []
    failures: list[BaseException] = []

    def run() -> None:
        try:
            start.wait(timeout=10)
            results.append(call())
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert failures == []
    return sorted(results)


def test_bookings_of_many_threads_at_once_line_up_without_overlap(limiter: Limiter) -> None:
    key = f"test:{uuid.uuid4()}"
    # A quote's two calls at 2 per second: one second each.
    waits = all_at_once(lambda: limiter.book(key, 1.0, LEXOFFICE))
    assert len(waits) == THREADS
    assert waits[0] == 0.0
    # One booking after the other: no two threads were given the same second.
    gaps = [later - earlier for earlier, later in itertools.pairwise(waits)]
    assert all(gap > 0.9 for gap in gaps), gaps


def test_tokens_taken_by_many_threads_at_once_are_granted_one_at_a_time(
    limiter: Limiter,
) -> None:
    key = f"test:{uuid.uuid4()}"
    fast = Rate(per_second=1, burst=1)
    started = time.monotonic()
    waits = all_at_once(lambda: limiter.try_take(key, fast))
    # The bucket holds one token: one thread is granted it, every other one is told to wait.
    assert waits.count(0.0) == 1
    assert all(0 < wait <= 1.0 + (time.monotonic() - started) for wait in waits[1:])
