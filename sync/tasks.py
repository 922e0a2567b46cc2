"""Celery tasks: thin interfaces that load by id and call one service."""

from __future__ import annotations

import time
from functools import cache, partial
from typing import Any

from celery import shared_task
from django.conf import settings

from apiup.celery import queued_messages
from apiup.locks import LockTimeout, named_lock
from apiup.outages import OUTAGES
from sync.services import (
    dispatch,
    events,
    feeds,
    imports,
    maintenance,
    notices,
    recovery,
    statuses,
    transfers,
    vendor_events,
)

# Late acknowledgement and reject-on-worker-lost are set globally (settings/queue.py): a
# task whose worker dies is delivered again, and every task below is safe to run twice.


# A busy or briefly unreachable database or Redis is worth another try; everything else is
# handled (and shown to the customer) by the services themselves.


@shared_task(name="sync.process_events", autoretry_for=OUTAGES, retry_backoff=1, max_retries=8)
def process_events(tenant_id: str, event_ids: list[str]) -> None:
    events.events_process(tenant_id=tenant_id, event_ids=event_ids, enqueue=enqueue_transfer)


@shared_task(name="sync.split_events", autoretry_for=OUTAGES, retry_backoff=1, max_retries=8)
def split_events(events_by_tenant: dict[str, list[str]]) -> None:
    events.events_split(events_by_tenant=events_by_tenant, enqueue=enqueue_events)


@shared_task(
    name="sync.process_vendor_events", autoretry_for=OUTAGES, retry_backoff=1, max_retries=8
)
def process_vendor_events(tenant_id: str, event_ids: list[str]) -> None:
    vendor_events.vendor_events_process(
        tenant_id=tenant_id,
        event_ids=event_ids,
        on_document_change=partial(statuses.document_changed, enqueue=enqueue_transfer),
    )


@shared_task(name="sync.run_transfer", autoretry_for=OUTAGES, retry_backoff=1, max_retries=8)
def run_transfer(transfer_id: str, paced: bool = False, dispatched: bool = False) -> None:
    transfers.run_transfer(
        transfer_id, enqueue=_enqueue_transfer_later, paced=paced, dispatched=dispatched
    )
    if dispatched:
        # The account's next transfer may go: a round right here, in this thread, rather than
        # a message that would wait behind the hand-outs in the queue.
        try:
            dispatch_round()
        except OUTAGES:
            signal_dispatch()


@shared_task(name="sync.dispatch_transfers", autoretry_for=OUTAGES, retry_backoff=1, max_retries=3)
def dispatch_transfers() -> int:
    return dispatch_round()


def dispatch_round() -> int:
    """One dispatcher round, or, when another is under way (it may have read the database
    before this work came), one more round by that one as soon as it ends."""
    _clear_dispatch_signal()
    handed_out = 0
    try:
        with named_lock("transfer-dispatch", timeout=30, wait=0):
            for _ in range(_ROUNDS_AT_ONCE):
                handed_out += dispatch.transfers_dispatch(hand_out=_hand_out)
                if not _take_more_asked():
                    break
            due_in = dispatch.next_due_in()
    except LockTimeout:
        _ask_more()
        return 0
    if _take_more_asked():
        signal_dispatch()  # asked for between the last round and the lock's release
    if due_in is not None:
        _wake_in(due_in)
    return handed_out


@shared_task(name="sync.run_import", autoretry_for=OUTAGES, retry_backoff=1, max_retries=8)
def run_import(job_id: str) -> None:
    imports.import_run(job_id, enqueue=enqueue_import)


def enqueue_import(job_id: str, seconds: float) -> None:
    run_import.apply_async((job_id,), countdown=seconds)


@shared_task(name="sync.resume_due_transfers")
def resume_due_transfers() -> int:
    return recovery.transfers_resume(enqueue=enqueue_transfer, queued=queued_messages())


@shared_task(name="sync.resume_lost_events_and_imports")
def resume_lost_events_and_imports() -> dict[str, int]:
    return {
        "events": recovery.events_resume(enqueue=enqueue_events, queued=queued_messages()),
        "vendor_events": recovery.vendor_events_resume(
            enqueue=enqueue_vendor_events, queued=queued_messages()
        ),
        "imports": recovery.imports_resume(enqueue=enqueue_import),
    }


@shared_task(name="sync.maintain_document_feeds")
def maintain_document_feeds() -> dict[str, int]:
    return feeds.feeds_maintain(enqueue=enqueue_vendor_events, enqueue_transfer=enqueue_transfer)


