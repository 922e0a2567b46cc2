"""What each kind of transfer does: one handler per `Transfer.Kind`, found through HANDLERS.

A handler works on a transfer that runs.py has claimed and will finish; it also says how a
new request for the same business effect is treated. A new flow (an invoice, a product, a
change in the accounting system going back to HubSpot) is one handler class here and one
line in HANDLERS."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from connectors import errors, rules
from connectors.base import AccountingConnector
from connectors.hubspot.client import HubSpotClient
from connectors.rules import customer_for_deal
from connectors.shapes import (
    Address,
    Company,
    Customer,
    CustomerKind,
    Deal,
    DocumentKind,
    DocumentState,
    DocumentStatus,
    Person,
    QuoteRef,
)
from sync.mapping import apply as mapping_apply
from sync.mapping import services as mapping_services
from sync.messages import (
    Message,
    Refusal,
    UnsupportedRefusal,
    document_name,
    note_entries,
    object_type,
)
from sync.models import Transfer, TransferAttempt, vendor_link
from sync.services import articles, context, customers, documents, quotes, runs
from sync.services.runs import Run, plain, run_save
from sync.services.transitions import transfer_transition

if TYPE_CHECKING:
    from accounts.models import Tenant

State = Transfer.State
Outcome = TransferAttempt.Outcome


class TransferHandler:
    # Finished states from which a new request for the same effect runs it again.
    reopen_from: ClassVar[frozenset[str]] = frozenset({State.SKIPPED, State.FAILED})
    # Every request brings newer data (HubSpot leads): the generation goes up, so that a run
    # under way runs once more instead of finishing on what it read before.
    follows_changes: ClassVar[bool] = False

    def run(self, run: Run) -> None:
        """Does the work of a claimed transfer and ends it (runs.run_finish); raises a
        ConnectorError for runs.run_guarded to retry or fail."""
        raise NotImplementedError

    def retry_state(self, transfer: Transfer) -> str:
        """Where the customer's retry of a failed transfer starts."""
        return State.PENDING


def _customer_note(how: str, vendor_id: str = "") -> Message:
    """How the customer was found: linked, email, name, created, or the default customer."""
    if how == "default_debtor":
        return Message("customer.default_debtor", {"id": vendor_id})
    return Message(f"customer.{how}")


# The notes of connectors.rules that mean a made-up name or address stands in for HubSpot's.
PLACEHOLDER_NOTES = frozenset(code for code in rules.NOTE_TEXTS if "_placeholder_" in code)


def uses_placeholders(customer: Customer) -> bool:
    return any(note.code in PLACEHOLDER_NOTES for note in customer.notes)


def _resolve_customer(
    run: Run, *, customer: Customer, hold_placeholders: bool, **resolve: Any
) -> tuple[customers.CustomerRef, str]:
    """customers.customer_resolve, holding a customer with placeholder data where the tenant
    wants that: the transfer then fails as "needs data" (marked placeholder_data), to run
    again once the data are complete."""
    hold = (
        Message("customer.needs_data")
        if hold_placeholders and uses_placeholders(customer)
        else None
    )
    try:
        return customers.customer_resolve(customer=customer, hold_writes=hold, **resolve)
    except Refusal as refusal:
        if hold is not None and refusal.message is hold:
            run.transfer.placeholder_data = True
            run_save(run, "placeholder_data")
        raise


def _mark_placeholders(run: Run, customer: Customer, *, written: bool) -> None:
    """Records whether placeholder data went to the vendor with this customer."""
    run.transfer.placeholder_data = written and uses_placeholders(customer)
    run_save(run, "placeholder_data")


def _contact_person(
    connector: AccountingConnector,
    customer: Customer,
    ref: customers.CustomerRef,
    how: str,
    *,
    tenant: Tenant,
    source: tuple[str, str],
) -> tuple[str, list[Message]]:
    """A company's contact person at the vendor, as a contact person of that company and
    never as a second customer; the vendor's id of it where documents name one. The same
    person of the same vendor customer is not made sure of twice."""
    company = customer.company
    person = company.contact_person if company is not None else None
    if (
        customer.kind is not CustomerKind.COMPANY
        or person is None
        or not connector.capabilities.contact_persons
    ):
        return "", []
    object_type, object_id = source
    system = connector.provider.key
    vendor_id = (
        None
        if how == "created"  # made with its contact person
        else customers.contact_person_remembered(
            tenant=tenant, system=system, vendor_id=ref.vendor_id, person=person
        )
    )
    if vendor_id is None:
        vendor_id = connector.contact_person_ensure(ref, person, customer_created=how == "created")
    customers.contact_person_remember(
        tenant=tenant, system=system, object_type=object_type, object_id=object_id,
        person=person, vendor_id=vendor_id,
    )  # fmt: skip
    name = f"{person.first_name} {person.last_name}".strip()
    return vendor_id, [Message("customer.contact_person", {"name": name})]


