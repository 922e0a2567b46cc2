"""The status of a deal's documents, from the accounting system back to the HubSpot deal.

A vendor event or a poll (feeds.py) says a document changed; the deal's one DOCUMENT_STATUS
transfer then reads the status of every document of the deal and writes it to the deal's
properties. Reading the status instead of trusting the event makes a replayed, late or
duplicate event harmless: the second "paid" finds nothing new and writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from django.db import transaction

from connectors import errors
from connectors.hubspot import mapping as hubspot_mapping
from connectors.hubspot.client import HubSpotClient
from connectors.shapes import DocumentKind, DocumentStatus
from sync.messages import Message, document_name, note_entries, status_name
from sync.models import Transfer, TransferAttempt, VendorEvent
from sync.services import context, documents, runs
from sync.services.handlers import HANDLERS, TransferHandler
from sync.services.runs import Run, plain, run_save
from sync.services.vendor_events import EventIgnored

State = Transfer.State
Outcome = TransferAttempt.Outcome
EnqueueTransfer = Callable[[str], None]
# Written with the statuses, but not part of what "unchanged" compares.
_STAGE = "dealstage"


class DocumentBeingFinished(errors.TransientError):
    """A document of the deal is created but its transfer has not yet written its first status
    to the deal: the status transfer reads after it, so that the newer status is written last."""

    message = Message("status.waiting_for_document")


class DocumentStatusTransfer(TransferHandler):
    """Writes the status of the deal's documents to the deal; one transfer per deal, run
    again on every change the vendor reports."""

    reopen_from = frozenset({State.DONE, State.SKIPPED, State.FAILED})
    follows_changes = True

    def run(self, run: Run) -> None:
        transfer = run.transfer
        generation = transfer.generation
        connector = context.accounting_connector(tenant=run.tenant)
        system = connector.provider
        of_the_deal = (
            Transfer.objects.for_tenant(run.tenant)
            .filter(
                kind__in=list(documents.DOCUMENT_KINDS),
                object_type=Transfer.ObjectType.DEAL,
                object_id=transfer.object_id,
                system=system.key,
            )
            .exclude(vendor_id="")
        )
        if of_the_deal.filter(state__in=Transfer.ACTIVE_STATES).exists():
            raise DocumentBeingFinished("a document of the deal is still being written")
        made = of_the_deal.filter(state=State.DONE).order_by("created_at")
        read: dict[str, Any] = {}
        pipeline_id = ""
        properties: dict[str, str] = {}
        notes: list[Message] = []
        for document in made:
            kind = documents.DOCUMENT_KINDS[document.kind]
            try:
                state = connector.document_state(kind, document.vendor_id)
            except errors.NotFound:
                notes.append(
                    Message(
                        "status.document_gone",
                        {"document": document_name(kind), "system": system.label},
                    )
                )
                continue
            if not state.url:
                state = replace(state, url=document.vendor_url)
            if state.number and state.number != document.vendor_number:
                # Numbered since it was made (a draft finalized in the vendor's app).
                Transfer.objects.for_tenant(run.tenant).filter(pk=document.pk).update(
                    vendor_number=state.number[:64]
                )
            read[str(kind)] = plain(state)
            properties.update(documents.status_properties(kind, state))
            notes.append(
                Message(
                    "status.written",
                    {"document": document_name(kind), "status": status_name(state.status)},
                )
            )
            transfer.title = transfer.title or document.title
            pipeline_id = pipeline_id or str(
                (document.source_payload or {}).get("pipeline_id") or ""
            )
        transfer.source_payload = read
        run_save(run, "source_payload", "title")
        if not read:
            self._finish(
                run,
                State.SKIPPED,
                Outcome.SKIPPED,
                generation,
                Message("status.no_documents", {"system": system.label}),
            )
            return
        written_before = dict(transfer.sent_payload or {})
        written_before.pop(_STAGE, None)
        if properties == written_before:
            self._finish(
                run, State.SKIPPED, Outcome.SKIPPED, generation, Message("status.unchanged")
            )
            return
        sending = dict(properties)
        invoice_status = hubspot_mapping.document_property(DocumentKind.INVOICE, "status")
        paid_now = properties.get(invoice_status) == DocumentStatus.PAID
        paid_before = written_before.get(invoice_status) == DocumentStatus.PAID
        paid_stage = context.transfer_settings(tenant=run.tenant).paid_stage_id
        hubspot = HubSpotClient(connection=context.hubspot_connection(tenant=run.tenant))
        if paid_now and not paid_before and paid_stage:
            # A stage of another pipeline would be refused for the whole write.
            if hubspot.pipeline_has_stage(pipeline_id, paid_stage):
                sending[_STAGE] = paid_stage
                notes.append(Message("status.moved_to_paid_stage"))
            else:
                notes.append(Message("status.paid_stage_not_in_pipeline"))
        hubspot.write_back_deal(transfer.object_id, sending)
        transfer.sent_payload = sending
        transfer.notes = note_entries(*notes)
        transfer.written_back = True
        run_save(run, "sent_payload", "notes", "written_back")
        self._finish(run, State.DONE, Outcome.SUCCEEDED, generation)

    @staticmethod
    def _finish(
        run: Run, state: str, outcome: str, generation: int, error: Message | None = None
    ) -> None:
        if not runs.run_finish(
            run=run, state=state, outcome=outcome, error=error, at_generation=generation
        ):
            runs.run_again(run=run)  # another change came in meanwhile: read once more


HANDLERS[Transfer.Kind.DOCUMENT_STATUS] = DocumentStatusTransfer()


def document_changed(event: VendorEvent, *, enqueue: EnqueueTransfer) -> str:
    """A vendor event or poll result about one document: the status transfer of its deal
    runs. Only database work here: the reading and writing is the transfer's."""
    from sync.services.events import transfer_request

    change = event.payload.get("change") if isinstance(event.payload, dict) else None
    if not isinstance(change, dict):
        raise EventIgnored("Not about a document.")
    kind = documents.TRANSFER_KINDS.get(DocumentKind(str(change.get("kind"))))
    made = (
        Transfer.objects.for_tenant(event.tenant)
        .filter(kind=kind, system=event.system, vendor_id=str(change.get("vendor_id") or ""))
        .only("object_id")
        .first()
    )
    if made is None:
        raise EventIgnored("Not a document the product created.")
    transfer, has_work = transfer_request(
        tenant=event.tenant,
        kind=Transfer.Kind.DOCUMENT_STATUS,
        object_type=Transfer.ObjectType.DEAL,
        object_id=made.object_id,
    )
    if has_work:
        transaction.on_commit(lambda: enqueue(str(transfer.pk)))
    return f"Status of deal {made.object_id} to be read."