@shared_task(name="sync.subscribe_document_events", autoretry_for=OUTAGES, max_retries=3)
def subscribe_document_events(connection_id: str) -> bool:
    return feeds.events_subscribe_by_id(connection_id=connection_id)


@shared_task(name="sync.send_notices")
def send_notices() -> int:
    return notices.notices_send()


@shared_task(name="sync.purge_expired_records")
def purge_expired_records() -> dict[str, int]:
    return maintenance.records_purge()


def enqueue_transfer(transfer_id: str) -> None:
    """The transfer has work now: the dispatcher hands it out in its turn."""
    signal_dispatch()


def _enqueue_transfer_later(transfer_id: str, seconds: float, *, paced: bool = False) -> None:
    # Its due time is stored (next_attempt_at); the dispatcher's round every second finds it.
    return


def _hand_out(transfer_ids: list[str]) -> None:
    for transfer_id in transfer_ids:
        run_transfer.apply_async((transfer_id,), {"dispatched": True})


# "Something is due" is one message however many transfers report it: a flag in Redis marks
# a round as asked for until the round begins.
_DISPATCH_ASKED = "apiup:dispatch:asked"


@cache
def _redis() -> Any:
    import redis

    return redis.Redis.from_url(settings.REDIS_URL)


def signal_dispatch() -> None:
    """Asks for a dispatcher round, unless one is asked for and has not begun."""
    asked_before = getattr(settings, "REDIS_URL", "") and not _redis().set(
        _DISPATCH_ASKED, 1, nx=True, px=5000
    )
    if not asked_before:
        dispatch_transfers.delay()


# A round is asked for at the next turn or retry time, once, by whichever round sees it first;
# beat's round every second (settings/queue.py) catches anything else.
_DISPATCH_WAKE = "apiup:dispatch:wake"
_LONGEST_WAKE_SECONDS = 60.0
_wake_local: dict[str, float] = {}


def _wake_in(seconds: float) -> None:
    seconds = max(0.0, min(seconds, _LONGEST_WAKE_SECONDS))
    now = time.time()
    at = now + seconds
    if getattr(settings, "REDIS_URL", ""):
        scheduled = _redis().get(_DISPATCH_WAKE)
        if scheduled is not None and now < float(scheduled) <= at + 0.05:
            return
        _redis().set(_DISPATCH_WAKE, repr(at), px=round(seconds * 1000) + 1000)
    else:
        scheduled_here = _wake_local.get("at")
        if scheduled_here is not None and now < scheduled_here <= at + 0.05:
            return
        _wake_local["at"] = at
    dispatch_transfers.apply_async(countdown=seconds)


# Asked of the round under way by those that found the dispatcher's lock taken.
_DISPATCH_MORE = "apiup:dispatch:more"
_ROUNDS_AT_ONCE = 20


def _ask_more() -> None:
    if getattr(settings, "REDIS_URL", ""):
        _redis().set(_DISPATCH_MORE, 1, px=30_000)
    else:
        # The embedded default's processes share no memory: a round a little later.
        dispatch_transfers.apply_async(countdown=0.2)


def _take_more_asked() -> bool:
    if getattr(settings, "REDIS_URL", ""):
        return bool(_redis().delete(_DISPATCH_MORE))
    return False


def _clear_dispatch_signal() -> None:
    if getattr(settings, "REDIS_URL", ""):
        _redis().delete(_DISPATCH_ASKED)


def enqueue_events(tenant_id: str, event_ids: list[str]) -> None:
    # The message's readable copy of its arguments would list every id (a hundred per
    # webhook request), which costs more to build than the rest of the message.
    process_events.apply_async(  # type: ignore[call-arg]  # the stubs lack argsrepr
        (tenant_id, event_ids), argsrepr=f"('{tenant_id}', [{len(event_ids)} event ids])"
    )


def enqueue_event_split(events_by_tenant: dict[str, list[str]]) -> None:
    count = sum(map(len, events_by_tenant.values()))
    split_events.apply_async(  # type: ignore[call-arg]  # the stubs lack argsrepr
        (events_by_tenant,),
        argsrepr=f"({{{len(events_by_tenant)} tenants: {count} event ids}},)",
    )


def enqueue_vendor_events(tenant_id: str, event_ids: list[str]) -> None:
    process_vendor_events.delay(tenant_id, event_ids)