class LinkedCustomerChecked(errors.TransientError):
    """The vendor refused a document for the linked customer, which was taken unread: the
    link has been checked (and dropped where the customer is gone), and the document is made
    again with the customer found anew."""

    message = Message("customer.link_checked")


def _release_held_quotes(*, run: Run, object_type: str, object_id: str) -> None:
    """The customer of quotes held for incomplete data is complete now: they run again (the
    resume task hands them out)."""
    key = "company" if object_type == Transfer.ObjectType.COMPANY else "contact"
    held = Transfer.objects.for_tenant(run.tenant).filter(
        kind=Transfer.Kind.QUOTE,
        state=State.FAILED,
        placeholder_data=True,
        **{f"source_payload__{key}__hubspot_id": object_id},
    )
    for transfer in held:
        transfer_transition(
            transfer=transfer,
            to=State.PENDING,
            only_from=(State.FAILED,),
            next_attempt_at=None,
            lease_until=None,
        )


class DocumentTransfer(TransferHandler):
    """A deal in a stage of the tenant's rules becomes one document of a kind: a quote (the
    first rule: a won deal), an order confirmation or an invoice. Creating it is the one
    vendor call that is not idempotent, so the persisted state QUOTE_IN_FLIGHT comes before
    it; a run that finds that state looks the document up by its reference first."""

    # A document that is done stays done (one per deal and kind); a deal that reaches the
    # stage again after it was skipped or failed is tried again.
    reopen_from = frozenset({State.SKIPPED, State.FAILED})

    def __init__(self, kind: DocumentKind) -> None:
        self.kind = kind

    def retry_state(self, transfer: Transfer) -> str:
        # A document that may have been sent is looked up before it is created again.
        return State.QUOTE_IN_FLIGHT if transfer.sent_payload else State.PENDING

    def run(self, run: Run) -> None:
        transfer = run.transfer
        tenant = run.tenant
        kind = self.kind
        connector = context.accounting_connector(tenant=tenant)
        hubspot = HubSpotClient(connection=context.hubspot_connection(tenant=tenant))
        settings = context.transfer_settings(tenant=tenant)

        if transfer.state == State.QUOTE_IN_FLIGHT and transfer.sent_payload:
            # The last run sent the document but did not learn the outcome.
            reference = str(transfer.sent_payload.get("reference", ""))
            found = (
                connector.find_document(kind, reference, customer_id=transfer.customer_vendor_id)
                if reference
                else None
            )
            if found is not None:
                finalize = bool(transfer.sent_payload.get("finalize"))
                status = documents.created_status(kind, connector=connector, finalize=finalize)
                self._done(run, hubspot, found, status=status, reconciled=True)
                return

        deal = hubspot.read_deal(transfer.object_id)
        transfer.source_payload = plain(deal)
        transfer.title = deal.name[:255]
        run_save(run, "source_payload", "title")
        rule = documents.rule_for(
            tenant=tenant,
            kind=kind,
            deal=deal,
            hubspot=hubspot,
            won_stage_ids={str(stage) for stage in settings.won_stage_ids},
        )
        if rule is None:
            runs.run_finish(
                run=run,
                state=State.SKIPPED,
                outcome=Outcome.SKIPPED,
                error=Message(
                    "deal.not_won" if kind is DocumentKind.QUOTE else "deal.not_in_stage"
                ),
            )
            return
        if kind not in connector.capabilities.documents:
            raise UnsupportedRefusal(
                Message(
                    "document.not_supported",
                    {"system": connector.provider.label, "document": document_name(kind)},
                )
            )
        preceding = documents.preceding_link(
            tenant=tenant, deal_id=deal.hubspot_id, kind=kind, connector=connector
        )
        finalize = rule.finalize and connector.capabilities.can_finalize_invoices

        ctx = context.TenantContext(tenant=tenant, settings=settings)
        mapped = quotes.deal_mapping(
            tenant=tenant, system=connector.provider.key, hubspot=hubspot, deal=deal
        )
        mapping_services.mapping_use_record(transfer=transfer, flow="quote", in_force=mapped.quote)
        mapping_services.mapping_use_record(
            transfer=transfer, flow="customer", in_force=mapped.customer
        )
        customer = quotes.deal_customer(
            deal=deal,
            placeholder=ctx.placeholder,
            default_country=ctx.default_country,
            mapped=mapped,
        )
        if customer is None:  # no company and no contact: the default customer
            ref, how = customers.CustomerRef(vendor_id=mapped.default_debtor), "default_debtor"
        else:
            object_type, object_id = source = self._customer_source(deal)
            ref, how = _resolve_customer(
                run,
                customer=customer,
                hold_placeholders=settings.hold_placeholder_data,
                tenant=tenant,
                connector=connector,
                object_type=object_type,
                object_id=object_id,
                update_existing=False,
                default_debtor=mapped.default_debtor,
                trust_link=True,
            )
            # A customer found as it is keeps its own data: only a new one got placeholders.
            _mark_placeholders(run, customer, written=how == "created")
        contact_person_id, person_notes = "", list[Message]()
        if customer is not None and how != "default_debtor":
            contact_person_id, person_notes = _contact_person(
                connector, customer, ref, how, tenant=tenant, source=source
            )
        found_articles, article_notes = articles.deal_articles(
            connector=connector, deal=deal, settings=settings
        )
        quote, notes = quotes.quote_from_deal(
            deal=deal,
            customer_id=ref.vendor_id,
            connector=connector,
            settings=settings,
            address=customer.address if customer is not None else Address(),
            contact_person_id=contact_person_id,
            mapped=mapped,
            articles=found_articles,
        )
        notes += article_notes
        if preceding is not None:
            notes.append(Message("document.made_from", {"document": document_name(preceding.kind)}))
        sending = transfer_transition(
            transfer=transfer,
            to=State.QUOTE_IN_FLIGHT,
            customer_vendor_id=ref.vendor_id,
            notes=note_entries(
                *(customer.notes if customer is not None else ()),
                *notes,
                _customer_note(how, ref.vendor_id),
                *person_notes,
            ),
            sent_payload={**plain(quote), "finalize": finalize},
        )
        if not sending:
            runs.run_stop(run=run)
            return

        try:
            created = connector.create_document(kind, quote, preceding=preceding, finalize=finalize)
        except errors.ConnectorError as failure:
            if failure.retryable or how in ("created", "default_debtor"):
                raise
            object_type, object_id = source
            if customers.link_check(
                tenant=tenant,
                connector=connector,
                ref=ref,
                object_type=object_type,
                object_id=object_id,
            ):
                raise LinkedCustomerChecked(str(failure)) from failure
            raise
        status = documents.created_status(kind, connector=connector, finalize=finalize)
        self._done(run, hubspot, created, status=status, reconciled=False)

    @staticmethod
    def _customer_source(deal: Deal) -> tuple[str, str]:
        if deal.company is not None:
            return Transfer.ObjectType.COMPANY, deal.company.hubspot_id
        if deal.contact is not None:
            return Transfer.ObjectType.CONTACT, deal.contact.hubspot_id
        raise Refusal(Message("deal.no_customer"))

    def _done(
        self, run: Run, hubspot: HubSpotClient, created: QuoteRef, *, status: str, reconciled: bool
    ) -> None:
        transfer = run.transfer
        # The link comes from the vendor's answer: one that is no https link is neither shown
        # nor written to the deal.
        url = vendor_link(created.url)
        transfer.vendor_id = created.vendor_id
        transfer.vendor_number = created.number
        transfer.vendor_url = url
        if reconciled:
            transfer.notes = [*transfer.notes, *note_entries(Message("quote.found_after_all"))]
        run_save(run, "vendor_id", "vendor_number", "vendor_url", "notes")
        # A draft has no number yet (lexware office and sevDesk number a quote when it is
        # finalized): the deal gets the link, not the vendor's internal id as a "number".
        properties = documents.status_properties(
            self.kind,
            DocumentState(status=DocumentStatus(status), number=created.number, url=url),
        )
        # Written before the transfer is done: the deal's status transfer waits for that, so a
        # status the vendor reports meanwhile ("paid") is written after this one, not under it.
        try:
            hubspot.write_back_deal(transfer.object_id, properties)
        except errors.ConnectorError as failure:
            note = Message(
                "quote.not_written_back", {"error": runs.failure_message(failure=failure)}
            )
            transfer.notes = [*transfer.notes, *note_entries(note)]
            run_save(run, "notes")
        else:
            transfer.written_back = True
            run_save(run, "written_back")
        runs.run_finish(run=run, state=State.DONE, outcome=Outcome.SUCCEEDED)


