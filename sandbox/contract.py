"""Checks every request a sandbox accepts and every response it sends against the vendor's
OpenAPI file in the project's `vendor-specs/` folder (openapi-core does the validation, but
for forms nested in brackets: `ContractChecker.bracket_forms`)."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from flask import Request, Response
from openapi_schema_validator import OAS30Validator
from werkzeug.datastructures import Headers, ImmutableMultiDict

# The project's copy of the vendors' API descriptions (sources in vendor-specs/README.md);
# VENDOR_SPECS_DIR points the sandboxes at another copy.
SPECS_DIR = Path(
    os.environ.get("VENDOR_SPECS_DIR", Path(__file__).resolve().parent.parent / "vendor-specs")
)


@cache
def _load(spec_file: str) -> Any:
    from openapi_core import OpenAPI

    return OpenAPI.from_file_path(str(SPECS_DIR / spec_file))


load_spec = _load  # public name for vendor checkers that validate a part themselves


@dataclass
class _Parameters:
    query: ImmutableMultiDict[str, str]
    header: Headers
    cookie: ImmutableMultiDict[str, str]
    path: dict[str, Any]

    def __getitem__(self, location: str) -> Any:
        # openapi-core reads parameters by location name.
        return getattr(self, location)


class SpecRequest:
    """The sandbox's request as if it had been sent to the vendor's own host."""

    def __init__(self, req: Request, server_url: str) -> None:
        from urllib.parse import urlencode, urlsplit

        parts = urlsplit(server_url)
        self.host_url = f"{parts.scheme}://{parts.netloc}"
        self.path = req.path
        self.method = req.method.lower()
        self.body = req.get_data(cache=True)
        if not self.body and req.form:
            # The handler already read a form body; rebuild it for validation.
            self.body = urlencode(list(req.form.items(multi=True))).encode()
        self.content_type = req.content_type or "application/octet-stream"
        self.parameters = _Parameters(
            query=ImmutableMultiDict(list(req.args.items(multi=True))),
            header=Headers(req.headers),
            cookie=ImmutableMultiDict(req.cookies),
            path={},
        )
        self.full_url_pattern = self.host_url + self.path


class SpecResponse:
    def __init__(self, response: Response) -> None:
        self.data = response.get_data()
        self.status_code = response.status_code
        self.content_type = response.mimetype or "application/octet-stream"
        self.headers = Headers(response.headers)


@dataclass
class Violation:
    method: str
    path: str
    status: int
    where: str  # "request" or "response"
    error: str


@dataclass(frozen=True)
class SpecProblem:
    """One way a request breaks the vendor's spec, as openapi-core reports it."""

    location: str  # "body", "query", "path", "header" or "cookie"
    field: str  # dotted path into the body ("address.countryCode"), a parameter's name,
    # or "" when the whole body is at fault (missing, unreadable, wrong media type)
    message: str

    def __str__(self) -> str:
        return f"{self.location} {self.field}: {self.message}" if self.field else self.message


