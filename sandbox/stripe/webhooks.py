"""Stripe's events and their signed deliveries to webhook endpoints, with test mode's retries
(vendor-specs/stripe/webhook-events.md: "sandbox retries 3 times over a few hours"; the
`Stripe-Signature` scheme is described there too)."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import secrets
import threading
import time
from typing import Any

import requests
from flask import g, has_request_context

from sandbox.store import Record, Resource, Store
from sandbox.stripe.objects import API_VERSION, fields

ACCOUNT = "acct_sandbox"  # every secret key of a sandbox belongs to one Stripe account

RESOURCES = (
    Resource("events", ids="hex", id_prefix="evt_"),
    Resource("webhook endpoints", ids="hex", id_prefix="we_"),
    # Each event sent to one endpoint with its attempts (Saleor keeps attempts as rows).
    Resource("webhook deliveries", ids="hex", id_prefix="whd_"),
)


class Webhooks:
    def __init__(
        self,
        store: Store,
        lock: threading.RLock,
        *,
        retry_delays: tuple[float, ...],
        timeout: float,
    ) -> None:
        self.store, self.lock = store, lock
        self.retry_delays, self.timeout = retry_delays, timeout

    def add_endpoint(self, url: str, secret: str) -> Record:
        record = {"url": url, "secret": secret or "whsec_" + secrets.token_hex(16)}
        return self.store.create("webhook endpoints", ACCOUNT, record)

    def emit(self, event_type: str, obj: Record, previous: Record | None = None) -> Record:
        """Records the event about `obj` as it is now and sends it to every endpoint."""
        data: Record = {"object": copy.deepcopy(obj)}
        if previous is not None:
            data["previous_attributes"] = previous
        context: Any = g if has_request_context() else {}
        event: Record = {
            **fields('object="event" livemode=false pending_webhooks=0'),
            "api_version": API_VERSION,
            "created": int(time.time()),
            "data": data,
            "request": {
                "id": context.get("request_id"),
                "idempotency_key": context.get("idempotency_key"),
            },
            "type": event_type,
        }
        event = self.store.create("events", ACCOUNT, event)
        self.deliver(event["id"])
        return event

    def deliver(self, event_id: str, url: str = "") -> list[str]:
        """Sends the event to every endpoint (or the one at `url`); returns the delivery ids."""
        endpoints = self.store.select("webhook endpoints", ACCOUNT)
        targets = [endpoint for endpoint in endpoints if url in ("", endpoint["url"])]
        with self.lock:
            event = self.store.get("events", ACCOUNT, event_id)
            pending = event["pending_webhooks"] + len(targets)
            self.store.update("events", ACCOUNT, event_id, {"pending_webhooks": pending})
            new = {"event": event_id, "type": event["type"], "attempts": [], "delivered": False}
            deliveries = [
                self.store.create("webhook deliveries", ACCOUNT, {**new, "url": endpoint["url"]})
                for endpoint in targets
            ]
        event["pending_webhooks"] = pending
        body = json.dumps(event, indent=2).encode()  # Stripe sends pretty-printed JSON
        for endpoint, delivery in zip(targets, deliveries, strict=True):
            threading.Thread(
                target=self._send,
                args=(endpoint, delivery["id"], body),
                name=f"stripe-webhook-{delivery['id']}",
                daemon=True,
            ).start()
        return [delivery["id"] for delivery in deliveries]

    def _send(self, endpoint: Record, delivery_id: str, body: bytes) -> None:
        for delay in (0.0, *self.retry_delays):
            time.sleep(delay)
            timestamp = int(time.time())
            signed = f"{timestamp}.".encode() + body
            signature = hmac.new(endpoint["secret"].encode(), signed, hashlib.sha256).hexdigest()
            attempt: dict[str, Any] = {"at": time.time(), "status": None, "error": None}
            try:
                answer = requests.post(
                    endpoint["url"],
                    data=body,
                    headers={
                        "Content-Type": "application/json; charset=utf-8",
                        "Stripe-Signature": f"t={timestamp},v1={signature}",
                        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                    },
                    timeout=self.timeout,
                )
                attempt["status"] = answer.status_code
            except requests.RequestException as exc:
                attempt["error"] = type(exc).__name__
            if self._record(delivery_id, attempt):
                return

    def _record(self, delivery_id: str, attempt: dict[str, Any]) -> bool:
        """Keeps the attempt; True when it delivered the event."""
        delivered = attempt["status"] is not None and 200 <= attempt["status"] < 300
        with self.lock:
            delivery = self.store.find("webhook deliveries", ACCOUNT, delivery_id)
            if delivery is None:
                return True  # the sandbox was reset meanwhile
            changes = {"attempts": [*delivery["attempts"], attempt], "delivered": delivered}
            self.store.update("webhook deliveries", ACCOUNT, delivery_id, changes)
            if delivered:
                event = self.store.get("events", ACCOUNT, delivery["event"])
                pending = max(0, event["pending_webhooks"] - 1)
                self.store.update("events", ACCOUNT, event["id"], {"pending_webhooks": pending})
        return delivered
