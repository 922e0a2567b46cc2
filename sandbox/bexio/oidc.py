"""bexio's identity provider, auth.bexio.com (Keycloak realm "bexio"), served on the
sandbox's own host under the same paths: the discovery document, an authorization page
where the sandbox user approves or denies, the token endpoint and token revocation.

Keycloak's own error texts are used where bexio documents none; they are unverified
against auth.bexio.com.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import secrets
import time
from functools import cache
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, request

from sandbox.contract import SPECS_DIR, SpecProblem
from sandbox.oauth_server import (
    AuthorizationCode,
    OAuthClient,
    client_credentials,
    consent_form,
    html_page,
    pkce_matches,
    token_refusal,
    with_query,
)

if TYPE_CHECKING:
    from sandbox.bexio.app import BexioSandbox

REALM = "/realms/bexio"
AUTHORIZE_PATH = f"{REALM}/protocol/openid-connect/auth"
TOKEN_PATH = f"{REALM}/protocol/openid-connect/token"
# The discovery document's `revocation_endpoint` (RFC 7009); no OpenAPI file has it.
REVOKE_PATH = f"{REALM}/protocol/openid-connect/revoke"
DISCOVERY_PATH = f"{REALM}/.well-known/openid-configuration"
BEXIO_AUTH_HOST = "https://auth.bexio.com"
DISCOVERY_FILE = SPECS_DIR / "bexio" / "bexio-openid-configuration.json"
PUBLIC_ENDPOINTS = frozenset({"oidc_discovery", "oidc_authorize", "oidc_token", "oidc_revoke"})


@cache
def discovery_text() -> str:
    return DISCOVERY_FILE.read_text(encoding="utf-8")


def supported_scopes() -> frozenset[str]:
    return frozenset(json.loads(discovery_text())["scopes_supported"])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def id_token(claims: dict[str, Any], *, key: str) -> str:
    """An HS256-signed ID token; HS256 with the client secret is one of the algorithms
    the discovery document lists, and lets a test check the signature without a JWKS."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(claims).encode())
    signature = hmac.new(key.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def _error_page(message: str) -> Response:
    # Keycloak shows an HTML page, not a redirect, when the client or redirect_uri is bad:
    # redirecting to an unchecked URL would make the IdP an open redirector.
    body = f"<h1>We are sorry...</h1><p id='kc-error-message'>{html.escape(message)}</p>"
    return html_page("bexio sandbox", body, 400)


def _token_error(status: int, error: str, description: str) -> Response:
    return Response(
        json.dumps({"error": error, "error_description": description}),
        status=status,
        mimetype="application/json",
    )


def refused_token_request(sandbox: BexioSandbox, problems: list[SpecProblem]) -> Response:
    """A token request the spec refuses, in Keycloak's words (RFC 6749 5.2's body)."""
    error, missing = token_refusal(sandbox.spec, request)
    if error == "unsupported_grant_type":
        return _token_error(400, error, "Unsupported grant_type")
    return _token_error(
        400, error, f"Missing parameter: {missing}" if missing else str(problems[0])
    )


_BAD_CLIENT = (401, "unauthorized_client", "Invalid client or Invalid client credentials")


def register_oidc_routes(sandbox: BexioSandbox, app: Flask) -> None:
    oauth = sandbox.oauth

    def issuer() -> str:
        return f"{sandbox.public_url or request.host_url.rstrip('/')}{REALM}"

    @app.get(DISCOVERY_PATH, endpoint="oidc_discovery")
    def discovery() -> Response:
        base = sandbox.public_url or request.host_url.rstrip("/")
        return sandbox.json(json.loads(discovery_text().replace(BEXIO_AUTH_HOST, base)))

    # OIDC lets the authorization endpoint take GET and POST; the sandbox's consent form
    # posts back to it (Keycloak posts its login form to an internal login-actions URL).
    @app.route(AUTHORIZE_PATH, methods=["GET", "POST"], endpoint="oidc_authorize")
    def authorize() -> Response:
        params = request.values
        client = oauth.clients.get(params.get("client_id", ""))
        if client is None:
            return _error_page("Client not found.")
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in client.redirect_uris:
            return _error_page("Invalid parameter: redirect_uri")

        def back(answer: dict[str, str]) -> Response:
            if params.get("state") is not None:
                answer["state"] = params["state"]
            answer["iss"] = issuer()  # authorization_response_iss_parameter_supported
            return Response(status=302, headers={"Location": with_query(redirect_uri, answer)})

        refusal = _authorize_refusal(params)
        if refusal is not None:
            return back(refusal)
        if request.method == "GET":
            return _consent_page(sandbox, params.to_dict())
        if params.get("decision") != "approve":
            return back({"error": "access_denied"})
        company = sandbox.companies.get(int(params.get("company_id", "0") or 0))
        if company is None:
            return _error_page("Choose a company.")
        challenge = params.get("code_challenge")
        code = oauth.new_code(
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            scope=" ".join(params.get("scope", "").split()),
            account=company.id,
            user_id=company.user_ids[0],
            nonce=params.get("nonce"),
            code_challenge=challenge,
            code_challenge_method=params.get("code_challenge_method", "plain")
            if challenge
            else None,
        )
        return back({"session_state": secrets.token_hex(16), "code": code})

    @app.post(TOKEN_PATH, endpoint="oidc_token")
    def token() -> Response:
        client = oauth.authenticated_client(*client_credentials(request))
        if client is None:
            return _token_error(*_BAD_CLIENT)
        # The grant type and its parameters are the spec step's (`refused_token_request`).
        if request.form["grant_type"] == "authorization_code":
            return _exchange_code(client)
        return _refresh(client)

    def _exchange_code(client: OAuthClient) -> Response:
        form = request.form
        # A code is good for one exchange, even a failed one.
        code = oauth.code(form["code"], client.client_id, spend=True)
        if code is None:
            return _token_error(400, "invalid_grant", "Code not valid")
        if form.get("redirect_uri") != code.redirect_uri:
            return _token_error(400, "invalid_grant", "Incorrect redirect_uri")
        if code.code_challenge and not pkce_matches(code, form.get("code_verifier", "")):
            return _token_error(400, "invalid_grant", "PKCE verification failed")
        return _grant(code, client, session_state=secrets.token_hex(16))

    def _refresh(client: OAuthClient) -> Response:
        value = request.form["refresh_token"]
        known = oauth.refresh_tokens.get(value)
        if known is not None and known.client_id != client.client_id:
            return _token_error(
                400,
                "invalid_grant",
                "Invalid refresh token. Token client and authorized client don't match",
            )
        # Rotation: the refresh token just used is spent.
        refresh = oauth.spend_refresh(value)
        if refresh is None:
            return _token_error(400, "invalid_grant", "Invalid refresh token")
        return _grant(refresh, client, session_state=refresh.session)

    def _grant(grant: Any, client: OAuthClient, *, session_state: str) -> Response:
        """Keycloak's token answer. A refresh token only comes with `offline_access`; an
        offline token does not expire, which Keycloak says with refresh_expires_in 0."""
        now = int(time.time())
        access, refresh = oauth.issue(
            client.client_id,
            grant.account,
            grant.scope,
            user_id=grant.user_id,
            session=session_state,
        )
        answer: dict[str, Any] = {"access_token": access, "expires_in": oauth.access_token_lifetime}
        if refresh is not None:
            answer |= {"refresh_expires_in": 0, "refresh_token": refresh}
        answer["token_type"] = "Bearer"  # noqa: S105 - a token kind, not a secret
        if "openid" in grant.scope.split():
            claims: dict[str, Any] = {
                "exp": now + oauth.access_token_lifetime,
                "iat": now,
                "auth_time": now,
                "iss": issuer(),
                "aud": client.client_id,
                "sub": f"sandbox-user-{grant.account}-{grant.user_id}",
                "typ": "ID",
                "azp": client.client_id,
                "sid": session_state,
            }
            if isinstance(grant, AuthorizationCode) and grant.nonce:
                claims["nonce"] = grant.nonce
            answer["id_token"] = id_token(claims, key=client.client_secret)
        answer |= {"not-before-policy": 0, "session_state": session_state, "scope": grant.scope}
        return sandbox.json(answer)

    # RFC 7009 at the discovery document's `revocation_endpoint`, with the client
    # authentications it lists (client_secret_basic, client_secret_post). Revoking a
    # refresh token ends its session, so the session's access tokens stop working too, as
    # Keycloak does; an unknown token is answered 200 (RFC 7009 2.2).
    @app.post(REVOKE_PATH, endpoint="oidc_revoke")
    def revoke() -> Response:
        client = oauth.authenticated_client(*client_credentials(request))
        if client is None:
            return _token_error(*_BAD_CLIENT)
        token = request.form.get("token")
        if not token:
            return _token_error(400, "invalid_request", "Token not provided")
        if not oauth.revoke(token, client.client_id):
            # Keycloak's TokenRevocationEndpoint wording for another client's token.
            return _token_error(400, "unauthorized_client", "Unmatching clients")
        return Response(status=200)


def _authorize_refusal(params: Any) -> dict[str, str] | None:
    """What goes back to the client for a request the sandbox cannot serve, else None."""
    response_type = params.get("response_type")
    if not response_type:
        return {"error": "invalid_request", "error_description": "Missing parameter: response_type"}
    if response_type != "code":
        # The sandbox serves the authorization code flow only.
        return {"error": "unsupported_response_type"}
    unknown = [s for s in params.get("scope", "").split() if s not in supported_scopes()]
    if unknown:
        return {
            "error": "invalid_scope",
            "error_description": f"Invalid scopes: {' '.join(unknown)}",
        }
    method = params.get("code_challenge_method", "plain") if params.get("code_challenge") else None
    if method not in (None, "plain", "S256"):
        return {
            "error": "invalid_request",
            "error_description": "Invalid parameter: code_challenge_method",
        }
    return None


def _consent_page(sandbox: BexioSandbox, params: dict[str, str]) -> Response:
    form = consent_form(
        action=AUTHORIZE_PATH,
        params=params,
        choice="company_id",
        options=[(c.id, c.name) for c in sandbox.companies.values()],
        skip=("decision", "company_id"),
    )
    heading = f"<h1>Authorize {html.escape(params.get('client_id', ''))}</h1>"
    intro = "<p>The application asks for access to your bexio company:</p>"
    return html_page("bexio sandbox - authorize", heading + intro + form)
