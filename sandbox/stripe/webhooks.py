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

ACCOUNT = "acct_sandbox"  # every secret key of a sandbox belongs to one Stripe account
API_VERSION = "2026-10-28.endive"  # of the spec subset and of the installed `stripe` library

RESOURCES = (
    Resource("events", ids="hex", id_prefix="evt_"),
    Resource("webhook endpoints", ids="hex", id_prefix="we_"),
    # Each event sent to one endpoint with its attempts (Saleor keeps attempts as rows).
    Resource("webhook deliveries", ids="hex", id_prefix="whd_"),
)


class Webhooks:
    """The sandbox's events and their deliveries, kept in its store under its lock."""

    store: Store
    lock: threading.RLock
    webhook_retry_delays: tuple[float, ...]
    webhook_timeout: float

    def add_webhook_endpoint(self, url: str, secret: str) -> Record:
        record = {"url": url, "secret": secret or "whsec_" + secrets.token_hex(16)}
        return self.store.create("webhook endpoints", ACCOUNT, record)

    def emit(self, event_type: str, obj: Record, previous: Record | None = None) -> Record:
        """Records the event about `obj` as it is now and sends it to every endpoint."""
        data: Record = {"object": copy.deepcopy(obj)}
        if previous is not None:
            data["previous_attributes"] = previous
        context: Any = g if has_request_context() else {}
        request = {"id": context.get("request_id")}
        request["idempotency_key"] = context.get("idempotency_key")
        event = self.store.create("events", ACCOUNT, {
            "object": "event", "livemode": False, "pending_webhooks": 0, "api_version": API_VERSION,
            "created": int(time.time()), "data": data, "request": request, "type": event_type,
        })  # fmt: skip
        self.deliver_event(event["id"])
        return event

    def deliver_event(self, event_id: str, url: str = "") -> list[str]:
        """Sends the event to every endpoint (or the one at `url`); returns the delivery ids."""
        endpoints = self.store.select("webhook endpoints", ACCOUNT)
        targets = [endpoint for endpoint in endpoints if url in ("", endpoint["url"])]
        with self.lock:
            event = self._count_pending(event_id, len(targets))
            new = {"event": event_id, "type": event["type"], "attempts": [], "delivered": False}
            deliveries = [
                self.store.create("webhook deliveries", ACCOUNT, {**new, "url": endpoint["url"]})
                for endpoint in targets
            ]
        body = json.dumps(event, indent=2).encode()  # Stripe sends pretty-printed JSON
        for endpoint, delivery in zip(targets, deliveries, strict=True):
            threading.Thread(target=self._send_webhook, args=(endpoint, delivery["id"], body),
                             daemon=True).start()  # fmt: skip
        return [delivery["id"] for delivery in deliveries]

    def _count_pending(self, event_id: str, more: int) -> Record:
        event = self.store.get("events", ACCOUNT, event_id)
        pending = {"pending_webhooks": max(0, event["pending_webhooks"] + more)}
        return self.store.update("events", ACCOUNT, event_id, pending)

    def _send_webhook(self, endpoint: Record, delivery_id: str, body: bytes) -> None:
        for delay in (0.0, *self.webhook_retry_delays):
            time.sleep(delay)
            timestamp = int(time.time())
            signed = f"{timestamp}.".encode() + body
            signature = hmac.new(endpoint["secret"].encode(), signed, hashlib.sha256).hexdigest()
            headers = {"Content-Type": "application/json; charset=utf-8",
                       "Stripe-Signature": f"t={timestamp},v1={signature}",
                       "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"}  # fmt: skip
            attempt: dict[str, Any] = {"at": time.time(), "status": None, "error": None}
            try:
                answer = requests.post(
                    endpoint["url"], data=body, headers=headers, timeout=self.webhook_timeout
                )
                attempt["status"] = answer.status_code
            except requests.RequestException as exc:
                attempt["error"] = type(exc).__name__
            delivered = 200 <= (attempt["status"] or 0) < 300
            with self.lock:
                delivery = self.store.find("webhook deliveries", ACCOUNT, delivery_id)
                if delivery is None:
                    return  # the sandbox was reset meanwhile
                changes = {"attempts": [*delivery["attempts"], attempt], "delivered": delivered}
                self.store.update("webhook deliveries", ACCOUNT, delivery_id, changes)
                if delivered:
                    self._count_pending(delivery["event"], -1)
                    return
