"""bexio's identity provider, auth.bexio.com (Keycloak realm "bexio"), on the shared
authorization server and the sandbox's own host under the same paths. What is bexio's own
comes from its OIDC discovery document (bexio-openid-configuration.json): the paths, scopes,
PKCE methods, client authentications, RFC 7009 revocation, the `iss` on each redirect and
an ID token; and Keycloak's words, unverified against auth.bexio.com."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, request

from sandbox.contract import SPECS_DIR
from sandbox.oauth_server import RFC_6749, AuthorizationServer, Grant

if TYPE_CHECKING:
    from sandbox.bexio.app import BexioSandbox

REALM = "/realms/bexio"
AUTHORIZE_PATH = f"{REALM}/protocol/openid-connect/auth"
TOKEN_PATH = f"{REALM}/protocol/openid-connect/token"
REVOKE_PATH = f"{REALM}/protocol/openid-connect/revoke"  # no OpenAPI file has it
DISCOVERY_PATH = f"{REALM}/.well-known/openid-configuration"
BEXIO_AUTH_HOST = "https://auth.bexio.com"
DISCOVERY = (SPECS_DIR / "bexio" / "bexio-openid-configuration.json").read_text(encoding="utf-8")


class BexioIdentityProvider(AuthorizationServer):
    authorize_path = AUTHORIZE_PATH
    token_path = TOKEN_PATH
    revoke_path = REVOKE_PATH
    account_field = "company_id"
    scopes_supported = frozenset(json.loads(DISCOVERY)["scopes_supported"])
    pkce_methods = ("plain", "S256")
    basic_auth = True
    token_type = "Bearer"  # noqa: S105 - a token kind
    # Keycloak's texts where bexio documents none. It shows a page, not a redirect, for a bad
    # client or redirect_uri; the TokenRevocationEndpoint's words for another client's token.
    refusals = RFC_6749 | {
        "unknown_client": (400, "", "Client not found."),
        "unknown_redirect_uri": (400, "", "Invalid parameter: redirect_uri"),
        "no_account": (400, "", "Choose a company."),
        "scope": (302, "invalid_scope", "Invalid scopes: {}"),
        "code_challenge_method":
            (302, "invalid_request", "Invalid parameter: code_challenge_method"),
        "client_id": (401, "unauthorized_client", "Invalid client or Invalid client credentials"),
        "code": (400, "invalid_grant", "Code not valid"),
        "redirect_uri": (400, "invalid_grant", "Incorrect redirect_uri"),
        "code_verifier": (400, "invalid_grant", "PKCE verification failed"),
        "foreign_refresh": (400, "invalid_grant",
            "Invalid refresh token. Token client and authorized client don't match"),
        "token": (400, "invalid_request", "Token not provided"),
        "foreign_token": (400, "unauthorized_client", "Unmatching clients"),
    }  # fmt: skip
    sandbox: BexioSandbox

    def base_url(self) -> str:
        return self.sandbox.public_url or request.host_url.rstrip("/")

    def accounts(self) -> list[tuple[Any, str]]:
        return [(company.id, company.name) for company in self.sandbox.companies.values()]

    def account(self, chosen: str) -> tuple[Any, int | None] | None:
        company = self.sandbox.companies.get(int(chosen) if chosen.isdigit() else 0)
        return None if company is None else (company.id, company.user_ids[0])

    def redirect_extras(self) -> dict[str, str]:
        return {"iss": self.base_url() + REALM}  # authorization_response_iss_parameter_supported

    def token_body(self, access: str, refresh: str | None) -> dict[str, Any]:
        grant = self.access_tokens[access]
        body = super().token_body(access, refresh)
        if refresh:  # an offline token does not expire, which Keycloak says with 0
            body["refresh_expires_in"] = 0
        if "openid" in grant.scopes:
            body["id_token"] = self.id_token(grant)
        return body | {"not-before-policy": 0, "session_state": grant.session}

    def id_token(self, grant: Grant) -> str:
        """HS256-signed with the client secret: one of the discovery document's algorithms,
        and a test can check the signature without a JWKS."""
        now, client = int(time.time()), self.clients[grant.client_id or ""]
        claims = {
            "exp": now + int(self.access_token_lifetime), "iat": now, "auth_time": now,
            "iss": self.base_url() + REALM, "aud": client.client_id,
            "sub": f"sandbox-user-{grant.account}-{grant.user_id}", "typ": "ID",
            "azp": client.client_id, "sid": grant.session,
        } | ({"nonce": grant.nonce} if grant.nonce else {})  # fmt: skip
        parts = ({"alg": "HS256", "typ": "JWT"}, claims)
        header, payload = (_b64(json.dumps(part).encode()) for part in parts)
        key = client.client_secret.encode()
        signature = hmac.new(key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{_b64(signature)}"

    def register(self, app: Flask) -> None:
        super().register(app)
        app.add_url_rule(DISCOVERY_PATH, "oidc_discovery", self.discovery)

    def discovery(self) -> Response:
        return self.sandbox.json(json.loads(DISCOVERY.replace(BEXIO_AUTH_HOST, self.base_url())))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