class ContractChecker:
    """Validates against the first spec file that knows the operation."""

    # A vendor whose forms and queries nest parameters in brackets (`line_items[0][price]`,
    # `expand[]`: OpenAPI's `deepObject` at any depth). openapi-core 0.23 deserialises
    # `deepObject` only for flat objects and fails on the rest, so such requests are decoded
    # and validated here (`form_problems`); responses still go through openapi-core.
    bracket_forms = False
    # With `bracket_forms`: an object type listing its properties refuses any other, at every
    # level (a spec may close only the top level of a vendor that refuses them all).
    closed_objects = False

    def __init__(
        self, spec_files: tuple[str, ...], server_url: str, hosts: dict[str, str] | None = None
    ) -> None:
        self.spec_files = spec_files
        self.server_url = server_url
        # Path prefix -> another host of the vendor's (an OAuth host that the spec gives a
        # path-level `servers` entry); the sandbox serves all of them on one port.
        self.hosts = hosts or {}
        self.violations: list[Violation] = []
        self.checked = 0
        self.undocumented = 0  # calls to real endpoints the spec file does not describe
        self._lock = threading.Lock()

    def server_url_for(self, req: Request) -> str:
        """The vendor host the request would have gone to."""
        hosts = (url for prefix, url in self.hosts.items() if req.path.startswith(prefix))
        return next(hosts, self.server_url)

    def spec_request(self, req: Request) -> SpecRequest:
        """The request as validated; a vendor adapts it here (a body as the vendor reads it)."""
        return SpecRequest(req, self.server_url_for(req))

    def openapi(self, spec_file: str) -> Any:
        """The spec file, loaded (and validated) once per process."""
        return _load(spec_file)

    def load_all(self) -> None:
        """Loads every spec file now rather than on the first request: a large one takes
        seconds (eAccounting's about six), longer than a client waits for that answer."""
        for spec_file in self.spec_files:
            self.openapi(spec_file)

    def _find(self, spec_request: SpecRequest) -> tuple[Any, Any, Any, Any] | None:
        """The OpenAPI, request validator, path and operation of the first spec file that
        knows the operation (the path's variables filled in on `spec_request`), or None."""
        from openapi_core.templating.paths.exceptions import PathError

        for spec_file in self.spec_files:
            # Built once per spec file: OpenAPI caches its validator, `_load` the OpenAPI.
            openapi = self.openapi(spec_file)
            validator = openapi.request_validator
            try:
                path, operation, _, path_result, _ = validator._find_path(spec_request)
            except PathError:  # ServerNotFound included
                continue  # another of the vendor's files may hold the operation
            spec_request.parameters.path = path_result.variables
            return openapi, validator, path, operation
        return None

    def operation(self, req: Request) -> Any | None:
        """The spec's operation object for the request, or None when no spec file knows it."""
        found = self._find(self.spec_request(req))
        return None if found is None else found[3]

    def declares(self, req: Request, status: str) -> bool:
        """Whether the request's operation lists `status` among its responses."""
        operation = self.operation(req)
        return operation is not None and status in (operation / "responses")

    def request_problems(self, req: Request) -> list[SpecProblem] | None:
        """How the request breaks its operation's parameters and body, or None when no spec
        file knows the operation. Security is left to the sandbox's own credential check,
        which answers it as the vendor does (401)."""
        from openapi_core.validation.request.exceptions import MissingRequestBody

        if self.bracket_forms:
            operation = self.operation(req)
            if operation is None:
                return None
            return self.form_problems(req, resolved(operation, close_objects=self.closed_objects))
        spec_request = self.spec_request(req)
        found = self._find(spec_request)
        if found is None:
            return None
        _, validator, path, operation = found
        errors = [
            *validator._iter_parameters_errors(spec_request, operation, path),
            *validator._iter_body_errors(spec_request, operation),
        ]
        return [
            problem
            for error in errors
            if type(error) is not MissingRequestBody  # an optional body left out
            for problem in self.problems_from(error)
        ]

    def form_problems(self, req: Request, operation: dict[str, Any]) -> list[SpecProblem]:
        """How a request in bracket form breaks `operation` (plain data, see `resolved`): its
        query and header parameters and its form body."""
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
        schema = self.form_schema(req, body["content"][FORM]["schema"])
        return problems + self._problems("body", "", form, schema)

    def form_schema(self, req: Request, schema: dict[str, Any]) -> dict[str, Any]:
        """The schema a form body is validated against; a vendor may add to the spec's."""
        return schema

    def _problems(self, location: str, name: str, value: Any, schema: Any) -> list[SpecProblem]:
        """A decoded form value (or parameter `name`) checked against a plain schema."""
        errors = OAS30Validator(schema).iter_errors(coerce(value, schema))
        return [problem for error in errors for problem in self.describe(location, name, error)]

    def problems_from(self, error: Exception) -> list[SpecProblem]:
        """openapi-core's error as field problems: one per schema error of a body or
        parameter (each named by `describe`), or one for the error as a whole."""
        location, name = error_location(error)
        found = schema_errors(error)
        if not found:
            message = str(error.__cause__ or error) if location == "body" else str(error)
            return [SpecProblem(location, name, message)]
        return [
            problem
            for schema_error in found
            for problem in self.describe(location, name, schema_error)
        ]

    def describe(self, location: str, name: str, schema_error: Any) -> list[SpecProblem]:
        """One jsonschema error of the body or of parameter `name` as problems; a `oneOf` or
        `anyOf` failure as the errors of the alternative it comes closest to (a Qonto client
        is a person or a company, a token request one of two grants)."""
        if schema_error.validator in ("oneOf", "anyOf") and schema_error.context:
            branches: dict[Any, list[Any]] = {}
            for sub in schema_error.context:
                branches.setdefault(sub.relative_schema_path[0], []).append(sub)
            closest = min(branches.values(), key=len)
            return [p for sub in closest for p in self.describe(location, name, sub)]
        steps = [str(step) for step in getattr(schema_error, "absolute_path", [])]
        # A missing required property is reported on its parent; name the property itself.
        if getattr(schema_error, "validator", None) == "required":
            match = re.match(r"'([^']+)' is a required property", schema_error.message)
            if match:
                steps.append(match.group(1))
        field = ".".join([name, *steps] if name else steps)
        return [SpecProblem(location, field, schema_error.message)]

    def check(self, req: Request, response: Response, *, documented: bool = True) -> None:
        from openapi_core.templating.responses.exceptions import ResponseNotFound

        spec_request = self.spec_request(req)
        found = self._find(spec_request)
        if found is None:
            if documented:
                self._record(req, response, "request", "operation not in the vendor's spec")
            else:
                with self._lock:
                    self.undocumented += 1
            return
        openapi = found[0]
        # A request the sandbox accepted must be one the spec accepts.
        if response.status_code < 400:
            for error in self._request_errors(req, spec_request, openapi):
                self._record(req, response, "request", error)
        try:
            openapi.validate_response(spec_request, SpecResponse(response))
        except ResponseNotFound:
            # The vendors' files declare few error answers; an undeclared error status
            # is the vendor's documented behaviour (see the fact sheets), not a mismatch.
            if response.status_code < 400:
                self._record(req, response, "response", "status not in the spec")
        except Exception as exc:
            self._record(req, response, "response", _describe(exc))
        with self._lock:
            self.checked += 1

    def _request_errors(self, req: Request, spec_request: SpecRequest, openapi: Any) -> list[str]:
        if self.bracket_forms:
            return [str(problem) for problem in self.request_problems(req) or []]
        try:
            openapi.validate_request(spec_request)
        except Exception as exc:  # openapi-core raises one class per kind of mismatch
            return [_describe(exc)]
        return []

    def _record(self, req: Request, response: Response, where: str, error: str) -> None:
        with self._lock:
            self.violations.append(
                Violation(req.method, req.path, response.status_code, where, error)
            )


