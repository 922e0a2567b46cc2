"""The periodic round that subscribes new connections to their vendor's document events:
a connection is subscribed once, however rounds and the connect task overlap."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from apiup.locks import named_lock
from connectors.models import Connection
from sandbox.core import running
from sandbox.lexoffice.app import LexofficeSandbox
from sync import tasks
from sync.services import feeds
from tests.factories import ConnectionFactory

API_KEY = "lx-feed-rounds"


@pytest.fixture
def lexoffice(settings: Any) -> Iterator[LexofficeSandbox]:
    sandbox = LexofficeSandbox(api_keys={API_KEY: "Runden GmbH"})
    with running(sandbox) as handle:
        settings.VENDOR_API_URLS = {**settings.VENDOR_API_URLS, "lexoffice": handle.url}
        yield sandbox


def _subscription_calls(sandbox: LexofficeSandbox) -> list[tuple[str, int]]:
    return [
        (call.method, call.status)
        for call in sandbox.api_calls(path_prefix="/v1/event-subscriptions")
    ]


@pytest.mark.django_db
def test_a_round_while_the_one_before_is_at_work_subscribes_nothing(
    lexoffice: LexofficeSandbox,
) -> None:
    ConnectionFactory(system="lexoffice", credentials={"api_key": API_KEY})

    with named_lock("document-feeds-round"):  # the round before, still subscribing
        skipped = feeds.feeds_maintain(enqueue=tasks.enqueue_vendor_events)
    assert skipped["subscribed"] == 0
    assert _subscription_calls(lexoffice) == []

    assert feeds.feeds_maintain(enqueue=tasks.enqueue_vendor_events)["subscribed"] == 1
    assert _subscription_calls(lexoffice) == [("POST", 201)] * 3


@pytest.mark.django_db
def test_a_connection_subscribed_since_it_was_read_is_not_subscribed_again(
    lexoffice: LexofficeSandbox,
) -> None:
    created = ConnectionFactory(system="lexoffice", credentials={"api_key": API_KEY})
    read_before = Connection.objects.get(pk=created.pk)  # as a round loaded it
    assert feeds.events_subscribe(connection=Connection.objects.get(pk=created.pk))

    assert feeds.events_subscribe(connection=read_before)
    # Without the second read: three creates answered 409 and a listing.
    assert _subscription_calls(lexoffice) == [("POST", 201)] * 3
    assert feeds.subscription_of(read_before) == feeds.subscription_of(
        Connection.objects.get(pk=created.pk)
    )
