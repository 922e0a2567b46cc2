"""Stripe stand-in: customers, Checkout in subscription mode with a hosted payment page, the
customer portal, subscriptions, events and signed webhook deliveries with retries.

Every secret key of a sandbox belongs to one Stripe account (`ACCOUNT`). Object shapes are in
`objects`, state changes and their events in `lifecycle`, the hosted pages in `pages`."""

from __future__ import annotations

import base64
import copy
import json
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from flask import Flask, Request, Response, g, request

from sandbox.contract import ContractChecker, SpecProblem
from sandbox.core import DropConnection, TokenBucket, VendorSandbox
from sandbox.store import Record
from sandbox.stripe import lifecycle, objects, webhooks
from sandbox.stripe.contract import StripeContractChecker, StripeSpecProblem
from sandbox.stripe.forms import decode_form
from sandbox.stripe.pages import HostedPages
from sandbox.stripe.webhooks import ACCOUNT, Webhooks

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
}
# Stripe knows many more types; the sandbox's hosted page offers only these.
PAYMENT_METHOD_TYPES = ("card", "paypal", "sepa_debit", "link")


class StripeError(Exception):
    """An API error in Stripe's envelope (https://docs.stripe.com/api/errors); handlers raise
    it, `_api` renders it."""

    def __init__(self, status: int, message: str, **error: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.error = status, message, error


def _missing(param: str) -> StripeError:
    return StripeError(
        400, f"Missing required param: {param}.", code="parameter_missing", param=param
    )


def _no_such(kind: str, object_id: str, param: str, status: int = 400) -> StripeError:
    return StripeError(
        status, f"No such {kind}: '{object_id}'", code="resource_missing", param=param
    )


class StripeSandbox(HostedPages, VendorSandbox):
    name = "stripe"
    title = "Stripe"
    spec_files = ("stripe/stripe-subset-openapi.yaml",)
    spec_server_url = "https://api.stripe.com"
    resources = (*lifecycle.RESOURCES, *webhooks.RESOURCES)
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
        self,
        *,
        contract: bool = False,
        public_url: str = "",
        secret_keys: Iterable[str] = ("sk_test_sandbox",),
        prices: Mapping[str, tuple[int, str, str]] | None = None,
        rate_per_second: float = 25,  # Stripe's limit in test mode (live mode: 100)
        webhook_endpoints: Iterable[tuple[str, str]] = (),
        # Test mode retries a failed delivery three times over a few hours.
        webhook_retry_delays: tuple[float, ...] = (3600.0, 3 * 3600.0, 6 * 3600.0),
        webhook_timeout: float = 10.0,
        checkout_expires_after: int = 24 * 3600,
    ) -> None:
        self.secret_keys = frozenset(secret_keys)
        self._prices = dict(DEFAULT_PRICES if prices is None else prices)
        self._endpoints = tuple(webhook_endpoints)
        self.rate_per_second = rate_per_second
        self.checkout_expires_after = checkout_expires_after
        self.webhook_retry_delays = webhook_retry_delays
        self.webhook_timeout = webhook_timeout
        super().__init__(contract=contract, public_url=public_url)

    def spec_checker(self) -> ContractChecker:
        return StripeContractChecker(self.spec_files, self.spec_server_url)

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.webhooks = Webhooks(
                self.store,
                self.lock,
                retry_delays=self.webhook_retry_delays,
                timeout=self.webhook_timeout,
            )
            for price_id, (amount, currency, interval) in self._prices.items():
                self.store.create(
                    "prices", ACCOUNT, objects.price(price_id, amount, currency, interval)
                )
            for url, secret in self._endpoints:
                self.webhooks.add_endpoint(url, secret)
            # (credential, Idempotency-Key) → (request fingerprint, status, body)
            self.idempotency: dict[tuple[str, str], tuple[str, int, bytes]] = {}
            self.idempotency_in_flight: set[tuple[str, str]] = set()
            self.limiter = TokenBucket(rate=self.rate_per_second, capacity=self.rate_per_second)

    def records(self, resource: str) -> dict[str, Record]:
        """The account's records of one kind by id, for tests."""
        return {record["id"]: record for record in self.store.select(resource, ACCOUNT)}

    @property
    def checkout_sessions(self) -> dict[str, Record]:
        return self.records("checkout sessions")

    @property
    def subscriptions(self) -> dict[str, Record]:
        return self.records("subscriptions")

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
        error: dict[str, Any] = {"type": extra.get("type") or "invalid_request_error"}
        if extra.get("code"):
            error["code"] = extra["code"]
            error["doc_url"] = DOCS + extra["code"].replace("_", "-")
        error["message"] = message
        if extra.get("param"):
            error["param"] = extra["param"]
        return self.json({"error": error}, status)

    def rate_limit(self, credential: str) -> Response | None:
        return self.error_response(429, "") if self.limiter.take(credential) else None

    def inspect(self) -> dict[str, list[dict[str, Any]]]:
        shown = {
            "customers": "id email name metadata created",
            "checkout sessions": "id status payment_status client_reference_id customer "
            "customer_email subscription metadata",
            "subscriptions": "id customer status cancel_at_period_end trial_end latest_invoice",
            "invoices": "id customer status amount_due amount_paid currency billing_reason",
            "events": "id type pending_webhooks created",
            "webhook deliveries": "id event type url attempts delivered",
        }
        return {
            resource: [
                {column: record.get(column) for column in columns.split()}
                for record in self.store.select(resource, ACCOUNT)
            ]
            for resource, columns in shown.items()
        }

    # -- routes -------------------------------------------------------------------------

    def register_routes(self, app: Flask) -> None:
        app.after_request(self._stamp_request_id)
        for method, rule, handler, creates in (
            ("POST", "/v1/customers", self._create_customer, True),
            ("POST", "/v1/checkout/sessions", self._create_checkout_session, True),
            ("GET", "/v1/checkout/sessions/<session_id>", self._get_checkout_session, False),
            ("POST", "/v1/billing_portal/sessions", self._create_portal_session, True),
            ("GET", "/v1/subscriptions/<subscription_id>", self._get_subscription, False),
            ("POST", "/v1/subscriptions/<subscription_id>", self._update_subscription, False),
            ("DELETE", "/v1/subscriptions/<subscription_id>", self._cancel_subscription, False),
            ("GET", "/v1/events/<event_id>", self._get_event, False),
        ):
            view = partial(self._api, handler, creates)
            app.add_url_rule(rule, handler.__name__.lstrip("_"), view, methods=[method])
        # Hosted pages (checkout.stripe.com, billing.stripe.com): no API key, a browser.
        app.get("/c/pay/<session_id>", endpoint="checkout_page")(self.checkout_page)
        app.post("/c/pay/<session_id>", endpoint="checkout_submit")(self.checkout_submit)
        app.get("/p/session/<portal_id>", endpoint="portal_page")(self.portal_page)
        app.post("/p/session/<portal_id>", endpoint="portal_submit")(self.portal_submit)
        # Test helpers: what Stripe's dashboard and test clocks do.
        app.post("/_sandbox/webhooks")(self._admin_add_webhook)
        for action in ("fail_payment", "pay", "end_period", "trial_will_end"):
            view = partial(self._admin_subscription, action)
            rule = f"/_sandbox/subscriptions/<sub_id>/{action}"
            app.add_url_rule(rule, f"admin_{action}", view, methods=["POST"])
        app.post("/_sandbox/events/<event_id>/resend")(self._admin_resend)

    def _stamp_request_id(self, response: Response) -> Response:
        if request.path.startswith("/v1/"):
            request_id = g.setdefault("request_id", "req_" + secrets.token_hex(7))
            response.headers.setdefault("Request-Id", request_id)
        return response

    def _api(self, handler: Callable[..., Record], creates: bool, **path: str) -> Response:
        """Parses the form and applies Idempotency-Key to POSTs."""
        g.request_id = "req_" + secrets.token_hex(7)
        source = request.args if request.method == "GET" else request.form
        params = decode_form(source.items(multi=True))
        key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
        call = partial(self._answer, handler, params, **path)
        if key is None:
            return call()
        response = self._idempotent(key, call)
        if (
            creates
            and response.status_code == 200
            and "Idempotent-Replayed" not in response.headers
        ):
            try:
                self.after_commit()
            except DropConnection:
                g.stripe_dropped = True  # the contract checker skips the unsent answer
                raise
        return response

    def _answer(self, handler: Callable[..., Record], params: Record, **path: str) -> Response:
        try:
            return self.json(handler(params, **path))
        except StripeError as error:
            return self._error(error)

    def _error(self, error: StripeError) -> Response:
        return self.error_response(error.status, error.message, **error.error)

    def _idempotent(self, key: str, call: Callable[[], Response]) -> Response:
        """https://docs.stripe.com/api/idempotent_requests: the first answer to a key is saved
        once the endpoint started executing (500s included, requests that failed validation
        not) and replayed; other parameters or a concurrent request with the key are refused."""
        g.idempotency_key = key
        slot = (g.credential, key)
        fingerprint = json.dumps([request.path, sorted(request.form.items(multi=True))])
        with self.lock:
            saved = self.idempotency.get(slot)
            busy = saved is None and slot in self.idempotency_in_flight
            if saved is None and not busy:
                self.idempotency_in_flight.add(slot)
        if saved is not None and saved[0] != fingerprint:
            return self._error(
                StripeError(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters they "
                    f"were first used with. Try using a key other than '{key}' if you meant to "
                    "execute a different request.",
                    type="idempotency_error",
                )
            )
        if saved is not None:
            replay = Response(saved[2], status=saved[1], mimetype="application/json")
            replay.headers.update({"Idempotent-Replayed": "true", "Idempotency-Key": key})
            return replay
        if busy:
            return self._error(
                StripeError(
                    409,
                    "There is currently another in-progress request using this idempotent key "
                    "(that probably means you submitted twice, and the other request is still "
                    f"going through): {key}. Please try again later.",
                    code="idempotency_key_in_use",
                )
            )
        try:
            response = call()
            if response.status_code != 400:
                with self.lock:
                    self.idempotency[slot] = (
                        fingerprint,
                        response.status_code,
                        response.get_data(),
                    )
        finally:
            with self.lock:
                self.idempotency_in_flight.discard(slot)
        response.headers["Idempotency-Key"] = key
        return response

    # -- rules the spec leaves to prose -------------------------------------------------

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

    def _line_items(self, value: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
        # The spec step has checked that line_items is there unless mode is setup, that each
        # item is an object with a price and an integer quantity of at least 0, and nothing
        # else (nested objects are closed, see StripeContractChecker).
        if len(value or []) > 20:  # prose in Stripe's reference and the spec's description
            raise StripeError(
                400,
                "You can only have up to 20 recurring line items in subscription mode.",
                param="line_items",
            )
        for index, item in enumerate(value or []):
            if self.find("prices", item["price"]) is None:
                raise _no_such("price", item["price"], f"line_items[{index}][price]")
            # Stripe's reference: `quantity` is required with `price` (the spec leaves it
            # optional because metered prices take none).
            if "quantity" not in item:
                raise _missing(f"line_items[{index}][quantity]")
        return [{"price": item["price"], "quantity": int(item["quantity"])} for item in value or []]

    def _subscription_data(self, value: dict[str, Any] | None, mode: str) -> dict[str, Any]:
        value = value or {}
        # Prose in Stripe's reference, not in the spec (nor is trial_end's 48 hours).
        if value and mode != "subscription":
            raise StripeError(
                400,
                "`subscription_data` can only be used in `subscription` mode.",
                param="subscription_data",
            )
        if "trial_end" in value and int(value["trial_end"]) < time.time() + 48 * 3600:
            raise StripeError(
                400,
                "`subscription_data[trial_end]` must be at least 48 hours in the future.",
                param="subscription_data[trial_end]",
            )
        return {
            name: int(value[name]) if name in value else None
            for name in ("trial_period_days", "trial_end")
        } | {"description": value.get("description"), "metadata": self._metadata(value)}

    # -- API handlers -------------------------------------------------------------------

    def _create_customer(self, params: dict[str, Any]) -> Record:
        # The spec step has checked names, types and lengths against CustomerCreate.
        fields = {name: params.get(name) for name in ("email", "name", "description", "phone")}
        customer = objects.customer({**fields, "metadata": self._metadata(params)})
        return self.store.create("customers", ACCOUNT, customer)

    def _create_checkout_session(self, params: dict[str, Any]) -> Record:
        # The spec step has checked names, types, lengths and enums against
        # CheckoutSessionCreate (payment_method_types as declared in UNLISTED_PARAMETERS),
        # and that line_items is there unless mode is setup.
        mode = params.get("mode")
        if mode is None:
            # Stripe's reference marks `mode` required; the spec subset's anyOf does not.
            raise _missing("mode")
        line_items = self._line_items(params.get("line_items"))
        customer_id = params.get("customer")
        # Stated by the live API only (see CheckoutSessionCreate's description).
        if customer_id and params.get("customer_email"):
            raise StripeError(
                400,
                "You may only specify one of these parameters: customer, customer_email.",
                code="parameters_exclusive",
                param="customer_email",
            )
        if customer_id and self.find("customers", customer_id) is None:
            raise _no_such("customer", customer_id, "customer")
        details = self._subscription_data(params.get("subscription_data"), mode)
        now = int(time.time())
        expires_at = int(params.get("expires_at", now + self.checkout_expires_after))
        # The window is prose in Stripe's reference (and the spec's description).
        if "expires_at" in params and not now + 30 * 60 <= expires_at <= now + 24 * 3600:
            raise StripeError(
                400,
                "The `expires_at` timestamp must be between 30 minutes and 24 hours after the "
                "Checkout Session is created.",
                param="expires_at",
            )
        methods = params.get("payment_method_types", ["card", "paypal"])
        for index, method in enumerate(methods):
            if method not in PAYMENT_METHOD_TYPES:
                raise StripeError(
                    400,
                    f"Invalid payment_method_types[{index}]: must be one of "
                    + ", ".join(PAYMENT_METHOD_TYPES),
                    param=f"payment_method_types[{index}]",
                )
        prices = [self.store.get("prices", ACCOUNT, item["price"]) for item in line_items]
        total = sum(
            p["unit_amount"] * i["quantity"] for p, i in zip(prices, line_items, strict=True)
        )
        # Nothing is due today during a trial.
        amount = 0 if details["trial_period_days"] or details["trial_end"] else total
        promotion_codes = params.get("allow_promotion_codes")
        session = self.store.create(
            "checkout sessions",
            ACCOUNT,
            objects.checkout_session(
                {
                    "allow_promotion_codes": None
                    if promotion_codes is None
                    else promotion_codes == "true",
                    "amount_subtotal": amount if line_items else None,
                    "amount_total": amount if line_items else None,
                    "created": now,
                    "currency": prices[0]["currency"] if prices else None,
                    "customer_creation": None if customer_id else "always",
                    "expires_at": expires_at,
                    "metadata": self._metadata(params),
                    "payment_method_types": methods,
                    **{
                        name: params.get(name)
                        for name in (
                            "cancel_url",
                            "client_reference_id",
                            "customer",
                            "customer_email",
                            "locale",
                            "mode",
                            "success_url",
                        )
                    },
                }
            ),
        )
        self.store.create(
            "checkout details", ACCOUNT, {"id": session["id"], "line_items": line_items, **details}
        )
        url = f"{self.public_url}/c/pay/{session['id']}"
        return self.store.update("checkout sessions", ACCOUNT, session["id"], {"url": url})

    def _get_checkout_session(self, params: dict[str, Any], session_id: str) -> Record:
        session = self.checkout_session(session_id)
        if session is None:
            raise _no_such("checkout.session", session_id, "session", 404)
        for name, resource in (
            ("subscription", "subscriptions"),
            ("customer", "customers"),
            ("invoice", "invoices"),
        ):
            if name in params.get("expand", []) and session[name]:
                session[name] = self.find(resource, session[name])
        return session

    def _create_portal_session(self, params: dict[str, Any]) -> Record:
        # The spec step has checked names and types against BillingPortalSessionCreate.
        customer_id = params.get("customer")
        if customer_id is None:
            # Stripe's reference requires `customer` (or customer_account); the spec does not.
            raise _missing("customer")
        if self.find("customers", customer_id) is None:
            raise _no_such("customer", customer_id, "customer")
        portal = {
            "id": None,
            "object": "billing_portal.session",
            "configuration": "bpc_sandboxdefault",
            "created": int(time.time()),
            "customer": customer_id,
            **objects.nulls("customer_account flow on_behalf_of"),
            "livemode": False,
            "locale": params.get("locale"),
            "return_url": params.get("return_url"),
        }
        portal = self.store.create("billing portal sessions", ACCOUNT, portal)
        url = f"{self.public_url}/p/session/{portal['id']}"
        return self.store.update("billing portal sessions", ACCOUNT, portal["id"], {"url": url})

    def _subscription(self, subscription_id: str) -> Record:
        subscription = self.find("subscriptions", subscription_id)
        if subscription is None:
            raise _no_such("subscription", subscription_id, "id", 404)
        return subscription

    def _get_subscription(self, params: dict[str, Any], subscription_id: str) -> Record:
        return self._subscription(subscription_id)

    def _update_subscription(self, params: dict[str, Any], subscription_id: str) -> Record:
        # The spec step has checked names and types against SubscriptionUpdate.
        cancel = params.get("cancel_at_period_end")
        metadata = self._metadata(params) if "metadata" in params else None
        details = params.get("cancellation_details", {})
        with self.lock:
            subscription = self._subscription(subscription_id)
            if subscription["status"] == "canceled" and cancel is not None:
                raise StripeError(
                    400,
                    "A canceled subscription can only update its cancellation_details and "
                    "metadata.",
                )
            before = copy.deepcopy(subscription)
            if cancel is not None:
                self.schedule_cancel(subscription, cancel == "true")
            if metadata is not None:
                subscription["metadata"] = {**subscription["metadata"], **metadata}
            for key in ("comment", "feedback"):
                if key in details:
                    subscription["cancellation_details"][key] = details[key] or None
            return self.updated(subscription, before)

    def _cancel_subscription(self, params: dict[str, Any], subscription_id: str) -> Record:
        # The spec step has checked names and types against SubscriptionCancel.
        with self.lock:
            subscription = self._subscription(subscription_id)
            if subscription["status"] != "canceled":
                self.end(subscription)
            return subscription

    def _get_event(self, params: dict[str, Any], event_id: str) -> Record:
        event = self.find("events", event_id)
        if event is None:
            raise _no_such("event", event_id, "id", 404)
        return event

    # -- admin: simulate time and payments ----------------------------------------------

    def _admin_add_webhook(self) -> Response:
        body = request.get_json(force=True, silent=True) or {}
        if not body.get("url"):
            return self.json({"error": "url is required"}, 400)
        endpoint = self.webhooks.add_endpoint(body["url"], body.get("secret", ""))
        return self.json({"url": endpoint["url"], "secret": endpoint["secret"]})

    def _admin_subscription(self, action: str, sub_id: str) -> Response:
        with self.lock:
            subscription = self.find("subscriptions", sub_id)
            if subscription is None:
                return self.json({"error": f"no subscription {sub_id}"}, 404)
            invoice = None
            if action == "fail_payment":
                invoice = self.charge_cycle(subscription, paid=False)
            elif action == "pay":
                invoice = self.pay_open_invoice(subscription) or self.charge_cycle(
                    subscription, paid=True
                )
            elif action == "trial_will_end":
                self.webhooks.emit("customer.subscription.trial_will_end", subscription)
            elif subscription["cancel_at_period_end"] and subscription["status"] != "canceled":
                self.end(subscription)
            elif subscription["status"] != "canceled":
                invoice = self.charge_cycle(subscription, paid=True)
            return self.json(
                {"subscription": self.find("subscriptions", sub_id), "invoice": invoice}
            )

    def _admin_resend(self, event_id: str) -> Response:
        if self.find("events", event_id) is None:
            return self.json({"error": f"no event {event_id}"}, 404)
        body = request.get_json(force=True, silent=True) or {}
        deliveries = self.webhooks.deliver(event_id, body.get("url") or "")
        return self.json({"event": event_id, "deliveries": deliveries})
