"""The shared rate limits: bookings on a credential's time line."""

import time
import uuid
from pathlib import Path

import pytest

from connectors import ratelimit
from connectors.ratelimit import FileLimiter, Limiter, Rate

LEXOFFICE = Rate(per_second=2, burst=1)
BURSTY = Rate(per_second=10, burst=5)


@pytest.fixture(params=["configured", "file"])
def limiter(request: pytest.FixtureRequest, tmp_path: Path) -> Limiter:
    """The limiter the settings choose (Redis when REDIS_URL is set) and the file one."""
    if request.param == "file":
        return FileLimiter(tmp_path)
    return ratelimit.limiter()


def test_bookings_queue_one_after_another(limiter: Limiter) -> None:
    key = f"test:{uuid.uuid4()}"
    waits = [limiter.book(key, 1.0, LEXOFFICE) for _ in range(4)]
    assert waits[0] == 0.0
    # Each booking starts where the previous one ends: about 1, 2 and 3 seconds from now.
    for expected, wait in zip([1.0, 2.0, 3.0], waits[1:], strict=True):
        assert expected - 0.2 < wait <= expected


def test_the_burst_lets_that_many_calls_start_at_once(limiter: Limiter) -> None:
    key = f"test:{uuid.uuid4()}"
    waits = [limiter.book(key, 0.1, BURSTY) for _ in range(7)]
    # Five calls of 0.1 s fit into the burst (tolerance 0.4 s); the sixth waits.
    assert waits[:5] == [0.0] * 5
    assert 0.0 < waits[5] <= 0.1
    assert waits[6] > waits[5]


def test_credentials_have_time_lines_of_their_own(limiter: Limiter) -> None:
    busy, other = f"test:{uuid.uuid4()}", f"test:{uuid.uuid4()}"
    for _ in range(10):
        limiter.book(busy, 1.0, LEXOFFICE)
    assert limiter.book(other, 1.0, LEXOFFICE) == 0.0


def test_a_time_line_in_the_past_starts_again_from_now(limiter: Limiter) -> None:
    key = f"test:{uuid.uuid4()}"
    limiter.book(key, 0.05, LEXOFFICE)
    time.sleep(0.1)
    assert limiter.book(key, 0.05, LEXOFFICE) == 0.0
