"""Time tracking in ZEP, by the rules of ZEP's own HubSpot module (reference 002): every HubSpot
company becomes a ZEP customer (customer number = the company's HubSpot id), its contacts its
contact persons, and deals in the chosen stages become projects (Kurzform = the deal id,
Bezeichnung = the deal name, customer = the deal's company). HubSpot leads: changes reach ZEP
while the company is not excluded and the deal stays in the chosen stages.

Two transfer kinds on the shared engine (claim, lease, retries, generation: runs.py):
`time_customer` for a company (or a contact, whose companies get it as contact person) and
`project` for a deal. A link (ObjectLink, system "zep") keeps ZEP's internal ids, so a
customer number or Kurzform changed in ZEP does not break it."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any
from urllib.parse import quote

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import Tenant
from apiup.locks import named_lock
from billing.selectors import may_transfer
from connectors import errors
from connectors.hubspot import mapping as hubspot_mapping
from connectors.hubspot.client import HubSpotClient
from connectors.models import Connection
from connectors.shapes import Company, Person
from connectors.zep.client import ZepConnector
from connectors.zep.mapping import ZepCustomer, ZepProject
from sync.messages import Message, Refusal, note_entries
from sync.models import ImportJob, ObjectLink, Transfer, TransferAttempt
from sync.services import context, runs
from sync.services.handlers import HANDLERS, TransferHandler
from sync.services.runs import Run, plain, run_save
from sync.services.transitions import transfer_transition

State = Transfer.State
Outcome = TransferAttempt.Outcome
SYSTEM = "zep"
ALL_DEALS = "all"
# Reference 002: "Steht in diesem Feld "No" oder "Nein" wird der entsprechende Kunde nicht
# übertragen" (any case).
EXCLUDING_VALUES = frozenset({"no", "nein"})
# The deal properties a project follows: its name (Bezeichnung) and its stage.
PROJECT_PROPERTIES = frozenset({"dealname", "dealstage"})
# What a company read carries besides the mapped fields: its note ("Bemerkung").
NOTE_PROPERTY = "description"


def zep_connection(*, tenant: Tenant) -> Connection | None:
    return Connection.objects.for_tenant(tenant).filter(system=SYSTEM).first()


def zep_connector(*, tenant: Tenant) -> ZepConnector:
    connection = zep_connection(tenant=tenant)
    if connection is None:
        raise errors.ReconnectRequired("ZEP is not connected.")
    return ZepConnector(connection=connection)


def project_stages(setting: str) -> frozenset[str] | None:
    """The stage setting as stage ids: None for "all", empty for none."""
    if setting.strip().casefold() == ALL_DEALS:
        return None
    return frozenset(part.strip() for part in setting.replace(";", ",").split(",") if part.strip())


def deal_in_project_stages(setting: str, stage_id: str) -> bool:
    stages = project_stages(setting)
    return stages is None or stage_id in stages


def is_excluded(properties: dict[str, Any], name: str) -> bool:
    return str(properties.get(name) or "").strip().casefold() in EXCLUDING_VALUES


# -- HubSpot reads ------------------------------------------------------------------------


def _record(hubspot: HubSpotClient, kind: str, object_id: str, **params: str) -> dict[str, Any]:
    path = f"/crm/v3/objects/{kind}/{quote(str(object_id), safe='')}"
    body: dict[str, Any] = hubspot.request("GET", path, params=params).json()
    return body


def _company_read(
    hubspot: HubSpotClient, company_id: str, *, exclusion: str
) -> tuple[Company, str, bool, list[str]]:
    """The company, its note, whether it is excluded, and its contacts' ids: 1 call."""
    names = (*hubspot_mapping.COMPANY_PROPERTIES, NOTE_PROPERTY, exclusion)
    record = _record(
        hubspot,
        "companies",
        company_id,
        properties=",".join(dict.fromkeys(names)),
        associations="contacts",
    )
    properties = record.get("properties") or {}
    contact_ids, _ = hubspot_mapping.associated(record, "contacts")
    return (
        hubspot_mapping.company_from(record),
        hubspot_mapping.text(properties, NOTE_PROPERTY),
        is_excluded(properties, exclusion),
        list(dict.fromkeys(contact_ids)),
    )


def _persons(hubspot: HubSpotClient, contact_ids: Iterable[str]) -> list[Person]:
    """The contacts, one call each (a company has few); deleted ones are left out."""
    persons = []
    for contact_id in contact_ids:
        try:
            person, _ = hubspot.get_contact(contact_id)
        except errors.NotFound:
            continue
        persons.append(person)
    return persons


