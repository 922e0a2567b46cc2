"""Stripe stand-in: customers, Checkout in subscription mode with a hosted payment page, the
customer portal, subscriptions, events and signed webhook deliveries with retries.

Objects are rendered as API version 2026-10-28.endive (the version of the spec subset and of
the installed `stripe` library), whatever `Stripe-Version` a request pins: the billing period
lives on each subscription item and an invoice names its subscription under
`parent.subscription_details`.
"""

from __future__ import annotations

import base64
import calendar
import copy
import hashlib
import hmac
import json
import secrets
import string
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import requests
from flask import Flask, Request, Response, g, has_request_context, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from sandbox.contract import ContractChecker, SpecProblem
from sandbox.core import DropConnection, TokenBucket, VendorSandbox
from sandbox.stripe import pages
from sandbox.stripe.contract import StripeContractChecker, StripeSpecProblem
from sandbox.stripe.forms import decode_form

if TYPE_CHECKING:
    from sandbox.demo import DemoSetup

API_VERSION = "2026-10-28.endive"
DOCS = "https://stripe.com/docs/error-codes/"

# (unit amount in the currency's smallest unit, currency, interval)
DEFAULT_PRICES: dict[str, tuple[int, str, str]] = {
    "price_lexoffice_monthly": (2900, "eur", "month"),
    "price_lexoffice_yearly": (29000, "eur", "year"),
    "price_sevdesk_monthly": (2900, "eur", "month"),
    "price_qonto_monthly": (2900, "eur", "month"),
    "price_bexio_monthly": (2900, "chf", "month"),
}

