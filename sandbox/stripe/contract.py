"""Contract checks for Stripe's form-encoded requests, whose nested parameters travel in
brackets (`line_items[0][price]`, `expand[]`): the shared checker decodes and validates them
(`ContractChecker.bracket_forms`); this module adds what Stripe's API reference says beyond
the spec subset and names each problem the way Stripe's error answers do."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask import Request, Response, g

from sandbox.contract import ContractChecker, SpecProblem

# Parameters Stripe's API reference documents for an operation that the project's spec subset
# leaves out (its `additionalProperties: false` would refuse them). Declared here, with the
# type the reference gives them, instead of loosening the spec file.
UNLISTED_PARAMETERS: dict[tuple[str, str], dict[str, Any]] = {
    # https://docs.stripe.com/api/checkout/sessions/create#create_checkout_session-payment_method_types
    ("POST", "/v1/checkout/sessions"): {
        "payment_method_types": {"type": "array", "items": {"type": "string", "maxLength": 5000}},
    },
}


@dataclass(frozen=True)
class StripeSpecProblem(SpecProblem):
    """A problem with the schema keyword that failed and the value sent, from which Stripe's
    response names its documented error code (parameter_missing, parameter_unknown, ...)."""

    keyword: str = ""
    value: str = ""


class StripeContractChecker(ContractChecker):
    bracket_forms = True
    # Stripe refuses every parameter it does not know, nested ones too ("Received unknown
    # parameter: subscription_data[trial_days]", https://docs.stripe.com/api/errors); the spec
    # subset closes only the top level.
    closed_objects = True

    def check(self, req: Request, response: Response, *, documented: bool = True) -> None:
        # The hosted pages live on other hosts, outside the API; a connection dropped on
        # purpose sent the client no answer.
        if req.path.startswith("/v1/") and not g.get("stripe_dropped"):
            super().check(req, response, documented=documented)

    def form_schema(self, req: Request, schema: dict[str, Any]) -> dict[str, Any]:
        extra = UNLISTED_PARAMETERS.get((req.method, req.path), {})
        return {**schema, "properties": {**schema.get("properties", {}), **extra}}

    def describe(self, location: str, name: str, schema_error: Any) -> list[SpecProblem]:
        """Stripe names a nested parameter the way a form does (`a[b][c]`) and each missing or
        unknown one by itself; the keyword picks its error code."""
        steps = [name] if name else []
        steps += [str(step) for step in schema_error.absolute_path]
        shown = schema_error.instance
        shown = "" if isinstance(shown, (dict, list)) else str(shown)
        return [
            StripeSpecProblem(location, _bracketed([*steps, *named]), message, keyword, shown)
            for keyword, named, message in _named(schema_error)
        ]


def _bracketed(steps: list[str]) -> str:
    return steps[0] + "".join(f"[{step}]" for step in steps[1:]) if steps else ""


def _named(error: Any) -> list[tuple[str, list[str], str]]:
    """(keyword, the property it names if any, message) for one schema error. A missing
    property is reported on its parent and unknown ones as a list."""
    if error.validator == "required":
        match = re.match(r"'([^']+)' is a required property", error.message)
        return [("required", [match.group(1)] if match else [], error.message[:2000])]
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = error.schema.get("properties", {})
        unknown = [key for key in error.instance if key not in known]
        return [("additionalProperties", [key], f"{key} was unexpected") for key in unknown]
    if error.validator == "anyOf":
        # CheckoutSessionCreate's "line_items unless mode=setup": the branch that fails only
        # for a missing property names it.
        missing = [sub for sub in error.context or () if sub.validator == "required"]
        if missing:
            return _named(missing[-1])
    keyword = f"type:{error.validator_value}" if error.validator == "type" else error.validator
    return [(str(keyword), [], error.message[:2000])]