def customer_of(*, shape: Person | Company, ctx: context.TenantContext) -> Customer:
    """A HubSpot contact or company as the vendor-neutral customer."""
    if isinstance(shape, Company):
        return customer_for_deal(
            company=shape,
            contact=None,
            placeholder=ctx.placeholder,
            default_country=ctx.default_country,
        )
    return customer_for_deal(
        company=None,
        contact=shape,
        placeholder=ctx.placeholder,
        default_country=ctx.default_country,
    )


def customer_transfer(
    *,
    run: Run,
    connector: AccountingConnector,
    ctx: context.TenantContext,
    shape: Person | Company,
    excluded: bool,
    update_existing: bool,
    mapped: Callable[[Customer], Customer] | None = None,
    exclusion_property: str = "",
) -> None:
    """Transfers a contact or company as read from HubSpot: by its own run (update_existing,
    since HubSpot leads) or by the import (which links customers that exist already)."""
    transfer = run.transfer
    # The generation the claim read: a change that came in since then runs the transfer again.
    generation = transfer.generation
    transfer.source_payload = plain(shape)
    if excluded:
        run_save(run, "source_payload")
        if not runs.run_finish(
            run=run,
            state=State.SKIPPED,
            outcome=Outcome.SKIPPED,
            error=Message(
                "customer.excluded",
                {"name": exclusion_property or ctx.settings.exclusion_property},
            ),
            at_generation=generation,
        ):
            runs.run_again(run=run)
        return
    customer = customer_of(shape=shape, ctx=ctx)
    if mapped is not None:
        customer = mapped(customer)
    transfer.title = customer.display_name[:255]
    transfer.sent_payload = plain(customer)
    run_save(run, "source_payload", "title", "sent_payload")
    ref, how = _resolve_customer(
        run,
        customer=customer,
        hold_placeholders=ctx.settings.hold_placeholder_data,
        tenant=run.tenant,
        connector=connector,
        object_type=transfer.object_type,
        object_id=transfer.object_id,
        update_existing=update_existing,
    )
    _mark_placeholders(run, customer, written=how == "created" or update_existing)
    transfer.vendor_id = ref.vendor_id
    transfer.vendor_number = ref.number
    transfer.notes = note_entries(*customer.notes, _customer_note(how))
    run_save(run, "vendor_id", "vendor_number", "notes")
    if not runs.run_finish(
        run=run, state=State.DONE, outcome=Outcome.SUCCEEDED, at_generation=generation
    ):
        # The contact changed again while this run was under way: it runs once more.
        runs.run_again(run=run)
        return
    if not uses_placeholders(customer):
        _release_held_quotes(
            run=run, object_type=transfer.object_type, object_id=transfer.object_id
        )


