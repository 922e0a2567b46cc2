"""How a call proves who it is for: one authenticator per connection, chosen from the
provider's declaration and the credential the connection holds.

`HttpClient` asks its authenticator for headers on every call, and when the vendor refuses the
credential it asks whether a refresh may help (an OAuth token can be refreshed once; an API
key cannot) before sending the call again or giving up. Giving up marks the connection for the
customer to reconnect, which the dashboard and the notices show.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from connectors import errors
from connectors.credentials import TokenSet, access_token, mark_needs_reconnect
from connectors.models import Connection
from connectors.providers import ApiKey, Provider


class Authenticator(Protocol):
    def ensure(self) -> None:
        """Raises ReconnectRequired before any call when no usable credential is stored."""

    def headers(self) -> Mapping[str, str]: ...

    def refresh_after(self, refusal: errors.AuthorizationExpired) -> bool:
        """Renews the credential after the vendor refused it; True when the call may be sent
        once more."""

    def refused(self, refusal: errors.AuthorizationExpired) -> errors.ConnectorError:
        """The error to raise when the credential stays refused."""


class NoAuth:
    """Calls that carry no credential (token endpoints, public documents)."""

    def ensure(self) -> None:
        return None

    def headers(self) -> Mapping[str, str]:
        return {}

    def refresh_after(self, refusal: errors.AuthorizationExpired) -> bool:
        return False

    def refused(self, refusal: errors.AuthorizationExpired) -> errors.ConnectorError:
        return refusal


def _reconnect(connection: Connection, error: errors.ReconnectRequired) -> errors.ReconnectRequired:
    mark_needs_reconnect(connection)
    return error


class ApiKeyAuth:
    """A key the customer pasted. It does not expire and cannot be refreshed: a refusal means
    it was deleted, renewed or lacks a scope, and only a new key helps."""

    def __init__(self, *, connection: Connection, scheme: ApiKey, vendor: str) -> None:
        self.connection = connection
        self.scheme = scheme
        self.vendor = vendor

    def _values(self) -> dict[str, str]:
        stored = self.connection.credentials or {}
        return {name: str(stored.get(name) or "").strip() for name in self.scheme.field_names}

    @property
    def _what(self) -> str:
        """The credential in the customer's words ("API key", "API token")."""
        secret = [f for f in self.scheme.fields if f.secret] or list(self.scheme.fields)
        return str(secret[0].label) if secret else "API key"

    def ensure(self) -> None:
        if not all(self._values().values()):
            raise _reconnect(
                self.connection,
                errors.ReconnectRequired(f"No {self.vendor} {self._what} is stored."),
            )

    def headers(self) -> Mapping[str, str]:
        return {self.scheme.header: self.scheme.template.format(**self._values())}

    def refresh_after(self, refusal: errors.AuthorizationExpired) -> bool:
        return False

    def refused(self, refusal: errors.AuthorizationExpired) -> errors.ConnectorError:
        return _reconnect(
            self.connection,
            errors.ReconnectRequired(
                f"{self.vendor} refused the {self._what}; a new one must be entered.",
                vendor_message=refusal.vendor_message,
                status=refusal.status,
            ),
        )


Refresher = Callable[[str], TokenSet]


class OAuth2Auth:
    """An access token from the OAuth 2.0 consent, refreshed before it expires (once, under the
    connection's row lock: `connectors.credentials`), and once more when the vendor refuses a
    token we thought valid (revoked, clock skew)."""

    def __init__(self, *, connection: Connection, vendor: str, refresh: Refresher) -> None:
        self.connection = connection
        self.vendor = vendor
        self.refresh = refresh
        self._token: str | None = None

    def ensure(self) -> None:
        stored = self.connection.credentials or {}
        # A blank token is none (a form that saved spaces).
        if not any(str(stored.get(k) or "").strip() for k in ("access_token", "refresh_token")):
            raise _reconnect(
                self.connection, errors.ReconnectRequired(f"{self.vendor} is not connected.")
            )

    def headers(self) -> Mapping[str, str]:
        # Asked before every call: a connector that lives longer than its token refreshes it
        # before the vendor refuses it (Qonto throttles a client after 200 refusals).
        self._token = access_token(self.connection, refresh=self.refresh)
        return {"Authorization": f"Bearer {self._token}"}

    def refresh_after(self, refusal: errors.AuthorizationExpired) -> bool:
        if isinstance(refusal, errors.ReconnectRequired) or refusal.status != 401:
            return False
        access_token(self.connection, refresh=self.refresh, rejected_token=self._token)
        return True

    def refused(self, refusal: errors.AuthorizationExpired) -> errors.ConnectorError:
        if isinstance(refusal, errors.ReconnectRequired):
            # A scope or a right is missing: only a new consent helps.
            return _reconnect(self.connection, refusal)
        return refusal


def uses_oauth(connection: Connection) -> bool:
    """Tokens from a consent carry an expiry (`store_tokens`); a pasted key or personal access
    token does not, even where it is stored under the name `access_token` (bexio)."""
    stored = connection.credentials or {}
    return bool(stored.get("refresh_token") or stored.get("expires_at"))


def authenticator_for(
    provider: Provider, connection: Connection, *, refresh: Refresher
) -> Authenticator:
    """The connection's way in, by what it holds: tokens from a consent, or a pasted key."""
    if provider.oauth is not None and (uses_oauth(connection) or provider.api_key is None):
        return OAuth2Auth(connection=connection, vendor=provider.label, refresh=refresh)
    if provider.api_key is not None:
        return ApiKeyAuth(connection=connection, scheme=provider.api_key, vendor=provider.label)
    return NoAuth()
