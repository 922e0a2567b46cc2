"""An OAuth 2.0 authorization server's bookkeeping, shared by the bexio and Qonto stand-ins:
registered clients, authorization codes (single use, bound to client and redirect URI, PKCE),
access tokens, rotating refresh tokens with an optional grace period, and RFC 7009
revocation. What each vendor answers (its error texts, token bodies, pages) stays with it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from flask import Request, Response

from sandbox.contract import ContractChecker


@dataclass
class OAuthClient:
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...] = ()  # empty: any (the demo's URL is not known ahead)

    def accepts(self, redirect_uri: str) -> bool:
        return bool(redirect_uri) and (not self.redirect_uris or redirect_uri in self.redirect_uris)


@dataclass
class AuthorizationCode:
    client_id: str
    redirect_uri: str
    account: Any  # the vendor account the consent was given for (company, organization)
    scope: str
    expires_at: float
    user_id: int | None = None
    nonce: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None


@dataclass
class AccessToken:
    account: Any
    scope: str  # empty for a personal access token
    expires_at: float | None  # None: valid until revoked (a personal access token)
    client_id: str | None = None  # None: not handed out to an OAuth client
    user_id: int | None = None
    session: str = ""

    @property
    def scopes(self) -> tuple[str, ...]:
        return tuple(self.scope.split())


@dataclass
class RefreshToken:
    client_id: str
    account: Any
    scope: str
    expires_at: float | None = None  # None: an offline token that does not expire
    user_id: int | None = None
    session: str = ""
    used_at: float | None = None  # first use; valid for the grace period after it

    def usable(self, *, grace_period: float) -> bool:
        now = time.time()
        if self.expires_at is not None and now >= self.expires_at:
            return False
        return self.used_at is None or now < self.used_at + grace_period


class AuthorizationServer:
    """Clients, codes and tokens of one vendor, safe across request threads."""

    def __init__(
        self,
        *,
        access_token_lifetime: float,
        code_lifetime: float,
        refresh_token_lifetime: float | None = None,
        refresh_grace_period: float = 0.0,
        prefixes: tuple[str, str, str] = ("", "", ""),  # code, access token, refresh token
    ) -> None:
        self.access_token_lifetime = access_token_lifetime
        self.code_lifetime = code_lifetime
        self.refresh_token_lifetime = refresh_token_lifetime
        self.refresh_grace_period = refresh_grace_period
        self.prefixes = prefixes
        self.lock = threading.RLock()
        self.clear()

    def clear(self) -> None:
        with self.lock:
            self.clients: dict[str, OAuthClient] = {}
            self.codes: dict[str, AuthorizationCode] = {}
            self.access_tokens: dict[str, AccessToken] = {}
            self.refresh_tokens: dict[str, RefreshToken] = {}

    def add_client(self, client: OAuthClient) -> OAuthClient:
        with self.lock:
            self.clients[client.client_id] = client
        return client

    def authenticated_client(self, client_id: str, secret: str) -> OAuthClient | None:
        client = self.clients.get(client_id)
        if client is None or not hmac.compare_digest(client.client_secret, secret):
            return None
        return client

    # -- codes ------------------------------------------------------------------------------

    def new_code(self, **fields: Any) -> str:
        value = self.prefixes[0] + secrets.token_urlsafe(32)
        with self.lock:
            self.codes[value] = AuthorizationCode(
                expires_at=time.time() + self.code_lifetime, **fields
            )
        return value

    def code(self, value: str, client_id: str, *, spend: bool) -> AuthorizationCode | None:
        """The code if it is current and the client's; `spend` takes it whatever follows."""
        with self.lock:
            code = self.codes.pop(value, None) if spend else self.codes.get(value)
        if code is None or code.client_id != client_id or code.expires_at <= time.time():
            return None
        return code

    def spend_code(self, value: str) -> None:
        with self.lock:
            self.codes.pop(value, None)

    # -- tokens -----------------------------------------------------------------------------

    def issue(
        self,
        client_id: str,
        account: Any,
        scope: str,
        *,
        user_id: int | None = None,
        session: str = "",
    ) -> tuple[str, str | None]:
        """A new access token, and a refresh token when the scope asks for `offline_access`."""
        now = time.time()
        access = self.prefixes[1] + secrets.token_urlsafe(32)
        refresh = None
        with self.lock:
            self.access_tokens[access] = AccessToken(
                account, scope, now + self.access_token_lifetime, client_id, user_id, session
            )
            if "offline_access" in scope.split():
                refresh = self.prefixes[2] + secrets.token_urlsafe(48)
                lifetime = self.refresh_token_lifetime
                self.refresh_tokens[refresh] = RefreshToken(
                    client_id,
                    account,
                    scope,
                    None if lifetime is None else now + lifetime,
                    user_id,
                    session,
                )
        return access, refresh

    def add_personal_token(self, token: str, account: Any, *, user_id: int | None = None) -> None:
        with self.lock:
            self.access_tokens[token] = AccessToken(account, "", None, user_id=user_id)

    def access(self, token: str) -> AccessToken | None:
        """The grant of a current access token, else None."""
        with self.lock:
            grant = self.access_tokens.get(token)
        if grant is None or (grant.expires_at is not None and grant.expires_at <= time.time()):
            return None
        return grant

    def spend_refresh(self, value: str) -> RefreshToken | None:
        """The refresh token's grant, spent: gone at once without a grace period, else kept
        usable for the grace period after its first use (a retry after a lost answer)."""
        with self.lock:
            refresh = self.refresh_tokens.get(value)
            if refresh is None or not refresh.usable(grace_period=self.refresh_grace_period):
                return None
            if not self.refresh_grace_period:
                del self.refresh_tokens[value]
            elif refresh.used_at is None:
                refresh.used_at = time.time()
            return refresh

    def revoke(self, token: str, client_id: str) -> bool:
        """RFC 7009: ends the token; a refresh token also ends the access tokens of its
        session. False when the token was handed to another client; an unknown token
        counts as revoked."""
        with self.lock:
            grant: AccessToken | RefreshToken | None = self.refresh_tokens.get(
                token
            ) or self.access_tokens.get(token)
            if grant is None:
                return True
            if grant.client_id != client_id:
                return False
            if isinstance(grant, RefreshToken):
                del self.refresh_tokens[token]
                self.access_tokens = {
                    value: access
                    for value, access in self.access_tokens.items()
                    if not (access.client_id == client_id and access.session == grant.session)
                }
            else:
                del self.access_tokens[token]
            return True

    def inspect(self) -> dict[str, list[dict[str, Any]]]:
        """The tokens and the clients."""
        with self.lock:
            grants: list[tuple[str, AccessToken | RefreshToken]] = [
                *self.access_tokens.items(),
                *self.refresh_tokens.items(),
            ]
            clients = [
                {"client_id": c.client_id, "redirect_uris": list(c.redirect_uris)}
                for c in self.clients.values()
            ]
        return {"tokens": [_token_row(*grant) for grant in grants], "oauth clients": clients}


