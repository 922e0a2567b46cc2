"""Contract checks across Qonto's two hosts.

The derived spec puts `/oauth2/token` on the OAuth host (a path-level `servers` entry,
https://oauth.qonto.com) and everything else on https://thirdparty.qonto.com. The sandbox
serves both on one port, so the token call is checked as if sent to the OAuth host. The
consent page `/oauth2/auth` (the spec's `authorizationUrl`) has no operation in the file and
is counted as undocumented.

The validation steps are the shared checker's; only the host differs per path.
"""

from __future__ import annotations

from flask import Request

from sandbox.contract import ContractChecker

API_SERVER_URL = "https://thirdparty.qonto.com"
OAUTH_SERVER_URL = "https://oauth.qonto.com"


class QontoContractChecker(ContractChecker):
    def __init__(self, spec_files: tuple[str, ...]) -> None:
        super().__init__(spec_files, API_SERVER_URL)

    def server_url_for(self, req: Request) -> str:
        return OAUTH_SERVER_URL if req.path.startswith("/oauth2/") else self.server_url
