"""bexio's identity provider, auth.bexio.com (Keycloak realm "bexio"), served on the
sandbox's own host under the same paths: the discovery document, an authorization page
where the sandbox user approves or denies, and the token endpoint.

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
from urllib.parse import urlencode, urlsplit, urlunsplit

from flask import Flask, Response, request

from sandbox.bexio.state import AccessToken, AuthorizationCode, RefreshToken
from sandbox.contract import SPECS_DIR

if TYPE_CHECKING:
    from sandbox.bexio.app import BexioSandbox

REALM = "/realms/bexio"
AUTHORIZE_PATH = f"{REALM}/protocol/openid-connect/auth"
TOKEN_PATH = f"{REALM}/protocol/openid-connect/token"
DISCOVERY_PATH = f"{REALM}/.well-known/openid-configuration"
BEXIO_AUTH_HOST = "https://auth.bexio.com"
DISCOVERY_FILE = SPECS_DIR / "bexio" / "bexio-openid-configuration.json"
PUBLIC_ENDPOINTS = frozenset({"oidc_discovery", "oidc_authorize", "oidc_token"})


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


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(filter(None, (parts.query, urlencode(params))))
    return urlunsplit(parts._replace(query=query))


def _error_page(message: str) -> Response:
    # Keycloak shows an HTML page, not a redirect, when the client or redirect_uri is bad:
    # redirecting to an unchecked URL would make the IdP an open redirector.
    body = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>bexio sandbox</title></head>"
        f"<body><h1>We are sorry...</h1><p id='kc-error-message'>{html.escape(message)}</p>"
        "</body></html>"
    )
    return Response(body, status=400, mimetype="text/html")


def register_oidc_routes(sandbox: BexioSandbox, app: Flask) -> None:
    def issuer() -> str:
        return f"{sandbox.public_url or request.host_url.rstrip('/')}{REALM}"

    def token_error(status: int, error: str, description: str) -> Response:
        return sandbox.json({"error": error, "error_description": description}, status)

    @app.get(DISCOVERY_PATH, endpoint="oidc_discovery")
    def discovery() -> Response:
        base = sandbox.public_url or request.host_url.rstrip("/")
        return sandbox.json(json.loads(discovery_text().replace(BEXIO_AUTH_HOST, base)))

    # OIDC lets the authorization endpoint take GET and POST; the sandbox's consent form
    # posts back to it (Keycloak posts its login form to an internal login-actions URL).
    @app.route(AUTHORIZE_PATH, methods=["GET", "POST"], endpoint="oidc_authorize")
    def authorize() -> Response:
        params = request.values
        client = sandbox.oauth_clients.get(params.get("client_id", ""))
        if client is None:
            return _error_page("Client not found.")
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in client.redirect_uris:
            return _error_page("Invalid parameter: redirect_uri")
        state = params.get("state")

        def back(answer: dict[str, str]) -> Response:
            if state is not None:
                answer["state"] = state
            answer["iss"] = issuer()  # authorization_response_iss_parameter_supported
            return Response(status=302, headers={"Location": _with_query(redirect_uri, answer)})

        response_type = params.get("response_type")
        if not response_type:
            return back(
                {
                    "error": "invalid_request",
                    "error_description": "Missing parameter: response_type",
                }
            )
        if response_type != "code":
            # The sandbox serves the authorization code flow only.
            return back({"error": "unsupported_response_type"})
        scopes = params.get("scope", "").split()
        unknown = [s for s in scopes if s not in supported_scopes()]
        if unknown:
            return back(
                {
                    "error": "invalid_scope",
                    "error_description": f"Invalid scopes: {' '.join(unknown)}",
                }
            )
        challenge = params.get("code_challenge")
        method = params.get("code_challenge_method", "plain") if challenge else None
        if method not in (None, "plain", "S256"):
            return back(
                {
                    "error": "invalid_request",
                    "error_description": "Invalid parameter: code_challenge_method",
                }
            )
        if request.method == "GET":
            return Response(_consent_page(sandbox, params.to_dict()), mimetype="text/html")
        if params.get("decision") != "approve":
            return back({"error": "access_denied"})
        with sandbox.lock:
            company = sandbox.companies.get(int(params.get("company_id", "0") or 0))
            if company is None:
                return _error_page("Choose a company.")
            code = secrets.token_urlsafe(32)
            sandbox.authorization_codes[code] = AuthorizationCode(
                client_id=client.client_id,
                redirect_uri=redirect_uri,
                scope=" ".join(scopes),
                company_id=company.id,
                user_id=company.user_ids[0],
                nonce=params.get("nonce"),
                code_challenge=challenge,
                code_challenge_method=method,
                expires_at=time.time() + sandbox.authorization_code_lifetime,
            )
        return back({"session_state": secrets.token_hex(16), "code": code})

    @app.post(TOKEN_PATH, endpoint="oidc_token")
    def token() -> Response:
        form = request.form
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        if request.authorization and request.authorization.type == "basic":
            client_id = request.authorization.username or ""
            client_secret = request.authorization.password or ""
        client = sandbox.oauth_clients.get(client_id)
        if client is None or not hmac.compare_digest(client.client_secret, client_secret):
            return token_error(
                401, "unauthorized_client", "Invalid client or Invalid client credentials"
            )
        grant_type = form.get("grant_type")
        if not grant_type:
            return token_error(400, "invalid_request", "Missing form parameter: grant_type")
        if grant_type == "authorization_code":
            code_value = form.get("code")
            if not code_value:
                return token_error(400, "invalid_request", "Missing parameter: code")
            with sandbox.lock:
                # A code is good for one exchange, even a failed one.
                code = sandbox.authorization_codes.pop(code_value, None)
            if code is None or code.client_id != client.client_id or code.expires_at < time.time():
                return token_error(400, "invalid_grant", "Code not valid")
            if form.get("redirect_uri") != code.redirect_uri:
                return token_error(400, "invalid_grant", "Incorrect redirect_uri")
            if code.code_challenge and not _pkce_ok(code, form.get("code_verifier", "")):
                return token_error(400, "invalid_grant", "PKCE verification failed")
            return sandbox.json(
                _grant(
                    sandbox,
                    client.client_id,
                    code.company_id,
                    code.user_id,
                    code.scope,
                    client.client_secret,
                    nonce=code.nonce,
                    issuer=issuer(),
                )
            )
        if grant_type == "refresh_token":
            refresh_value = form.get("refresh_token")
            if not refresh_value:
                return token_error(400, "invalid_request", "Missing parameter: refresh_token")
            with sandbox.lock:
                refresh = sandbox.refresh_tokens.get(refresh_value)
                if refresh is None:
                    return token_error(400, "invalid_grant", "Invalid refresh token")
                if refresh.client_id != client.client_id:
                    return token_error(
                        400,
                        "invalid_grant",
                        "Invalid refresh token. Token client and authorized client don't match",
                    )
                # Rotation: the refresh token just used is spent.
                del sandbox.refresh_tokens[refresh_value]
            return sandbox.json(
                _grant(
                    sandbox,
                    client.client_id,
                    refresh.company_id,
                    refresh.user_id,
                    refresh.scope,
                    client.client_secret,
                    issuer=issuer(),
                    session_state=refresh.session_state,
                )
            )
        return token_error(400, "unsupported_grant_type", "Unsupported grant_type")


def _pkce_ok(code: AuthorizationCode, verifier: str) -> bool:
    if code.code_challenge_method == "S256":
        expected = _b64(hashlib.sha256(verifier.encode()).digest())
    else:
        expected = verifier
    return hmac.compare_digest(expected, code.code_challenge or "")


def _grant(
    sandbox: BexioSandbox,
    client_id: str,
    company_id: int,
    user_id: int,
    scope: str,
    client_secret: str,
    *,
    issuer: str,
    nonce: str | None = None,
    session_state: str | None = None,
) -> dict[str, Any]:
    """Keycloak's token answer. A refresh token only comes with `offline_access`; an
    offline token does not expire, which Keycloak says with refresh_expires_in 0."""
    now = time.time()
    session_state = session_state or secrets.token_hex(16)
    access = secrets.token_urlsafe(32)
    answer: dict[str, Any] = {
        "access_token": access,
        "expires_in": sandbox.access_token_lifetime,
    }
    scopes = scope.split()
    with sandbox.lock:
        sandbox.access_tokens[access] = AccessToken(
            company_id=company_id,
            user_id=user_id,
            scope=scope,
            expires_at=now + sandbox.access_token_lifetime,
            client_id=client_id,
        )
        if "offline_access" in scopes:
            refresh = secrets.token_urlsafe(48)
            sandbox.refresh_tokens[refresh] = RefreshToken(
                client_id, company_id, user_id, scope, session_state
            )
            answer["refresh_expires_in"] = 0
            answer["refresh_token"] = refresh
    answer["token_type"] = "Bearer"  # noqa: S105 - a token kind, not a secret
    if "openid" in scopes:
        claims: dict[str, Any] = {
            "exp": int(now) + sandbox.access_token_lifetime,
            "iat": int(now),
            "auth_time": int(now),
            "iss": issuer,
            "aud": client_id,
            "sub": f"sandbox-user-{company_id}-{user_id}",
            "typ": "ID",
            "azp": client_id,
            "sid": session_state,
        }
        if nonce:
            claims["nonce"] = nonce
        answer["id_token"] = id_token(claims, key=client_secret)
    answer["not-before-policy"] = 0
    answer["session_state"] = session_state
    answer["scope"] = scope
    return answer


def _consent_page(sandbox: BexioSandbox, params: dict[str, str]) -> str:
    hidden = "".join(
        f"<input type='hidden' name='{html.escape(k)}' value='{html.escape(v)}'>"
        for k, v in params.items()
        if k not in ("decision", "company_id")
    )
    with sandbox.lock:
        companies = list(sandbox.companies.values())
    options = "".join(f"<option value='{c.id}'>{html.escape(c.name)}</option>" for c in companies)
    scopes = "".join(f"<li>{html.escape(s)}</li>" for s in params.get("scope", "").split())
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>bexio sandbox - authorize"
        "</title><style>body{font:14px system-ui;margin:2rem}</style></head><body>"
        f"<h1>Authorize {html.escape(params.get('client_id', ''))}</h1>"
        f"<p>The application asks for access to your bexio company:</p><ul>{scopes}</ul>"
        f"<form method='post' action='{AUTHORIZE_PATH}'>{hidden}"
        f"<label>Company <select name='company_id'>{options}</select></label> "
        "<button name='decision' value='approve'>Approve</button> "
        "<button name='decision' value='deny'>Deny</button></form></body></html>"
    )
