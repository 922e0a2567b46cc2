"""Qonto's OAuth host, oauth.qonto.com, on the shared authorization server and the sandbox's
port: the consent page at the spec's `authorizationUrl` and its token endpoint. Qonto does not
show its OAuth error body; the spec assumes RFC 6749's, and the words are the sandbox's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.oauth_server import RFC_6749, AuthorizationServer
from sandbox.qonto.state import ALL_SCOPES

if TYPE_CHECKING:
    from sandbox.qonto.app import QontoSandbox

INVALID_REFRESH_TOKEN = (400, "invalid_grant", "The refresh token is invalid or expired")


class QontoAuthorization(AuthorizationServer):
    authorize_path = "/oauth2/auth"
    token_path = "/oauth2/token"  # noqa: S105 - a path
    account_field = "organization_id"
    scopes_supported = frozenset(ALL_SCOPES)
    # A used refresh token stays valid for a grace period (the spec's token operation; the
    # lifetimes are the sandbox's settings). Qonto's tokens carry Ory Hydra's prefixes (the
    # spec's examples); like Hydra, a failed exchange leaves the code usable (unverified).
    prefixes = ("ory_ac_", "ory_at_", "ory_rt_")
    code_spent_by_failure = False
    refusals = RFC_6749 | {
        "denied": (302, "access_denied", "The resource owner denied the request"),
        "no_account": (400, "", "Pick an organization."),
        "grant_type": (400, "unsupported_grant_type", "The grant_type is not supported"),
        "missing": (400, "invalid_request", "The parameter {} is missing"),
        "code": (400, "invalid_grant", "The authorization code is invalid or expired"),
        "refresh_token": INVALID_REFRESH_TOKEN,
        "foreign_refresh": INVALID_REFRESH_TOKEN,
    }
    sandbox: QontoSandbox

    def accounts(self) -> list[tuple[Any, str]]:
        return [
            (organization.id, organization.name)
            for organization in self.sandbox.organizations.values()
        ]

    def account(self, chosen: str) -> tuple[Any, int | None] | None:
        return (chosen, None) if chosen in self.sandbox.organizations else None
