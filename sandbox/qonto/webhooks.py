"""Qonto's webhook subscriptions (`/v2/webhook_subscriptions`, errors as one flat
`{code, detail, source}`) and the signed `v1/client-invoices` events sent to them.

A delivery is signed `X-Qonto-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "{t}.{body}"
with the subscription's secret>` and retried with exponential backoff "for a few days" while
the receiver fails or takes longer than a second (Qonto fact sheet).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, g, request

from sandbox.callbacks import CallbackSender
from sandbox.qonto.api import paged
from sandbox.qonto.state import Organization, timestamp
from sandbox.store import Record

if TYPE_CHECKING:
    from sandbox.qonto.app import QontoSandbox

SIGNATURE_HEADER = "X-Qonto-Signature"
INVOICE_EVENTS = "v1/client-invoices"
# The event types of the fact sheet, and the read scope each needs beside `webhook`.
EVENT_SCOPES = {INVOICE_EVENTS: "client_invoices.read", "v1/clients": "organization.read"}
# One minute, doubling: twelve tries over about three days ("a few days", not documented).
RETRY_DELAYS = tuple(60.0 * 2**n for n in range(12))
ACKNOWLEDGE_WITHIN = 1.0  # seconds; slower answers count as failed
SHOWN = ("id", "organization_id", "membership_id", "callback_url", "types", "created_at")
SHOWN_TOO = ("updated_at", "description")
# Endpoint names start so: app.error_response answers them in the flat error form.
ENDPOINT_PREFIX = "webhook_subscription"


def signature(secret: str, timestamp_text: str, body: bytes) -> str:
    message = timestamp_text.encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def membership_id(organization: Organization) -> str:
    """The sandbox has one member per organization, the one who subscribed."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"qonto-membership:{organization.id}"))


class QontoWebhooks:
    def __init__(self, sandbox: QontoSandbox, *, retry_delays: Iterable[float]) -> None:
        self.sandbox = sandbox
        self.sender = CallbackSender(
            sign=self.sign,
            retry_delays=retry_delays,
            retry_on=lambda status: True,  # every answer but a 2xx counts as failed
            timeout=ACKNOWLEDGE_WITHIN,
        )

    def sign(self, body: bytes) -> dict[str, str]:
        """Signed anew at every try, with the secret of the subscription the body names."""
        subscription_id = str(json.loads(body).get("subscription_id") or "")
        stored = [
            record
            for _, record in self.sandbox.store.everything("webhook_subscriptions")
            if record["id"] == subscription_id
        ]
        secret = str(stored[0]["secret"]) if stored else ""
        now = str(int(time.time()))
        return {SIGNATURE_HEADER: f"t={now},v1={signature(secret, now, body)}"}

    def invoice_changed(self, organization: Organization, invoice: Record) -> None:
        """Sends the `v1/client-invoices` event (an invoice created or updated) to every
        subscription of the organization to that type. The docs' example carries the invoice
        in `data` without an `event` field naming which, and so does the sandbox."""
        subscriptions = self.sandbox.store.select("webhook_subscriptions", organization.id)
        for subscription in subscriptions:
            if INVOICE_EVENTS not in subscription["types"]:
                continue
            envelope = {
                "id": str(uuid.uuid4()),
                "subscription_id": subscription["id"],
                "organization_id": organization.id,
                "membership_id": membership_id(organization),
                "type": INVOICE_EVENTS,
                "created_at": timestamp(),
                "data": invoice,
            }
            body = json.dumps(envelope, ensure_ascii=False).encode()
            self.sender.send(subscription["callback_url"], body)

    def register(self, app: Flask) -> None:
        sandbox, store = self.sandbox, self.sandbox.store

        def route(rule: str, endpoint: str, method: str) -> Callable[..., Any]:
            return app.route(rule, endpoint=f"{ENDPOINT_PREFIX}{endpoint}", methods=[method])

        def refused(status: int, code: str, detail: str, pointer: str = "") -> Response:
            return sandbox.error_response(status, detail, code=code, pointer=pointer or None)

        def shown(record: Record, *, with_secret: bool = False) -> Record:
            names = (*SHOWN, *SHOWN_TOO, *(("secret",) if with_secret else ()))
            return {name: record[name] for name in names if name in record}

        def body_problem(body: dict[str, Any], *, creating: bool) -> Response | None:
            # Not marked required in the material, but plainly needed to deliver anything.
            for name in ("callback_url", "types") if creating else ():
                if not body.get(name):
                    return refused(400, "invalid_format", f"{name} is missing", f"/{name}")
            for index, kind in enumerate(body.get("types") or []):
                if kind not in EVENT_SCOPES:
                    detail = f"{kind} is not a supported webhook type"
                    return refused(400, "not_in_list", detail, f"/types/{index}")
                if EVENT_SCOPES[kind] not in g.scopes:
                    return refused(403, "forbidden", f"Missing scope {EVENT_SCOPES[kind]}")
            return None

        def one(subscription_id: str) -> Record | None:
            return store.find("webhook_subscriptions", g.organization.id, subscription_id)

        def not_found() -> Response:
            return refused(404, "not_found", "Webhook subscription not found")

        @route("/v2/webhook_subscriptions", "s", "GET")
        def list_subscriptions() -> Response:
            records = store.select("webhook_subscriptions", g.organization.id)
            return paged(sandbox, "subscriptions", [shown(r) for r in records])

        @route("/v2/webhook_subscriptions", "_create", "POST")
        def create_subscription() -> Response:
            body = request.get_json(silent=True)
            if not isinstance(body, dict):
                return refused(400, "bad_request", "The request body must be a JSON object", "/")
            problem = body_problem(body, creating=True)
            if problem is not None:
                return problem
            org: Organization = g.organization
            now = timestamp()
            record = {
                "organization_id": org.id,
                "membership_id": membership_id(org),
                "callback_url": body["callback_url"],
                "types": list(body["types"]),
                "created_at": now,
                "updated_at": now,
                "description": str(body.get("description") or ""),
                # The product's secret; the sandbox makes one when none is sent (unverified).
                "secret": str(body.get("secret") or secrets.token_urlsafe(24)),
            }
            created = store.create("webhook_subscriptions", org.id, record)
            return sandbox.json(shown(created, with_secret=True), 201)

        @route("/v2/webhook_subscriptions/<subscription_id>", "", "GET")
        def get_subscription(subscription_id: str) -> Response:
            record = one(subscription_id)
            return not_found() if record is None else sandbox.json(shown(record))

        @route("/v2/webhook_subscriptions/<subscription_id>", "_update", "PUT")
        def update_subscription(subscription_id: str) -> Response:
            body = request.get_json(silent=True)
            if not isinstance(body, dict):
                return refused(400, "bad_request", "The request body must be a JSON object", "/")
            problem = body_problem(body, creating=False)
            if problem is not None:
                return problem
            if one(subscription_id) is None:
                return not_found()
            changes = {
                name: body[name]
                for name in ("callback_url", "types", "description")
                if name in body
            }
            changes["updated_at"] = timestamp()
            updated = store.update(
                "webhook_subscriptions", g.organization.id, subscription_id, changes
            )
            return sandbox.json(shown(updated))

        @route("/v2/webhook_subscriptions/<subscription_id>", "_delete", "DELETE")
        def delete_subscription(subscription_id: str) -> Response:
            if one(subscription_id) is None:
                return not_found()
            store.delete("webhook_subscriptions", g.organization.id, subscription_id)
            return Response(status=204)
