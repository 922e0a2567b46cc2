"""The initial import of every HubSpot contact and company into the accounting system.

It pages through HubSpot with a cursor that is stored after every page, so a job that is
interrupted (a restart, a lost worker) resumes where it stopped; a contact that was already
transferred is not sent again. Each contact gets its own transfer row, shown in the log, and
takes the same path as every transfer: claimed under a lease, ended through runs.py.

A tenant whose subscription is not in its trial or paid (billing.selectors.may_transfer) gets
its job, held: it waits queued, and starts when the subscription is active again
(recovery.work_release)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any

from django.db import transaction

from accounts.models import Tenant
from apiup.locks import LockTimeout, named_lock
from billing.selectors import may_transfer, plan_of
from connectors import errors
from connectors.base import AccountingConnector
from connectors.hubspot.client import HubSpotClient
from connectors.shapes import Company, Customer, Person
from sync.mapping import apply as mapping_apply
from sync.mapping import services as mapping_services
from sync.messages import error_fields
from sync.models import ImportJob, Transfer
from sync.services import context, handlers, runs
from sync.services.transitions import transfer_transition

logger = logging.getLogger(__name__)

# One task run works this long, then hands the rest to the next run: well inside the task's
# soft time limit (120 s), even when the last customer waits up to 30 s for the rate limit.
SLICE_SECONDS = 60.0

EnqueueImport = Callable[[str, float], None]
UNFINISHED = (ImportJob.State.QUEUED, ImportJob.State.RUNNING)


def import_start(*, tenant: Tenant, enqueue: EnqueueImport) -> list[ImportJob]:
    """Queues the import of contacts and companies, unless one is already under way; holds
    it while the tenant may not transfer."""
    paying = may_transfer(tenant=tenant, system=plan_of(tenant=tenant) or "")
    jobs = []
    for object_type in (Transfer.ObjectType.COMPANY, Transfer.ObjectType.CONTACT):
        running = (
            ImportJob.objects.for_tenant(tenant)
            .filter(
                object_type=object_type,
                system="",
                state__in=[ImportJob.State.QUEUED, ImportJob.State.RUNNING],
            )
            .first()
        )
        job = running or ImportJob.objects.create(tenant=tenant, object_type=object_type)
        jobs.append(job)
        if paying:
            transaction.on_commit(partial(enqueue, str(job.pk), 0))
    return jobs


def wait_with_the_job(*, run: runs.Run, failure: errors.ConnectorError) -> None:
    """A failure that may pass (a rate limit, an outage): the contact is freed, and the whole
    job waits and resumes at it."""
    runs.run_release(run=run, failure=failure)
    raise failure


def _import_one(
    *,
    tenant: Tenant,
    connector: AccountingConnector,
    ctx: context.TenantContext,
    object_type: str,
    shape: Person | Company,
    excluded: bool,
    values: dict[str, Any] | None = None,
    in_force: mapping_services.InForce = mapping_services.STANDARD,
    exclusion_property: str = "",
) -> None:
    """One contact or company; `values`: the properties its customer mapping (`in_force`)
    reads, as the page read gave them."""
    transfer, _created = Transfer.objects.select_related("tenant").get_or_create(
        tenant=tenant,
        kind=Transfer.Kind.CUSTOMER,
        object_type=object_type,
        object_id=shape.hubspot_id,
        defaults={"system": connector.provider.key},
    )
    if transfer.state in (Transfer.State.DONE, Transfer.State.SKIPPED):
        return  # transferred before, or in an earlier run of this import
    if transfer.state == Transfer.State.FAILED:
        # A contact that failed before is tried again by the import.
        transfer_transition(
            transfer=transfer,
            to=Transfer.State.PENDING,
            only_from=(Transfer.State.FAILED,),
            next_attempt_at=None,
        )
    # The same claim as every run: a webhook's transfer of this contact and the import never
    # work on it at once.
    run = runs.run_claim(transfer_id=str(transfer.pk))
    if run is None:
        return  # its own run has it in hand, or it waits for its turn: that run transfers it
    mapping_services.mapping_use_record(transfer=transfer, flow="customer", in_force=in_force)
    own = "company" if isinstance(shape, Company) else "contact"

    def mapped(customer: Customer) -> Customer:
        return mapping_apply.customer_mapped(
            customer, in_force.rules, {own: values or {}}, version=in_force.number, own=own
        )

    runs.run_guarded(
        run=run,
        work=lambda claimed: handlers.customer_transfer(
            run=claimed,
            connector=connector,
            ctx=ctx,
            shape=shape,
            excluded=excluded,
            update_existing=False,
            mapped=mapped,
            exclusion_property=exclusion_property,
        ),
        retry=wait_with_the_job,
    )


def import_run(job_id: str, *, enqueue: EnqueueImport) -> None:
    """One slice of an import job; enqueues the next slice until HubSpot has no more pages."""
    job = ImportJob.objects.select_related("tenant").filter(pk=job_id).first()
    if job is None or job.state in (ImportJob.State.DONE, ImportJob.State.FAILED):
        return
    system = job.system or plan_of(tenant=job.tenant) or ""
    if not may_transfer(tenant=job.tenant, system=system):
        # The subscription lapsed after the slice was enqueued: the job waits, queued, at its
        # cursor; nothing reaches HubSpot or the vendor until it is released.
        ImportJob.objects.for_tenant(job.tenant).filter(
            pk=job.pk, state=ImportJob.State.RUNNING
        ).update(state=ImportJob.State.QUEUED)
        return
    from sync.services import products, zep

    run_slice = zep.import_slice if job.system == zep.SYSTEM else _run_slice
    if job.object_type == Transfer.ObjectType.PRODUCT:
        run_slice = products.import_slice
    try:
        with named_lock(f"import:{job.pk}", timeout=SLICE_SECONDS * 3, wait=0):
            run_slice(job, enqueue)
    except LockTimeout:
        return  # another worker has this job


Page = Sequence[tuple[Person | Company, bool, dict[str, Any]]]


def _pages(
    hubspot: HubSpotClient,
    object_type: str,
    cursor: str | None,
    *,
    exclusion_property: str,
    in_force: mapping_services.InForce,
) -> Iterator[tuple[Page, str | None]]:
    """The pages of contacts or companies, each read with the properties the customer
    mapping's rules read of it (no further call per customer)."""
    own = "company" if object_type == Transfer.ObjectType.COMPANY else "contact"
    # Rules naming another object (a contact's company) have nothing to read here: the
    # standard applies to those fields, as for a customer's own transfer.
    also = in_force.rules.properties("customer", own=own).get(own, set())
    yield from hubspot.iter_customer_pages(
        mapping_services.HUBSPOT_TYPES[own],
        cursor,
        exclusion_property=exclusion_property,
        also=also,
    )


