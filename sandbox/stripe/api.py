"""Stripe's API operations of the spec subset. The spec step has checked names, types, lengths
and enums before a handler runs (see `sandbox.stripe.contract`); handlers keep the rules
Stripe's reference states only in prose, each with its source."""

from __future__ import annotations

import copy
import time
from typing import Any

from sandbox.store import Record
from sandbox.stripe import objects
from sandbox.stripe.pages import HostedPages
from sandbox.stripe.webhooks import ACCOUNT

# Stripe knows many more types; the sandbox's hosted page offers only these.
PAYMENT_METHOD_TYPES = ("card", "paypal", "sepa_debit", "link")
# What a session shows as it was sent.
SESSION_PARAMETERS = (
    "cancel_url",
    "client_reference_id",
    "customer",
    "customer_email",
    "locale",
    "mode",
    "success_url",
)
Params = dict[str, Any]


class StripeError(Exception):
    """An API error in Stripe's envelope (https://docs.stripe.com/api/errors)."""

    def __init__(self, message: str, param: str = "", status: int = 400, **error: str) -> None:
        super().__init__(message)
        self.status, self.message, self.error = status, message, {"param": param, **error}


def _missing(param: str) -> StripeError:
    return StripeError(f"Missing required param: {param}.", param, code="parameter_missing")


def _no_such(kind: str, object_id: str, param: str, status: int = 400) -> StripeError:
    message = f"No such {kind}: '{object_id}'"
    return StripeError(message, param, status, code="resource_missing")


class StripeApi(HostedPages):
    public_url: str
    checkout_expires_after: int

    def create_customer(self, params: Params) -> Record:
        chosen = {name: params.get(name) for name in ("email", "name", "description", "phone")}
        customer = objects.customer({**chosen, "metadata": _metadata(params)})
        return self.store.create("customers", ACCOUNT, customer)

    def create_checkout_session(self, params: Params) -> Record:
        mode = params.get("mode")
        if mode is None:  # Stripe's reference marks `mode` required; the spec's anyOf does not
            raise _missing("mode")
        lines = self._line_items(params.get("line_items") or [])
        customer_id = params.get("customer")
        if customer_id and params.get("customer_email"):  # stated by the live API only
            message = "You may only specify one of these parameters: customer, customer_email."
            raise StripeError(message, "customer_email", code="parameters_exclusive")
        if customer_id and self.find("customers", customer_id) is None:
            raise _no_such("customer", customer_id, "customer")
        details = _subscription_data(params.get("subscription_data"), mode)
        total = sum(line["price"]["unit_amount"] * line["quantity"] for line in lines)
        trial = details["trial_period_days"] or details["trial_end"]
        amount = (0 if trial else total) if lines else None  # nothing is due during a trial
        promotion_codes = params.get("allow_promotion_codes")
        now = int(time.time())
        session = {name: params.get(name) for name in SESSION_PARAMETERS} | {
            "allow_promotion_codes": promotion_codes and promotion_codes == "true",
            "amount_subtotal": amount,
            "amount_total": amount,
            "created": now,
            "currency": lines[0]["price"]["currency"] if lines else None,
            "customer_creation": None if customer_id else "always",
            "expires_at": _expires_at(params, now, now + self.checkout_expires_after),
            "metadata": _metadata(params),
            "payment_method_types": _payment_method_types(params),
        }
        session = self.store.create("checkout sessions", ACCOUNT, objects.checkout_session(session))
        prices = [{"price": line["price"]["id"], "quantity": line["quantity"]} for line in lines]
        details |= {"id": session["id"], "line_items": prices}
        self.store.create("checkout details", ACCOUNT, details)
        url = f"{self.public_url}/c/pay/{session['id']}"
        return self.store.update("checkout sessions", ACCOUNT, session["id"], {"url": url})

    def _line_items(self, items: list[Params]) -> list[Record]:
        """Each item's price and quantity."""
        if len(items) > 20:  # prose in Stripe's reference and the spec's description
            message = "You can only have up to 20 recurring line items in subscription mode."
            raise StripeError(message, "line_items")
        lines = []
        for index, item in enumerate(items):
            price = self.find("prices", item["price"])
            if price is None:
                raise _no_such("price", item["price"], f"line_items[{index}][price]")
            # Stripe's reference: `quantity` is required with `price` (the spec leaves it
            # optional because metered prices take none).
            if "quantity" not in item:
                raise _missing(f"line_items[{index}][quantity]")
            lines.append({"price": price, "quantity": int(item["quantity"])})
        return lines

    def get_checkout_session(self, params: Params, session_id: str) -> Record:
        session = self.checkout_session(session_id)
        if session is None:
            raise _no_such("checkout.session", session_id, "session", 404)
        for name in set(params.get("expand", [])) & {"subscription", "customer", "invoice"}:
            if session[name]:
                session[name] = self.find(name + "s", session[name])
        return session

    def create_portal_session(self, params: Params) -> Record:
        customer_id = params.get("customer")
        if customer_id is None:
            # Stripe's reference requires `customer` (or customer_account); the spec does not.
            raise _missing("customer")
        if self.find("customers", customer_id) is None:
            raise _no_such("customer", customer_id, "customer")
        portal = {
            "id": None,
            **objects.fields('object="billing_portal.session" customer_account flow'),
            **objects.fields('configuration="bpc_sandboxdefault" livemode=false on_behalf_of'),
            "created": int(time.time()),
            "customer": customer_id,
            "locale": params.get("locale"),
            "return_url": params.get("return_url"),
        }
        portal = self.store.create("billing portal sessions", ACCOUNT, portal)
        url = f"{self.public_url}/p/session/{portal['id']}"
        return self.store.update("billing portal sessions", ACCOUNT, portal["id"], {"url": url})

    def get_subscription(self, params: Params, subscription_id: str) -> Record:
        subscription = self.find("subscriptions", subscription_id)
        if subscription is None:
            raise _no_such("subscription", subscription_id, "id", 404)
        return subscription

    def update_subscription(self, params: Params, subscription_id: str) -> Record:
        cancel = params.get("cancel_at_period_end")
        metadata = _metadata(params) if "metadata" in params else {}
        details = params.get("cancellation_details", {})
        with self.lock:
            subscription = self.get_subscription(params, subscription_id)
            if subscription["status"] == "canceled" and cancel is not None:
                message = "A canceled subscription can only update its cancellation_details "
                raise StripeError(message + "and metadata.")
            before = copy.deepcopy(subscription)
            if cancel is not None:
                self.schedule_cancel(subscription, cancel == "true")
            subscription["metadata"].update(metadata)
            for key in set(details) & {"comment", "feedback"}:
                subscription["cancellation_details"][key] = details[key] or None
            return self.updated(subscription, before)

    def cancel_subscription(self, params: Params, subscription_id: str) -> Record:
        with self.lock:
            subscription = self.get_subscription(params, subscription_id)
            if subscription["status"] != "canceled":
                self.end(subscription)
            return subscription

    def get_event(self, params: Params, event_id: str) -> Record:
        event = self.find("events", event_id)
        if event is None:
            raise _no_such("event", event_id, "id", 404)
        return event


