"""Stripe's API operations that the product and its tests call. The spec step has checked
names, types, lengths and enums before a handler runs (see `sandbox.stripe.contract`);
handlers keep the rules Stripe's reference states only in prose, each with its source."""

from __future__ import annotations

import time
from typing import Any

from sandbox.core import Refusal
from sandbox.store import Record
from sandbox.stripe.lifecycle import stripe_object
from sandbox.stripe.pages import HostedPages
from sandbox.stripe.webhooks import ACCOUNT

# Stripe knows many more types; the sandbox's hosted page offers only these.
PAYMENT_METHOD_TYPES = ("card", "paypal", "sepa_debit", "link")
# What a session shows as it was sent.
SESSION_PARAMETERS = ("cancel_url", "client_reference_id", "customer", "customer_email",
                      "locale", "mode", "success_url")  # fmt: skip
# Resource → the object name Stripe's "No such ..." error gives it.
OBJECT_NAMES = {"customers": "customer", "prices": "price", "subscriptions": "subscription",
                "checkout sessions": "checkout.session"}  # fmt: skip
Params = dict[str, Any]


def _refuse_if(failed: bool, message: str, param: str, code: str = "") -> None:
    if failed:
        raise Refusal(400, message, param=param, code=code)


def _required(params: Params, name: str, param: str = "") -> Any:
    """The value of a parameter the spec leaves optional but Stripe's reference requires."""
    param = param or name
    missing = params.get(name) in (None, "")
    _refuse_if(missing, f"Missing required param: {param}.", param, "parameter_missing")
    return params[name]


class StripeApi(HostedPages):
    public_url: str
    checkout_expires_after: int

    def existing(self, resource: str, object_id: str, param: str, status: int = 400) -> Record:
        """The account's object, or Stripe's `resource_missing` error naming `param`."""
        found = (self.checkout_session(object_id) if resource == "checkout sessions"
                 else self.find(resource, object_id))  # fmt: skip
        if found is None:
            message = f"No such {OBJECT_NAMES[resource]}: '{object_id}'"
            raise Refusal(status, message, param=param, code="resource_missing")
        return found

    def create_customer(self, params: Params) -> Record:
        chosen = {name: params.get(name) for name in ("email", "name", "description", "phone")}
        customer = stripe_object("customer", **chosen, metadata=_metadata(params))
        address = {"address": params["address"]} if "address" in params else {}
        return self.store.create("customers", ACCOUNT, customer | address)

    def create_checkout_session(self, params: Params) -> Record:
        # Stripe's reference marks `mode` required; the spec's anyOf does not.
        mode, now = _required(params, "mode"), int(time.time())
        customer_id, lines = params.get("customer"), self._line_items(params)
        # Stated by the live API only.
        _refuse_if(bool(customer_id and params.get("customer_email")),
                   "You may only specify one of these parameters: customer, customer_email.",
                   "customer_email", code="parameters_exclusive")  # fmt: skip
        if customer_id:
            self.existing("customers", customer_id, "customer")
        trial = _subscription_data(params.get("subscription_data"), mode)
        total = sum(line["price"]["unit_amount"] * line["quantity"] for line in lines)
        trialing = trial["trial_period_days"] or trial["trial_end"]
        amount = (0 if trialing else total) if lines else None  # nothing is due during a trial
        # The window is prose in Stripe's reference (and the spec's description).
        expires_at = int(params.get("expires_at", now + self.checkout_expires_after))
        _refuse_if("expires_at" in params and not now + 1800 <= expires_at <= now + 86400,
                   "The `expires_at` timestamp must be between 30 minutes and 24 hours after "
                   "the Checkout Session is created.", "expires_at")  # fmt: skip
        session = self.store.create("checkout sessions", ACCOUNT, stripe_object(
            "checkout.session", **{name: params.get(name) for name in SESSION_PARAMETERS},
            status="open", payment_status="unpaid", amount_total=amount, expires_at=expires_at,
            currency=lines[0]["price"]["currency"] if lines else None, subscription=None,
            invoice=None, customer_details=None, metadata=_metadata(params),
            payment_method_types=_payment_method_types(params),
        ))  # fmt: skip
        prices = [{"price": line["price"]["id"], "quantity": line["quantity"]} for line in lines]
        details = {**trial, "id": session["id"], "line_items": prices}
        self.store.create("checkout details", ACCOUNT, details)
        url = f"{self.public_url}/c/pay/{session['id']}"
        return self.store.update("checkout sessions", ACCOUNT, session["id"], {"url": url})

    def _line_items(self, params: Params) -> list[Record]:
        """Each item's price and quantity."""
        items: list[Params] = params.get("line_items") or []
        # Prose in Stripe's reference and the spec's description.
        _refuse_if(len(items) > 20, "You can only have up to 20 recurring line items in "
                   "subscription mode.", "line_items")  # fmt: skip
        lines = []
        for index, item in enumerate(items):
            price = self.existing("prices", item["price"], f"line_items[{index}][price]")
            # Stripe's reference: `quantity` is required with `price` (the spec leaves it
            # optional because metered prices take none).
            quantity = _required(item, "quantity", f"line_items[{index}][quantity]")
            lines.append({"price": price, "quantity": int(quantity)})
        return lines

    def get_checkout_session(self, params: Params, session_id: str) -> Record:
        return self.existing("checkout sessions", session_id, "session", 404)

    def create_portal_session(self, params: Params) -> Record:
        # Stripe's reference requires `customer` (or customer_account); the spec does not.
        customer_id = self.existing("customers", _required(params, "customer"), "customer")["id"]
        portal = self.store.create("billing portal sessions", ACCOUNT, stripe_object(
            "billing_portal.session", configuration="bpc_sandboxdefault", customer=customer_id,
            locale=params.get("locale"), return_url=params.get("return_url"),
        ))  # fmt: skip
        url = f"{self.public_url}/p/session/{portal['id']}"
        return self.store.update("billing portal sessions", ACCOUNT, portal["id"], {"url": url})

    def get_subscription(self, params: Params, subscription_id: str) -> Record:
        return self.existing("subscriptions", subscription_id, "id", 404)

    def cancel_subscription(self, params: Params, subscription_id: str) -> Record:
        with self.lock:
            subscription = self.get_subscription(params, subscription_id)
            if subscription["status"] != "canceled":
                self.end(subscription)
            return subscription


