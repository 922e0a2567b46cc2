import threading
import time

import pytest

from apiup.locks import LockTimeout, named_lock


def test_a_named_lock_lets_one_holder_in_at_a_time() -> None:
    inside: list[int] = []
    overlaps: list[int] = []

    def hold(n: int) -> None:
        with named_lock("test-lock-serial", wait=10):
            if inside:
                overlaps.append(n)
            inside.append(n)
            time.sleep(0.05)
            inside.remove(n)

    threads = [threading.Thread(target=hold, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == []


def test_a_lock_held_too_long_times_out_the_waiter() -> None:
    held = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with named_lock("test-lock-timeout"):
            held.set()
            release.wait(5)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(5)
    try:
        with pytest.raises(LockTimeout), named_lock("test-lock-timeout", wait=0.2):
            pass
    finally:
        release.set()
        thread.join()