def _describe(exc: Exception) -> str:
    details = [str(exc)]
    cause = exc.__cause__
    for error in getattr(cause, "schema_errors", []) or []:
        details.append(getattr(error, "message", str(error)))
    return "; ".join(details)[:2000]


def error_location(error: Exception) -> tuple[str, str]:
    """Where openapi-core's request error lies: a parameter's location and name, or the body."""
    from openapi_core.validation.request.exceptions import ParameterValidationError

    if isinstance(error, ParameterValidationError):
        return error.location, error.name
    return "body", ""


def schema_errors(error: Exception) -> list[Any]:
    """The jsonschema errors behind openapi-core's error (none for a missing or unreadable
    value)."""
    return list(getattr(error.__cause__, "schema_errors", None) or [])


# -- Bracket forms (`ContractChecker.bracket_forms`): nested parameters travel as bracket keys
# (`line_items[0][price]=x`, `metadata[tenant]=y`, `expand[]=z`). ---------------------------

FORM = "application/x-www-form-urlencoded"
_BRACKETED = re.compile(r"\[([^\[\]]*)\]")


def decode_form(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Bracket keys to nested dicts; a dict whose keys are all indexes becomes a list."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        head, _, rest = key.partition("[")
        *parents, last = head, *_BRACKETED.findall("[" + rest)
        node = root
        for part in parents:
            node = node.setdefault(part or str(len(node)), {})
            if not isinstance(node, dict):  # `a=1&a[b]=2`: the nested value is dropped
                node = {}
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
        # A form cannot send an empty object; Stripe reads an empty `metadata` as "unset all".
        return {}
    if kind == "integer" and isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        return int(value)
    if kind == "boolean" and value in ("true", "false"):
        return value == "true"
    return value


@cache
def resolved(node: Any, *, close_objects: bool = False) -> Any:
    """A part of the spec as plain data with every `$ref` resolved (built once a node); with
    `close_objects`, an object type listing its properties refuses any other."""
    value = node.read_value()
    if isinstance(value, list):
        return [resolved(node / index, close_objects=close_objects) for index in range(len(value))]
    if not isinstance(value, dict):
        return value
    plain = {key: resolved(node / key, close_objects=close_objects) for key in value}
    if close_objects and plain.get("type") == "object" and "properties" in plain:
        plain.setdefault("additionalProperties", False)
    return plain
