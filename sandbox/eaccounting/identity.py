"""Visma's identity server, identity.vismaonline.com (an IdentityServer), on the shared
authorization server and the sandbox's port: the consent page at `/connect/authorize` (the
user picks one of their companies), the form-encoded token endpoint `/connect/token` with the
client's secret in the form or as HTTP Basic. Fact sheet "Auth": every refresh returns a new
refresh token and spends the old one. Its error words are RFC 6749's (Visma shows none)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.oauth_server import AuthorizationServer

if TYPE_CHECKING:
    from sandbox.eaccounting.app import EAccountingSandbox

SCOPES = ("ea:api", "offline_access", "ea:sales", "ea:sales_readonly", "ea:accounting",
          "ea:accounting_readonly", "ea:purchase", "ea:purchase_readonly")  # fmt: skip
# What the API takes: without `ea:api` a token opens no endpoint.
API_SCOPE = "ea:api"


class EAccountingIdentity(AuthorizationServer):
    authorize_path = "/connect/authorize"
    token_path = "/connect/token"  # noqa: S105 - a path
    account_field = "company_id"
    scopes_supported = frozenset(SCOPES)
    basic_auth = True
    token_type = "Bearer"  # noqa: S105 - a token kind
    sandbox: EAccountingSandbox

    def accounts(self) -> list[tuple[Any, str]]:
        return [(company, s["Name"]) for company, s in self.sandbox.companies.items()]

    def account(self, chosen: str) -> tuple[Any, int | None] | None:
        return (chosen, None) if chosen in self.sandbox.companies else None
