"""HubSpot's authorization server on the shared one (`sandbox.oauth_server`): what is HubSpot's
own is its words and error body, its token answer, a refresh token that does not rotate,
oauth-v1's token information and refresh-token deletion, and the check of the bearer token
every API call carries."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterable
from typing import Any

from flask import Flask, Request, Response, g

from sandbox.core import VendorSandbox
from sandbox.hubspot import pages
from sandbox.hubspot.catalog import iso
from sandbox.oauth_server import RFC_6749, AuthorizationServer, Grant, OAuthVendor, bearer_token

AUTH_NOT_FOUND = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and "
    "you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)


class HubSpotAuthorization(AuthorizationServer):
    # The consent screen is app.hubspot.com's (the specs' securitySchemes authorizationUrl, fact
    # sheet). HubSpot's OAuth docs build its URL without response_type and with PKCE's S256.
    authorize_path = "/oauth/authorize"
    token_path = "/oauth/v1/token"  # noqa: S105 - a path
    account_field = "portal_id"
    requires_response_type = False
    pkce_methods = ("S256",)
    # Every code gives a refresh token, and a refresh gives the same one back until it is
    # deleted (oauth-v1's refresh-tokens endpoint); nothing asks for `offline_access`.
    refresh_always = True
    rotating = False
    prefixes = ("", "CJ", "")  # HubSpot's access tokens start with "CJ"
    # oauth-v1's token endpoint answers with its own `status` codes (BAD_AUTH_CODE, ...) and
    # words; the product reads BAD_REFRESH_TOKEN (connectors/hubspot/provider.py).
    refusals = RFC_6749 | {
        "unknown_client": (400, "", "Unknown client_id."),
        "unknown_redirect_uri":
            (400, "", "The redirect_uri does not match the app's redirect URLs."),
        "grant_type": (400, "BAD_GRANT_TYPE", "missing or unsupported grant_type"),
        "client_id": (400, "BAD_CLIENT_ID", "missing or unknown client id"),
        "client_secret": (400, "BAD_CLIENT_SECRET", "missing or invalid client secret"),
        "code": (400, "BAD_AUTH_CODE", "missing or unknown auth code"),
        "redirect_uri":
            (400, "BAD_REDIRECT_URI", "redirect URI does not match initial auth code URL"),
        "code_verifier": (400, "BAD_AUTH_CODE", "code_verifier does not match"),
        "refresh_token": (400, "BAD_REFRESH_TOKEN", "missing or unknown refresh token"),
        "not_found": (404, "NOT_FOUND", "Token not found"),
    }  # fmt: skip
    sandbox: OAuthApp

    def accounts(self) -> list[tuple[Any, str]]:
        return list(self.sandbox.portals.items())

    def account(self, chosen: str) -> tuple[Any, int | None] | None:
        portal = int(chosen) if chosen.isdigit() else 0
        return (portal, self.sandbox.user_id) if portal in self.sandbox.portals else None

    def consent_page(self, params: dict[str, str]) -> Response:
        return pages.page(
            "consent", "Choose an account", app_name=self.sandbox.app_name,
            portals=self.sandbox.portals, params=params, scopes=params.get("scope", "").split(),
        )  # fmt: skip

    def error_page(self, message: str) -> Response:
        return pages.page("error", "Authorization error", 400, message=message)

    def token_error(self, status: int, error: str, description: str) -> Response:
        # `category` because the spec's Error schema requires it.
        category = "VALIDATION_ERROR" if status == 400 else "OBJECT_NOT_FOUND"
        body = {"status": error, "message": description, "correlationId": str(uuid.uuid4())}
        return self.sandbox.json({**body, "category": category}, status)

    def token_body(self, access: str, refresh: str | None) -> dict[str, Any]:
        grant = self.access_tokens[access]
        return {
            "token_type": "bearer", "refresh_token": refresh, "access_token": access,
            "expires_in": int(self.access_token_lifetime), "token_use": "access_token",
            "hub_id": grant.account, "user_id": grant.user_id, "scopes": list(grant.scopes),
        }  # fmt: skip

    def register(self, app: Flask) -> None:
        super().register(app)
        app.add_url_rule("/oauth/v1/access-tokens/<token>", "oauth_access_token", self.info)
        app.add_url_rule(
            "/oauth/v1/refresh-tokens/<token>", "oauth_revoke", self.delete, methods=["DELETE"]
        )

    def info(self, token: str) -> Response:
        access = self.access(token)
        if access is None:
            return self.refuse("not_found")
        name = self.sandbox.portals[access.account]
        return self.sandbox.json({
            "token": token, "user": self.sandbox.user,
            "hub_domain": re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") + ".example",
            "scopes": list(access.scopes), "hub_id": access.account, "app_id": self.sandbox.app_id,
            "expires_in": int((access.expires_at or 0) - time.time()), "user_id": access.user_id,
            "token_type": "access",
        })  # fmt: skip

    def delete(self, token: str) -> Response:
        with self.lock:
            if self.refresh_tokens.pop(token, None) is None:
                return self.refuse("not_found")
        return Response(status=204)


class OAuthApp(OAuthVendor, VendorSandbox):
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

    def __init__(self, **options: Any) -> None:
        lifetime = self.access_token_lifetime
        self.oauth = HubSpotAuthorization(self, access_token_lifetime=lifetime, code_lifetime=600)
        super().__init__(**options)

    def reset(self) -> None:
        super().reset()
        self.oauth.clear()
        self.add_oauth_client(
            client_id=self.client_id,
            client_secret=self.client_secret,
            redirect_uris=tuple(self.redirect_uris),  # none: any redirect URI is accepted
        )

    def issue_token(
        self, portal_id: int, *, scopes: Iterable[str] = (), expires_in: float | None = None
    ) -> str:
        """An OAuth access token for the portal, as if the code flow had run."""
        grant = Grant(portal_id, " ".join(scopes), client_id=self.client_id, user_id=self.user_id)
        return self.oauth.issue(grant, refresh=False, lifetime=expires_in)[0]

    def credential_of(self, req: Request) -> str | None:
        """The bearer token when it is known and alive; else None, with the reason HubSpot
        gives kept for `error_response`."""
        token = bearer_token(req)
        with self.oauth.lock:
            access = self.access_tokens.get(token)
        if access is None:
            g.auth_problem = ("INVALID_AUTHENTICATION", AUTH_NOT_FOUND, {})
            return None
        if not access.current():
            expired = access.expires_at or 0.0
            g.auth_problem = (
                "EXPIRED_AUTHENTICATION",
                f"The OAuth token used to make this call expired {int(time.time() - expired)} "
                "second(s) ago.",
                {"context": {"expire time": [iso(expired)]}},
            )
            return None
        g.portal_id = access.account
        return token