# -- links ----------------------------------------------------------------------------------


def _link(tenant: Tenant, object_type: str, object_id: str) -> ObjectLink | None:
    return (
        ObjectLink.objects.for_tenant(tenant)
        .filter(system=SYSTEM, object_type=object_type, object_id=object_id)
        .first()
    )


def _link_store(
    tenant: Tenant, object_type: str, object_id: str, *, vendor_id: str, number: str
) -> None:
    ObjectLink.objects.update_or_create(
        tenant=tenant,
        system=SYSTEM,
        object_type=object_type,
        object_id=object_id,
        defaults={"vendor_id": vendor_id, "vendor_number": number},
    )


# -- customers ------------------------------------------------------------------------------


def _name_written(tenant: Tenant, company_id: str) -> str:
    """The company's name as last written to ZEP (its transfer's payload): where ZEP's list
    does not show internal ids, a customer whose number was changed is found by it."""
    payload = (
        Transfer.objects.for_tenant(tenant)
        .filter(
            kind=Transfer.Kind.TIME_CUSTOMER,
            object_type=Transfer.ObjectType.COMPANY,
            object_id=company_id,
        )
        .values_list("source_payload", flat=True)
        .first()
    )
    return str((payload or {}).get("name") or "")


def customer_sync(
    *,
    tenant: Tenant,
    zep: ZepConnector,
    hubspot: HubSpotClient,
    company_id: str,
    exclusion: str,
) -> tuple[ZepCustomer | None, Company, str]:
    """The company as a ZEP customer, created or brought up to date (HubSpot leads), with its
    address and contacts; None when the company is excluded. Returns how: created, linked,
    found (a customer with the company's number that the link did not know yet)."""
    company, note, excluded, contact_ids = _company_read(hubspot, company_id, exclusion=exclusion)
    if excluded:
        return None, company, "excluded"
    persons = _persons(hubspot, contact_ids)
    with named_lock(f"zep-customer:{tenant.pk}:{company_id}"):
        link = _link(tenant, Transfer.ObjectType.COMPANY, company_id)
        customer = None
        how = "linked"
        if link is not None:
            customer = zep.customer_get(
                customer_id=int(link.vendor_id) if link.vendor_id else None,
                number=link.vendor_number,
                names=(_name_written(tenant, company_id), company.name),
            )
            if not link.synchronised:
                return customer, company, "unlinked"  # as ZEP has it, unchanged
        if customer is None:
            # Never linked, or the create's answer was lost: the number is the company's id.
            found = zep.customer_by_number(company_id)
            how = "found"
            if found is not None:
                customer = zep.customer_adopt(found)
        if customer is None:
            try:
                customer = zep.customer_create(company, number=company_id, note=note)
                how = "created"
            except errors.PermanentError:
                # Created by a run whose answer was lost, between the look-up and now.
                found = zep.customer_by_number(company_id)
                if found is None:
                    raise
                customer = zep.customer_adopt(found)
        else:
            zep.customer_update(customer, company, note=note)
        _link_store(
            tenant,
            Transfer.ObjectType.COMPANY,
            company_id,
            vendor_id="" if customer.customer_id is None else str(customer.customer_id),
            number=customer.number,
        )
        zep.customer_details_write(customer, company.address, persons)
    return customer, company, how


