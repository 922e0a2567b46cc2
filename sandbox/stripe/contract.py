"""Contract checks for Stripe's form-encoded requests.

openapi-core 0.23 deserialises `deepObject` only for flat objects: `line_items[0][price]`,
`expand[]` and `subscription_data[metadata][k]` fail with "('deepObject', 'line_items')" on
every request, and the `expand` query parameter fails even when absent. So this checker finds
the operation through the spec file as usual, decodes the bracket form itself and validates
it with openapi-schema-validator; responses still go through openapi-core."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from flask import Request, Response, g
from openapi_schema_validator import OAS30Validator

from sandbox.contract import ContractChecker, SpecProblem, SpecResponse, load_spec, schema_errors

FORM = "application/x-www-form-urlencoded"
_PART = re.compile(r"\[([^\[\]]*)\]")

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
    def check(self, req: Request, response: Response, *, documented: bool = True) -> None:
        from openapi_core.templating.responses.exceptions import ResponseNotFound

        # The hosted pages live on other hosts, outside the API; a connection dropped on
        # purpose sent the client no answer.
        if not req.path.startswith("/v1/") or g.get("stripe_dropped"):
            return
        problems = self.request_problems(req)
        if problems is None:  # counted as the base class counts an unknown operation
            super().check(req, response, documented=documented)
            return
        # A request the sandbox accepted must be one the spec accepts.
        for problem in problems if response.status_code < 400 else []:
            self._record(req, response, "request", str(problem))
        try:
            load_spec(self.spec_files[0]).validate_response(
                self.spec_request(req), SpecResponse(response)
            )
        except ResponseNotFound:
            if response.status_code < 400:
                self._record(req, response, "response", "status not in the spec")
        except Exception as exc:  # openapi-core raises one class per kind of mismatch
            details = [str(exc), *(e.message for e in schema_errors(exc))]
            self._record(req, response, "response", "; ".join(details)[:2000])
        with self._lock:
            self.checked += 1

    def request_problems(self, req: Request) -> list[SpecProblem] | None:
        found = self.operation(req) if req.path.startswith("/v1/") else None
        if found is None:
            return None
        operation = _plain(found)
        problems: list[SpecProblem] = []
        query = decode_form(req.args.items(multi=True))
        for parameter in operation.get("parameters", []):
            name, where = parameter["name"], parameter["in"]
            sent = req.headers.get(name) if where == "header" else query.get(name)
            if where in ("header", "query") and sent is not None:
                problems += self._problems(where, name, sent, parameter["schema"])
        body, form = operation.get("requestBody"), decode_form(req.form.items(multi=True))
        if body is None or not form:
            if body is not None and body.get("required"):
                problems.append(SpecProblem("body", "", "request body is required"))
            return problems
        if req.mimetype != FORM:  # a multipart form
            media = SpecProblem("body", "", f"media type {req.mimetype} not in the spec")
            return [*problems, media]
        schema = body["content"][FORM]["schema"]
        extra = UNLISTED_PARAMETERS.get((req.method, req.path), {})
        schema = {**schema, "properties": {**schema.get("properties", {}), **extra}}
        return problems + self._problems("body", "", form, schema)

    def _problems(self, location: str, name: str, value: Any, schema: Any) -> list[SpecProblem]:
        errors = OAS30Validator(schema).iter_errors(coerce(value, schema))
        return [problem for error in errors for problem in self.describe(location, name, error)]

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


@cache
def _plain(node: Any) -> Any:
    """The spec's operation as plain data with every `$ref` resolved (built once a node).
    Stripe refuses every parameter it does not know, nested ones too ("Received unknown
    parameter: subscription_data[trial_days]", https://docs.stripe.com/api/errors); the spec
    subset closes only the top level, so an object type listing its properties is closed here."""
    value = node.read_value()
    if isinstance(value, list):
        return [_plain(node / index) for index in range(len(value))]
    if not isinstance(value, dict):
        return value
    plain = {key: _plain(node / key) for key in value}
    if plain.get("type") == "object" and "properties" in plain:
        plain.setdefault("additionalProperties", False)
    return plain


# -- Stripe's form encoding: nested parameters travel as bracket keys (`line_items[0][price]`,
# `metadata[tenant]`, `expand[]`). ------------------------------------------------------


def decode_form(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Bracket keys to nested dicts; a dict whose keys are all indexes becomes a list."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        head, _, rest = key.partition("[")
        parts = [head, *_PART.findall("[" + rest)] if rest else [head]
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part or str(len(node)), {})
            if not isinstance(node, dict):  # `a=1&a[b]=2`: the later nested form wins
                node = {}
        last = parts[-1]
        node[last or str(len(node))] = value
    result = _listify(root)
    assert isinstance(result, dict)
    return result


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    values = {key: _listify(value) for key, value in node.items()}
    if values and all(key.isdigit() for key in values):
        return [values[key] for key in sorted(values, key=int)]
    return values


def coerce(value: Any, schema: dict[str, Any]) -> Any:
    """Form values are strings; turn them into the types the schema expects where they parse."""
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        return {
            key: coerce(item, properties.get(key, extra if isinstance(extra, dict) else {}))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [coerce(item, schema.get("items", {})) for item in value]
    kind = schema.get("type")
    if kind == "object" and value == "":
        # Stripe's reference: posting an empty value to `metadata` unsets all its keys.
        return {}
    if kind == "integer" and isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        return int(value)
    if kind == "boolean" and value in ("true", "false"):
        return value == "true"
    return value
