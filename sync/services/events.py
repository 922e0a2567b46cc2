"""What a stored webhook event leads to: a quote transfer, a customer transfer, a recorded
deletion, or nothing. Only database work happens here; vendor calls run in the transfer."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from functools import partial

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Tenant
from apiup.outages import OUTAGES
from billing.selectors import plan_of
from connectors import errors
from sync.models import Transfer, WebhookEvent
from sync.services import context, documents, zep
from sync.services.handlers import handler_for
from sync.services.transitions import transfer_transition

logger = logging.getLogger(__name__)

EnqueueEvents = Callable[[str, list[str]], None]
EnqueueEventBatch = Callable[[dict[str, list[str]]], None]
EnqueueTransfer = Callable[[str], None]

_OBJECT_TYPES = {"contact": Transfer.ObjectType.CONTACT, "company": Transfer.ObjectType.COMPANY}


def dispatch(
    to_process: dict[str, list[str]],
    *,
    enqueue: EnqueueEvents,
    enqueue_split: EnqueueEventBatch,
) -> None:
    """Hands a request's new events to the workers in one message, once the transaction that
    stored them has committed: the tenant's own task when they are one tenant's (the usual
    batch), else one message that a worker splits per tenant (`events_split`)."""
    if not to_process:
        return
    if len(to_process) == 1:
        ((tenant_id, event_ids),) = to_process.items()
        send: Callable[[], None] = partial(enqueue, tenant_id, event_ids)
    else:
        send = partial(enqueue_split, dict(to_process))
    transaction.on_commit(partial(_hand_off, send, sum(map(len, to_process.values()))))


def _hand_off(send: Callable[[], None], count: int) -> None:
    try:
        send()
    except OUTAGES:
        # The events are stored, so HubSpot gets its success: an error answer would only
        # bring the same events again, as duplicates. The resume task hands them out later.
        logger.warning("broker unreachable: %d stored event(s) wait for the resume task", count)


def events_split(*, events_by_tenant: dict[str, list[str]], enqueue: EnqueueEvents) -> None:
    """The worker's half of a hand-off that held several tenants' events: one task per tenant,
    so that one tenant's slow events never hold up another's. Sending one twice (a retry of
    this task) is harmless: an event is claimed only while it is still waiting."""
    for tenant_id, event_ids in events_by_tenant.items():
        enqueue(tenant_id, event_ids)


def transfer_request(
    *, tenant: Tenant, kind: str, object_type: str, object_id: str
) -> tuple[Transfer, bool]:
    """The one transfer row for this business effect; returns it and whether it has (new)
    work. Whether a finished transfer is opened again is up to its kind (handlers.py): a
    quote that is done stays done, a contact is transferred again on every change."""
    handler = handler_for(kind=kind)
    time_tracking = kind in (Transfer.Kind.TIME_CUSTOMER, Transfer.Kind.PROJECT)
    system = zep.SYSTEM if time_tracking else plan_of(tenant=tenant) or ""
    transfer, created = Transfer.objects.select_related("tenant").get_or_create(
        tenant=tenant,
        kind=kind,
        object_type=object_type,
        object_id=object_id,
        defaults={"system": system},
    )
    if created:
        return transfer, True
    if handler.follows_changes:
        # Counted in the database, so that a run under way sees it when it finishes and
        # runs once more with the newer data.
        Transfer.objects.for_tenant(tenant).filter(pk=transfer.pk).update(
            generation=F("generation") + 1, updated_at=timezone.now()
        )
    reopened = transfer_transition(
        transfer=transfer,
        to=Transfer.State.PENDING,
        only_from=handler.reopen_from,
        next_attempt_at=None,
    )
    return transfer, reopened or handler.follows_changes


def _documents_asked(event: WebhookEvent, tenant: Tenant) -> list[str]:
    """The transfer kinds of the documents a deal event asks for (documents.py: the tenant's
    rules, or a quote for a won deal). A cheap pre-check that spares a transfer for every
    stage move and every new deal; each transfer re-reads the deal, because HubSpot neither
    orders nor deduplicates events."""
    from connectors import errors
    from connectors.hubspot.client import HubSpotClient

    custom = {str(stage) for stage in context.transfer_settings(tenant=tenant).won_stage_ids}
    try:
        client = HubSpotClient(connection=context.hubspot_connection(tenant=tenant))
        # A creation event names no stage: a deal may be created straight in such a stage.
        stage = (
            event.property_value
            if event.property_name == "dealstage"
            else client.deal_stage(event.object_id)
        )
        kinds = documents.kinds_entered(
            tenant=tenant, stage_id=stage, hubspot=client, won_stage_ids=custom
        )
    except errors.ConnectorError:
        # Cannot tell now: each kind of document the tenant's rules make decides for itself.
        kinds = [rule.document for rule in documents.rules_of(tenant=tenant)]
    return list(dict.fromkeys(documents.TRANSFER_KINDS[kind] for kind in kinds))


Route = tuple[str, str, str]


def _routes(event: WebhookEvent, tenant: Tenant) -> list[Route]:
    """(kind, object type, object id) of each transfer an event asks for, per kind of system:
    in the accounting system the tenant's accounting plan is for, and in ZEP where the tenant
    has connected it. A plan that is not paid holds its own transfers (transfers.py), not the
    other system's."""
    routes: list[Route | None] = []
    if plan_of(tenant=tenant) is not None:
        routes += _accounting_routes(event, tenant)
    if zep.zep_connection(tenant=tenant) is not None:
        routes.append(_time_tracking_route(event, tenant))
    return [route for route in routes if route is not None]


