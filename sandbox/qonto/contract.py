"""Contract checks across Qonto's two hosts.

The derived spec puts `/oauth2/token` on the OAuth host (a path-level `servers` entry,
https://oauth.qonto.com) and everything else on https://thirdparty.qonto.com. The sandbox
serves both on one port, so the token call is checked as if sent to the OAuth host. The
consent page `/oauth2/auth` (the spec's `authorizationUrl`) has no operation in the file and
is counted as undocumented.

The validation steps are the shared checker's; only the host differs per path.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Request, Response

from sandbox.contract import ContractChecker, _describe, _load, _SpecRequest, _SpecResponse

API_SERVER_URL = "https://thirdparty.qonto.com"
OAUTH_SERVER_URL = "https://oauth.qonto.com"


class _QontoSpecRequest(_SpecRequest):
    def __init__(self, req: Request, server_url: str) -> None:
        super().__init__(req, server_url)
        if not self.body and req.form:
            # The handler parsed the form, which consumes the body without keeping it.
            self.body = urlencode(list(req.form.items(multi=True))).encode()


class QontoContractChecker(ContractChecker):
    def __init__(self, spec_files: tuple[str, ...]) -> None:
        super().__init__(spec_files, API_SERVER_URL)

    def check(self, req: Request, response: Response, *, documented: bool = True) -> None:
        from openapi_core.templating.paths.exceptions import PathError, ServerNotFound
        from openapi_core.templating.responses.exceptions import ResponseNotFound

        server_url = OAUTH_SERVER_URL if req.path.startswith("/oauth2/") else self.server_url
        spec_request = _QontoSpecRequest(req, server_url)
        openapi = _load(self.spec_files[0])
        try:
            openapi.validate_request(spec_request)
            request_error = None
        except (PathError, ServerNotFound):
            if documented:
                self._record(req, response, "request", "operation not in the vendor's spec")
            else:
                with self._lock:
                    self.undocumented += 1
            return
        except Exception as exc:  # openapi-core raises one class per kind of mismatch
            request_error = _describe(exc)
        # A request the sandbox accepted must be one the spec accepts.
        if request_error and response.status_code < 400:
            self._record(req, response, "request", request_error)
        try:
            openapi.validate_response(spec_request, _SpecResponse(response))
        except ResponseNotFound:
            # Undeclared error statuses (500, 503, 405) are documented behaviour, not drift.
            if response.status_code < 400:
                self._record(req, response, "response", "status not in the spec")
        except Exception as exc:
            self._record(req, response, "response", _describe(exc))
        with self._lock:
            self.checked += 1
