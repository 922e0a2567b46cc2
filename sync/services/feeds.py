"""Where the accounting systems' changes of documents come from: the vendor's signed events
(lexware office, Qonto), subscribed when a connection is made, or polling on a cursor per
tenant (sevDesk, bexio, and Qonto's quotes). Both end as VendorEvents (vendor_events.py),
stored once and handed to the status of the document's deal (statuses.py)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from apiup.locks import LockTimeout, named_lock
from billing.selectors import may_transfer
from connectors import errors
from connectors.base import AccountingConnector
from connectors.models import Connection
from connectors.registry import accounting_providers, connector_class, provider
from connectors.services import EVENT_SUBSCRIPTION_KEY as _SUBSCRIPTION
from connectors.shapes import DocumentChange, EventSubscription
from sync.models import DocumentFeed, Transfer
from sync.services import documents
from sync.services.vendor_events import EnqueueVendorEvents, vendor_event_store

logger = logging.getLogger(__name__)

# How often a tenant's documents are polled: within five minutes of a change (the issue's
# bound) at about one to three calls a minute, far under every polled vendor's limit.
POLL_INTERVAL = dt.timedelta(seconds=60)
# How often the whole catalogue is read to find the articles deleted in the accounting system
# (no vendor's change feed reports a deletion: lexware office and bexio list what exists,
# sevDesk's list skips archived parts).
CATALOGUE_SWEEP_INTERVAL = dt.timedelta(hours=1)
# A round subscribes new connections one after another at each vendor's pace (lexware office:
# three calls, about 1.5 s a connection), so after many sign-ups it outlasts beat's 30 s;
# the next round is skipped instead of subscribing the same connections again (a 409 and a
# listing for each, taken from the tenants' limits). Held at most this long.
ROUND_LOCK_SECONDS = 600


def callback_url(system: str) -> str:
    return settings.PUBLIC_BASE_URL + reverse("vendor_webhook", args=[system])


def subscription_of(connection: Connection) -> EventSubscription | None:
    stored = (connection.credentials or {}).get(_SUBSCRIPTION)
    if not isinstance(stored, dict):
        return None
    return EventSubscription(
        ids=tuple(stored.get("ids") or ()), secret=str(stored.get("secret") or "")
    )


def _accounting_connections(capability: str) -> Iterator[tuple[Connection, AccountingConnector]]:
    systems = [
        p.key
        for p in accounting_providers()
        if p.capabilities is not None and getattr(p.capabilities, capability)
    ]
    connected = Connection.objects.filter(
        system__in=systems, status=Connection.Status.CONNECTED
    ).select_related("tenant")
    for connection in connected:
        yield connection, connector_class(connection.system)(connection=connection)


def _has_documents(connection: Connection) -> bool:
    return (
        Transfer.objects.for_tenant(connection.tenant)
        .filter(
            system=connection.system,
            kind__in=list(documents.DOCUMENT_KINDS),
            state=Transfer.State.DONE,
        )
        .exists()
    )


def events_subscribe(*, connection: Connection) -> bool:
    """Subscribes the product to the vendor's document events for this connection, once;
    returns whether it is subscribed now. A failure is logged and tried again by the next
    round of `feeds_maintain`."""
    if subscription_of(connection) is None:
        # Read again: the task run when it was connected may have subscribed it since.
        connection.refresh_from_db(fields=["credentials"])
    if subscription_of(connection) is not None:
        return True
    connector = connector_class(connection.system)(connection=connection)
    try:
        subscription = connector.events_subscribe(callback_url(connection.system))
    except errors.ConnectorError as failure:
        logger.warning(
            "%s: subscribing to events failed (%s)", connection.system, type(failure).__name__
        )
        DocumentFeed.objects.for_tenant(connection.tenant).filter(system=connection.system).update(
            error=str(failure)[:500]
        )
        return False
    credentials = dict(connection.credentials or {})
    credentials[_SUBSCRIPTION] = {"ids": list(subscription.ids), "secret": subscription.secret}
    connection.credentials = credentials
    connection.save(update_fields=["credentials", "updated_at"])
    DocumentFeed.objects.for_tenant(connection.tenant).filter(system=connection.system).update(
        subscribed=True, error=""
    )
    return True


def events_subscribe_by_id(*, connection_id: str) -> bool:
    """The task's service, right after a connection is made."""
    connection = Connection.objects.filter(pk=connection_id).select_related("tenant").first()
    if connection is None or not _pushes(connection.system):
        return False
    _feed(connection)
    return events_subscribe(connection=connection)


def _pushes(system: str) -> bool:
    declared = provider(system)
    return bool(
        declared.is_accounting and declared.capabilities and declared.capabilities.status_events
    )


