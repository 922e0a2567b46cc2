"""Celery tasks: thin interfaces that load by id and call one service."""

from __future__ import annotations

from celery import shared_task

from apiup.celery import queued_messages
from apiup.outages import OUTAGES
from sync.services import (
    events,
    imports,
    maintenance,
    notices,
    recovery,
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
    vendor_events.vendor_events_process(tenant_id=tenant_id, event_ids=event_ids)


@shared_task(name="sync.run_transfer", autoretry_for=OUTAGES, retry_backoff=1, max_retries=8)
def run_transfer(transfer_id: str, paced: bool = False) -> None:
    transfers.run_transfer(transfer_id, enqueue=_enqueue_transfer_later, paced=paced)


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


@shared_task(name="sync.send_notices")
def send_notices() -> int:
    return notices.notices_send()


@shared_task(name="sync.purge_expired_records")
def purge_expired_records() -> dict[str, int]:
    return maintenance.records_purge()


def enqueue_transfer(transfer_id: str) -> None:
    run_transfer.delay(transfer_id)


def _enqueue_transfer_later(transfer_id: str, seconds: float, *, paced: bool = False) -> None:
    run_transfer.apply_async((transfer_id,), {"paced": paced}, countdown=seconds)


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
