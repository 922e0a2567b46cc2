"""Contract checks across Qonto's two hosts.

The derived spec puts `/oauth2/token` on the OAuth host (a path-level `servers` entry,
https://oauth.qonto.com) and everything else on https://thirdparty.qonto.com. The sandbox
serves both on one port, so the token call is checked as if sent to the OAuth host. The
consent page `/oauth2/auth` (the spec's `authorizationUrl`) has no operation in the file and
is counted as undocumented.

The validation steps are the shared checker's; what differs for Qonto: the host per path,
`kind` winning over `type` in a client body, and a body that fits none of the `oneOf` shapes
(a client is a person or a company) named by the fields of the shape it comes closest to.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from flask import Request

from sandbox.contract import ContractChecker, SpecProblem, _load, _problems, _SpecRequest

API_SERVER_URL = "https://thirdparty.qonto.com"
OAUTH_SERVER_URL = "https://oauth.qonto.com"


class QontoContractChecker(ContractChecker):
    def __init__(self, spec_files: tuple[str, ...]) -> None:
        super().__init__(spec_files, API_SERVER_URL)

    def server_url_for(self, req: Request) -> str:
        return OAUTH_SERVER_URL if req.path.startswith("/oauth2/") else self.server_url

    def spec_request(self, req: Request) -> _SpecRequest:
        spec_request = super().spec_request(req)
        if req.path == "/v2/clients" and req.method == "POST":
            spec_request.body = _kind_wins(spec_request.body)
        return spec_request

    def request_problems(self, req: Request) -> list[SpecProblem] | None:
        """The shared check, except that a `oneOf` failure names the closest shape's fields
        instead of answering "not valid under any of the given schemas" for the whole body."""
        from openapi_core.templating.paths.exceptions import PathError
        from openapi_core.validation.request.exceptions import MissingRequestBody

        spec_request = self.spec_request(req)
        for spec_file in self.spec_files:
            validator = _load(spec_file).request_validator
            try:
                path, operation, _, path_result, _ = validator._find_path(spec_request)
            except PathError:
                continue
            spec_request.parameters.path = path_result.variables
            errors = [
                *validator._iter_parameters_errors(spec_request, operation, path),
                *validator._iter_body_errors(spec_request, operation),
            ]
            problems: list[SpecProblem] = []
            for error in errors:
                if type(error) is MissingRequestBody:
                    continue
                cause = error.__cause__
                schema_errors = getattr(cause, "schema_errors", None)
                if cause is not None and schema_errors:
                    cause.schema_errors = list(_closest(schema_errors))
                problems += _problems(error)
            return problems
        return None

    def declares(self, req: Request, status: str) -> bool:
        """Whether the request's operation lists `status` among its responses."""
        from openapi_core.templating.paths.exceptions import PathError

        spec_request = self.spec_request(req)
        for spec_file in self.spec_files:
            try:
                _, operation, *_ = _load(spec_file).request_validator._find_path(spec_request)
            except PathError:
                continue
            return status in (operation / "responses")
        return False


def _kind_wins(body: bytes) -> bytes:
    # Qonto's docs on creating a client: `type` is an alias of `kind`, "if both are sent,
    # kind wins". The derived spec refuses a body whose two disagree, so the body is checked
    # as Qonto reads it: with `kind` alone.
    try:
        payload = json.loads(body)
    except ValueError:
        return body
    if isinstance(payload, dict) and payload.get("kind") is not None and "type" in payload:
        del payload["type"]
        return json.dumps(payload).encode()
    return body


def _closest(schema_errors: Iterable[Any]) -> Iterable[Any]:
    """Each `oneOf`/`anyOf` failure replaced by the errors of the alternative with the fewest,
    recursively (for a client: the person or company shape its `kind` comes closest to)."""
    for error in schema_errors:
        if error.validator not in ("oneOf", "anyOf") or not error.context:
            yield error
            continue
        by_branch: dict[Any, list[Any]] = {}
        for sub in error.context:
            by_branch.setdefault(sub.relative_schema_path[0], []).append(sub)
        fewest = min(by_branch.values(), key=len)
        yield from _closest(fewest)
