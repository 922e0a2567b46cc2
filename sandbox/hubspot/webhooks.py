"""HubSpot's webhook delivery as the docs describe it (developers.hubspot.com/docs/api/webhooks).

Events are batched per portal into JSON arrays of up to 100, signed with the app's client
secret (v1 and v3 signatures), posted with at most 10 requests in flight per portal and a 5 s
timeout, and retried up to 10 times with growing, randomised delays on a connection failure,
a timeout or any non-2xx answer. Every delivery and attempt is kept for the inspection page.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
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

    def matches(self, event_type: str, property_name: str) -> bool:
        if not self.active or self.event_type != event_type:
            return False
        return not self.property_name or self.property_name == property_name


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
    created_at: float
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


def parse_subscriptions(
    specs: Iterable[str | dict[str, Any]], ids: Iterable[int]
) -> list[Subscription]:
    """Takes "deal.propertyChange" strings or webhooks-v3 style {"eventType", "propertyName"}."""
    subscriptions = []
    for spec, subscription_id in zip(specs, ids, strict=False):
        given = {"eventType": spec} if isinstance(spec, str) else spec
        event_type = str(given.get("eventType") or given.get("subscriptionType") or "")
        property_name = str(given.get("propertyName") or "")
        active = bool(given.get("active", True))
        subscriptions.append(Subscription(subscription_id, event_type, property_name, active))
    return subscriptions


class WebhookDispatcher:
    """The app's webhook settings and the delivery machinery behind them."""

    def __init__(
        self,
        *,
        app_id: int,
        client_secret: str,
        target_url: str = "",
        subscriptions: Iterable[str | dict[str, Any]] = (),
        batch_window: float = 0.1,
        max_batch_size: int = 100,
        max_concurrent_requests: int = 10,
        timeout: float = 5.0,
        max_retries: int = 10,
        retry_base_delay: float = 60.0,
        retry_max_delay: float = 6 * 3600.0,
    ) -> None:
        self.app_id = app_id
        self.client_secret = client_secret
        self.target_url = target_url
        self.batch_window = batch_window
        self.max_batch_size = max_batch_size
        self.max_concurrent_requests = max_concurrent_requests
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_base_delay = retry_base_delay
        self.retry_max_delay = retry_max_delay
        self._ids = itertools.count(1)
        self._delivery_ids = itertools.count(1)
        self._event_ids = itertools.count(random.randrange(10**9, 4 * 10**9))  # noqa: S311
        self.subscriptions = parse_subscriptions(subscriptions, self._ids)
        self.deliveries: list[Delivery] = []
        self._buffers: dict[int, list[dict[str, Any]]] = {}
        self._buffer_started: dict[int, float] = {}
        self._retries: list[tuple[float, int, Delivery]] = []
        self._in_flight: dict[int, threading.BoundedSemaphore] = {}
        self._generation = 0
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._stopped = False

    # -- settings ------------------------------------------------------------------------

    def configure(
        self,
        *,
        target_url: str | None = None,
        subscriptions: Iterable[str | dict[str, Any]] | None = None,
    ) -> None:
        with self._cond:
            if target_url is not None:
                self.target_url = target_url
            if subscriptions is not None:
                self.subscriptions = parse_subscriptions(subscriptions, self._ids)

    def settings(self) -> dict[str, Any]:
        with self._cond:
            return {
                "appId": self.app_id,
                "target_url": self.target_url,
                "maxConcurrentRequests": self.max_concurrent_requests,
                "subscriptions": [asdict(s) for s in self.subscriptions],
            }

    def reset(self) -> None:
        with self._cond:
            self._generation += 1  # attempts still in flight are forgotten, not recorded
            self.deliveries = []
            self._buffers = {}
            self._buffer_started = {}
            self._retries = []

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    # -- events --------------------------------------------------------------------------

    def emit(
        self,
        portal_id: int,
        event_type: str,
        *,
        object_id: str,
        change_source: str,
        property_name: str = "",
        property_value: str | None = None,
        change_flag: str = "",
        extra: dict[str, Any] | None = None,
    ) -> int:
        """Queues one event per matching subscription; returns how many were queued."""
        occurred_at = int(time.time() * 1000)
        queued = 0
        with self._cond:
            if not self.target_url or self._stopped:
                return 0
            for subscription in self.subscriptions:
                if not subscription.matches(event_type, property_name):
                    continue
                event: dict[str, Any] = {
                    "eventId": next(self._event_ids),
                    "subscriptionId": subscription.id,
                    "portalId": portal_id,
                    "appId": self.app_id,
                    "occurredAt": occurred_at,
                    "subscriptionType": event_type,
                    "attemptNumber": 0,
                    "objectId": int(object_id),
                    "changeSource": change_source,
                }
                if property_name:
                    event["propertyName"] = property_name
                    event["propertyValue"] = property_value or ""
                if change_flag:
                    event["changeFlag"] = change_flag
                event.update(extra or {})
                self._buffers.setdefault(portal_id, []).append(event)
                self._buffer_started.setdefault(portal_id, time.monotonic())
                queued += 1
            if queued:
                self._start()
                self._cond.notify_all()
        return queued

    def snapshot(self) -> list[Delivery]:
        with self._cond:
            return list(self.deliveries)

    def tables(self) -> dict[str, list[dict[str, Any]]]:
        """Deliveries and their attempts for the inspection page."""
        deliveries = self.snapshot()
        return {
            "webhook_deliveries": [
                {
                    "delivery": d.id,
                    "portalId": d.portal_id,
                    "state": d.state,
                    "events": len(d.events),
                    "types": sorted({e["subscriptionType"] for e in d.events}),
                    "objectIds": sorted({e["objectId"] for e in d.events}),
                    "attempts": len(d.attempts),
                    "last_status": d.attempts[-1].status if d.attempts else None,
                }
                for d in deliveries
            ],
            "webhook_attempts": [
                {
                    "delivery": d.id,
                    "attemptNumber": a.attempt_number,
                    "at": iso(a.at),
                    "status": a.status,
                    "error": a.error,
                    "duration_ms": a.duration_ms,
                }
                for d in deliveries
                for a in d.attempts
            ],
        }

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

    def _start(self) -> None:
        if self._thread is None:
            self._executor = ThreadPoolExecutor(
                max_workers=4 * self.max_concurrent_requests,
                thread_name_prefix="hubspot-webhooks",
            )
            self._thread = threading.Thread(
                target=self._schedule, name="hubspot-webhooks", daemon=True
            )
            self._thread.start()

    def _schedule(self) -> None:
        with self._cond:
            while not self._stopped:
                now = time.monotonic()
                for portal_id, events in list(self._buffers.items()):
                    if not events:
                        continue
                    window_over = now - self._buffer_started[portal_id] >= self.batch_window
                    # A full batch leaves at once; the rest waits out its window.
                    cut = (
                        len(events)
                        if window_over
                        else len(events) - len(events) % self.max_batch_size
                    )
                    for start in range(0, cut, self.max_batch_size):
                        chunk = events[start : min(cut, start + self.max_batch_size)]
                        self._send(self._new_delivery(portal_id, chunk))
                    self._buffers[portal_id] = events[cut:]
                    if not events[cut:]:
                        self._buffer_started.pop(portal_id, None)
                while self._retries and self._retries[0][0] <= now:
                    _, _, delivery = heapq.heappop(self._retries)
                    if delivery.generation == self._generation:
                        self._send(delivery)
                wakes = [s + self.batch_window for s in self._buffer_started.values()]
                wakes += [due for due, _, _ in self._retries[:1]]
                self._cond.wait(timeout=max(0.005, min(wakes) - now) if wakes else None)

    def _new_delivery(self, portal_id: int, events: list[dict[str, Any]]) -> Delivery:
        delivery = Delivery(
            next(self._delivery_ids), portal_id, events, time.time(), self._generation
        )
        self.deliveries.append(delivery)
        return delivery

    def _send(self, delivery: Delivery) -> None:
        assert self._executor is not None
        self._executor.submit(self._attempt, delivery)

    def _attempt(self, delivery: Delivery) -> None:
        with self._cond:
            semaphore = self._in_flight.setdefault(
                delivery.portal_id, threading.BoundedSemaphore(self.max_concurrent_requests)
            )
        with semaphore:
            attempt_number = len(delivery.attempts)
            events = [{**event, "attemptNumber": attempt_number} for event in delivery.events]
            body = json.dumps(events).encode()
            target_url, secret = self.target_url, self.client_secret
            timestamp = str(int(time.time() * 1000))
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "HubSpot Connect 2.0 (http://dev.hubspot.com/)",
                "X-HubSpot-Signature": v1_signature(secret, body),
                "X-HubSpot-Signature-Version": "v1",
                "X-HubSpot-Signature-v3": v3_signature(secret, "POST", target_url, body, timestamp),
                "X-HubSpot-Request-Timestamp": timestamp,
            }
            started = time.monotonic()
            status: int | None = None
            error = ""
            try:
                answer = requests.post(target_url, data=body, headers=headers, timeout=self.timeout)
                status = answer.status_code
                if not 200 <= status < 300:
                    error = f"HTTP {status}"
            except requests.Timeout:
                error = f"timeout after {self.timeout:g} s"
            except requests.RequestException as exc:
                error = f"connection failed: {type(exc).__name__}"
            duration_ms = int((time.monotonic() - started) * 1000)
        with self._cond:
            if delivery.generation != self._generation:
                return
            delivery.attempts.append(
                Attempt(attempt_number, time.time(), status, error, duration_ms)
            )
            if not error:
                delivery.state = "delivered"
            elif attempt_number >= self.max_retries:
                delivery.state = "failed"
            else:
                delivery.state = "retrying"
                delay = min(self.retry_max_delay, self.retry_base_delay * 2**attempt_number)
                delay *= random.uniform(0.5, 1.5)  # noqa: S311 - spreads retries like HubSpot
                heapq.heappush(self._retries, (time.monotonic() + delay, delivery.id, delivery))
                self._cond.notify_all()
