"""Contract checks for Stripe's form-encoded requests.

openapi-core 0.23 deserialises `deepObject` only for flat objects: `line_items[0][price]`
(array of objects), `expand[]` (arrays) and `subscription_data[metadata][k]` (two levels) fail
with "('deepObject', 'line_items')" on every request, and the `expand` query parameter fails
even when absent. So this checker validates Stripe requests itself against the same spec
file: it decodes the bracket form and validates it with openapi-schema-validator against the
operation's request schema. Responses still go through openapi-core unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import yaml
from flask import Request, Response, g
from openapi_schema_validator import OAS30Validator

from sandbox.contract import (
    SPECS_DIR,
    ContractChecker,
    SpecProblem,
    _describe,
    _load,
    _SpecRequest,
    _SpecResponse,
)
from sandbox.stripe.forms import coerce, decode_form

FORM = "application/x-www-form-urlencoded"


@cache
def _operations(spec_file: str) -> tuple[tuple[re.Pattern[str], str, dict[str, Any]], ...]:
    """(path regex, method, dereferenced operation) for every operation of the spec."""
    with (SPECS_DIR / spec_file).open(encoding="utf-8") as handle:
        spec = yaml.safe_load(handle)

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                target: Any = spec
                for part in node["$ref"].lstrip("#/").split("/"):
                    target = target[part]
                return resolve(target)
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    found = []
    for template, item in spec["paths"].items():
        pattern = re.compile("^" + re.sub(r"\{[^}]+\}", "([^/]+)", template) + "$")
        for method, operation in item.items():
            found.append((pattern, method.upper(), resolve(operation)))
    return tuple(found)


class StripeContractChecker(ContractChecker):
    def check(self, req: Request, response: Response, *, documented: bool = True) -> None:
        from openapi_core.templating.responses.exceptions import ResponseNotFound

        if not req.path.startswith("/v1/"):
            return  # hosted checkout and portal pages live on other hosts, outside the API
        if g.get("stripe_dropped"):
            return  # the connection was dropped on purpose: the client saw no answer
        spec_file = self.spec_files[0]
        operation = self._operation(spec_file, req)
        if operation is None:
            if documented:
                self._record(req, response, "request", "operation not in the vendor's spec")
            else:
                with self._lock:
                    self.undocumented += 1
            return
        # A request the sandbox accepted must be one the spec accepts.
        if response.status_code < 400:
            for problem in request_problems(operation, req):
                self._record(req, response, "request", str(problem))
        spec_request = _SpecRequest(req, self.server_url)
        try:
            _load(spec_file).validate_response(spec_request, _SpecResponse(response))
        except ResponseNotFound:
            if response.status_code < 400:
                self._record(req, response, "response", "status not in the spec")
        except Exception as exc:
            self._record(req, response, "response", _describe(exc))
        with self._lock:
            self.checked += 1

    def request_problems(self, req: Request) -> list[SpecProblem] | None:
        if not req.path.startswith("/v1/"):
            return None
        operation = self._operation(self.spec_files[0], req)
        return None if operation is None else request_problems(operation, req)

    @staticmethod
    def _operation(spec_file: str, req: Request) -> dict[str, Any] | None:
        for pattern, method, operation in _operations(spec_file):
            if method == req.method and pattern.match(req.path):
                return operation
        return None


# Parameters Stripe's API reference documents for an operation that the project's spec subset
# leaves out (its `additionalProperties: false` would refuse them). Declared here, with the
# type the reference gives them, instead of loosening the spec file.
UNLISTED_PARAMETERS: dict[tuple[str, str], dict[str, dict[str, Any]]] = {
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


def request_problems(operation: dict[str, Any], req: Request) -> list[SpecProblem]:
    problems: list[SpecProblem] = []
    for parameter in operation.get("parameters", []):
        name, where = parameter["name"], parameter["in"]
        if where == "header" and name in req.headers:
            problems += _schema_problems("header", name, req.headers[name], parameter["schema"])
        elif where == "query":
            value = decode_form(req.args.items(multi=True)).get(name)
            if value is not None:
                problems += _schema_problems("query", name, value, parameter["schema"])
    body = operation.get("requestBody")
    if body is None:
        return problems
    form = decode_form(req.form.items(multi=True))
    if not form:
        if body.get("required"):
            problems.append(SpecProblem("body", "", "request body is required"))
        return problems
    if req.mimetype != FORM:
        return [*problems, SpecProblem("body", "", f"media type {req.mimetype} not in the spec")]
    schema = body["content"][FORM]["schema"]
    unlisted = next(
        (
            extra
            for (method, path), extra in UNLISTED_PARAMETERS.items()
            if method == req.method and path == req.path
        ),
        None,
    )
    if unlisted:
        schema = {**schema, "properties": {**schema.get("properties", {}), **unlisted}}
    return problems + _schema_problems("body", "", form, schema)


def _schema_problems(
    location: str, name: str, value: Any, schema: dict[str, Any]
) -> list[SpecProblem]:
    validator = OAS30Validator(schema)
    problems: list[SpecProblem] = []
    for error in validator.iter_errors(coerce(value, schema)):
        steps = [str(step) for step in error.absolute_path]
        for keyword, missing_or_unknown, message in _named(error):
            path = [name] if name else []
            path += steps + ([missing_or_unknown] if missing_or_unknown else [])
            # Stripe writes a nested parameter the way a form names it: a[b][c].
            field = path[0] + "".join(f"[{step}]" for step in path[1:]) if path else ""
            shown = "" if isinstance(error.instance, (dict, list)) else str(error.instance)
            problems.append(StripeSpecProblem(location, field, message, keyword, shown))
    return problems


def _named(error: Any) -> list[tuple[str, str, str]]:
    """(keyword, the property it names or "", message) for one schema error. A missing
    property is reported on its parent and unknown ones as a list; Stripe names each."""
    if error.validator == "required":
        match = re.match(r"'([^']+)' is a required property", error.message)
        return [("required", match.group(1) if match else "", error.message[:2000])]
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = error.schema.get("properties", {})
        unknown = [key for key in error.instance if key not in known]
        return [("additionalProperties", key, f"{key} was unexpected") for key in unknown]
    if error.validator == "anyOf":
        # CheckoutSessionCreate's "line_items unless mode=setup": the branch that fails only
        # for a missing property names it.
        missing = [sub for sub in error.context or () if sub.validator == "required"]
        if missing:
            return _named(missing[-1])
    if error.validator == "type":
        return [(f"type:{error.validator_value}", "", error.message[:2000])]
    return [(str(error.validator), "", error.message[:2000])]