def customer_mapped_by(
    *, hubspot: HubSpotClient, in_force: mapping_services.InForce, shape: Person | Company
) -> Callable[[Customer], Customer]:
    """The customer mapping for a contact or company read on its own: the properties its
    rules read (1 call when there are any), applied to the customer."""
    obj = "company" if isinstance(shape, Company) else "contact"
    # Rules naming another object (a contact's company) have nothing to read here: the
    # standard applies to those fields.
    values = mapping_services.source_values(
        hubspot=hubspot,
        wanted=in_force.rules.properties("customer", own=obj),
        ids={obj: shape.hubspot_id},
    )

    def apply(customer: Customer) -> Customer:
        return mapping_apply.customer_mapped(
            customer, in_force.rules, values, version=in_force.number, own=obj
        )

    return apply


class CustomerTransfer(TransferHandler):
    """A HubSpot contact or company becomes (or updates) one customer."""

    # HubSpot leads: every change of the contact is transferred, also after it was done.
    reopen_from = frozenset({State.DONE, State.SKIPPED, State.FAILED})
    follows_changes = True

    def run(self, run: Run) -> None:
        transfer = run.transfer
        connector = context.accounting_connector(tenant=run.tenant)
        hubspot = HubSpotClient(connection=context.hubspot_connection(tenant=run.tenant))
        ctx = context.TenantContext(
            tenant=run.tenant, settings=context.transfer_settings(tenant=run.tenant)
        )
        customer_rules = mapping_services.mapping_in_force(
            tenant=run.tenant, system=connector.provider.key, flow="customer"
        )
        mapping_services.mapping_use_record(
            transfer=transfer, flow="customer", in_force=customer_rules
        )
        exclusion = customer_rules.rules.exclusion_property or ctx.settings.exclusion_property
        shape: Person | Company
        if transfer.object_type == Transfer.ObjectType.COMPANY:
            shape, excluded = hubspot.get_company(transfer.object_id, exclusion_property=exclusion)
        else:
            shape, excluded = hubspot.get_contact(transfer.object_id, exclusion_property=exclusion)
        customer_transfer(
            run=run,
            connector=connector,
            ctx=ctx,
            shape=shape,
            excluded=excluded,
            update_existing=True,
            mapped=customer_mapped_by(hubspot=hubspot, in_force=customer_rules, shape=shape),
            exclusion_property=exclusion,
        )


