"""The sandboxes' one OAuth 2.0 authorization server (RFC 6749, RFC 7636 PKCE, RFC 7009):
the consent page, single-use codes bound to client and redirect URI, the code exchange,
refresh (rotating, with an optional grace period, or kept), revocation and the refusals. A
vendor subclasses `AuthorizationServer` and declares what is its own: paths, scopes,
lifetimes, its token body and its words for each refusal."""

from __future__ import annotations

import hmac
import html
import secrets
import threading
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlencode, urlsplit, urlunsplit

from flask import Flask, Request, Response, request
from oauthlib.oauth2.rfc6749.grant_types import authorization_code as code_grant

from sandbox.contract import SpecProblem

if TYPE_CHECKING:
    from sandbox.core import VendorSandbox

# The consent page (GET, and POST for the decision) is a browser page no API spec describes.
CONSENT_ENDPOINTS = frozenset({"oauth_authorize"})
OAUTH_ENDPOINTS = CONSENT_ENDPOINTS | {"oauth_token", "oauth_revoke"}
# Each refusal: (HTTP status, error code, description; "{}" takes the detail). 302 goes back to
# the client (RFC 6749 4.1.2.1); a 400 without a code is a page, as a bad client or redirect
# URI is never redirected to; the rest are the token endpoint's (5.2) or RFC 7009's.
Refusals = dict[str, tuple[int, str, str]]
RFC_6749: Refusals = {
    "unknown_client": (400, "", "The client_id is not known."),
    "unknown_redirect_uri": (400, "", "The redirect_uri is not registered."),
    "no_account": (400, "", "Choose an account."),
    "response_type": (302, "invalid_request", "Missing parameter: response_type"),
    "unsupported_response_type": (302, "unsupported_response_type", ""),
    "scope": (302, "invalid_scope", "Unknown scope {}"),
    "code_challenge_method": (302, "invalid_request", "Unsupported code_challenge_method"),
    "denied": (302, "access_denied", ""),
    "grant_type": (400, "unsupported_grant_type", "Unsupported grant_type"),
    "missing": (400, "invalid_request", "Missing parameter: {}"),
    "client_id": (401, "invalid_client", "Client authentication failed"),
    "code": (400, "invalid_grant", "Invalid authorization code"),
    "redirect_uri": (400, "invalid_grant", "The redirect_uri does not match"),
    "code_verifier": (400, "invalid_grant", "The code_verifier does not match"),
    "refresh_token": (400, "invalid_grant", "Invalid refresh token"),
    "token": (400, "invalid_request", "Missing parameter: token"),
    "foreign_token": (400, "unauthorized_client", "The token belongs to another client"),
}
# A finer reason a vendor does not word apart is refused as the coarser one.
COARSER = {"client_secret": "client_id", "foreign_refresh": "refresh_token"}
# RFC 7636 4.6: S256 hashes the verifier, `plain` compares it as it is.
PKCE_CHECKS = {
    "plain": code_grant.code_challenge_method_plain,
    "S256": code_grant.code_challenge_method_s256,
}


@dataclass
class OAuthClient:
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...] = ()  # empty: any (the demo's URL is not known ahead)

    def accepts(self, redirect_uri: str) -> bool:
        return bool(redirect_uri) and (not self.redirect_uris or redirect_uri in self.redirect_uris)


@dataclass
class Grant:
    """What a code, an access token or a refresh token stands for."""

    account: Any  # the vendor account consented for (portal, company, organization)
    scope: str  # empty for a personal access token
    expires_at: float | None = None  # None: until revoked (a personal or offline token)
    client_id: str | None = None  # None: not handed out to an OAuth client
    user_id: int | None = None
    session: str = ""  # one consent's tokens; revoking its refresh token ends them all
    used_at: float | None = None  # a refresh token's first use (its grace period runs from it)
    redirect_uri: str = ""  # a code's, with its PKCE challenge; tokens keep the nonce
    nonce: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None

    @property
    def scopes(self) -> tuple[str, ...]:
        return tuple(self.scope.split())

    def current(self, *, grace_period: float = 0.0) -> bool:
        now = time.time()
        if self.expires_at is not None and now >= self.expires_at:
            return False
        return self.used_at is None or now < self.used_at + grace_period


AccessToken = Grant
RefreshToken = Grant


