"""Token refresh: once per expiry under concurrency; a refused refresh asks for reconnecting."""

import threading
import time

import pytest
from django.db import close_old_connections, connection

from connectors import errors
from connectors.credentials import TokenSet, access_token
from connectors.models import Connection
from tests.factories import ConnectionFactory


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_callers_refresh_an_expired_token_once() -> None:
    stored = ConnectionFactory(
        system="hubspot",
        credentials={"access_token": "old", "refresh_token": "r1", "expires_at": time.time() - 5},
    )
    refreshes: list[str] = []

    def refresh(refresh_token: str) -> TokenSet:
        refreshes.append(refresh_token)
        time.sleep(0.2)  # a slow vendor makes the race likely
        return TokenSet(access_token="new", refresh_token="r2", expires_in=1800)

    seen: list[str] = []
    failures: list[BaseException] = []

    def caller() -> None:
        try:
            seen.append(access_token(Connection.objects.get(pk=stored.pk), refresh=refresh))
        except BaseException as exc:
            failures.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=caller) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert refreshes == ["r1"]
    assert seen == ["new"] * 20
    # The rotated refresh token was stored with the new access token.
    assert Connection.objects.get(pk=stored.pk).credentials["refresh_token"] == "r2"


@pytest.mark.django_db
def test_a_rejected_token_is_refreshed_although_not_yet_expired() -> None:
    stored = ConnectionFactory(
        credentials={"access_token": "a1", "refresh_token": "r1", "expires_at": time.time() + 999}
    )
    token = access_token(
        stored,
        refresh=lambda _: TokenSet("a2", "r1", 1800),
        rejected_token="a1",
    )
    assert token == "a2"


@pytest.mark.django_db
def test_a_refused_refresh_marks_the_connection_for_reconnecting() -> None:
    stored = ConnectionFactory(
        credentials={"access_token": "a1", "refresh_token": "r1", "expires_at": time.time() - 1}
    )

    def refused(_: str) -> TokenSet:
        raise errors.ReconnectRequired("invalid_grant")

    with pytest.raises(errors.ReconnectRequired):
        access_token(stored, refresh=refused)
    assert Connection.objects.get(pk=stored.pk).status == Connection.Status.NEEDS_RECONNECT


@pytest.mark.django_db
def test_a_short_lived_token_is_used_until_halfway_then_refreshed_once() -> None:
    stored = ConnectionFactory(
        credentials={"access_token": "a0", "refresh_token": "r1", "expires_at": time.time() - 1}
    )
    refreshes: list[str] = []

    def refresh(refresh_token: str) -> TokenSet:
        refreshes.append(refresh_token)
        return TokenSet(f"a{len(refreshes)}", "r1", expires_in=2)  # shorter than the margin

    tokens = [access_token(stored, refresh=refresh) for _ in range(5)]
    # Refreshed once, then used: the 60-second margin would have refreshed on every call.
    assert tokens == ["a1"] * 5
    time.sleep(1.1)  # past half of its life
    assert access_token(stored, refresh=refresh) == "a2"
    assert refreshes == ["r1", "r1"]