def _time_tracking_route(event: WebhookEvent, tenant: Tenant) -> Route | None:
    object_name, _, action = event.subscription_type.partition(".")
    if action not in ("creation", "propertyChange", "restore", "merge"):
        return None
    if object_name == "deal":
        setting = context.transfer_settings(tenant=tenant).project_stage_ids
        if not setting.strip():
            return None  # no deal becomes a project
        if action == "propertyChange" and event.property_name not in zep.PROJECT_PROPERTIES:
            return None  # nothing a project shows changed (e.g. a quote link written back)
        moved = event.property_name == "dealstage"
        if moved and not zep.deal_in_project_stages(setting, event.property_value):
            return None  # out of the chosen stages: its project stays as it is
        return Transfer.Kind.PROJECT, Transfer.ObjectType.DEAL, event.object_id
    if object_name in _OBJECT_TYPES:
        return Transfer.Kind.TIME_CUSTOMER, _OBJECT_TYPES[object_name], event.object_id
    return None


def _accounting_routes(event: WebhookEvent, tenant: Tenant) -> list[Route]:
    """(kind, object type, object id) of each transfer to the accounting system an event
    asks for."""
    object_name, _, action = event.subscription_type.partition(".")
    if object_name == "deal":
        is_stage_change = action == "propertyChange" and event.property_name == "dealstage"
        if action == "creation" or is_stage_change:
            return [
                (kind, Transfer.ObjectType.DEAL, event.object_id)
                for kind in _documents_asked(event, tenant)
            ]
        return []
    if object_name == "product":
        sku = _product_sku(event, tenant, deleted=action == "deletion")
        return [(Transfer.Kind.PRODUCT, Transfer.ObjectType.PRODUCT, sku)] if sku else []
    if object_name in _OBJECT_TYPES:
        if action == "deletion":
            return [(Transfer.Kind.DELETION, _OBJECT_TYPES[object_name], event.object_id)]
        if action in ("creation", "propertyChange", "restore", "merge"):
            if not context.transfer_settings(tenant=tenant).contact_transfer_enabled:
                return []
            return [(Transfer.Kind.CUSTOMER, _OBJECT_TYPES[object_name], event.object_id)]
    return []