def _feed(connection: Connection) -> DocumentFeed:
    feed, _ = DocumentFeed.objects.get_or_create(tenant=connection.tenant, system=connection.system)
    return feed


def feeds_maintain(
    *,
    enqueue: EnqueueVendorEvents,
    enqueue_transfer: Callable[[str], None] | None = None,
    now: dt.datetime | None = None,
) -> dict[str, int]:
    """The periodic round: subscribes push connections that are not yet, and polls each
    polled connection that has documents and is due. Nothing while the round before is still
    at work."""
    try:
        with named_lock("document-feeds-round", timeout=ROUND_LOCK_SECONDS, wait=0):
            return _round(enqueue=enqueue, enqueue_transfer=enqueue_transfer, now=now)
    except LockTimeout:
        logger.info("document feeds: the round before is still at work")
        return {"subscribed": 0, "polled": 0, "articles": 0}


def _round(
    *,
    enqueue: EnqueueVendorEvents,
    enqueue_transfer: Callable[[str], None] | None,
    now: dt.datetime | None,
) -> dict[str, int]:
    now = now or timezone.now()
    subscribed = polled = 0
    for connection, _connector in _accounting_connections("status_events"):
        _feed(connection)
        if subscription_of(connection) is None and events_subscribe(connection=connection):
            subscribed += 1
    for connection, connector in _accounting_connections("status_polling"):
        if not may_transfer(tenant=connection.tenant, system=connection.system):
            continue
        # A new feed takes its cursor at once, so that the first document's changes are
        # seen; after that, only a tenant with documents is asked.
        if not _feed(connection).cursor or _has_documents(connection):
            polled += feed_poll(
                connection=connection, connector=connector, enqueue=enqueue, now=now
            )
    articles = 0
    if enqueue_transfer is not None:
        for connection, connector in _accounting_connections("articles"):
            articles += articles_poll(
                connection=connection, connector=connector, enqueue=enqueue_transfer
            )
            articles += catalogue_sweep(
                connection=connection, connector=connector, enqueue=enqueue_transfer
            )
    return {"subscribed": subscribed, "polled": polled, "articles": articles}


def articles_poll(
    *,
    connection: Connection,
    connector: AccountingConnector,
    enqueue: Callable[[str], None],
) -> int:
    """Products by SKU, accounting system → HubSpot: the articles changed since the cursor
    each run their SKU's transfer, once a minute per connection; returns how many."""
    from sync.services import context, products

    settings = context.transfer_settings(tenant=connection.tenant)
    if settings.product_direction != settings.ProductDirection.TO_HUBSPOT:
        return 0
    if not may_transfer(tenant=connection.tenant, system=connection.system):
        return 0
    if not cache.add(f"article-poll:{connection.pk}", 1, POLL_INTERVAL.total_seconds()):
        return 0  # polled within the minute
    feed = _feed(connection)
    try:
        changed, cursor = connector.article_changes(feed.article_cursor)
    except errors.ConnectorError as failure:
        DocumentFeed.objects.for_tenant(connection.tenant).filter(pk=feed.pk).update(
            error=str(failure)[:500]
        )
        return 0
    requested = 0
    for article in changed:
        if products.change_seen(tenant=connection.tenant, article=article):
            continue  # the overlap of the last poll
        if products.product_request(tenant=connection.tenant, sku=article.sku, enqueue=enqueue):
            requested += 1
    DocumentFeed.objects.for_tenant(connection.tenant).filter(pk=feed.pk).update(
        article_cursor=cursor[:255]
    )
    return requested


def catalogue_sweep(
    *,
    connection: Connection,
    connector: AccountingConnector,
    enqueue: Callable[[str], None],
) -> int:
    """Products deleted in the accounting system, accounting system → HubSpot: once an hour
    per connection the whole catalogue is read, and each SKU written to HubSpot that it no
    longer lists runs its transfer again, which looks it up by SKU, finds it gone and archives
    HubSpot's product (an SKU only missed by the pass is found and left as it is). Returns
    how many were requested."""
    from sync.services import context, products

    settings = context.transfer_settings(tenant=connection.tenant)
    if settings.product_direction != settings.ProductDirection.TO_HUBSPOT:
        return 0
    if not may_transfer(tenant=connection.tenant, system=connection.system):
        return 0
    seconds = CATALOGUE_SWEEP_INTERVAL.total_seconds()
    if not cache.add(f"catalogue-sweep:{connection.pk}", 1, seconds):
        return 0
    listed: set[str] = set()
    cursor = ""
    try:
        while True:
            page = connector.articles_page(cursor)
            listed.update(article.sku.strip() for article in page.articles)
            cursor = page.next_cursor
            if not cursor:
                break
    except errors.ConnectorError as failure:
        logger.info("catalogue sweep of %s stopped: %s", connection.pk, type(failure).__name__)
        return 0
    written = (
        Transfer.objects.for_tenant(connection.tenant)
        .filter(kind=Transfer.Kind.PRODUCT, system=connection.system, state=Transfer.State.DONE)
        .values_list("object_id", "source_payload")
    )
    requested = 0
    for sku, read in written:
        if isinstance(read, dict) and read.get("deleted"):
            continue  # its deletion was carried already
        if sku not in listed and products.product_request(
            tenant=connection.tenant, sku=sku, enqueue=enqueue
        ):
            requested += 1
    return requested