class DeletionTransfer(TransferHandler):
    """A contact or company deleted in HubSpot: once HubSpot confirms it is gone, its
    customer is deleted where the vendor allows it, and the customer is told what to do where
    it does not."""

    reopen_from = frozenset({State.DONE, State.SKIPPED, State.FAILED})
    follows_changes = True

    def run(self, run: Run) -> None:
        transfer = run.transfer
        connector = context.accounting_connector(tenant=run.tenant)
        link = (
            customers.ObjectLink.objects.for_tenant(run.tenant)
            .filter(
                system=connector.provider.key,
                object_type=transfer.object_type,
                object_id=transfer.object_id,
            )
            .first()
        )
        if link is None:
            runs.run_finish(
                run=run,
                state=State.SKIPPED,
                outcome=Outcome.SKIPPED,
                error=Message("deletion.never_transferred"),
            )
            return
        if not _gone_in_hubspot(run=run, transfer=transfer):
            # A replayed or late event (the object was restored since) must not delete the
            # customer; only HubSpot's own answer counts, not the event.
            runs.run_finish(
                run=run,
                state=State.SKIPPED,
                outcome=Outcome.SKIPPED,
                error=Message(
                    "deletion.still_in_hubspot",
                    {
                        "object": object_type(transfer.object_type),
                        "system": connector.provider.label,
                    },
                ),
            )
            return
        if not connector.capabilities.can_delete_customers:
            runs.run_finish(
                run=run,
                state=State.SKIPPED,
                outcome=Outcome.SKIPPED,
                error=Message(
                    "deletion.not_supported",
                    {
                        "system": connector.provider.label,
                        "number": link.vendor_number or link.vendor_id,
                    },
                ),
            )
            return
        connector.delete_customer(customers.CustomerRef(vendor_id=link.vendor_id))
        link.delete()
        runs.run_finish(run=run, state=State.DONE, outcome=Outcome.SUCCEEDED)


def _gone_in_hubspot(*, run: Run, transfer: Transfer) -> bool:
    """Whether HubSpot confirms the object is deleted (archived, or unknown to it). Other
    errors (HubSpot unreachable, 5xx) propagate, so the run retries and deletes nothing."""
    hubspot = HubSpotClient(connection=context.hubspot_connection(tenant=run.tenant))
    try:
        if transfer.object_type == Transfer.ObjectType.COMPANY:
            hubspot.get_company(transfer.object_id)
        else:
            hubspot.get_contact(transfer.object_id)
    except errors.NotFound:  # ArchivedInHubSpot is a NotFound
        return True
    return False


# One line per kind of transfer.
HANDLERS: dict[str, TransferHandler] = {
    Transfer.Kind.QUOTE: DocumentTransfer(DocumentKind.QUOTE),
    Transfer.Kind.ORDER: DocumentTransfer(DocumentKind.ORDER),
    Transfer.Kind.INVOICE: DocumentTransfer(DocumentKind.INVOICE),
    Transfer.Kind.CUSTOMER: CustomerTransfer(),
    Transfer.Kind.DELETION: DeletionTransfer(),
}


def handler_for(*, kind: str) -> TransferHandler:
    try:
        return HANDLERS[kind]
    except KeyError:
        raise LookupError(f"no handler for transfers of kind {kind!r}") from None


# The time-tracking kinds (ZEP) and the documents' status register themselves: their handlers
# build on TransferHandler.
from sync.services import products as _products  # noqa: E402, F401
from sync.services import statuses as _statuses  # noqa: E402, F401
from sync.services import zep as _time_tracking  # noqa: E402, F401
