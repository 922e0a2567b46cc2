"""Access tokens that refresh themselves: once per expiry, by one process, under a row lock.

Twenty transfers that find the same expired token wait on the connection's row; the first
refreshes and stores the new (possibly rotated) refresh token in the same transaction, the
others then read the fresh token instead of refreshing again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction

from connectors import errors
from connectors.models import Connection

# Refresh this long before the vendor's expiry, so a token does not run out mid-call; a token
# that lives less than twice as long is refreshed halfway through its life instead (with the
# full margin, it would never count as usable and every call would refresh it).
EXPIRY_MARGIN_SECONDS = 60


@dataclass(frozen=True, slots=True)
class TokenSet:
    access_token: str
    refresh_token: str
    expires_in: float


Refresher = Callable[[str], TokenSet]


def _usable(credentials: dict[str, object], *, rejected_token: str | None) -> bool:
    token = credentials.get("access_token")
    if not token or token == rejected_token:
        return False
    refresh_at = float(credentials.get("refresh_at", 0) or 0)  # type: ignore[arg-type]
    if refresh_at:
        return refresh_at > time.time()
    # Stored before refresh_at was kept: the full margin.
    expires_at = float(credentials.get("expires_at", 0) or 0)  # type: ignore[arg-type]
    return expires_at == 0 or expires_at - EXPIRY_MARGIN_SECONDS > time.time()


def store_tokens(connection: Connection, tokens: TokenSet) -> None:
    now = time.time()
    margin = min(EXPIRY_MARGIN_SECONDS, tokens.expires_in / 2)
    credentials = dict(connection.credentials)
    credentials.update(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token or credentials.get("refresh_token", ""),
        expires_at=now + tokens.expires_in,
        refresh_at=now + tokens.expires_in - margin,
    )
    connection.credentials = credentials


def access_token(
    connection: Connection, *, refresh: Refresher, rejected_token: str | None = None
) -> str:
    """The connection's valid access token, refreshed first when it has expired or when the
    vendor has just rejected `rejected_token`."""
    if _usable(connection.credentials, rejected_token=rejected_token):
        return str(connection.credentials["access_token"])
    refused: errors.ReconnectRequired | None = None
    with transaction.atomic():
        locked = Connection.objects.select_for_update().get(pk=connection.pk)
        if _usable(locked.credentials, rejected_token=rejected_token):
            connection.credentials = locked.credentials
            return str(locked.credentials["access_token"])
        refresh_token = str(locked.credentials.get("refresh_token", ""))
        try:
            if not refresh_token:
                raise errors.ReconnectRequired("No refresh token is stored.")
            tokens = refresh(refresh_token)
        except errors.ReconnectRequired as exc:
            refused = exc
        else:
            store_tokens(locked, tokens)
            locked.status = Connection.Status.CONNECTED
            locked.save(update_fields=["credentials", "status", "updated_at"])
            connection.credentials = locked.credentials
            return tokens.access_token
    # Outside the transaction, so the mark survives the error that follows.
    mark_needs_reconnect(connection)
    raise refused


def mark_needs_reconnect(connection: Connection) -> None:
    """Shows the connection as needing the customer to reconnect it (dashboard, notices)."""
    if not connection._state.adding:  # a saved connection
        Connection.objects.filter(pk=connection.pk).update(status=Connection.Status.NEEDS_RECONNECT)
    connection.status = Connection.Status.NEEDS_RECONNECT