def _metadata(params: Params) -> dict[str, str]:
    value = params.get("metadata", {})
    if value == "":  # `metadata=` clears all keys in Stripe
        return {}
    # The spec's Metadata schema checks that it is an object of strings of at most 500
    # characters; the key rules are prose in Stripe's reference (metadata).
    _refuse_if(len(value) > 50, "You can only have up to 50 keys in metadata.", "metadata")
    for key in value:
        _refuse_if(len(key) > 40, "Metadata keys can have up to 40 characters, but you passed "
                   f"in a key that is {len(key)} characters.", f"metadata[{key}]")  # fmt: skip
    return dict(value)


def _payment_method_types(params: Params) -> list[str]:
    # Declared in the checker's UNLISTED_PARAMETERS; the spec subset lacks it.
    methods: list[str] = params.get("payment_method_types", ["card", "paypal"])
    for index, method in enumerate(methods):
        param, allowed = f"payment_method_types[{index}]", ", ".join(PAYMENT_METHOD_TYPES)
        _refuse_if(method not in PAYMENT_METHOD_TYPES, f"Invalid {param}: must be one of "
                   f"{allowed}", param)  # fmt: skip
    return methods


def _subscription_data(value: Params | None, mode: str) -> Params:
    value = value or {}
    # Prose in Stripe's reference, not in the spec (nor is trial_end's 48 hours).
    message = "`subscription_data` can only be used in `subscription` mode."
    _refuse_if(bool(value) and mode != "subscription", message, "subscription_data")
    param = "subscription_data[trial_end]"
    _refuse_if("trial_end" in value and int(value["trial_end"]) < time.time() + 48 * 3600,
               f"`{param}` must be at least 48 hours in the future.", param)  # fmt: skip
    trial = {name: int(value[name]) if name in value else None
             for name in ("trial_period_days", "trial_end")}  # fmt: skip
    return trial | {"metadata": _metadata(value)}