def events_process(*, tenant_id: str, event_ids: Iterable[str], enqueue: EnqueueTransfer) -> None:
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        return
    pending = (
        WebhookEvent.objects.for_tenant(tenant)
        .filter(pk__in=list(event_ids), state=WebhookEvent.State.RECEIVED)
        .order_by("occurred_at")
    )
    for event in pending:
        try:
            routes = _routes(event, tenant)
        except errors.ConnectorError as failure:
            # A read the routing needs failed for now: the event stays received, and the
            # resume task hands it over again after its quiet time.
            logger.info("event %s waits: %s", event.pk, type(failure).__name__)
            continue
        with transaction.atomic():
            # Claiming the event and recording its transfers commit together: a worker lost
            # in between leaves the event RECEIVED, and the redelivered task does it again.
            claimed = WebhookEvent.objects.filter(
                pk=event.pk, state=WebhookEvent.State.RECEIVED
            ).update(
                state=WebhookEvent.State.PROCESSED if routes else WebhookEvent.State.IGNORED,
                processed_at=timezone.now(),
            )
            if not claimed:
                continue
            for kind, object_type, object_id in routes:
                transfer, has_work = transfer_request(
                    tenant=tenant, kind=kind, object_type=object_type, object_id=object_id
                )
                if has_work:
                    transaction.on_commit(partial(enqueue, str(transfer.pk)))


def events_release_on_hold(*, tenant: Tenant, enqueue: EnqueueEvents) -> int:
    """Payment resumed: the events kept while transfers were paused are processed now."""
    ids = [
        str(pk)
        for pk in WebhookEvent.objects.for_tenant(tenant)
        .filter(state=WebhookEvent.State.ON_HOLD)
        .values_list("pk", flat=True)
    ]
    WebhookEvent.objects.for_tenant(tenant).filter(pk__in=ids).update(
        state=WebhookEvent.State.RECEIVED
    )
    if ids:
        transaction.on_commit(lambda: enqueue(str(tenant.pk), ids))
    return len(ids)


def transfer_retry(*, transfer: Transfer, enqueue: EnqueueTransfer) -> bool:
    """The customer's retry of a failed transfer; returns False when there is nothing to do."""
    to = handler_for(kind=transfer.kind).retry_state(transfer)
    retried = transfer_transition(
        transfer=transfer,
        to=to,
        only_from=(Transfer.State.FAILED,),
        next_attempt_at=None,
        lease_until=None,
    )
    if retried:
        transaction.on_commit(partial(enqueue, str(transfer.pk)))
    return retried


def _product_sku(event: WebhookEvent, tenant: Tenant, *, deleted: bool) -> str:
    """The SKU of the HubSpot product an event names, where HubSpot leads the products: read
    from HubSpot (1 call), or, for a deleted product, remembered from when it was read."""
    from connectors import errors
    from connectors.hubspot.client import HubSpotClient
    from sync.models import ObjectLink
    from sync.services import products

    settings = context.transfer_settings(tenant=tenant)
    if settings.product_direction != settings.ProductDirection.TO_ACCOUNTING:
        return ""
    system = plan_of(tenant=tenant) or ""
    if deleted:
        link = (
            ObjectLink.objects.for_tenant(tenant)
            .filter(
                system=system, object_type=Transfer.ObjectType.PRODUCT, object_id=event.object_id
            )
            .first()
        )
        return link.vendor_number if link is not None else ""
    try:
        client = HubSpotClient(connection=context.hubspot_connection(tenant=tenant))
        product = client.read_product(event.object_id)
    except errors.ConnectorError as failure:
        if failure.retryable:
            raise  # the event waits and is processed again
        return ""
    if product is None or not product.sku.strip():
        return ""
    products.link_hubspot_product(
        tenant=tenant, system=system, product_id=event.object_id, sku=product.sku.strip()
    )
    return product.sku.strip()[:64]