class TimeCustomerTransfer(TransferHandler):
    """A HubSpot company becomes (or updates) its ZEP customer; a HubSpot contact becomes a
    contact person of each of its companies that ZEP has."""

    reopen_from = frozenset({State.DONE, State.SKIPPED, State.FAILED})
    follows_changes = True

    def run(self, run: Run) -> None:
        transfer = run.transfer
        generation = transfer.generation
        tenant = run.tenant
        zep = zep_connector(tenant=tenant)
        hubspot = HubSpotClient(connection=context.hubspot_connection(tenant=tenant))
        exclusion = context.transfer_settings(tenant=tenant).project_exclusion_property
        if transfer.object_type == Transfer.ObjectType.CONTACT:
            self._contact(run, zep, hubspot)
            return
        customer, company, how = customer_sync(
            tenant=tenant, zep=zep, hubspot=hubspot, company_id=transfer.object_id,
            exclusion=exclusion,
        )  # fmt: skip
        transfer.title = company.name[:255]
        transfer.source_payload = plain(company)
        run_save(run, "title", "source_payload")
        if customer is None or how == "unlinked":
            error = (
                Message("link.unlinked")
                if how == "unlinked"
                else Message("customer.excluded", {"name": exclusion})
            )
            finished = runs.run_finish(
                run=run, state=State.SKIPPED, outcome=Outcome.SKIPPED, error=error,
                at_generation=generation,
            )  # fmt: skip
        else:
            transfer.vendor_id = str(customer.customer_id or "")
            transfer.vendor_number = customer.number
            transfer.notes = note_entries(Message(f"customer.{how}"))
            run_save(run, "vendor_id", "vendor_number", "notes")
            finished = runs.run_finish(
                run=run, state=State.DONE, outcome=Outcome.SUCCEEDED, at_generation=generation
            )
        if not finished:
            runs.run_again(run=run)  # HubSpot changed it again meanwhile

    @staticmethod
    def _contact(run: Run, zep: ZepConnector, hubspot: HubSpotClient) -> None:
        transfer = run.transfer
        record = _record(
            hubspot, "contacts", transfer.object_id,
            properties=",".join(hubspot_mapping.CONTACT_PROPERTIES), associations="companies",
        )  # fmt: skip
        person = hubspot_mapping.person_from(record)
        transfer.title = f"{person.first_name} {person.last_name}".strip()[:255]
        transfer.source_payload = plain(person)
        run_save(run, "title", "source_payload")
        company_ids, _ = hubspot_mapping.associated(record, "companies")
        written = []
        for company_id in dict.fromkeys(company_ids):
            link = _link(run.tenant, Transfer.ObjectType.COMPANY, company_id)
            if link is None or not link.synchronised:
                continue  # not in ZEP (yet, or excluded: it brings the contact), or unlinked
            with named_lock(f"zep-customer:{run.tenant.pk}:{company_id}"):
                customer = zep.customer_get(
                    customer_id=int(link.vendor_id) if link.vendor_id else None,
                    number=link.vendor_number,
                    names=(_name_written(run.tenant, company_id),),
                )
                if customer is not None:
                    zep.customer_details_write(customer, None, [person])
                    written.append(customer.number)
        if not written:
            runs.run_finish(
                run=run, state=State.SKIPPED, outcome=Outcome.SKIPPED,
                error=Message("contact.no_zep_customer"),
            )  # fmt: skip
            return
        transfer.vendor_number = ", ".join(written)[:64]
        run_save(run, "vendor_number")
        runs.run_finish(run=run, state=State.DONE, outcome=Outcome.SUCCEEDED)


# -- projects -------------------------------------------------------------------------------


class ProjectTransfer(TransferHandler):
    """A deal in the chosen stages becomes one ZEP project and stays synchronised while it is
    in them; a deal that leaves them keeps its project, which HubSpot no longer changes."""

    reopen_from = frozenset({State.DONE, State.SKIPPED, State.FAILED})
    follows_changes = True

    def run(self, run: Run) -> None:
        transfer = run.transfer
        generation = transfer.generation
        tenant = run.tenant
        settings = context.transfer_settings(tenant=tenant)
        zep = zep_connector(tenant=tenant)
        hubspot = HubSpotClient(connection=context.hubspot_connection(tenant=tenant))
        deal = hubspot.read_deal(transfer.object_id)
        transfer.title = deal.name[:255]
        transfer.source_payload = plain(deal)
        run_save(run, "title", "source_payload")
        link = _link(tenant, Transfer.ObjectType.DEAL, deal.hubspot_id)
        skip = None
        if link is not None and not link.synchronised:
            skip = Message("link.unlinked")
        elif not deal_in_project_stages(settings.project_stage_ids, deal.stage_id):
            skip = Message("deal.not_in_project_stages")
        if skip is not None:
            if not runs.run_finish(
                run=run, state=State.SKIPPED, outcome=Outcome.SKIPPED, error=skip,
                at_generation=generation,
            ):  # fmt: skip
                runs.run_again(run=run)
            return
        if deal.company is None:
            raise Refusal(Message("deal.no_company"))
        customer, _, _ = customer_sync(
            tenant=tenant, zep=zep, hubspot=hubspot, company_id=deal.company.hubspot_id,
            exclusion=settings.project_exclusion_property,
        )  # fmt: skip
        if customer is None:
            raise Refusal(
                Message("customer.excluded", {"name": settings.project_exclusion_property})
            )
        project = self._project_sync(tenant, zep, deal.hubspot_id, deal.name, customer)
        transfer.vendor_id = str(project.project_id)
        transfer.vendor_number = project.name
        transfer.customer_vendor_id = customer.number
        run_save(run, "vendor_id", "vendor_number", "customer_vendor_id")
        if not runs.run_finish(
            run=run, state=State.DONE, outcome=Outcome.SUCCEEDED, at_generation=generation
        ):
            runs.run_again(run=run)

    @staticmethod
    def _project_sync(
        tenant: Tenant, zep: ZepConnector, deal_id: str, deal_name: str, customer: ZepCustomer
    ) -> ZepProject:
        with named_lock(f"zep-project:{tenant.pk}:{deal_id}"):
            link = _link(tenant, Transfer.ObjectType.DEAL, deal_id)
            project = zep.project_get(int(link.vendor_id)) if link is not None else None
            if project is None:
                # Never linked, or the create's answer was lost: the Kurzform is the deal id.
                project = zep.project_find(deal_id)
            if project is None:
                try:
                    project = zep.project_create(
                        deal_id=deal_id, deal_name=deal_name, customer=customer,
                        start=timezone.localdate(),
                    )  # fmt: skip
                except errors.PermanentError:
                    # Its Kurzform is taken: created by a run whose answer was lost.
                    project = zep.project_find(deal_id)
                    if project is None:
                        raise
            else:
                zep.project_update(project, deal_name=deal_name, customer=customer)
            _link_store(
                tenant, Transfer.ObjectType.DEAL, deal_id,
                vendor_id=str(project.project_id), number=project.name,
            )  # fmt: skip
            return project