@dataclass(eq=False)
class AuthorizationServer:
    """One vendor's clients, codes and tokens (safe across request threads) and its flow."""

    sandbox: VendorSandbox
    access_token_lifetime: float
    code_lifetime: float
    refresh_token_lifetime: float | None = None  # None: refresh tokens do not expire
    refresh_grace_period: float = 0.0  # how long a spent refresh token still works

    authorize_path = "/oauth/authorize"
    token_path = "/oauth/token"  # noqa: S105 - a path
    revoke_path = ""  # RFC 7009's endpoint, where the vendor has one
    account_field = "account_id"  # the consent form's choice of account
    scopes_supported: ClassVar[frozenset[str]] = frozenset()  # empty: any scope
    requires_response_type = True  # RFC 6749 4.1.1; else a missing one means `code`
    # RFC 7636 methods taken; none: a challenge is ignored
    pkce_methods: ClassVar[tuple[str, ...]] = ()
    basic_auth = False  # client_secret_basic beside client_secret_post
    refresh_always = False  # a refresh token without the `offline_access` scope too
    rotating = True  # a refresh spends the refresh token and hands out a new one
    code_spent_by_failure = True  # a failed exchange spends the code as well
    token_type = "bearer"  # noqa: S105 - a token kind
    prefixes = ("", "", "")  # code, access token, refresh token
    refusals: ClassVar[Refusals] = RFC_6749

    def __post_init__(self) -> None:
        self.lock = threading.RLock()
        self.clear()

    def clear(self) -> None:
        with self.lock:
            self.clients: dict[str, OAuthClient] = {}
            self.codes: dict[str, Grant] = {}
            self.access_tokens: dict[str, Grant] = {}
            self.refresh_tokens: dict[str, Grant] = {}

    # -- what a vendor declares beyond the attributes ----------------------------------------

    def accounts(self) -> list[tuple[Any, str]]:
        """The accounts the sandbox user may consent for: (id, name)."""
        raise NotImplementedError

    def account(self, chosen: str) -> tuple[Any, int | None] | None:
        """The chosen account and the user who consents; None when there is no such account."""
        raise NotImplementedError

    def redirect_extras(self) -> dict[str, str]:
        """What the vendor adds to every redirect back to the client."""
        return {}

    def token_body(self, access: str, refresh: str | None) -> dict[str, Any]:
        """RFC 6749 5.1's answer."""
        body = {"access_token": access, "token_type": self.token_type,
                "expires_in": int(self.access_token_lifetime)}  # fmt: skip
        if refresh:
            body["refresh_token"] = refresh
        return {**body, "scope": self.access_tokens[access].scope}

    def token_error(self, status: int, error: str, description: str) -> Response:
        """RFC 6749 5.2's body."""
        return self.sandbox.json({"error": error, "error_description": description}, status)

    def error_page(self, message: str) -> Response:
        title = f"{self.sandbox.title} sandbox: authorization error"
        return html_page(title, f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p>", 400)

    def consent_page(self, params: dict[str, str]) -> Response:
        """The sandbox user's consent: pick the account, approve or deny."""
        title = f"{self.sandbox.title} sandbox: authorize {params.get('client_id', '')}"
        hidden = "".join(
            f"<input type='hidden' name='{html.escape(k)}' value='{html.escape(v)}'>"
            for k, v in params.items()
            if k not in ("decision", self.account_field)
        )
        choices = "".join(
            f"<option value='{html.escape(str(value))}'>{html.escape(label)}</option>"
            for value, label in self.accounts()
        )
        scopes = "".join(f"<li>{html.escape(s)}</li>" for s in params.get("scope", "").split())
        return html_page(title, (
            f"<h1>{html.escape(title)}</h1><p>The application asks for:</p><ul>{scopes}</ul>"
            f"<form method='post' action='{self.authorize_path}'>{hidden}<label>Account "
            f"<select name='{self.account_field}'>{choices}</select></label> "
            "<button name='decision' value='approve'>Approve</button> "
            "<button name='decision' value='deny'>Deny</button></form>"
        ))  # fmt: skip

    # -- the flow ----------------------------------------------------------------------------

    def register(self, app: Flask) -> None:
        methods = ["GET", "POST"]
        app.add_url_rule(self.authorize_path, "oauth_authorize", self.authorize, methods=methods)
        app.add_url_rule(self.token_path, "oauth_token", self.token, methods=["POST"])
        if self.revoke_path:
            app.add_url_rule(self.revoke_path, "oauth_revoke", self.revoke, methods=["POST"])

    def authorize(self) -> Response:
        """The consent page; posted back, the user's decision goes to the client."""
        params = request.values.to_dict()
        refused = self._refused(params)
        if refused is not None or request.method == "GET":
            return refused or self.consent_page(params)
        if params.get("decision") != "approve":
            return self._back(params, *self.refusals["denied"][1:])
        chosen = self.account(params.get(self.account_field, ""))
        if chosen is None:
            return self.error_page(self.refusals["no_account"][2])
        challenge = params.get("code_challenge") if self.pkce_methods else None
        method = params.get("code_challenge_method", "plain") if challenge else None
        code = self.prefixes[0] + secrets.token_urlsafe(32)
        with self.lock:
            self.codes[code] = Grant(
                chosen[0], " ".join(params.get("scope", "").split()),
                time.time() + self.code_lifetime, params["client_id"], chosen[1],
                secrets.token_hex(16), redirect_uri=params["redirect_uri"],
                nonce=params.get("nonce"), code_challenge=challenge, code_challenge_method=method,
            )  # fmt: skip
        return self._back(params, code=code)

    def _refused(self, params: dict[str, str]) -> Response | None:
        """The refusal of an authorization request (RFC 6749 4.1.2.1), else None."""
        client = self.clients.get(params.get("client_id", ""))
        if client is None or not client.accepts(params.get("redirect_uri", "")):
            reason = "unknown_client" if client is None else "unknown_redirect_uri"
            return self.error_page(self.refusals[reason][2])
        response_type = params.get("response_type", "" if self.requires_response_type else "code")
        scopes = params.get("scope", "").split()
        unknown = [s for s in scopes if self.scopes_supported and s not in self.scopes_supported]
        challenged = bool(self.pkce_methods and params.get("code_challenge"))
        problems = {
            "response_type": not response_type,
            "unsupported_response_type": response_type != "code",
            "scope": bool(unknown),
            "code_challenge_method": challenged
            and params.get("code_challenge_method", "plain") not in self.pkce_methods,
        }
        problem = next((name for name, failed in problems.items() if failed), None)
        if problem is None:
            return None
        _, error, description = self.refusals[problem]
        return self._back(params, error, description.format(" ".join(unknown)))

    def _back(
        self, params: dict[str, str], error: str = "", description: str = "", **answer: str
    ) -> Response:
        """Sends the browser back to the client with the answer and the client's `state`."""
        extras = {"error": error, "error_description": description, "state": params.get("state")}
        answer |= {key: value for key, value in extras.items() if value}
        location = with_query(params["redirect_uri"], answer | self.redirect_extras())
        return Response(status=302, headers={"Location": location})

    def refuse(self, reason: str, detail: str = "") -> Response:
        status, error, description = self.refusals.get(reason) or self.refusals[COARSER[reason]]
        return self.token_error(status, error, description.format(detail))

    def spec_refusal(self, problems: list[SpecProblem]) -> Response:
        """A token request its spec refuses (core's check of the public endpoints): the grant
        type, else the parameter the grant's `oneOf` branch requires (openapi-core reads no
        field of a form that fits no branch), else the first problem."""
        grant, form = request.form.get("grant_type"), request.form
        operation = self.sandbox.spec.operation(request)
        if not grant or operation is None:
            return self.refuse("missing", "grant_type")
        body = operation / "requestBody" / "content" / "application/x-www-form-urlencoded"
        for branch in body / "schema" / "oneOf":
            if grant in (branch / "properties" / "grant_type" / "enum").read_value():
                missing = [
                    name for name in (branch / "required").read_value() if not form.get(name)
                ]
                if missing:
                    return self.refuse("missing", missing[0])
                return self.token_error(400, "invalid_request", str(problems[0]))
        return self.refuse("grant_type")

    def token(self) -> Response:
        form = request.form
        if form.get("grant_type") not in ("authorization_code", "refresh_token"):
            return self.refuse("grant_type")
        client = self._client(request)
        if isinstance(client, str):
            return self.refuse(client)
        if form["grant_type"] == "authorization_code":
            issued = self._exchange(client, form.get("code", ""))
        else:
            issued = self._refresh(client, form.get("refresh_token", ""))
        return self.refuse(issued) if isinstance(issued, str) else self.sandbox.json(issued)

    def _client(self, req: Request) -> OAuthClient | str:
        """The authenticated client, else the reason it is refused."""
        client_id, secret = req.form.get("client_id", ""), req.form.get("client_secret", "")
        if self.basic_auth and req.authorization and req.authorization.type == "basic":
            client_id, secret = req.authorization.username or "", req.authorization.password or ""
        client = self.clients.get(client_id)
        if client is None:
            return "client_id"
        return client if hmac.compare_digest(client.client_secret, secret) else "client_secret"

    def _exchange(self, client: OAuthClient, value: str) -> dict[str, Any] | str:
        with self.lock:
            code = (self.codes.pop if self.code_spent_by_failure else self.codes.get)(value, None)
        if code is None or code.client_id != client.client_id or not code.current():
            return "code"
        if request.form.get("redirect_uri") != code.redirect_uri:
            return "redirect_uri"
        check = PKCE_CHECKS[code.code_challenge_method or "plain"]
        verifier = request.form.get("code_verifier", "")
        if code.code_challenge and not check(verifier, code.code_challenge):
            return "code_verifier"
        with self.lock:
            self.codes.pop(value, None)
        return self.token_body(*self.issue(code))

    def _refresh(self, client: OAuthClient, value: str) -> dict[str, Any] | str:
        with self.lock:
            grant = self.refresh_tokens.get(value)
            if grant is not None and grant.client_id != client.client_id:
                return "foreign_refresh"
            if grant is None or not grant.current(grace_period=self.refresh_grace_period):
                return "refresh_token"
            if not self.rotating:  # the same refresh token comes back
                return self.token_body(self.issue(grant, refresh=False)[0], value)
            if not self.refresh_grace_period:
                del self.refresh_tokens[value]
            elif grant.used_at is None:
                grant.used_at = time.time()
        return self.token_body(*self.issue(grant))

    def revoke(self) -> Response:
        """RFC 7009: ends the token; a refresh token also ends the access tokens of its session.
        An unknown token counts as revoked (2.2); another client's is refused."""
        client, token = self._client(request), request.form.get("token", "")
        if isinstance(client, str) or not token:
            return self.refuse(client if isinstance(client, str) else "token")
        with self.lock:
            grant = self.refresh_tokens.get(token) or self.access_tokens.get(token)
            if grant is not None and grant.client_id != client.client_id:
                return self.refuse("foreign_token")
            self.access_tokens.pop(token, None)
            refresh = self.refresh_tokens.pop(token, None)
            if refresh is not None:  # its session's access tokens end with it
                ended = (client.client_id, refresh.session)
                self.access_tokens = {
                    k: v for k, v in self.access_tokens.items() if (v.client_id, v.session) != ended
                }
        return Response(status=200)

    # -- bookkeeping -------------------------------------------------------------------------

    def issue(
        self, grant: Grant, *, refresh: bool = True, lifetime: float | None = None
    ) -> tuple[str, str | None]:
        """A new access token for the grant, and a refresh token where the scope asks for
        `offline_access` (or the vendor always gives one)."""
        now, access = time.time(), self.prefixes[1] + secrets.token_urlsafe(32)
        lifetime = self.access_token_lifetime if lifetime is None else lifetime
        with self.lock:
            self.access_tokens[access] = replace(grant, expires_at=now + lifetime, used_at=None)
            if not refresh or not (self.refresh_always or "offline_access" in grant.scopes):
                return access, None
            value = self.prefixes[2] + secrets.token_urlsafe(48)
            until = self.refresh_token_lifetime and now + self.refresh_token_lifetime
            self.refresh_tokens[value] = replace(grant, expires_at=until or None, used_at=None)
        return access, value

    def add_personal_token(self, token: str, account: Any, *, user_id: int | None = None) -> None:
        with self.lock:
            self.access_tokens[token] = Grant(account, "", user_id=user_id)

    def access(self, token: str) -> Grant | None:
        """The grant of a current access token, else None."""
        with self.lock:
            grant = self.access_tokens.get(token)
        return grant if grant is not None and grant.current() else None

    def inspect(self) -> dict[str, list[dict[str, Any]]]:
        """The tokens (enough of each to tell it apart, never the token) and the clients."""
        with self.lock:
            kinds = {"access": self.access_tokens, "refresh": self.refresh_tokens}
            tokens = [
                {"token": f"{value[:6]}…", "kind": kind, "account": grant.account,
                 "client_id": grant.client_id, "scope": grant.scope,
                 "expires_at": _when(grant.expires_at)}
                for kind, grants in kinds.items() for value, grant in grants.items()
            ]  # fmt: skip
            clients = [{"client_id": c.client_id, "redirect_uris": list(c.redirect_uris)}
                       for c in self.clients.values()]  # fmt: skip
        return {"tokens": tokens, "oauth clients": clients}


def _when(moment: float | None) -> str | None:
    return None if moment is None else time.strftime("%F %T", time.gmtime(moment))


class OAuthVendor:
    """What a stand-in with an authorization server (`self.oauth`) offers tests and the demo."""

    oauth: AuthorizationServer

    def add_oauth_client(
        self, *, client_id: str, client_secret: str, redirect_uris: tuple[str, ...] = ()
    ) -> OAuthClient:
        """An app registered in the vendor's developer portal."""
        client = OAuthClient(client_id, client_secret, tuple(redirect_uris))
        with self.oauth.lock:
            self.oauth.clients[client_id] = client
        return client

    @property
    def codes(self) -> dict[str, Grant]:
        return self.oauth.codes

    @property
    def access_tokens(self) -> dict[str, Grant]:
        return self.oauth.access_tokens

    @property
    def refresh_tokens(self) -> dict[str, Grant]:
        return self.oauth.refresh_tokens


def bearer_token(req: Request) -> str:
    """The token of the request's `Authorization: Bearer` header, else ""."""
    scheme, _, token = req.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


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
