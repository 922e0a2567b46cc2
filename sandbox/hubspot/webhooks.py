"""HubSpot's webhook delivery as the docs describe it (developers.hubspot.com/docs/api/webhooks).

Events are batched per portal into JSON arrays of up to 100, signed with the app's client
secret (v1 and v3 signatures), posted with at most 10 requests in flight per portal and a 5 s
timeout, and retried up to 10 times with growing, randomised delays on a connection failure,
a timeout or any non-2xx answer. Every delivery and attempt is kept for the inspection page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import random
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import requests

from sandbox.hubspot.catalog import iso


@dataclass
class Subscription:
    """One `eventType` the app listens to; a propertyChange may name its property."""

    id: int
    event_type: str  # e.g. "deal.propertyChange"
    property_name: str = ""  # empty: every property (a sandbox convenience)
    active: bool = True


@dataclass
class Attempt:
    attempt_number: int
    at: float
    status: int | None
    error: str
    duration_ms: int


@dataclass
class Delivery:
    id: int
    portal_id: int
    events: list[dict[str, Any]]
    generation: int
    state: str = "pending"  # pending, retrying, delivered, failed
    attempts: list[Attempt] = field(default_factory=list)


def v1_signature(client_secret: str, body: bytes) -> str:
    """`X-HubSpot-Signature` version v1: hex SHA-256 of client secret + body."""
    return hashlib.sha256(client_secret.encode() + body).hexdigest()


def v3_signature(client_secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """`X-HubSpot-Signature-v3`: base64 HMAC-SHA256 of method + URI + body + timestamp."""
    message = method.encode() + uri.encode() + body + timestamp.encode()
    digest = hmac.new(client_secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class WebhookDispatcher:
    """The app's webhook settings and the delivery machinery behind them."""

    def __init__(self, *, app_id: int, client_secret: str, target_url: str = "",
                 subscriptions: Iterable[str | dict[str, Any]] = (), batch_window: float = 0.1,
                 max_batch_size: int = 100, max_concurrent_requests: int = 10,
                 timeout: float = 5.0, max_retries: int = 10, retry_base_delay: float = 60.0,
                 retry_max_delay: float = 6 * 3600.0) -> None:  # fmt: skip
        self.app_id, self.client_secret, self.target_url = app_id, client_secret, target_url
        self.batch_window, self.max_batch_size, self.timeout = batch_window, max_batch_size, timeout
        self.max_concurrent_requests, self.max_retries = max_concurrent_requests, max_retries
        self.retry_base_delay, self.retry_max_delay = retry_base_delay, retry_max_delay
        self._ids, self._delivery_ids = itertools.count(1), itertools.count(1)
        self._event_ids = itertools.count(random.randrange(10**9, 4 * 10**9))  # noqa: S311
        self._cond = threading.Condition()
        self._executor = ThreadPoolExecutor(4 * max_concurrent_requests, "hubspot-webhooks")
        self._in_flight: dict[int, threading.BoundedSemaphore] = {}
        self._generation, self._stopped = 0, False
        self.configure(subscriptions=subscriptions)
        self.reset()

    def configure(self, *, target_url: str | None = None,
                  subscriptions: Iterable[str | dict[str, Any]] | None = None) -> None:  # fmt: skip
        """Subscriptions as "deal.propertyChange" or webhooks-v3 style {"eventType", ...}."""
        with self._cond:
            self.target_url = self.target_url if target_url is None else target_url
            if subscriptions is not None:
                given = [{"eventType": s} if isinstance(s, str) else s for s in subscriptions]
                self.subscriptions = [
                    Subscription(next(self._ids),
                                 str(s.get("eventType") or s.get("subscriptionType") or ""),
                                 str(s.get("propertyName") or ""), bool(s.get("active", True)))
                    for s in given
                ]  # fmt: skip

    def settings(self) -> dict[str, Any]:
        with self._cond:
            return {"appId": self.app_id, "target_url": self.target_url,
                    "maxConcurrentRequests": self.max_concurrent_requests,
                    "subscriptions": [asdict(s) for s in self.subscriptions]}  # fmt: skip

    def reset(self) -> None:
        with self._cond:
            self._generation += 1  # attempts and retries still under way are forgotten
            self.deliveries: list[Delivery] = []
            self._buffers: dict[int, list[dict[str, Any]]] = {}

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- events --------------------------------------------------------------------------

    def emit(self, portal_id: int, event_type: str, *, object_id: str, change_source: str,
             property_name: str = "", property_value: str | None = None, change_flag: str = "",
             extra: dict[str, Any] | None = None) -> int:  # fmt: skip
        """Queues one event per matching subscription; returns how many were queued."""
        event = {"portalId": portal_id, "appId": self.app_id,
                 "occurredAt": int(time.time() * 1000), "subscriptionType": event_type,
                 "attemptNumber": 0, "objectId": int(object_id), "changeSource": change_source,
                 **({"propertyName": property_name, "propertyValue": property_value or ""}
                    if property_name else {}),
                 **({"changeFlag": change_flag} if change_flag else {}),
                 **(extra or {})}  # fmt: skip
        with self._cond:
            if not self.target_url or self._stopped:
                return 0
            matching = [s for s in self.subscriptions if s.active and s.event_type == event_type
                        and s.property_name in ("", property_name)]  # fmt: skip
            buffer = self._buffers.setdefault(portal_id, [])
            if matching and not buffer:  # the batch window opens with the first event
                window = threading.Timer(self.batch_window, self._flush, (portal_id, 1))
                window.daemon = True
                window.start()
            for subscription in matching:
                buffer.append({"eventId": next(self._event_ids),
                               "subscriptionId": subscription.id, **event})  # fmt: skip
            # A full batch leaves at once; the rest waits out its window.
            self._flush(portal_id, self.max_batch_size)
        return len(matching)

    def _flush(self, portal_id: int, least: int) -> None:
        with self._cond:
            buffer = self._buffers.get(portal_id, [])
            while len(buffer) >= least and buffer and not self._stopped:
                events, buffer[:] = buffer[: self.max_batch_size], buffer[self.max_batch_size :]
                delivery = Delivery(next(self._delivery_ids), portal_id, events, self._generation)
                self.deliveries.append(delivery)
                self._send(delivery)

    def snapshot(self) -> list[Delivery]:
        with self._cond:
            return list(self.deliveries)

    def tables(self) -> dict[str, list[dict[str, Any]]]:
        """Deliveries and their attempts for the inspection page."""
        deliveries = self.snapshot()
        return {
            "webhook_deliveries": [
                {"delivery": d.id, "portalId": d.portal_id, "state": d.state,
                 "events": len(d.events),
                 "types": sorted({e["subscriptionType"] for e in d.events}),
                 "objectIds": sorted({e["objectId"] for e in d.events}),
                 "attempts": len(d.attempts),
                 "last_status": d.attempts[-1].status if d.attempts else None}
                for d in deliveries
            ],
            "webhook_attempts": [
                {"delivery": d.id, "attemptNumber": a.attempt_number, "at": iso(a.at),
                 "status": a.status, "error": a.error, "duration_ms": a.duration_ms}
                for d in deliveries for a in d.attempts
            ],
        }  # fmt: skip

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """For tests and benchmarks: waits until nothing is buffered, pending or retrying."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._cond:
                busy = any(self._buffers.values()) or any(
                    d.state in ("pending", "retrying") for d in self.deliveries
                )
            if not busy:
                return True
            time.sleep(0.02)
        return False

    # -- delivery ------------------------------------------------------------------------

    def _send(self, delivery: Delivery) -> None:
        """One attempt of the delivery, on the pool (a benchmark may wrap this)."""
        if delivery.generation == self._generation and not self._stopped:
            self._executor.submit(self._attempt, delivery)

    def _attempt(self, delivery: Delivery) -> None:
        with self._cond:
            semaphore = self._in_flight.setdefault(
                delivery.portal_id, threading.BoundedSemaphore(self.max_concurrent_requests)
            )
        with semaphore:
            number, started = len(delivery.attempts), time.monotonic()
            body = json.dumps([{**e, "attemptNumber": number} for e in delivery.events]).encode()
            url, secret = self.target_url, self.client_secret
            timestamp = str(int(time.time() * 1000))
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "HubSpot Connect 2.0 (http://dev.hubspot.com/)",
                "X-HubSpot-Signature": v1_signature(secret, body),
                "X-HubSpot-Signature-Version": "v1",
                "X-HubSpot-Signature-v3": v3_signature(secret, "POST", url, body, timestamp),
                "X-HubSpot-Request-Timestamp": timestamp,
            }
            status, error = None, ""
            try:
                answer = requests.post(url, data=body, headers=headers, timeout=self.timeout)
                status = answer.status_code
                error = "" if 200 <= status < 300 else f"HTTP {status}"
            except requests.Timeout:
                error = f"timeout after {self.timeout:g} s"
            except requests.RequestException as exc:
                error = f"connection failed: {type(exc).__name__}"
            duration_ms = int((time.monotonic() - started) * 1000)
        with self._cond:
            if delivery.generation != self._generation:
                return
            delivery.attempts.append(Attempt(number, time.time(), status, error, duration_ms))
            retry = bool(error) and number < self.max_retries
            delivery.state = "retrying" if retry else "failed" if error else "delivered"
            if delivery.state == "retrying":
                delay = min(self.retry_max_delay, self.retry_base_delay * 2**number)
                delay *= random.uniform(0.5, 1.5)  # noqa: S311 - spreads retries like HubSpot
                timer = threading.Timer(delay, self._send, (delivery,))
                timer.daemon = True
                timer.start()
