"""Qonto's webhook subscriptions (`/v2/webhook_subscriptions`, served from the store by
`api.QontoResources`, errors as one flat `{code, detail, source}`) and the signed
`v1/client-invoices` events sent to them.

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
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from flask import Response, g, has_request_context, request

from sandbox.callbacks import CallbackSender
from sandbox.qonto.state import Organization, timestamp
from sandbox.store import Record

if TYPE_CHECKING:
    from sandbox.qonto.app import QontoSandbox

SUBSCRIPTIONS, PATH = "webhook_subscriptions", "/v2/webhook_subscriptions"
SIGNATURE_HEADER = "X-Qonto-Signature"
INVOICE_EVENTS = "v1/client-invoices"
# The event types of the fact sheet, and the read scope each needs beside `webhook`.
EVENT_SCOPES = {INVOICE_EVENTS: "client_invoices.read", "v1/clients": "organization.read"}
# One minute, doubling: twelve tries over about three days ("a few days", not documented).
RETRY_DELAYS = tuple(60.0 * 2**n for n in range(12))
ACKNOWLEDGE_WITHIN = 1.0  # seconds; slower answers count as failed


def signature(secret: str, timestamp_text: str, body: bytes) -> str:
    message = timestamp_text.encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def membership_id(organization: Organization) -> str:
    """The sandbox has one member per organization, the one who subscribed."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"qonto-membership:{organization.id}"))


def for_subscriptions() -> bool:
    """Whether the request is routed to the subscriptions (`sandbox.routes` names their
    endpoints after the resource), whose errors are one flat object."""
    return has_request_context() and (request.endpoint or "").startswith(SUBSCRIPTIONS)


def shown(record: Record, *, with_secret: bool = False) -> Record:
    """The subscription as answered: the secret only in the create's answer."""
    return record if with_secret else {k: v for k, v in record.items() if k != "secret"}


def new_subscription(organization: Organization, body: dict[str, Any]) -> Record:
    now = timestamp()
    return {
        "id": None,  # the store's, answered first
        "organization_id": organization.id,
        "membership_id": membership_id(organization),
        "callback_url": body["callback_url"],
        "types": list(body["types"]),
        "created_at": now,
        "updated_at": now,
        "description": str(body.get("description") or ""),
        # The product's secret; the sandbox makes one when none is sent (unverified).
        "secret": str(body.get("secret") or secrets.token_urlsafe(24)),
    }


def subscription_changes(body: dict[str, Any]) -> Record:
    changed = {k: body[k] for k in ("callback_url", "types", "description") if k in body}
    return changed | {"updated_at": timestamp()}


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
        event = json.loads(body)
        owner, subscription_id = event.get("organization_id"), event.get("subscription_id")
        stored = self.sandbox.store.find(SUBSCRIPTIONS, owner, subscription_id)
        secret = str(stored["secret"]) if stored else ""
        now = str(int(time.time()))
        return {SIGNATURE_HEADER: f"t={now},v1={signature(secret, now, body)}"}

    def refused_body(self) -> Response | None:
        """Qonto checks a subscription's body (beyond its spec) before it looks the
        subscription up; None for a body it takes, or another request."""
        if request.method not in ("POST", "PUT") or not for_subscriptions():
            return None

        def refuse(status: int, code: str, detail: str, pointer: str | None = None) -> Response:
            return self.sandbox.error_response(status, detail, code=code, pointer=pointer)

        body = request.get_json()  # a JSON object: the spec step refused anything else
        # Not marked required in the material, but plainly needed to deliver anything.
        for name in ("callback_url", "types") if request.method == "POST" else ():
            if not body.get(name):
                return refuse(400, "invalid_format", f"{name} is missing", f"/{name}")
        for index, kind in enumerate(body.get("types") or []):
            if kind not in EVENT_SCOPES:
                detail = f"{kind} is not a supported webhook type"
                return refuse(400, "not_in_list", detail, f"/types/{index}")
            if EVENT_SCOPES[kind] not in g.scopes:
                return refuse(403, "forbidden", f"Missing scope {EVENT_SCOPES[kind]}")
        return None

    def invoice_changed(self, organization: Organization, invoice: Record) -> None:
        """Sends the `v1/client-invoices` event (an invoice created or updated) to every
        subscription of the organization to that type. The docs' example carries the invoice
        in `data` without an `event` field naming which, and so does the sandbox."""
        for subscription in self.sandbox.store.select(SUBSCRIPTIONS, organization.id):
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
