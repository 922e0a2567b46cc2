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
from functools import cache
from typing import Any

import yaml
from flask import Request, Response, g
from openapi_schema_validator import OAS30Validator

from sandbox.contract import (
    SPECS_DIR,
    ContractChecker,
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
            for error in request_errors(operation, req):
                self._record(req, response, "request", error)
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

    @staticmethod
    def _operation(spec_file: str, req: Request) -> dict[str, Any] | None:
        for pattern, method, operation in _operations(spec_file):
            if method == req.method and pattern.match(req.path):
                return operation
        return None


def request_errors(operation: dict[str, Any], req: Request) -> list[str]:
    errors: list[str] = []
    for parameter in operation.get("parameters", []):
        name, where = parameter["name"], parameter["in"]
        if where == "header" and name in req.headers:
            errors += _schema_errors(f"header {name}", req.headers[name], parameter["schema"])
        elif where == "query":
            value = decode_form(req.args.items(multi=True)).get(name)
            if value is not None:
                errors += _schema_errors(f"query {name}", value, parameter["schema"])
    body = operation.get("requestBody")
    if body is None:
        return errors
    form = decode_form(req.form.items(multi=True))
    if not form:
        if body.get("required"):
            errors.append("request body is required")
        return errors
    if req.mimetype != FORM:
        return [*errors, f"media type {req.mimetype} not in the spec"]
    return errors + _schema_errors("body", form, body["content"][FORM]["schema"])


def _schema_errors(where: str, value: Any, schema: dict[str, Any]) -> list[str]:
    validator = OAS30Validator(schema)
    return [
        f"{where}: {'/'.join(map(str, error.absolute_path))} {error.message}"[:2000]
        for error in validator.iter_errors(coerce(value, schema))
    ]
