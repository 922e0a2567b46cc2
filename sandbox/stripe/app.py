"""Stripe stand-in: customers, Checkout in subscription mode with a hosted payment page, the
customer portal, subscriptions, events and signed webhook deliveries with retries.

Every secret key of a sandbox belongs to one Stripe account (`ACCOUNT`). The operations are
in `api`, the hosted pages in `pages`, objects and their state changes in `lifecycle`; this
module holds what Stripe does around every call: keys, errors, idempotency keys, request ids
and the rate limit, and the admin routes that play Stripe's dashboard and test clocks."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from flask import Flask, Request, Response, g, request

from sandbox.contract import ContractChecker, SpecProblem, decode_form
from sandbox.core import DropConnection, Refusal, TokenBucket, VendorSandbox
from sandbox.core import records as live_records
from sandbox.store import Record, Records
from sandbox.stripe import lifecycle, webhooks
from sandbox.stripe.api import StripeApi
from sandbox.stripe.contract import StripeContractChecker
from sandbox.stripe.webhooks import ACCOUNT

if TYPE_CHECKING:
    from sandbox.demo import DemoSetup

DOCS = "https://stripe.com/docs/error-codes/"
# (unit amount in the currency's smallest unit, currency, interval)
DEFAULT_PRICES: dict[str, tuple[int, str, str]] = {
    "price_lexoffice_monthly": (2900, "eur", "month"),
    "price_lexoffice_yearly": (29000, "eur", "year"),
    "price_sevdesk_monthly": (2900, "eur", "month"),
    "price_qonto_monthly": (2900, "eur", "month"),
    "price_bexio_monthly": (2900, "chf", "month"),
    "price_eaccounting_monthly": (2900, "eur", "month"),
    "price_zep_monthly": (1900, "eur", "month"),
}
NO_KEY = (
    "You did not provide an API key. You need to provide your API key in the Authorization "
    "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
    "https://stripe.com/docs/api#authentication for details, or we can help at "
    "https://support.stripe.com/."
)
RATE_LIMITED = (
    "Request rate limit exceeded. Learn more about rate limits here "
    "https://stripe.com/docs/rate-limits."
)
# The inspection page's columns per kind of record.
SHOWN = {
    "customers": "id email name metadata created",
    "checkout sessions": "id status payment_status client_reference_id customer customer_email "
    "subscription metadata",
    "subscriptions": "id customer status cancel_at_period_end trial_end latest_invoice",
    "invoices": "id customer status amount_due amount_paid currency billing_reason",
    "events": "id type pending_webhooks created",
    "webhook deliveries": "id event type url attempts delivered",
}


class StripeSandbox(StripeApi, VendorSandbox):
    name = "stripe"
    title = "Stripe"
    spec_files = ("stripe/stripe-subset-openapi.yaml",)
    spec_server_url = "https://api.stripe.com"
    resources = (*lifecycle.RESOURCES, *webhooks.RESOURCES)
    # Hosted pages (checkout.stripe.com, billing.stripe.com): no API key, a browser.
    public_endpoints = frozenset(
        {"checkout_page", "checkout_submit", "portal_page", "portal_submit"}
    )

    @classmethod
    def for_demo(cls, demo: DemoSetup) -> VendorSandbox:
        return cls(
            secret_keys=[demo.stripe_secret_key],
            webhook_endpoints=[(demo.url("/billing/stripe/webhook"), demo.stripe_webhook_secret)],
            webhook_retry_delays=(5.0, 30.0, 120.0),
        )

    def __init__(
        self, *, contract: bool = False, public_url: str = "",
        secret_keys: Iterable[str] = ("sk_test_sandbox",),
        prices: Mapping[str, tuple[int, str, str]] | None = None,
        rate_per_second: float = 25,  # Stripe's limit in test mode (live mode: 100)
        webhook_endpoints: Iterable[tuple[str, str]] = (),
        # Test mode retries a failed delivery three times over a few hours.
        webhook_retry_delays: tuple[float, ...] = (3600.0, 3 * 3600.0, 6 * 3600.0),
        webhook_timeout: float = 10.0, checkout_expires_after: int = 24 * 3600,
    ) -> None:  # fmt: skip
        self.secret_keys = frozenset(secret_keys)
        self.prices = dict(DEFAULT_PRICES if prices is None else prices)
        self.webhook_endpoints = tuple(webhook_endpoints)
        self.rate_per_second = rate_per_second
        self.checkout_expires_after = checkout_expires_after
        self.webhook_retry_delays, self.webhook_timeout = webhook_retry_delays, webhook_timeout
        super().__init__(contract=contract, public_url=public_url)

    def spec_checker(self) -> ContractChecker:
        return StripeContractChecker(self.spec_files, self.spec_server_url)

    def reset(self) -> None:
        super().reset()
        with self.lock:
            for url, secret in self.webhook_endpoints:
                self.add_webhook_endpoint(url, secret)
            for price_id, (amount, currency, interval) in self.prices.items():
                self.store.create("prices", ACCOUNT, lifecycle.stripe_object(
                    "price", id=price_id, currency=currency, unit_amount=amount,
                    product="prod_" + price_id.removeprefix("price_")[:14],
                    recurring={"interval": interval, "interval_count": 1},
                ))  # fmt: skip
            # (credential, Idempotency-Key) → (request fingerprint, status, body)
            self.idempotency: dict[tuple[str, str], tuple[str, int, bytes]] = {}
            self.idempotency_in_flight: set[tuple[str, str]] = set()
            self.limiter = TokenBucket(rate=self.rate_per_second, capacity=self.rate_per_second)

    checkout_sessions = live_records("checkout sessions")
    subscriptions = live_records("subscriptions")

    def records(self, resource: str) -> Records:
        """The account's records of one kind by id (for tests)."""
        return Records(self.store, resource, ACCOUNT)

    # -- the VendorSandbox hooks --------------------------------------------------------

    def credential_of(self, req: Request) -> str | None:
        scheme, _, key = req.headers.get("Authorization", "").partition(" ")
        key = key.strip() if scheme.lower() in ("basic", "bearer") else ""
        if scheme.lower() == "basic":  # `curl -u sk_test_...:` sends the key as user name
            try:
                key = base64.b64decode(key).decode().partition(":")[0]
            except ValueError:
                key = ""
        g.presented_key = key
        return key if key in self.secret_keys else None

    def spec_violation_response(self, problems: list[SpecProblem]) -> Response:
        # Stripe names the first parameter at fault (`param`), with the error code its docs
        # define for that kind of mistake (https://docs.stripe.com/error-codes).
        first = problems[0]
        field, value = first.field, getattr(first, "value", "")  # see StripeSpecProblem
        code, message = {
            "required": ("parameter_missing", f"Missing required param: {field}."),
            "additionalProperties": ("parameter_unknown", f"Received unknown parameter: {field}"),
            "type:integer": ("parameter_invalid_integer", f"Invalid integer: {value}"),
            "type:boolean": ("", f"Invalid boolean: {value}"),
        }.get(getattr(first, "keyword", ""), ("", f"Invalid {field or 'request'}: {first.message}"))
        return self.error_response(400, message, code=code, param=field)

    def error_response(self, status: int, message: str, **extra: Any) -> Response:
        if status == 401:
            key = g.get("presented_key", "")
            message = f"Invalid API Key provided: {key[:8]}****{key[-4:]}" if key else NO_KEY
        elif status == 429:
            extra, message = {"code": "rate_limit"}, RATE_LIMITED
        default = "api_error" if status >= 500 else "invalid_request_error"
        error: dict[str, Any] = {"type": extra.get("type") or default}
        if extra.get("code"):
            error |= {"code": extra["code"], "doc_url": DOCS + extra["code"].replace("_", "-")}
        error["message"] = message
        if extra.get("param"):
            error["param"] = extra["param"]
        return self.json({"error": error}, status)

    def rate_limit(self, credential: str) -> Response | None:
        return self.error_response(429, "") if self.limiter.take(credential) else None

    def inspect(self) -> dict[str, list[dict[str, Any]]]:
        return {
            resource: [
                {column: record.get(column) for column in columns.split()}
                for record in self.store.select(resource, ACCOUNT)
            ]
            for resource, columns in SHOWN.items()
        }

    # -- routes -------------------------------------------------------------------------

    def register_routes(self, app: Flask) -> None:
        app.after_request(self._stamp_request_id)
        for method, rule, handler in (
            ("POST", "/v1/customers", self.create_customer),
            ("POST", "/v1/checkout/sessions", self.create_checkout_session),
            ("GET", "/v1/checkout/sessions/<session_id>", self.get_checkout_session),
            ("POST", "/v1/billing_portal/sessions", self.create_portal_session),
            ("GET", "/v1/subscriptions/<subscription_id>", self.get_subscription),
            ("DELETE", "/v1/subscriptions/<subscription_id>", self.cancel_subscription),
        ):
            app.add_url_rule(rule, handler.__name__, partial(self._api, handler), methods=[method])
        app.get("/c/pay/<session_id>", endpoint="checkout_page")(self.checkout_page)
        app.post("/c/pay/<session_id>", endpoint="checkout_submit")(self.checkout_submit)
        app.get("/p/session/<portal_id>", endpoint="portal_page")(self.portal_page)
        app.post("/p/session/<portal_id>", endpoint="portal_submit")(self.portal_submit)
        # Test helpers: what Stripe's dashboard and test clocks do.
        app.post("/_sandbox/webhooks")(self._admin_add_webhook)
        app.post("/_sandbox/subscriptions/<sub_id>/<action>")(self._admin_subscription)
        app.post("/_sandbox/events/<event_id>/resend")(self._admin_resend)

    def _stamp_request_id(self, response: Response) -> Response:
        if request.path.startswith("/v1/"):
            request_id = g.setdefault("request_id", "req_" + secrets.token_hex(7))
            response.headers.setdefault("Request-Id", request_id)
        return response

    def _api(self, handler: Callable[..., Record], **path: str) -> Response:
        g.request_id = "req_" + secrets.token_hex(7)
        source = request.args if request.method == "GET" else request.form
        call = partial(self._answer, handler, decode_form(source.items(multi=True)), **path)
        key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
        if key is None:
            return call()
        response = self._idempotent(key, call)
        # A create that committed may lose its answer (the drop-after-commit fault).
        if response.status_code == 200 and "Idempotent-Replayed" not in response.headers:
            try:
                self.after_commit()
            except DropConnection:
                g.stripe_dropped = True  # the contract checker skips the unsent answer
                raise
        return response

    def _answer(self, handler: Callable[..., Record], params: Record, **path: str) -> Response:
        try:
            return self.json(handler(params, **path))
        except Refusal as refusal:  # answered here, so that an idempotent request keeps it
            return self.error_response(refusal.status, refusal.message, **refusal.extra)

    def _idempotent(self, key: str, call: Callable[[], Response]) -> Response:
        """https://docs.stripe.com/api/idempotent_requests: the first answer to a key is saved
        once the endpoint started executing (500s included, requests that failed validation
        not) and replayed; other parameters or a concurrent request with the key are refused."""
        g.idempotency_key, slot = key, (g.credential, key)
        fingerprint = json.dumps([request.path, sorted(request.form.items(multi=True))])
        with self.lock:
            saved = self.idempotency.get(slot)
            busy = saved is None and slot in self.idempotency_in_flight
            if saved is None:
                self.idempotency_in_flight.add(slot)
        if saved is not None and saved[0] != fingerprint:
            message = ("Keys for idempotent requests can only be used with the same parameters "
                       f"they were first used with. Try using a key other than '{key}' if you "
                       "meant to execute a different request.")  # fmt: skip
            return self.error_response(400, message, type="idempotency_error")
        if saved is not None:
            replay = Response(saved[2], status=saved[1], mimetype="application/json")
            replay.headers.update({"Idempotent-Replayed": "true", "Idempotency-Key": key})
            return replay
        if busy:
            message = ("There is currently another in-progress request using this idempotent key "
                       "(that probably means you submitted twice, and the other request is still "
                       f"going through): {key}. Please try again later.")  # fmt: skip
            return self.error_response(409, message, code="idempotency_key_in_use")
        try:
            response = call()
            if response.status_code != 400:
                with self.lock:
                    self.idempotency[slot] = (fingerprint, response.status_code, response.data)
        finally:
            with self.lock:
                self.idempotency_in_flight.discard(slot)
        response.headers["Idempotency-Key"] = key
        return response

    # -- admin: simulate time and payments ----------------------------------------------

    def _admin_add_webhook(self) -> Response:
        body = request.get_json(force=True, silent=True) or {}
        if not body.get("url"):
            return self.json({"error": "url is required"}, 400)
        endpoint = self.add_webhook_endpoint(body["url"], body.get("secret", ""))
        return self.json({"url": endpoint["url"], "secret": endpoint["secret"]})

    def _admin_subscription(self, sub_id: str, action: str) -> Response:
        """`fail_payment` and `pay` charge the next period (`pay` first pays an open invoice),
        `end_period` ends a subscription set to cancel, else renews it."""
        with self.lock:
            subscription = self.find("subscriptions", sub_id)
            if subscription is None or action not in ("fail_payment", "pay", "end_period"):
                return self.json({"error": f"no subscription {sub_id} to {action}"}, 404)
            invoice, ended = None, subscription["status"] == "canceled"
            if action == "pay":
                invoice = self.pay_open_invoice(subscription)
            if action == "end_period" and subscription["cancel_at_period_end"] and not ended:
                self.end(subscription)
            elif not ended and invoice is None:
                invoice = self.charge_cycle(subscription, paid=action != "fail_payment")
            subscription = self.find("subscriptions", sub_id)
            return self.json({"subscription": subscription, "invoice": invoice})

    def _admin_resend(self, event_id: str) -> Response:
        if self.find("events", event_id) is None:
            return self.json({"error": f"no event {event_id}"}, 404)
        body = request.get_json(force=True, silent=True) or {}
        deliveries = self.deliver_event(event_id, body.get("url") or "")
        return self.json({"event": event_id, "deliveries": deliveries})
