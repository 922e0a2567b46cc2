"""HubSpot's OAuth authorization server (oauth-v1 and the specs' securitySchemes): the consent
page, the token endpoint (code with PKCE, refresh), access token information, refresh-token
deletion, and the check of the bearer token every API call carries."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from flask import Request, Response, g, redirect, request

from sandbox.core import VendorSandbox
from sandbox.hubspot import pages
from sandbox.hubspot.catalog import Route, iso

AUTH_NOT_FOUND = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and "
    "you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
# The consent screen lives on app.hubspot.com in real life; it is in no API spec, only in
# the specs' securitySchemes (authorizationUrl https://app.hubspot.com/oauth/authorize).
CONSENT_ENDPOINTS = frozenset({"oauth_authorize", "oauth_decide"})
OAUTH_ENDPOINTS = CONSENT_ENDPOINTS | {"oauth_token", "oauth_access_token", "oauth_revoke"}


@dataclass
class AccessToken:
    token: str
    portal_id: int
    scopes: list[str]
    expires_at: float
    user: str
    user_id: int


@dataclass
class RefreshToken:
    token: str
    portal_id: int
    scopes: list[str]
    user: str
    user_id: int
    client_id: str


@dataclass
class AuthorizationCode:
    portal_id: int
    redirect_uri: str
    scopes: list[str]
    code_challenge: str
    expires_at: float


class OAuthServer(VendorSandbox):
    # The public app and the user who installs it (settings, see `HubSpotSandbox`).
    client_id = "sandbox-client-id"
    client_secret = "sandbox-client-secret"  # noqa: S105 - a sandbox default
    app_id = 1160452
    app_name = "APIUP"
    access_token_lifetime = 1800.0
    user = "admin@example.com"
    user_id = 2002001
    portals: dict[int, str]
    redirect_uris: set[str]

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.codes: dict[str, AuthorizationCode] = {}
            self.access_tokens: dict[str, AccessToken] = {}
            self.refresh_tokens: dict[str, RefreshToken] = {}

    def oauth_routes(self) -> list[Route]:
        return [
            ("GET", "/oauth/authorize", "oauth_authorize", self._authorize),
            ("POST", "/oauth/authorize", "oauth_decide", self._decide),
            ("POST", "/oauth/v1/token", "oauth_token", self._token),
            ("GET", "/oauth/v1/access-tokens/<token>", "oauth_access_token", self._access_info),
            ("DELETE", "/oauth/v1/refresh-tokens/<token>", "oauth_revoke", self._revoke),
        ]

    def issue_token(
        self, portal_id: int, *, scopes: Iterable[str] = (), expires_in: float | None = None
    ) -> str:
        """An OAuth access token for the portal, as if the code flow had run."""
        lifetime = self.access_token_lifetime if expires_in is None else expires_in
        token = "CJ" + secrets.token_urlsafe(32)
        with self.lock:
            self.access_tokens[token] = AccessToken(
                token, portal_id, list(scopes), time.time() + lifetime, self.user, self.user_id
            )
        return token

    def credential_of(self, req: Request) -> str | None:
        """The bearer token when it is known and alive; else None, with the reason HubSpot
        gives kept for `error_response`."""
        header = req.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        with self.lock:
            access = self.access_tokens.get(token)
        if access is None:
            g.auth_problem = ("INVALID_AUTHENTICATION", AUTH_NOT_FOUND, {})
            return None
        if access.expires_at <= time.time():
            ago = int(time.time() - access.expires_at)
            g.auth_problem = (
                "EXPIRED_AUTHENTICATION",
                f"The OAuth token used to make this call expired {ago} second(s) ago.",
                {"context": {"expire time": [iso(access.expires_at)]}},
            )
            return None
        g.portal_id = access.portal_id
        return token

    # -- consent ---------------------------------------------------------------------------

    def _authorize(self) -> Response:
        params = dict(request.args.items())
        problem = self._authorize_problem(params)
        if problem:
            return pages.page("error", "Authorization error", 400, message=problem)
        return pages.page(
            "consent", "Choose an account", app_name=self.app_name, portals=self.portals,
            params=params, scopes=params["scope"].split(),
        )  # fmt: skip

    def _authorize_problem(self, params: Mapping[str, str]) -> str:
        redirect_uri = params.get("redirect_uri", "")
        method = params.get("code_challenge_method")
        problems = {
            "Unknown client_id.": params.get("client_id") != self.client_id,
            # No configured redirect URIs: any is accepted.
            "The redirect_uri does not match the app's redirect URLs.": not redirect_uri
            or bool(self.redirect_uris and redirect_uri not in self.redirect_uris),
            "The scope parameter is required.": not params.get("scope", "").split(),
            "Only code_challenge_method=S256 is supported.": bool(params.get("code_challenge"))
            and method not in (None, "S256"),
        }
        return next((message for message, failed in problems.items() if failed), "")

    def _decide(self) -> Response:
        form = request.form
        problem = self._authorize_problem(form)
        if problem:
            return pages.page("error", "Authorization error", 400, message=problem)
        answer: dict[str, str] = {"error": "access_denied"}
        if form.get("decision") == "approve" and int(form.get("portal_id", 0)) in self.portals:
            answer = {"code": str(uuid.uuid4())}
            with self.lock:
                self.codes[answer["code"]] = AuthorizationCode(
                    int(form["portal_id"]), form["redirect_uri"], form["scope"].split(),
                    form.get("code_challenge", ""), time.time() + 600,
                )  # fmt: skip
        if "state" in form:
            answer["state"] = form["state"]
        separator = "&" if "?" in form["redirect_uri"] else "?"
        return redirect(form["redirect_uri"] + separator + urlencode(answer), 302)  # type: ignore[return-value]

    # -- tokens ----------------------------------------------------------------------------

    def _oauth_error(self, status: str, message: str, http_status: int = 400) -> Response:
        # The token endpoint answers with its own `status` codes (BAD_AUTH_CODE, ...);
        # `category` is added because the spec's Error schema requires it.
        category = "VALIDATION_ERROR" if http_status == 400 else "OBJECT_NOT_FOUND"
        body = {"status": status, "message": message, "correlationId": str(uuid.uuid4())}
        return self.json({**body, "category": category}, http_status)

    def _token(self) -> Response:
        form = request.form
        if form.get("grant_type") not in ("authorization_code", "refresh_token"):
            return self._oauth_error("BAD_GRANT_TYPE", "missing or unsupported grant_type")
        if form.get("client_id") != self.client_id:
            return self._oauth_error("BAD_CLIENT_ID", "missing or unknown client id")
        if form.get("client_secret") != self.client_secret:
            return self._oauth_error("BAD_CLIENT_SECRET", "missing or invalid client secret")
        with self.lock:
            if form["grant_type"] == "authorization_code":
                refresh: RefreshToken | Response = self._redeem(form)
            elif form.get("refresh_token", "") in self.refresh_tokens:
                refresh = self.refresh_tokens[form["refresh_token"]]
            else:
                refresh = self._oauth_error("BAD_REFRESH_TOKEN", "missing or unknown refresh token")
        if isinstance(refresh, Response):
            return refresh
        access = self.issue_token(refresh.portal_id, scopes=refresh.scopes)
        # HubSpot keeps the refresh token: the same one comes back on every refresh.
        return self.json({
            "token_type": "bearer", "refresh_token": refresh.token, "access_token": access,
            "expires_in": int(self.access_token_lifetime), "token_use": "access_token",
            "hub_id": refresh.portal_id, "user_id": refresh.user_id, "scopes": refresh.scopes,
        })  # fmt: skip

    def _redeem(self, form: Mapping[str, str]) -> RefreshToken | Response:
        """A code used once: its refresh token, or the token endpoint's refusal."""
        code = self.codes.pop(form.get("code", ""), None)
        if code is None or code.expires_at < time.time():
            return self._oauth_error("BAD_AUTH_CODE", "missing or unknown auth code")
        if form.get("redirect_uri") != code.redirect_uri:
            message = "redirect URI does not match initial auth code URL"
            return self._oauth_error("BAD_REDIRECT_URI", message)
        verifier = form.get("code_verifier", "").encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
        if code.code_challenge and digest.decode() != code.code_challenge:
            return self._oauth_error("BAD_AUTH_CODE", "code_verifier does not match")
        refresh = RefreshToken(
            str(uuid.uuid4()), code.portal_id, code.scopes, self.user, self.user_id, self.client_id
        )
        self.refresh_tokens[refresh.token] = refresh
        return refresh

    def _access_info(self, token: str) -> Response:
        with self.lock:
            access = self.access_tokens.get(token)
        if access is None or access.expires_at <= time.time():
            return self._oauth_error("NOT_FOUND", "Token not found", 404)
        slug = re.sub(r"[^a-z0-9]+", "-", self.portals[access.portal_id].lower()).strip("-")
        return self.json({
            "token": token, "user": access.user, "hub_domain": f"{slug}.example",
            "scopes": access.scopes, "hub_id": access.portal_id, "app_id": self.app_id,
            "expires_in": int(access.expires_at - time.time()), "user_id": access.user_id,
            "token_type": "access",
        })  # fmt: skip

    def _revoke(self, token: str) -> Response:
        with self.lock:
            if self.refresh_tokens.pop(token, None) is None:
                return self._oauth_error("NOT_FOUND", "Token not found", 404)
        return Response(status=204)
