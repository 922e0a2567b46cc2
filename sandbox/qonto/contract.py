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

from sandbox.contract import ContractChecker, SpecProblem, SpecRequest

API_SERVER_URL = "https://thirdparty.qonto.com"
OAUTH_SERVER_URL = "https://oauth.qonto.com"


class QontoContractChecker(ContractChecker):
    def __init__(self, spec_files: tuple[str, ...]) -> None:
        super().__init__(spec_files, API_SERVER_URL)

    def server_url_for(self, req: Request) -> str:
        return OAUTH_SERVER_URL if req.path.startswith("/oauth2/") else self.server_url

    def spec_request(self, req: Request) -> SpecRequest:
        spec_request = super().spec_request(req)
        if req.path == "/v2/clients" and req.method == "POST":
            spec_request.body = _kind_wins(spec_request.body)
        return spec_request

    def describe(self, location: str, name: str, schema_error: Any) -> list[SpecProblem]:
        """The shared naming, except that a `oneOf` failure names the closest shape's fields
        instead of answering "not valid under any of the given schemas" for the whole body."""
        describe = super().describe  # zero-argument super() fails inside a comprehension
        return [p for error in _closest([schema_error]) for p in describe(location, name, error)]

    def declares(self, req: Request, status: str) -> bool:
        """Whether the request's operation lists `status` among its responses."""
        operation = self.operation(req)
        return operation is not None and status in (operation / "responses")


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