def _token_row(value: str, grant: AccessToken | RefreshToken) -> dict[str, Any]:
    """Enough of a token to tell it apart, never the token."""
    expires = grant.expires_at and time.strftime("%F %T", time.gmtime(grant.expires_at))
    return {
        "token": f"{value[:6]}…",
        "kind": type(grant).__name__,
        **{"account": grant.account, "client_id": grant.client_id, "scope": grant.scope},
        "expires_at": expires,
    }


class OAuthVendor:
    """What a stand-in with an authorization server (`self.oauth`) offers tests and the demo."""

    oauth: AuthorizationServer

    def add_oauth_client(
        self, *, client_id: str, client_secret: str, redirect_uris: tuple[str, ...] = ()
    ) -> OAuthClient:
        """An app registered in the vendor's developer portal."""
        return self.oauth.add_client(OAuthClient(client_id, client_secret, redirect_uris))

    @property
    def access_tokens(self) -> dict[str, AccessToken]:
        return self.oauth.access_tokens

    @property
    def refresh_tokens(self) -> dict[str, RefreshToken]:
        return self.oauth.refresh_tokens


def token_refusal(checker: ContractChecker, req: Request) -> tuple[str, str]:
    """RFC 6749 5.2's error for a token request the spec refuses (`unsupported_grant_type` or
    `invalid_request`) and the parameter it lacks ("" when none is missing), from the schema of
    the grant the form names: openapi-core reads no field of a form that fits no `oneOf`."""
    grant = req.form.get("grant_type")
    operation = checker.operation(req)
    if not grant or operation is None:
        return "invalid_request", "grant_type"
    form = operation / "requestBody" / "content" / "application/x-www-form-urlencoded"
    for branch in form / "schema" / "oneOf":
        if grant in (branch / "properties" / "grant_type" / "enum").read_value():
            required = (branch / "required").read_value()
            return "invalid_request", next((n for n in required if not req.form.get(n)), "")
    return "unsupported_grant_type", ""


def client_credentials(req: Request) -> tuple[str, str]:
    """client_secret_basic, else client_secret_post."""
    if req.authorization and req.authorization.type == "basic":
        return req.authorization.username or "", req.authorization.password or ""
    return req.form.get("client_id", ""), req.form.get("client_secret", "")


def pkce_matches(code: AuthorizationCode, verifier: str) -> bool:
    """RFC 7636: S256 hashes the verifier, `plain` compares it as it is."""
    if code.code_challenge_method == "S256":
        digest = hashlib.sha256(verifier.encode()).digest()
        verifier = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return hmac.compare_digest(verifier, code.code_challenge or "")


def html_page(title: str, body: str, status: int = 200) -> Response:
    """A page of the authorization server (consent, refusal) in the user's browser."""
    document = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"</head><body style='font:14px system-ui;margin:2rem'>{body}</body></html>"
    )
    return Response(document, status=status, mimetype="text/html")


def with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(filter(None, (parts.query, urlencode(params))))
    return urlunsplit(parts._replace(query=query))


def consent_form(
    *,
    action: str,
    params: dict[str, str],
    choice: str,
    options: list[tuple[Any, str]],
    skip: tuple[str, ...] = (),
) -> str:
    """The sandbox user's consent: pick the account, approve or deny. The request's
    parameters travel along as hidden fields."""
    hidden = "".join(
        f"<input type='hidden' name='{html.escape(k)}' value='{html.escape(v)}'>"
        for k, v in params.items()
        if k not in skip
    )
    choices = "".join(
        f"<option value='{html.escape(str(value))}'>{html.escape(label)}</option>"
        for value, label in options
    )
    scopes = "".join(f"<li>{html.escape(s)}</li>" for s in params.get("scope", "").split())
    return (
        f"<ul>{scopes}</ul><form method='post' action='{action}'>{hidden}"
        f"<label>{choice.replace('_id', '').title()} <select name='{choice}'>{choices}</select>"
        "</label> <button name='decision' value='approve'>Approve</button> "
        "<button name='decision' value='deny'>Deny</button></form>"
    )