# Stripe's documented test cards; any other number is refused in test mode.
CARD_OK = "4242424242424242"
CARD_DECLINES = {
    "4000000000000002": ("card_declined", "generic_decline", "Your card was declined."),
    "4000000000009995": (
        "card_declined",
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
}
PAYMENT_METHOD_TYPES = ("card", "paypal", "sepa_debit", "link")

WEBHOOK_EVENTS = (
    "checkout.session.completed",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.trial_will_end",
    "invoice.paid",
    "invoice.payment_failed",
)
TRIAL_WILL_END_DAYS = 3  # Stripe sends trial_will_end three days before the trial ends


class StripeError(Exception):
    """An API error in Stripe's envelope; handlers raise it, `_api` renders it."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.decline_code = decline_code


def _missing(param: str) -> StripeError:
    return StripeError(
        400, f"Missing required param: {param}.", code="parameter_missing", param=param
    )


def _no_such(kind: str, object_id: str, param: str, status: int = 400) -> StripeError:
    return StripeError(
        status, f"No such {kind}: '{object_id}'", code="resource_missing", param=param
    )


def _random_id(prefix: str, length: int = 24) -> str:
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


def _add_interval(timestamp: int, interval: str, count: int = 1) -> int:
    if interval == "day":
        return timestamp + 86400 * count
    if interval == "week":
        return timestamp + 7 * 86400 * count
    moment = datetime.fromtimestamp(timestamp, UTC)
    months = moment.month - 1 + count * (12 if interval == "year" else 1)
    year, month = moment.year + months // 12, months % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return int(moment.replace(year=year, month=month, day=day).timestamp())


@dataclass
class WebhookEndpoint:
    url: str
    secret: str


@dataclass
class Delivery:
    """One event sent to one endpoint, with every attempt (Saleor keeps attempts as rows)."""

    id: str
    event_id: str
    event_type: str
    url: str
    attempts: list[dict[str, Any]] = field(default_factory=list)
    delivered: bool = False


@dataclass
class IdempotentResult:
    fingerprint: str
    status: int
    body: bytes


class StripeSandbox(VendorSandbox):
    name = "stripe"
    title = "Stripe"
    spec_files = ("stripe/stripe-subset-openapi.yaml",)

    @classmethod
    def for_demo(cls, demo: DemoSetup) -> VendorSandbox:
        return cls(
            secret_keys=[demo.stripe_secret_key],
            webhook_endpoints=[(demo.url("/billing/stripe/webhook"), demo.stripe_webhook_secret)],
            webhook_retry_delays=(5.0, 30.0, 120.0),
        )

    spec_server_url = "https://api.stripe.com"
    public_endpoints = frozenset(
        {"checkout_page", "checkout_submit", "portal_page", "portal_submit"}
    )

    def __init__(
        self,
        *,
        contract: bool = False,
        public_url: str = "",
        secret_keys: Iterable[str] = ("sk_test_sandbox",),
        prices: Mapping[str, tuple[int, str, str]] | None = None,
        rate_per_second: float = 25,  # Stripe's limit in test mode (live mode: 100)
        webhook_endpoints: Iterable[tuple[str, str]] = (),
        webhook_retry_delays: tuple[float, ...] = (3600.0, 3 * 3600.0, 6 * 3600.0),
        webhook_timeout: float = 10.0,
        checkout_expires_after: int = 24 * 3600,
    ) -> None:
        self._initial_keys = tuple(secret_keys)
        self._initial_prices = dict(DEFAULT_PRICES if prices is None else prices)
        self._initial_endpoints = tuple(webhook_endpoints)
        self.rate_per_second = rate_per_second
        # Test mode retries a failed delivery three times over a few hours.
        self.webhook_retry_delays = webhook_retry_delays
        self.webhook_timeout = webhook_timeout
        self.checkout_expires_after = checkout_expires_after
        super().__init__(contract=contract, public_url=public_url)

    def spec_checker(self) -> ContractChecker:
        return StripeContractChecker(self.spec_files, self.spec_server_url)

    # -- state --------------------------------------------------------------------------

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.secret_keys: set[str] = set(self._initial_keys)
            self.prices: dict[str, dict[str, Any]] = {}
            for price_id, (amount, currency, interval) in self._initial_prices.items():
                self.add_price(price_id, amount, currency, interval)
            self.customers: dict[str, dict[str, Any]] = {}
            self.checkout_sessions: dict[str, dict[str, Any]] = {}
            self.checkout_details: dict[str, dict[str, Any]] = {}  # line items, trial days
            self.portal_sessions: dict[str, dict[str, Any]] = {}
            self.subscriptions: dict[str, dict[str, Any]] = {}
            self.invoices: dict[str, dict[str, Any]] = {}
            self.events: dict[str, dict[str, Any]] = {}
            self.webhook_endpoints = [WebhookEndpoint(u, s) for u, s in self._initial_endpoints]
            self.deliveries: list[Delivery] = []
            self.idempotency: dict[tuple[str, str], IdempotentResult] = {}
            self.idempotency_in_flight: set[tuple[str, str]] = set()
            self.limiter = TokenBucket(rate=self.rate_per_second, capacity=self.rate_per_second)

    def add_secret_key(self, key: str) -> None:
        with self.lock:
            self.secret_keys.add(key)

    def add_price(self, price_id: str, amount: int, currency: str, interval: str) -> None:
        now = int(time.time())
        with self.lock:
            self.prices[price_id] = {
                "id": price_id,
                "object": "price",
                "active": True,
                "billing_scheme": "per_unit",
                "created": now,
                "currency": currency,
                "livemode": False,
                "lookup_key": None,
                "metadata": {},
                "nickname": None,
                "product": "prod_" + price_id.removeprefix("price_")[:14],
                "recurring": {
                    "interval": interval,
                    "interval_count": 1,
                    "meter": None,
                    "usage_type": "licensed",
                    "trial_period_days": None,
                },
                "tax_behavior": "unspecified",
                "tiers_mode": None,
                "transform_quantity": None,
                "type": "recurring",
                "unit_amount": amount,
                "unit_amount_decimal": str(amount),
            }

    def add_webhook_endpoint(self, url: str, secret: str = "") -> WebhookEndpoint:
        endpoint = WebhookEndpoint(url, secret or _random_id("whsec_", 32))
        with self.lock:
            self.webhook_endpoints.append(endpoint)
        return endpoint

    # -- the VendorSandbox hooks --------------------------------------------------------

    def credential_of(self, req: Request) -> str | None:
        header = req.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        key = value.strip()
        if scheme.lower() == "basic":  # `curl -u sk_test_...:` sends the key as user name
            try:
                key = base64.b64decode(key).decode().partition(":")[0]
            except ValueError:
                key = ""
        elif scheme.lower() != "bearer":
            key = ""
        g.presented_key = key
        with self.lock:
            return key if key in self.secret_keys else None

    def spec_violation_response(self, problems: list[SpecProblem]) -> Response:
        # Stripe names the first parameter at fault (`param`), with the error code its docs
        # define for that kind of mistake (https://docs.stripe.com/error-codes).
        first = problems[0]
        keyword = first.keyword if isinstance(first, StripeSpecProblem) else ""
        value = first.value if isinstance(first, StripeSpecProblem) else ""
        code, message = {
            "required": ("parameter_missing", f"Missing required param: {first.field}."),
            "additionalProperties": (
                "parameter_unknown",
                f"Received unknown parameter: {first.field}",
            ),
            "type:integer": ("parameter_invalid_integer", f"Invalid integer: {value}"),
            "type:boolean": (None, f"Invalid boolean: {value}"),
        }.get(keyword, (None, f"Invalid {first.field or 'request'}: {first.message}"))
        return self.error_response(400, message, code=code, param=first.field)

    def error_response(self, status: int, message: str, **extra: Any) -> Response:
        if status == 401:
            presented = g.get("presented_key", "")
            message = (
                f"Invalid API Key provided: {presented[:8]}{'*' * 4}{presented[-4:]}"
                if presented
                else "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, "
                "or we can help at https://support.stripe.com/."
            )
        elif status == 429:
            extra = {"code": "rate_limit"}
            message = (
                "Request rate limit exceeded. Learn more about rate limits here "
                "https://stripe.com/docs/rate-limits."
            )
        elif status >= 500:
            extra.setdefault("type", "api_error")
        error: dict[str, Any] = {"type": extra.get("type", "invalid_request_error")}
        for key in ("code", "decline_code"):
            if extra.get(key):
                error[key] = extra[key]
        if extra.get("code"):
            error["doc_url"] = DOCS + extra["code"].replace("_", "-")
        error["message"] = message
        if extra.get("param"):
            error["param"] = extra["param"]
        return self.json({"error": error}, status)

    def rate_limit(self, credential: str) -> Response | None:
        if self.limiter.take(credential):
            return self.error_response(429, "")
        return None

    def inspect(self) -> dict[str, list[dict[str, Any]]]:
        with self.lock:
            return {
                "customers": [
                    {k: c[k] for k in ("id", "email", "name", "metadata", "created")}
                    for c in self.customers.values()
                ],
                "checkout sessions": [
                    {
                        k: s[k]
                        for k in (
                            "id",
                            "status",
                            "payment_status",
                            "client_reference_id",
                            "customer",
                            "customer_email",
                            "subscription",
                            "metadata",
                        )
                    }
                    for s in self.checkout_sessions.values()
                ],
                "subscriptions": [
                    {
                        "id": s["id"],
                        "customer": s["customer"],
                        "status": s["status"],
                        "cancel_at_period_end": s["cancel_at_period_end"],
                        "price": s["items"]["data"][0]["price"]["id"],
                        "current_period_end": s["items"]["data"][0]["current_period_end"],
                        "trial_end": s["trial_end"],
                        "latest_invoice": s["latest_invoice"],
                    }
                    for s in self.subscriptions.values()
                ],
                "invoices": [
                    {
                        k: i[k]
                        for k in (
                            "id",
                            "customer",
                            "status",
                            "amount_due",
                            "amount_paid",
                            "currency",
                            "billing_reason",
                        )
                    }
                    | {"subscription": i["parent"]["subscription_details"]["subscription"]}
                    for i in self.invoices.values()
                ],
                "events": [
                    {
                        "id": e["id"],
                        "type": e["type"],
                        "object": e["data"]["object"]["id"],
                        "pending_webhooks": e["pending_webhooks"],
                        "created": e["created"],
                    }
                    for e in self.events.values()
                ],
                "webhook deliveries": [
                    {
                        "id": d.id,
                        "event": d.event_id,
                        "type": d.event_type,
                        "url": d.url,
                        "attempts": len(d.attempts),
                        "last_status": d.attempts[-1].get("status") if d.attempts else None,
                        "delivered": d.delivered,
                    }
                    for d in self.deliveries
                ],
            }

    # -- routes -------------------------------------------------------------------------

    def register_routes(self, app: Flask) -> None:
        app.after_request(self._stamp_request_id)

        app.post("/v1/customers")(self._api(self._create_customer, creates=True))
        app.post("/v1/checkout/sessions")(self._api(self._create_checkout_session, creates=True))
        app.get("/v1/checkout/sessions/<session>")(self._api(self._get_checkout_session))
        app.post("/v1/billing_portal/sessions")(
            self._api(self._create_portal_session, creates=True)
        )
        app.get("/v1/subscriptions/<subscription_exposed_id>")(self._api(self._get_subscription))
        app.post("/v1/subscriptions/<subscription_exposed_id>")(
            self._api(self._update_subscription)
        )
        app.delete("/v1/subscriptions/<subscription_exposed_id>")(
            self._api(self._cancel_subscription)
        )
        app.get("/v1/events/<id>")(self._api(self._get_event))

        # Hosted pages (checkout.stripe.com, billing.stripe.com): no API key, a browser.
        app.get("/c/pay/<session_id>", endpoint="checkout_page")(self._checkout_page)
        app.post("/c/pay/<session_id>", endpoint="checkout_submit")(self._checkout_submit)
        app.get("/p/session/<portal_id>", endpoint="portal_page")(self._portal_page)
        app.post("/p/session/<portal_id>", endpoint="portal_submit")(self._portal_submit)

        app.post("/_sandbox/webhooks")(self._admin_add_webhook)
        app.post("/_sandbox/subscriptions/<sub_id>/fail_payment")(self._admin_fail_payment)
        app.post("/_sandbox/subscriptions/<sub_id>/pay")(self._admin_pay)
        app.post("/_sandbox/subscriptions/<sub_id>/end_period")(self._admin_end_period)
        app.post("/_sandbox/subscriptions/<sub_id>/trial_will_end")(self._admin_trial_will_end)
        app.post("/_sandbox/events/<event_id>/resend")(self._admin_resend)

    def _stamp_request_id(self, response: Response) -> Response:
        if request.path.startswith("/v1/"):
            response.headers.setdefault(
                "Request-Id", g.setdefault("request_id", _random_id("req_", 14))
            )
        return response

    def _api(
        self, handler: Callable[..., dict[str, Any]], creates: bool = False
    ) -> Callable[..., Response]:
        """Parses the form, applies Idempotency-Key to POSTs and renders StripeError."""

        def view(**path: str) -> Response:
            g.request_id = _random_id("req_", 14)
            source = request.args if request.method == "GET" else request.form
            params = decode_form(source.items(multi=True))
            key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
            if key is None:
                return self._render(handler, params, path)
            if len(key) > 255:
                return self._error(
                    StripeError(
                        400,
                        "Idempotency keys can be at most 255 characters long.",
                        param="Idempotency-Key",
                    )
                )
            g.idempotency_key = key
            slot = (g.credential, key)
            fingerprint = json.dumps(
                [request.path, sorted(request.form.items(multi=True))], sort_keys=True
            )
            with self.lock:
                saved = self.idempotency.get(slot)
                busy = slot in self.idempotency_in_flight
                if saved is None and not busy:
                    self.idempotency_in_flight.add(slot)
            if saved is not None:
                if saved.fingerprint != fingerprint:
                    return self._error(
                        StripeError(
                            400,
                            "Keys for idempotent requests can only be used with the same "
                            "parameters they were first used with. Try using a key other "
                            f"than '{key}' if you meant to execute a different request.",
                            type="idempotency_error",
                        )
                    )
                replay = Response(saved.body, status=saved.status, mimetype="application/json")
                replay.headers["Idempotent-Replayed"] = "true"
                replay.headers["Idempotency-Key"] = key
                return replay
            if busy:
                return self._error(
                    StripeError(
                        409,
                        "There is currently another in-progress request using this "
                        f"idempotent key (that probably means you submitted twice, and the "
                        f"other request is still going through): {key}. Please try again "
                        "later.",
                        code="idempotency_key_in_use",
                    )
                )
            try:
                response = self._render(handler, params, path)
                # Stripe saves the result once the endpoint started executing (500s
                # included); requests that failed validation are not saved.
                if response.status_code != 400:
                    with self.lock:
                        self.idempotency[slot] = IdempotentResult(
                            fingerprint, response.status_code, response.get_data()
                        )
            finally:
                with self.lock:
                    self.idempotency_in_flight.discard(slot)
            response.headers["Idempotency-Key"] = key
            if creates and response.status_code == 200:
                try:
                    self.after_commit()
                except DropConnection:
                    g.stripe_dropped = True  # the contract checker skips the unsent answer
                    raise
            return response

        view.__name__ = handler.__name__.lstrip("_")
        return view

    def _render(
        self, handler: Callable[..., dict[str, Any]], params: dict[str, Any], path: dict[str, str]
    ) -> Response:
        try:
            return self.json(handler(params, **path))
        except StripeError as error:
            return self._error(error)

    def _error(self, error: StripeError) -> Response:
        return self.error_response(
            error.status,
            error.message,
            type=error.type,
            code=error.code,
            param=error.param,
            decline_code=error.decline_code,
        )

    # -- parameter checks ---------------------------------------------------------------

    @staticmethod
    def _only(params: dict[str, Any], allowed: Iterable[str]) -> None:
        for name in params:
            if name not in allowed:
                raise StripeError(
                    400,
                    f"Received unknown parameter: {name}",
                    code="parameter_unknown",
                    param=name,
                )

    @staticmethod
    def _metadata(params: dict[str, Any], name: str = "metadata") -> dict[str, str]:
        value = params.get(name, {})
        if value == "":  # `metadata=` clears all keys in Stripe
            return {}
        # The spec's Metadata schema checks that it is an object of strings of at most 500
        # characters; the key rules are prose in Stripe's reference (metadata).
        if len(value) > 50:
            raise StripeError(400, "You can only have up to 50 keys in metadata.", param=name)
        for key in value:
            if len(key) > 40:
                raise StripeError(
                    400,
                    f"Metadata keys can have up to 40 characters, but you passed in a key "
                    f"that is {len(key)} characters.",
                    param=f"{name}[{key}]",
                )
        return dict(value)

    # -- customers ----------------------------------------------------------------------

    def _create_customer(self, params: dict[str, Any]) -> dict[str, Any]:
        # The spec step has checked names, types and lengths against CustomerCreate.
        return self._new_customer(
            email=params.get("email"),
            name=params.get("name"),
            description=params.get("description"),
            phone=params.get("phone"),
            metadata=self._metadata(params),
        )

    def _new_customer(
        self,
        *,
        email: str | None,
        name: str | None = None,
        description: str | None = None,
        phone: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        customer: dict[str, Any] = {
            "id": _random_id("cus_", 14),
            "object": "customer",
            "address": None,
            "balance": 0,
            "created": int(time.time()),
            "currency": None,
            "default_source": None,
            "delinquent": False,
            "description": description,
            "email": email,
            "invoice_prefix": secrets.token_hex(4).upper(),
            "invoice_settings": {
                "custom_fields": None,
                "default_payment_method": None,
                "footer": None,
                "rendering_options": None,
            },
            "livemode": False,
            "metadata": metadata or {},
            "name": name,
            "next_invoice_sequence": 1,
            "phone": phone,
            "preferred_locales": [],
            "shipping": None,
            "tax_exempt": "none",
            "test_clock": None,
        }
        with self.lock:
            self.customers[customer["id"]] = customer
        return customer

    # -- checkout -----------------------------------------------------------------------

    def _create_checkout_session(self, params: dict[str, Any]) -> dict[str, Any]:
        # The spec step has checked names, types, lengths and enums against
        # CheckoutSessionCreate (payment_method_types as declared in UNLISTED_PARAMETERS),
        # and that line_items is there unless mode is setup.
        mode = params.get("mode")
        if mode is None:
            # Stripe's reference marks `mode` required; the spec subset's anyOf does not.
            raise _missing("mode")
        line_items = self._line_items(params.get("line_items"), mode)
        customer_id = params.get("customer")
        customer_email = params.get("customer_email")
        # Stated by the live API only (see CheckoutSessionCreate's description).
        if customer_id and customer_email:
            raise StripeError(
                400,
                "You may only specify one of these parameters: customer, customer_email.",
                code="parameters_exclusive",
                param="customer_email",
            )
        with self.lock:
            customer = self.customers.get(customer_id) if customer_id else None
        if customer_id and customer is None:
            raise _no_such("customer", customer_id, "customer")
        subscription_data = self._subscription_data(params.get("subscription_data"), mode)
        trial_days = subscription_data["trial_period_days"]
        now = int(time.time())
        expires_at = now + self.checkout_expires_after
        if "expires_at" in params:
            expires_at = int(params["expires_at"])
            # The window is prose in Stripe's reference (and the spec's description).
            if not now + 30 * 60 <= expires_at <= now + 24 * 3600:
                raise StripeError(
                    400,
                    "The `expires_at` timestamp must be between 30 minutes and 24 hours "
                    "after the Checkout Session is created.",
                    param="expires_at",
                )
        methods = params.get("payment_method_types", ["card", "paypal"])
        # Stripe knows many more types; the sandbox's hosted page offers only these.
        for index, method in enumerate(methods):
            if method not in PAYMENT_METHOD_TYPES:
                raise StripeError(
                    400,
                    f"Invalid payment_method_types[{index}]: must be one of "
                    + ", ".join(PAYMENT_METHOD_TYPES),
                    param=f"payment_method_types[{index}]",
                )
        amount, currency = self._amount(
            line_items, bool(trial_days or subscription_data["trial_end"])
        )
        session_id = _random_id("cs_test_", 58)
        session = {
            "id": session_id,
            "object": "checkout.session",
            "after_expiration": None,
            "allow_promotion_codes": (
                params["allow_promotion_codes"] == "true"
                if "allow_promotion_codes" in params
                else None
            ),
            "amount_subtotal": amount,
            "amount_total": amount,
            "automatic_tax": {"enabled": False, "liability": None, "status": None},
            "billing_address_collection": None,
            "cancel_url": params.get("cancel_url"),
            "client_reference_id": params.get("client_reference_id"),
            "client_secret": None,
            "consent": None,
            "created": now,
            "currency": currency,
            "custom_fields": [],
            "customer": customer_id,
            "customer_creation": None if customer_id else "always",
            "customer_details": None,
            "customer_email": customer_email,
            "expires_at": expires_at,
            "invoice": None,
            "livemode": False,
            "locale": params.get("locale"),
            "metadata": self._metadata(params),
            "mode": mode,
            "payment_intent": None,
            "payment_link": None,
            "payment_method_collection": "always",
            "payment_method_types": methods,
            "payment_status": "unpaid",
            "setup_intent": None,
            "status": "open",
            "submit_type": None,
            "subscription": None,
            "success_url": params.get("success_url"),
            "ui_mode": "hosted",
            "url": f"{self.public_url}/c/pay/{session_id}",
        }
        with self.lock:
            self.checkout_sessions[session_id] = session
            self.checkout_details[session_id] = {
                "line_items": line_items,
                **subscription_data,
            }
        return session

    def _subscription_data(self, value: Any, mode: str) -> dict[str, Any]:
        data: dict[str, Any] = {
            "trial_period_days": None,
            "trial_end": None,
            "description": None,
            "metadata": {},
        }
        if value is None:
            return data
        # Prose in Stripe's reference, not in the spec.
        if mode != "subscription":
            raise StripeError(
                400,
                "`subscription_data` can only be used in `subscription` mode.",
                param="subscription_data",
            )
        # Stripe refuses unknown nested parameters; the spec subset's subscription_data does
        # not say additionalProperties: false.
        self._only(
            {f"subscription_data[{key}]": item for key, item in value.items()},
            [f"subscription_data[{key}]" for key in data],
        )
        if "trial_period_days" in value:
            data["trial_period_days"] = int(value["trial_period_days"])
        if "trial_end" in value:
            param = "subscription_data[trial_end]"
            trial_end = int(value["trial_end"])
            # Prose in Stripe's reference, not in the spec.
            if trial_end < time.time() + 48 * 3600:
                raise StripeError(
                    400,
                    "`subscription_data[trial_end]` must be at least 48 hours in the future.",
                    param=param,
                )
            data["trial_end"] = trial_end
        data["description"] = value.get("description")
        data["metadata"] = self._metadata(value)
        return data

    def _line_items(self, value: Any, mode: str) -> list[dict[str, Any]]:
        # The spec step has checked that line_items is there unless mode is setup, that each
        # item is an object with a price and an integer quantity of at least 0.
        if value is None:
            return []
        if len(value) > 20:  # prose in Stripe's reference and the spec's description
            raise StripeError(
                400,
                "You can only have up to 20 recurring line items in subscription mode.",
                param="line_items",
            )
        items = []
        for index, item in enumerate(value):
            prefix = f"line_items[{index}]"
            # Stripe refuses unknown nested parameters; the spec subset's CheckoutLineItem
            # does not say additionalProperties: false.
            self._only(
                {f"{prefix}[{k}]": v for k, v in item.items()},
                (f"{prefix}[price]", f"{prefix}[quantity]"),
            )
            price_id = item["price"]
            with self.lock:
                price = self.prices.get(price_id)
            if price is None:
                raise _no_such("price", price_id, f"{prefix}[price]")
            # Stripe's reference: `quantity` is required with `price` (the spec leaves it
            # optional because metered prices take none).
            if "quantity" not in item:
                raise _missing(f"{prefix}[quantity]")
            items.append({"price": price_id, "quantity": int(item["quantity"])})
        return items

    def _amount(
        self, line_items: list[dict[str, Any]], trial: bool
    ) -> tuple[int | None, str | None]:
        if not line_items:
            return None, None
        with self.lock:
            prices = [self.prices[item["price"]] for item in line_items]
        total = sum(
            p["unit_amount"] * i["quantity"] for p, i in zip(prices, line_items, strict=True)
        )
        # Nothing is due today during a trial.
        return (0 if trial else total), prices[0]["currency"]

    @staticmethod
    def _expire_if_due(session: dict[str, Any] | None) -> None:
        due = session is not None and time.time() >= session["expires_at"]
        if session is not None and due and session["status"] == "open":
            session.update(status="expired", url=None)

    def _session(self, session_id: str) -> dict[str, Any]:
        with self.lock:
            session = self.checkout_sessions.get(session_id)
            self._expire_if_due(session)
        if session is None:
            raise _no_such("checkout.session", session_id, "session", 404)
        return session

    def _get_checkout_session(self, params: dict[str, Any], session: str) -> dict[str, Any]:
        found = copy.deepcopy(self._session(session))
        with self.lock:
            for name, store in (
                ("subscription", self.subscriptions),
                ("customer", self.customers),
                ("invoice", self.invoices),
            ):
                if name in params.get("expand", []) and found[name]:
                    found[name] = copy.deepcopy(store[found[name]])
        return found

    def _checkout_page(self, session_id: str) -> Response:
        with self.lock:
            session = self.checkout_sessions.get(session_id)
            details = self.checkout_details.get(session_id)
            self._expire_if_due(session)
        if session is None or details is None:
            return self._html(pages.message_page("Not found", "This page does not exist."), 404)
        if session["status"] != "open":
            return self._html(
                pages.message_page("Checkout", "This Checkout Session is no longer active."), 410
            )
        return self._html(pages.checkout_page(self._page_view(session, details), self.prices, ""))

    @staticmethod
    def _page_view(session: dict[str, Any], details: dict[str, Any]) -> dict[str, Any]:
        days = details["trial_period_days"]
        if details["trial_end"]:
            days = round((details["trial_end"] - time.time()) / 86400)
        return {
            **session,
            "_line_items": details["line_items"],
            "_trial_period_days": days,
        }

    def _checkout_submit(self, session_id: str) -> BaseResponse:
        form = request.form
        with self.lock:
            session = self.checkout_sessions.get(session_id)
            details = self.checkout_details.get(session_id)
            self._expire_if_due(session)
            if session is None or details is None:
                return self._html(pages.message_page("Not found", "No such session."), 404)
            if session["status"] != "open":
                return self._html(
                    pages.message_page("Checkout", "This Checkout Session is no longer active."),
                    410,
                )
            action = form.get("action", "card")
            if action == "cancel":
                # The session stays open: the customer may come back until it expires.
                return redirect(session["cancel_url"] or session["url"], 303)
            if action == "card":
                problem = self._card_problem(form.get("card_number", ""))
                if problem:
                    view = self._page_view(session, details)
                    return self._html(pages.checkout_page(view, self.prices, problem), 402)
                payment_method = _random_id("pm_")
            elif action == "paypal" and "paypal" in session["payment_method_types"]:
                payment_method = _random_id("pm_")
            else:
                return self._html(pages.message_page("Checkout", "Unknown action."), 400)
            email = session["customer_email"] or form.get("email") or None
            self._complete_checkout(session, details, email, payment_method)
            success = session["success_url"]
        if success:
            return redirect(success.replace("{CHECKOUT_SESSION_ID}", session_id), 303)
        return self._html(pages.message_page("Thanks", "Your payment was successful."))

    @staticmethod
    def _card_problem(number: str) -> str:
        digits = "".join(ch for ch in number if ch.isdigit())
        if digits == CARD_OK:
            return ""
        if digits in CARD_DECLINES:
            return CARD_DECLINES[digits][2]
        return "Your card number is invalid."

    def _complete_checkout(
        self,
        session: dict[str, Any],
        details: dict[str, Any],
        email: str | None,
        payment_method: str,
    ) -> None:
        """Called under the lock: creates what a completed Checkout creates, sends events."""
        customer = self.customers.get(session["customer"] or "")
        if customer is None:
            customer = self._new_customer(email=email)
            session["customer"] = customer["id"]
        customer["invoice_settings"]["default_payment_method"] = payment_method
        session["customer_details"] = {
            "address": None,
            "email": customer["email"],
            "name": customer["name"],
            "phone": None,
            "tax_exempt": "none",
            "tax_ids": [],
        }
        session["status"] = "complete"
        session["url"] = None
        session["payment_status"] = "paid"
        if session["mode"] == "subscription":
            now = int(time.time())
            days = details["trial_period_days"]
            trial_end = details["trial_end"] or (now + days * 86400 if days else None)
            subscription = self._new_subscription(
                customer["id"], details, trial_end, payment_method
            )
            invoice = self._new_invoice(
                subscription, "subscription_create", paid=True, amount=0 if trial_end else None
            )
            session["subscription"] = subscription["id"]
            session["invoice"] = invoice["id"]
            if trial_end:
                # A trial with nothing due now completes without a payment.
                session["payment_status"] = "no_payment_required"
            self._emit("customer.subscription.created", subscription)
            self._emit("invoice.paid", invoice)
            self._emit("checkout.session.completed", session)
            if trial_end and trial_end - now <= TRIAL_WILL_END_DAYS * 86400:
                self._emit("customer.subscription.trial_will_end", subscription)
        elif session["mode"] == "setup":
            session["payment_status"] = "no_payment_required"
            self._emit("checkout.session.completed", session)
        else:
            self._emit("checkout.session.completed", session)

    # -- subscriptions and invoices -----------------------------------------------------

    def _new_subscription(
        self,
        customer_id: str,
        details: dict[str, Any],
        trial_end: int | None,
        payment_method: str,
    ) -> dict[str, Any]:
        now = int(time.time())
        subscription_id = _random_id("sub_")
        items = []
        for line in details["line_items"]:
            price = self.prices[line["price"]]
            interval = price["recurring"]["interval"]
            items.append(
                {
                    "id": _random_id("si_", 14),
                    "object": "subscription_item",
                    "created": now,
                    # Since 2025-03-31.basil the period lives here, not on the subscription.
                    "current_period_start": now,
                    "current_period_end": trial_end or _add_interval(now, interval),
                    "discounts": [],
                    "metadata": {},
                    "price": copy.deepcopy(price),
                    "quantity": line["quantity"],
                    "subscription": subscription_id,
                    "tax_rates": [],
                }
            )
        subscription = {
            "id": subscription_id,
            "object": "subscription",
            "application": None,
            "automatic_tax": {"enabled": False, "liability": None, "disabled_reason": None},
            "billing_cycle_anchor": trial_end or now,
            "cancel_at": None,
            "cancel_at_period_end": False,
            "canceled_at": None,
            "cancellation_details": {"comment": None, "feedback": None, "reason": None},
            "collection_method": "charge_automatically",
            "created": now,
            "currency": items[0]["price"]["currency"],
            "customer": customer_id,
            "days_until_due": None,
            "default_payment_method": payment_method,
            "description": details["description"],
            "discounts": [],
            "ended_at": None,
            "items": {
                "object": "list",
                "data": items,
                "has_more": False,
                "url": f"/v1/subscription_items?subscription={subscription_id}",
            },
            "latest_invoice": None,
            "livemode": False,
            "metadata": details["metadata"],
            "pending_setup_intent": None,
            "schedule": None,
            "start_date": now,
            "status": "trialing" if trial_end else "active",
            "test_clock": None,
            "trial_end": trial_end,
            "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
            "trial_start": now if trial_end else None,
        }
        self.subscriptions[subscription_id] = subscription
        return subscription

    def _new_invoice(
        self,
        subscription: dict[str, Any],
        billing_reason: str,
        *,
        paid: bool,
        amount: int | None = None,
    ) -> dict[str, Any]:
        now = int(time.time())
        invoice_id = _random_id("in_")
        customer = self.customers[subscription["customer"]]
        lines = []
        for item in subscription["items"]["data"]:
            price = item["price"]
            line_amount = 0 if amount == 0 else price["unit_amount"] * item["quantity"]
            lines.append(
                {
                    "id": _random_id("il_"),
                    "object": "line_item",
                    "amount": line_amount,
                    "currency": price["currency"],
                    "description": f"{item['quantity']} x {price['product']}",
                    "discount_amounts": [],
                    "discountable": True,
                    "discounts": [],
                    "invoice": invoice_id,
                    "livemode": False,
                    "metadata": {},
                    "parent": {
                        "invoice_item_details": None,
                        "subscription_item_details": {
                            "invoice_item": None,
                            "proration": False,
                            "proration_details": {"credited_items": None},
                            "subscription": subscription["id"],
                            "subscription_item": item["id"],
                        },
                        "type": "subscription_item_details",
                    },
                    "period": {
                        "start": item["current_period_start"],
                        "end": item["current_period_end"],
                    },
                    "pricing": {
                        "price_details": {"price": price["id"], "product": price["product"]},
                        "type": "price_details",
                        "unit_amount_decimal": price["unit_amount_decimal"],
                    },
                    "quantity": item["quantity"],
                }
            )
        total = sum(line["amount"] for line in lines)
        customer["next_invoice_sequence"] += 1
        invoice = {
            "id": invoice_id,
            "object": "invoice",
            "account_country": "DE",
            "account_name": None,
            "amount_due": total,
            "amount_paid": total if paid else 0,
            "amount_remaining": 0 if paid else total,
            "attempt_count": 1,
            "attempted": True,
            "auto_advance": not paid,
            "billing_reason": billing_reason,
            "collection_method": "charge_automatically",
            "created": now,
            "currency": subscription["currency"],
            "customer": customer["id"],
            "customer_email": customer["email"],
            "customer_name": customer["name"],
            "description": None,
            "due_date": None,
            "hosted_invoice_url": None,
            "invoice_pdf": None,
            "lines": {
                "object": "list",
                "data": lines,
                "has_more": False,
                "url": f"/v1/invoices/{invoice_id}/lines",
            },
            "livemode": False,
            "metadata": {},
            "next_payment_attempt": None if paid else now + 3 * 86400,
            "number": f"{customer['invoice_prefix']}-{customer['next_invoice_sequence'] - 1:04d}",
            # Since 2025-03-31.basil the subscription is named here, not in `subscription`.
            "parent": {
                "quote_details": None,
                "subscription_details": {
                    "metadata": subscription["metadata"],
                    "subscription": subscription["id"],
                },
                "type": "subscription_details",
            },
            "period_end": now,
            "period_start": now,
            "status": "paid" if paid else "open",
            "status_transitions": {
                "finalized_at": now,
                "marked_uncollectible_at": None,
                "paid_at": now if paid else None,
                "voided_at": None,
            },
            "subtotal": total,
            "total": total,
        }
        self.invoices[invoice_id] = invoice
        subscription["latest_invoice"] = invoice_id
        return invoice

    def _subscription(self, subscription_id: str, status: int = 404) -> dict[str, Any]:
        with self.lock:
            subscription = self.subscriptions.get(subscription_id)
        if subscription is None:
            raise _no_such("subscription", subscription_id, "id", status)
        return subscription

    def _get_subscription(
        self, params: dict[str, Any], subscription_exposed_id: str
    ) -> dict[str, Any]:
        return self._subscription(subscription_exposed_id)

    def _update_subscription(
        self, params: dict[str, Any], subscription_exposed_id: str
    ) -> dict[str, Any]:
        subscription = self._subscription(subscription_exposed_id)
        # The spec step has checked names and types against SubscriptionUpdate.
        cancel = (
            params["cancel_at_period_end"] == "true" if "cancel_at_period_end" in params else None
        )
        metadata = self._metadata(params) if "metadata" in params else None
        details = params.get("cancellation_details", {})
        with self.lock:
            if subscription["status"] == "canceled" and cancel is not None:
                raise StripeError(
                    400,
                    "A canceled subscription can only update its cancellation_details and "
                    "metadata.",
                )
            before = copy.deepcopy(subscription)
            if cancel is not None:
                self._schedule_cancel(subscription, cancel, "cancellation_requested")
            if metadata is not None:
                subscription["metadata"] = {**subscription["metadata"], **metadata}
            for key in ("comment", "feedback"):
                if key in details:
                    subscription["cancellation_details"][key] = details[key] or None
            self._emit_updated(subscription, before)
            return subscription

    @staticmethod
    def _schedule_cancel(subscription: dict[str, Any], cancel: bool, reason: str) -> None:
        period_end = subscription["items"]["data"][0]["current_period_end"]
        subscription["cancel_at_period_end"] = cancel
        subscription["cancel_at"] = period_end if cancel else None
        subscription["canceled_at"] = int(time.time()) if cancel else None
        subscription["cancellation_details"]["reason"] = reason if cancel else None

    def _cancel_subscription(
        self, params: dict[str, Any], subscription_exposed_id: str
    ) -> dict[str, Any]:
        subscription = self._subscription(subscription_exposed_id)
        # The spec step has checked names and types against SubscriptionCancel.
        with self.lock:
            if subscription["status"] == "canceled":
                return subscription
            self._end(subscription, "cancellation_requested")
            return subscription

    def _end(self, subscription: dict[str, Any], reason: str) -> None:
        now = int(time.time())
        subscription["status"] = "canceled"
        subscription["canceled_at"] = subscription["canceled_at"] or now
        subscription["ended_at"] = now
        subscription["cancellation_details"]["reason"] = reason
        self._emit("customer.subscription.deleted", subscription)

    def _emit_updated(self, subscription: dict[str, Any], before: dict[str, Any]) -> None:
        changed = {k: v for k, v in before.items() if subscription.get(k) != v}
        if changed:
            self._emit("customer.subscription.updated", subscription, changed)

    def _charge_cycle(self, subscription: dict[str, Any], *, paid: bool) -> dict[str, Any]:
        """A renewal: the period moves on and an invoice is paid or left open."""
        before = copy.deepcopy(subscription)
        for item in subscription["items"]["data"]:
            start = item["current_period_end"]
            item["current_period_start"] = start
            item["current_period_end"] = _add_interval(
                start, item["price"]["recurring"]["interval"]
            )
        invoice = self._new_invoice(subscription, "subscription_cycle", paid=paid)
        subscription["status"] = "active" if paid else "past_due"
        self._emit("invoice.paid" if paid else "invoice.payment_failed", invoice)
        self._emit_updated(subscription, before)
        return invoice

    def _pay_open_invoice(self, subscription: dict[str, Any]) -> dict[str, Any] | None:
        invoice = self.invoices.get(subscription["latest_invoice"] or "")
        if invoice is None or invoice["status"] != "open":
            return None
        before = copy.deepcopy(subscription)
        now = int(time.time())
        invoice.update(
            status="paid",
            amount_paid=invoice["amount_due"],
            amount_remaining=0,
            attempt_count=invoice["attempt_count"] + 1,
            next_payment_attempt=None,
            auto_advance=False,
        )
        invoice["status_transitions"]["paid_at"] = now
        subscription["status"] = "active"
        self._emit("invoice.paid", invoice)
        self._emit_updated(subscription, before)
        return invoice

    # -- billing portal -----------------------------------------------------------------

    def _create_portal_session(self, params: dict[str, Any]) -> dict[str, Any]:
        # The spec step has checked names and types against BillingPortalSessionCreate.
        customer_id = params.get("customer")
        if customer_id is None:
            # Stripe's reference requires `customer` (or customer_account); the spec does not.
            raise _missing("customer")
        with self.lock:
            if customer_id not in self.customers:
                raise _no_such("customer", customer_id, "customer")
        portal_id = _random_id("bps_")
        portal = {
            "id": portal_id,
            "object": "billing_portal.session",
            "configuration": "bpc_sandboxdefault",
            "created": int(time.time()),
            "customer": customer_id,
            "customer_account": None,
            "flow": None,
            "livemode": False,
            "locale": params.get("locale"),
            "on_behalf_of": None,
            "return_url": params.get("return_url"),
            "url": f"{self.public_url}/p/session/{portal_id}",
        }
        with self.lock:
            self.portal_sessions[portal_id] = portal
        return portal

    def _portal_page(self, portal_id: str, notice: str = "", status: int = 200) -> Response:
        with self.lock:
            portal = self.portal_sessions.get(portal_id)
            if portal is None:
                return self._html(pages.message_page("Not found", "No such session."), 404)
            mine = [s for s in self.subscriptions.values() if s["customer"] == portal["customer"]]
            return self._html(pages.portal_page(portal, mine, notice), status)

    def _portal_submit(self, portal_id: str) -> Response:
        form = request.form
        with self.lock:
            portal = self.portal_sessions.get(portal_id)
            if portal is None:
                return self._html(pages.message_page("Not found", "No such session."), 404)
            customer = self.customers[portal["customer"]]
            action = form.get("action")
            if action == "cancel":
                subscription = self.subscriptions.get(form.get("subscription", ""))
                if subscription is None or subscription["customer"] != customer["id"]:
                    return self._portal_page(portal_id, "No such subscription.", 404)
                if subscription["status"] != "canceled":
                    before = copy.deepcopy(subscription)
                    self._schedule_cancel(subscription, True, "cancellation_requested")
                    self._emit_updated(subscription, before)
                return self._portal_page(portal_id, "Your subscription will be canceled.")
            if action == "update_card":
                problem = self._card_problem(form.get("card_number", ""))
                if problem:
                    return self._portal_page(portal_id, problem, 402)
                payment_method = _random_id("pm_")
                customer["invoice_settings"]["default_payment_method"] = payment_method
                for subscription in self.subscriptions.values():
                    if subscription["customer"] == customer["id"]:
                        subscription["default_payment_method"] = payment_method
                        if subscription["status"] == "past_due":
                            self._pay_open_invoice(subscription)
                return self._portal_page(portal_id, "Payment method updated.")
        return self._portal_page(portal_id, "Unknown action.", 400)

    # -- events and webhooks ------------------------------------------------------------

    def _get_event(self, params: dict[str, Any], id: str) -> dict[str, Any]:
        with self.lock:
            event = self.events.get(id)
        if event is None:
            raise _no_such("event", id, "id", 404)
        return event

    def _emit(
        self,
        event_type: str,
        obj: dict[str, Any],
        previous_attributes: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        data: dict[str, Any] = {"object": copy.deepcopy(obj)}
        if previous_attributes is not None:
            data["previous_attributes"] = previous_attributes
        in_request = has_request_context()
        event: dict[str, Any] = {
            "id": _random_id("evt_"),
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()),
            "data": data,
            "livemode": False,
            "pending_webhooks": 0,
            "request": {
                "id": g.get("request_id") if in_request else None,
                "idempotency_key": g.get("idempotency_key") if in_request else None,
            },
            "type": event_type,
        }
        with self.lock:
            self.events[event["id"]] = event
        self._deliver(event)
        return event

    def _deliver(
        self, event: dict[str, Any], endpoints: list[WebhookEndpoint] | None = None
    ) -> list[Delivery]:
        with self.lock:
            targets = list(self.webhook_endpoints if endpoints is None else endpoints)
            started = []
            for endpoint in targets:
                delivery = Delivery(_random_id("we_"), event["id"], event["type"], endpoint.url)
                self.deliveries.append(delivery)
                event["pending_webhooks"] += 1
                started.append(delivery)
        body = json.dumps(event, indent=2).encode()  # Stripe sends pretty-printed JSON
        for endpoint, delivery in zip(targets, started, strict=True):
            threading.Thread(
                target=self._send,
                args=(endpoint, delivery, event, body),
                name=f"stripe-webhook-{delivery.id}",
                daemon=True,
            ).start()
        return started

    def _send(
        self, endpoint: WebhookEndpoint, delivery: Delivery, event: dict[str, Any], body: bytes
    ) -> None:
        for delay in (0.0, *self.webhook_retry_delays):
            time.sleep(delay)
            timestamp = int(time.time())
            signature = hmac.new(
                endpoint.secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
            ).hexdigest()
            attempt: dict[str, Any] = {"at": time.time(), "status": None, "error": None}
            try:
                answer = requests.post(
                    endpoint.url,
                    data=body,
                    headers={
                        "Content-Type": "application/json; charset=utf-8",
                        "Stripe-Signature": f"t={timestamp},v1={signature}",
                        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                    },
                    timeout=self.webhook_timeout,
                )
                attempt["status"] = answer.status_code
            except requests.RequestException as exc:
                attempt["error"] = type(exc).__name__
            with self.lock:
                delivery.attempts.append(attempt)
                if attempt["status"] is not None and 200 <= attempt["status"] < 300:
                    delivery.delivered = True
                    event["pending_webhooks"] = max(0, event["pending_webhooks"] - 1)
                    return

    # -- admin: simulate time and payments ----------------------------------------------

    def _admin_add_webhook(self) -> Response:
        body = request.get_json(force=True, silent=True) or {}
        if not body.get("url"):
            return self.json({"error": "url is required"}, 400)
        endpoint = self.add_webhook_endpoint(body["url"], body.get("secret", ""))
        return self.json({"url": endpoint.url, "secret": endpoint.secret})

    def _admin_subscription(self, sub_id: str, change: Callable[[dict[str, Any]], Any]) -> Response:
        with self.lock:
            subscription = self.subscriptions.get(sub_id)
            if subscription is None:
                return self.json({"error": f"no subscription {sub_id}"}, 404)
            invoice = change(subscription)
            return self.json({"subscription": subscription, "invoice": invoice})

    def _admin_fail_payment(self, sub_id: str) -> Response:
        return self._admin_subscription(sub_id, lambda s: self._charge_cycle(s, paid=False))

    def _admin_pay(self, sub_id: str) -> Response:
        return self._admin_subscription(
            sub_id, lambda s: self._pay_open_invoice(s) or self._charge_cycle(s, paid=True)
        )

    def _admin_end_period(self, sub_id: str) -> Response:
        def end_period(subscription: dict[str, Any]) -> dict[str, Any] | None:
            if subscription["status"] == "canceled":
                return None
            if subscription["cancel_at_period_end"]:
                self._end(subscription, "cancellation_requested")
                return None
            return self._charge_cycle(subscription, paid=True)

        return self._admin_subscription(sub_id, end_period)

    def _admin_trial_will_end(self, sub_id: str) -> Response:
        def announce(subscription: dict[str, Any]) -> None:
            self._emit("customer.subscription.trial_will_end", subscription)

        return self._admin_subscription(sub_id, announce)

    def _admin_resend(self, event_id: str) -> Response:
        with self.lock:
            event = self.events.get(event_id)
        if event is None:
            return self.json({"error": f"no event {event_id}"}, 404)
        body = request.get_json(force=True, silent=True) or {}
        endpoints = None
        if body.get("url"):
            endpoints = [e for e in self.webhook_endpoints if e.url == body["url"]]
        deliveries = self._deliver(event, endpoints)
        return self.json({"event": event_id, "deliveries": [d.id for d in deliveries]})

    @staticmethod
    def _html(text: str, status: int = 200) -> Response:
        return Response(text, status=status, mimetype="text/html")
