"""Signed event callbacks as the accounting vendors send them (lexware office's event
subscriptions, Qonto's webhooks): each event is posted on its own, signed by the vendor's
function, and retried on the vendor's schedule while the receiver fails. Every attempt is kept
for the inspection page and the tests."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import requests

# Headers to send with a body; the vendor's signature among them.
Signer = Callable[[bytes], Mapping[str, str]]


@dataclass
class Callback:
    id: int
    url: str
    body: bytes
    state: str = "pending"  # pending, retrying, delivered, failed
    statuses: list[int | str] = field(default_factory=list)


class CallbackSender:
    """Posts callbacks in the background. `retry_delays`: seconds before each retry (the
    vendor's schedule; tests pass a short one); `retry_on(status)`: whether an answer is
    retried (a connection failure always is)."""

    def __init__(
        self,
        *,
        sign: Signer,
        retry_delays: Iterable[float],
        retry_on: Callable[[int], bool],
        timeout: float = 5.0,
    ) -> None:
        self.sign = sign
        self.retry_delays = tuple(retry_delays)
        self.retry_on = retry_on
        self.timeout = timeout
        self.sent: list[Callback] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        # Set when the sandbox stops: a retry waiting for its hour gives up at once.
        self._stopped = threading.Event()
        self._running = 0

    def send(self, url: str, body: bytes) -> Callback:
        callback = Callback(id=next(self._ids), url=url, body=body)
        with self._lock:
            self.sent.append(callback)
            self._running += 1
        # A daemon thread per callback: a vendor's schedule runs for days, and must not keep
        # a stopped sandbox's process from exiting.
        threading.Thread(target=self._deliver, args=(callback,), daemon=True).start()
        return callback

    def _deliver(self, callback: Callback) -> None:
        try:
            for delay in (0.0, *self.retry_delays):
                if self._stopped.wait(delay):
                    callback.state = "stopped"
                    return
                headers = {"Content-Type": "application/json", **self.sign(callback.body)}
                try:
                    answer = requests.post(
                        callback.url, data=callback.body, headers=headers, timeout=self.timeout
                    )
                except requests.RequestException as failure:
                    callback.statuses.append(type(failure).__name__)
                    callback.state = "retrying"
                    continue
                callback.statuses.append(answer.status_code)
                if 200 <= answer.status_code < 300:
                    callback.state = "delivered"
                    return
                if not self.retry_on(answer.status_code):
                    break
                callback.state = "retrying"
            callback.state = "failed"
        finally:
            with self._lock:
                self._running -= 1

    def wait_idle(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._running:
                    return True
            time.sleep(0.02)
        return False

    def reset(self) -> None:
        with self._lock:
            self.sent.clear()

    def rows(self) -> list[dict[str, object]]:
        with self._lock:
            return [
                {
                    "id": c.id,
                    "url": c.url,
                    "state": c.state,
                    "attempts": ", ".join(str(s) for s in c.statuses),
                    "body": c.body.decode(errors="replace")[:200],
                }
                for c in self.sent
            ]

    def stop(self) -> None:
        self._stopped.set()