def _run_slice(job: ImportJob, enqueue: EnqueueImport) -> None:
    tenant = job.tenant
    job.state = ImportJob.State.RUNNING
    job.save(update_fields=["state", "updated_at"])
    started = time.monotonic()
    try:
        connector = context.accounting_connector(tenant=tenant)
        hubspot = HubSpotClient(connection=context.hubspot_connection(tenant=tenant))
        ctx = context.TenantContext(
            tenant=tenant, settings=context.transfer_settings(tenant=tenant)
        )
        # The customer mapping in force when the slice starts; its exclusion property, if it
        # names one, replaces the settings' one, as for a customer's own transfer.
        in_force = mapping_services.mapping_in_force(
            tenant=tenant, system=connector.provider.key, flow="customer"
        )
        exclusion = in_force.rules.exclusion_property or ctx.settings.exclusion_property
        for page, next_cursor in _pages(
            hubspot, job.object_type, job.cursor or None,
            exclusion_property=exclusion, in_force=in_force,
        ):  # fmt: skip
            for position, (shape, excluded, values) in enumerate(page):
                # Items before page_position were handled by an earlier slice; going through
                # them again costs no vendor call (they are found transferred) and no count.
                _import_one(
                    tenant=tenant, connector=connector, ctx=ctx,
                    object_type=job.object_type, shape=shape, excluded=excluded,
                    values=values, in_force=in_force, exclusion_property=exclusion,
                )  # fmt: skip
                if position < job.page_position:
                    continue
                job.page_position = position + 1
                job.processed += 1
                job.save(update_fields=["page_position", "processed", "updated_at"])
                # A page of new customers takes minutes at two vendor calls per second, more
                # than a task may run: the slice can end inside a page.
                if time.monotonic() - started > SLICE_SECONDS:
                    transaction.on_commit(lambda: enqueue(str(job.pk), 0))
                    return
            # The cursor moves only after the whole page is stored: a crash repeats at most
            # one page, whose contacts are then found as already transferred.
            job.cursor = next_cursor or ""
            job.page_position = 0
            job.save(update_fields=["cursor", "page_position", "updated_at"])
            if next_cursor is None:
                job.state = ImportJob.State.DONE
                job.save(update_fields=["state", "updated_at"])
                return
        job.state = ImportJob.State.DONE
        job.save(update_fields=["state", "updated_at"])
    except errors.ConnectorError as failure:
        import_failed(job, failure=failure, enqueue=enqueue)


def import_failed(
    job: ImportJob, *, failure: errors.ConnectorError, enqueue: EnqueueImport
) -> None:
    """Records why a slice stopped: a failure that may pass resumes the job in 30 s, any other
    ends it as failed, its reason shown."""
    for name, value in error_fields(runs.failure_message(failure=failure)).items():
        setattr(job, name, value)
    if failure.retryable:
        job.save(update_fields=["error", "error_message", "updated_at"])
        transaction.on_commit(lambda: enqueue(str(job.pk), 30))
        return
    job.state = ImportJob.State.FAILED
    job.save(update_fields=["state", "error", "error_message", "updated_at"])