def feed_poll(
    *,
    connection: Connection,
    connector: AccountingConnector,
    enqueue: EnqueueVendorEvents,
    now: dt.datetime,
) -> int:
    """One poll of the connection's documents, if due and not taken by another worker;
    returns the number of changes stored."""
    feed = _feed(connection)
    due = Q(next_poll_at__isnull=True) | Q(next_poll_at__lte=now)
    claimed = (
        DocumentFeed.objects.for_tenant(connection.tenant)
        .filter(due, pk=feed.pk)
        .update(next_poll_at=now + POLL_INTERVAL)
    )
    if not claimed:
        return 0
    try:
        found = connector.document_changes(feed.cursor)
    except errors.ConnectorError as failure:
        DocumentFeed.objects.for_tenant(connection.tenant).filter(pk=feed.pk).update(
            error=str(failure)[:500]
        )
        return 0
    for change in found.changes:
        change_store(connection=connection, change=change, enqueue=enqueue, event_type="poll")
    DocumentFeed.objects.for_tenant(connection.tenant).filter(pk=feed.pk).update(
        cursor=found.cursor[:255], error=""
    )
    return len(found.changes)


def change_store(
    *,
    connection: Connection,
    change: DocumentChange,
    enqueue: EnqueueVendorEvents,
    event_type: str,
    event_id: str = "",
    payload: Mapping[str, Any] | None = None,
    occurred_at: dt.datetime | None = None,
) -> bool:
    """Stores one change of a document as a vendor event, once; returns whether it is new."""
    marker = f"{change.kind}:{change.vendor_id}:{change.marker}"
    _, created = vendor_event_store(
        connection=connection,
        event_type=event_type,
        payload={
            "event": dict(payload or {}),
            "change": {**asdict(change), "kind": str(change.kind)},
        },
        enqueue=enqueue,
        event_id=event_id,
        dedupe_key=event_id or f"poll:{marker}",
        occurred_at=occurred_at,
    )
    return created


class UnknownSystem(LookupError):
    """The webhook names no system that sends events."""


def vendor_webhook_receive(
    *, system: str, body: bytes, headers: Mapping[str, str], enqueue: EnqueueVendorEvents
) -> dict[str, int]:
    """One webhook delivery of an accounting vendor: verified with the vendor's signature,
    each event stored once for its connection. Raises UnknownSystem, errors.ForgedEvent (a
    signature or timestamp that does not hold: nothing stored) or errors.PermanentError (a
    malformed delivery). An event of an account no tenant has connected is acknowledged and
    ignored: the vendor must not send it again and again."""
    try:
        declared = provider(system)
    except LookupError:
        raise UnknownSystem(system) from None
    if not declared.is_accounting or not (
        declared.capabilities and declared.capabilities.status_events
    ):
        raise UnknownSystem(system)
    connections: dict[str, Connection | None] = {}

    def connection_of(account_id: str) -> Connection | None:
        if account_id not in connections:
            connections[account_id] = (
                Connection.objects.filter(
                    system=system,
                    external_account_id=account_id,
                    status=Connection.Status.CONNECTED,
                )
                .select_related("tenant")
                .first()
                if account_id
                else None
            )
        return connections[account_id]

    def secret_for(account_id: str) -> str | None:
        connection = connection_of(account_id)
        subscription = subscription_of(connection) if connection is not None else None
        return subscription.secret if subscription is not None else None

    reader: Callable[..., Any] = connector_class(system).events_read
    counts = {"stored": 0, "duplicates": 0, "ignored": 0}
    for event in reader(body, headers, secret_for=secret_for):
        connection = connection_of(event.account_id)
        if connection is None or event.change is None:
            counts["ignored"] += 1
            continue
        created = change_store(
            connection=connection,
            change=event.change,
            enqueue=enqueue,
            event_type=event.event_type,
            event_id=event.event_id,
            payload=event.payload,
            occurred_at=event.occurred_at,
        )
        counts["stored" if created else "duplicates"] += 1
    return counts