# -- unlinking, relinking and the list of linked pairs -------------------------------------

# The transfer that brings each kind of linked HubSpot object to ZEP.
LINKED_KINDS: dict[str, str] = {
    Transfer.ObjectType.COMPANY: Transfer.Kind.TIME_CUSTOMER,
    Transfer.ObjectType.DEAL: Transfer.Kind.PROJECT,
}


def link_unlink(*, tenant: Tenant, object_type: str, object_id: str) -> bool:
    """Stops synchronising one customer or project: HubSpot's changes no longer reach it and
    it can be changed freely in ZEP. Returns False when there was no such link."""
    return bool(
        ObjectLink.objects.for_tenant(tenant)
        .filter(system=SYSTEM, object_type=object_type, object_id=object_id)
        .update(synchronised=False, updated_at=timezone.now())
    )


def link_relink(
    *,
    tenant: Tenant,
    object_type: str,
    object_id: str,
    enqueue: Callable[[str], None],
    vendor_id: str | None = None,
    vendor_number: str | None = None,
) -> Transfer:
    """Synchronises the record again and transfers it now (HubSpot leads, reference 002
    "Aus HubSpot importieren"). With `vendor_id`/`vendor_number` the HubSpot record is linked
    by hand to an existing ZEP record: a customer by its number (and internal id where
    known), a project by its id."""
    from sync.services.events import transfer_request

    kind = LINKED_KINDS[object_type]
    with transaction.atomic():
        defaults: dict[str, Any] = {"synchronised": True}
        if vendor_id is not None:
            defaults["vendor_id"] = vendor_id
        if vendor_number is not None:
            defaults["vendor_number"] = vendor_number
        ObjectLink.objects.update_or_create(
            tenant=tenant, system=SYSTEM, object_type=object_type, object_id=object_id,
            defaults=defaults,
        )  # fmt: skip
        transfer, has_work = transfer_request(
            tenant=tenant, kind=kind, object_type=object_type, object_id=object_id
        )
        if has_work:
            transaction.on_commit(partial(enqueue, str(transfer.pk)))
    return transfer


def links_list(*, tenant: Tenant, search: str = "") -> QuerySet[ObjectLink]:
    """Every HubSpot record linked to a ZEP record, newest first; `search` finds a HubSpot
    id, a ZEP id or a ZEP number."""
    links = ObjectLink.objects.for_tenant(tenant).filter(system=SYSTEM)
    if search.strip():
        text = search.strip()
        links = links.filter(
            Q(object_id__icontains=text)
            | Q(vendor_id__icontains=text)
            | Q(vendor_number__icontains=text)
        )
    return links.order_by("-updated_at")