def _metadata(params: Params, name: str = "metadata") -> dict[str, str]:
    value = params.get(name, {})
    if value == "":  # `metadata=` clears all keys in Stripe
        return {}
    # The spec's Metadata schema checks that it is an object of strings of at most 500
    # characters; the key rules are prose in Stripe's reference (metadata).
    if len(value) > 50:
        raise StripeError("You can only have up to 50 keys in metadata.", name)
    for key in value:
        if len(key) > 40:
            message = "Metadata keys can have up to 40 characters, but you passed in a key "
            raise StripeError(message + f"that is {len(key)} characters.", f"{name}[{key}]")
    return dict(value)


def _expires_at(params: Params, now: int, default: int) -> int:
    expires_at = int(params.get("expires_at", default))
    # The window is prose in Stripe's reference (and the spec's description).
    if "expires_at" in params and not now + 30 * 60 <= expires_at <= now + 24 * 3600:
        message = "The `expires_at` timestamp must be between 30 minutes and 24 hours after "
        raise StripeError(message + "the Checkout Session is created.", "expires_at")
    return expires_at


def _payment_method_types(params: Params) -> list[str]:
    # Declared in the checker's UNLISTED_PARAMETERS; the spec subset lacks it.
    methods: list[str] = params.get("payment_method_types", ["card", "paypal"])
    for index, method in enumerate(methods):
        if method not in PAYMENT_METHOD_TYPES:
            param, allowed = f"payment_method_types[{index}]", ", ".join(PAYMENT_METHOD_TYPES)
            raise StripeError(f"Invalid {param}: must be one of {allowed}", param)
    return methods


def _subscription_data(value: Params | None, mode: str) -> Params:
    value = value or {}
    # Prose in Stripe's reference, not in the spec (nor is trial_end's 48 hours).
    if value and mode != "subscription":
        message = "`subscription_data` can only be used in `subscription` mode."
        raise StripeError(message, "subscription_data")
    if "trial_end" in value and int(value["trial_end"]) < time.time() + 48 * 3600:
        param = "subscription_data[trial_end]"
        raise StripeError(f"`{param}` must be at least 48 hours in the future.", param)
    trial = {
        name: int(value[name]) if name in value else None
        for name in ("trial_period_days", "trial_end")
    }
    return trial | {"description": value.get("description"), "metadata": _metadata(value)}