def links_csv(links: Iterable[ObjectLink]) -> str:
    """The linked pairs as CSV (HubSpot object and id, ZEP id and number, synchronised)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["hubspot_object", "hubspot_id", "zep_id", "zep_number", "synchronised"])
    for link in links:
        writer.writerow(
            [link.object_type, link.object_id, link.vendor_id, link.vendor_number,
             "yes" if link.synchronised else "no"]
        )  # fmt: skip
    return out.getvalue()


# -- the initial import -----------------------------------------------------------------------

# What each import job pages through in HubSpot, and the transfer each record gets.
IMPORTED: dict[str, tuple[str, str]] = {
    Transfer.ObjectType.COMPANY: ("companies", Transfer.Kind.TIME_CUSTOMER),
    Transfer.ObjectType.DEAL: ("0-3", Transfer.Kind.PROJECT),  # deals by their type id
}


def import_start(*, tenant: Tenant, enqueue: Callable[[str, float], None]) -> list[ImportJob]:
    """Queues the import of every company, and of every deal unless no stage is chosen for
    projects (each deal's transfer checks its stage); a job already under way is kept."""
    object_types = [Transfer.ObjectType.COMPANY]
    if context.transfer_settings(tenant=tenant).project_stage_ids.strip():
        object_types.append(Transfer.ObjectType.DEAL)
    jobs = []
    for object_type in object_types:
        unfinished = ImportJob.objects.for_tenant(tenant).filter(
            system=SYSTEM,
            object_type=object_type,
            state__in=[ImportJob.State.QUEUED, ImportJob.State.RUNNING],
        )
        job = unfinished.first() or ImportJob.objects.create(
            tenant=tenant, system=SYSTEM, object_type=object_type
        )
        jobs.append(job)
        if may_transfer(tenant=tenant, system=SYSTEM):
            transaction.on_commit(partial(enqueue, str(job.pk), 0))
    return jobs


def import_slice(job: ImportJob, enqueue: Callable[[str, float], None]) -> None:
    """One slice of a ZEP import (imports.import_run holds the job's lock): HubSpot's records
    page by page from the stored cursor, each through its own transfer, run here as any run
    is; a record transferred before is not sent again. Ends its slice after SLICE_SECONDS."""
    from sync.services.imports import SLICE_SECONDS

    tenant = job.tenant
    job.state = ImportJob.State.RUNNING
    job.save(update_fields=["state", "updated_at"])
    started = time.monotonic()
    hubspot_type, kind = IMPORTED[job.object_type]
    try:
        hubspot = HubSpotClient(connection=context.hubspot_connection(tenant=tenant))
        pages = hubspot._pages(hubspot_type, ("hs_object_id",), job.cursor or None)
        for records, next_cursor in pages:
            for record in records[job.page_position :]:
                _import_one(tenant, kind, job.object_type, str(record["id"]))
                job.page_position += 1
                job.processed += 1
                job.save(update_fields=["page_position", "processed", "updated_at"])
                if time.monotonic() - started > SLICE_SECONDS:
                    transaction.on_commit(lambda: enqueue(str(job.pk), 0))
                    return
            job.cursor, job.page_position = next_cursor or "", 0
            job.save(update_fields=["cursor", "page_position", "updated_at"])
        job.state = ImportJob.State.DONE
        job.save(update_fields=["state", "updated_at"])
    except errors.ConnectorError as failure:
        from sync.services.imports import import_failed

        import_failed(job, failure=failure, enqueue=enqueue)


def _import_one(tenant: Tenant, kind: str, object_type: str, object_id: str) -> None:
    from sync.services.imports import wait_with_the_job

    transfer, _ = Transfer.objects.select_related("tenant").get_or_create(
        tenant=tenant, kind=kind, object_type=object_type, object_id=object_id,
        defaults={"system": SYSTEM},
    )  # fmt: skip
    if transfer.state in (State.DONE, State.SKIPPED):
        return  # transferred before, or in an earlier slice of this import
    if transfer.state == State.FAILED:
        transfer_transition(
            transfer=transfer, to=State.PENDING, only_from=(State.FAILED,), next_attempt_at=None
        )
    run = runs.run_claim(transfer_id=str(transfer.pk))
    if run is None:
        return  # its own run has it in hand
    runs.run_guarded(run=run, work=HANDLERS[kind].run, retry=wait_with_the_job)


HANDLERS.update(
    {Transfer.Kind.TIME_CUSTOMER: TimeCustomerTransfer(), Transfer.Kind.PROJECT: ProjectTransfer()}
)
