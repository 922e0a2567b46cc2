"""Running a transfer: one step at a time, each step persisted before the next, so that a
lost worker, a lost answer or a vendor outage ends in exactly one effect or a visible,
retryable failure.

The only non-idempotent vendor call (creating the quote) is preceded by the persisted state
QUOTE_IN_FLIGHT; a run that finds that state looks the quote up by its reference first."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import random
from contextlib import suppress
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Tenant
from apiup.locks import LockTimeout
from apiup.outages import OUTAGES
from connectors import errors
from connectors.hubspot import HubSpotClient
from connectors.rules import customer_for_deal
from connectors.shapes import Customer, Deal, Person
from sync.models import Transfer, TransferAttempt
from sync.services import context, customers, pacing, quotes
from sync.services.transitions import transfer_transition

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 12
MAX_BACKOFF = dt.timedelta(hours=1)
INLINE_COUNTDOWN_LIMIT = 60  # seconds; longer waits are picked up by the periodic task


class CustomerBusy(errors.TransientError):
    """The customer's lock is held by another transfer (or by a worker that died with it)."""


@dataclasses.dataclass
class Run:
    transfer: Transfer
    attempt: TransferAttempt
    tenant: Tenant


def _plain(value: Any) -> Any:
    """A JSON-safe copy of a shape for the activity log."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    return json.loads(json.dumps(value, default=str))


def claim(transfer_id: str) -> Run | None:
    """Takes the transfer for this worker, or returns None when there is nothing to do now
    (finished, not yet due, or being run by another worker)."""
    now = timezone.now()
    with transaction.atomic():
        transfer = (
            Transfer.objects.select_for_update()
            .select_related("tenant")
            .filter(pk=transfer_id)
            .first()
        )
        if transfer is None or transfer.state not in Transfer.ACTIVE_STATES:
            return None
        if transfer.next_attempt_at and transfer.next_attempt_at > now:
            return None
        if transfer.lease_until and transfer.lease_until > now:
            return None
        transfer.attempts += 1
        # Longer than the task time limit, so a live worker never loses its lease.
        transfer.lease_until = now + dt.timedelta(seconds=settings.TRANSFER_LEASE_SECONDS)
        transfer.next_attempt_at = None
        transfer.save(update_fields=["attempts", "lease_until", "next_attempt_at", "updated_at"])
        attempt = TransferAttempt.objects.create(
            tenant=transfer.tenant, transfer=transfer, number=transfer.attempts
        )
    return Run(transfer=transfer, attempt=attempt, tenant=transfer.tenant)


def _save(transfer: Transfer, *fields: str) -> None:
    transfer.save(update_fields=[*fields, "updated_at"])


def _end_attempt(run: Run, *, outcome: str, error: str = "") -> None:
    run.attempt.outcome = outcome
    run.attempt.error = error
    run.attempt.finished_at = timezone.now()
    run.attempt.save(update_fields=["outcome", "error", "finished_at"])


def _stop(run: Run) -> None:
    """The transfer's state was changed elsewhere while this run had it (its lease ran out,
    and another run took it over): this run leaves the transfer as it is now."""
    logger.warning("transfer %s was changed by another run; this run stops", run.transfer.pk)
    _end_attempt(
        run,
        outcome=TransferAttempt.Outcome.SKIPPED,
        error=_("Another run changed this transfer meanwhile; this one stopped."),
    )


def _finish(
    run: Run,
    *,
    state: str,
    outcome: str,
    error: str = "",
    retryable: bool = False,
    at_generation: int | None = None,
) -> bool:
    """Ends the run in a final state; returns False when the transfer may not take it (see
    transitions.py), which with `at_generation` means a newer change has come in."""
    moved = transfer_transition(
        transfer=run.transfer,
        to=state,
        at_generation=at_generation,
        error=error,
        error_retryable=retryable,
        lease_until=None,
        finished_at=timezone.now(),
    )
    if moved:
        _end_attempt(run, outcome=outcome, error=error)
    elif at_generation is None:
        _stop(run)
    return moved


def _backoff(attempts: int) -> dt.timedelta:
    base = min(MAX_BACKOFF.total_seconds(), 2 ** min(attempts, 12))
    return dt.timedelta(seconds=random.uniform(base / 2, base))  # noqa: S311


def _wait_and_retry(run: Run, failure: errors.ConnectorError, enqueue: pacing.EnqueuePaced) -> None:
    transfer = run.transfer
    delay = _backoff(transfer.attempts)
    if isinstance(failure, errors.RateLimited):
        delay = max(delay, dt.timedelta(seconds=failure.wait_seconds))
    message = _describe(failure)
    if transfer.attempts >= MAX_ATTEMPTS:
        _finish(
            run,
            state=Transfer.State.FAILED,
            outcome=TransferAttempt.Outcome.FAILED,
            error=_("Gave up after %(n)d attempts: %(error)s")
            % {"n": transfer.attempts, "error": message},
            retryable=True,
        )
        return
    transfer.next_attempt_at = timezone.now() + delay
    transfer.lease_until = None
    transfer.error = message
    transfer.error_retryable = True
    _save(transfer, "next_attempt_at", "lease_until", "error", "error_retryable")
    _end_attempt(run, outcome=TransferAttempt.Outcome.RETRY, error=message)
    seconds = delay.total_seconds()
    if seconds <= INLINE_COUNTDOWN_LIMIT:
        transaction.on_commit(lambda: enqueue(str(transfer.pk), seconds))


def _describe(failure: errors.ConnectorError) -> str:
    if isinstance(failure, errors.ReconnectRequired | errors.AuthorizationExpired):
        return _("The connection was refused (%(reason)s). Please reconnect it.") % {
            "reason": failure.vendor_message
        }
    if isinstance(failure, errors.RateLimited):
        return _("The vendor's rate limit was reached; the transfer waits and tries again.")
    if isinstance(failure, errors.UnknownOutcome):
        return _(
            "The vendor did not answer in time. Before trying again, the product checks "
            "whether the quote was created after all."
        )
    if isinstance(failure, CustomerBusy):
        return _(
            "Another transfer is working on the same customer; this one waits and tries again."
        )
    if isinstance(failure, errors.TransientError):
        return _("The vendor is not reachable right now (%(reason)s); it will be tried again.") % {
            "reason": failure.vendor_message
        }
    return failure.vendor_message


def run_transfer(transfer_id: str, *, enqueue: pacing.EnqueuePaced, paced: bool = False) -> None:
    """Runs the transfer's next step; `paced` when it has booked its turn on the vendor's
    rate limit already (pacing.py)."""
    if not paced and pacing.transfer_pace(transfer_id, enqueue=enqueue):
        return
    run = claim(transfer_id)
    if run is None:
        return
    try:
        if run.transfer.kind == Transfer.Kind.QUOTE:
            _run_quote(run)
        elif run.transfer.kind == Transfer.Kind.CUSTOMER:
            _run_customer(run)
        else:
            _run_deletion(run)
    except errors.ConnectorError as failure:
        if failure.retryable:
            _wait_and_retry(run, failure, enqueue)
        else:
            _finish(
                run,
                state=Transfer.State.FAILED,
                outcome=TransferAttempt.Outcome.FAILED,
                error=_describe(failure),
                retryable=True,
            )
    except LockTimeout:
        # Another transfer has the same customer in hand, or a worker that died holds its
        # lock until the lock expires: this one waits and comes back.
        _wait_and_retry(run, CustomerBusy("customer lock held elsewhere"), enqueue)
    except OUTAGES:
        # A busy or unreachable database or Redis: free the lease and let the task (or, if the
        # broker is down too, the resume task) run it again.
        with suppress(*OUTAGES):
            Transfer.objects.filter(pk=transfer_id).update(lease_until=None)
        raise
    except Exception:
        logger.exception("transfer %s failed unexpectedly", transfer_id)
        _finish(
            run,
            state=Transfer.State.FAILED,
            outcome=TransferAttempt.Outcome.FAILED,
            error=_("An unexpected error occurred. The team has been notified."),
            retryable=True,
        )


def _won_stage_ids(run: Run, hubspot: HubSpotClient, pipeline_id: str) -> set[str]:
    custom = context.transfer_settings(tenant=run.tenant).won_stage_ids
    if custom:
        return {str(stage) for stage in custom}
    return hubspot.won_stage_ids(pipeline_id)


def _run_quote(run: Run) -> None:
    transfer = run.transfer
    tenant = run.tenant
    connector = context.accounting_connector(tenant=tenant)
    hubspot = HubSpotClient(connection=context.hubspot_connection(tenant=tenant))
    settings = context.transfer_settings(tenant=tenant)

    if transfer.state == Transfer.State.QUOTE_IN_FLIGHT and transfer.sent_payload:
        # The last run sent the quote but did not learn the outcome.
        reference = str(transfer.sent_payload.get("reference", ""))
        found = (
            connector.find_quote(reference, customer_id=transfer.customer_vendor_id)
            if reference
            else None
        )
        if found is not None:
            _quote_done(run, hubspot, found.vendor_id, found.number, found.url, reconciled=True)
            return

    deal = hubspot.read_deal(transfer.object_id)
    transfer.source_payload = _plain(deal)
    transfer.title = deal.name[:255]
    _save(transfer, "source_payload", "title")
    if deal.stage_id not in _won_stage_ids(run, hubspot, deal.pipeline_id):
        _finish(
            run,
            state=Transfer.State.SKIPPED,
            outcome=TransferAttempt.Outcome.SKIPPED,
            error=_("The deal is no longer in a won stage; no quote was created."),
        )
        return

    ctx = context.TenantContext(tenant=tenant, settings=settings)
    customer = customer_for_deal(
        company=deal.company,
        contact=deal.contact,
        placeholder=ctx.placeholder,
        default_country=ctx.default_country,
    )
    object_type, object_id = _customer_source(deal)
    ref, how = customers.customer_resolve(
        tenant=tenant,
        connector=connector,
        customer=customer,
        object_type=object_type,
        object_id=object_id,
        update_existing=False,
    )
    quote, notes = quotes.quote_from_deal(
        deal=deal, customer_id=ref.vendor_id, connector=connector, settings=settings
    )
    sending = transfer_transition(
        transfer=transfer,
        to=Transfer.State.QUOTE_IN_FLIGHT,
        customer_vendor_id=ref.vendor_id,
        notes=[*customer.notes, *notes, _customer_note(how)],
        sent_payload=_plain(quote),
    )
    if not sending:
        _stop(run)
        return

    created = connector.create_quote(quote)
    _quote_done(run, hubspot, created.vendor_id, created.number, created.url, reconciled=False)


def _customer_source(deal: Deal) -> tuple[str, str]:
    if deal.company is not None:
        return Transfer.ObjectType.COMPANY, deal.company.hubspot_id
    if deal.contact is not None:
        return Transfer.ObjectType.CONTACT, deal.contact.hubspot_id
    raise errors.PermanentError(_("The deal has neither a company nor a contact."))


def _customer_note(how: str) -> str:
    return {
        "linked": _("Customer: the one linked earlier."),
        "email": _("Customer: found by e-mail address."),
        "name": _("Customer: found by name."),
        "created": _("Customer: newly created."),
    }[how]


def _quote_done(
    run: Run, hubspot: HubSpotClient, vendor_id: str, number: str, url: str, *, reconciled: bool
) -> None:
    transfer = run.transfer
    transfer.vendor_id = vendor_id
    transfer.vendor_number = number
    transfer.vendor_url = url
    if reconciled:
        transfer.notes = [*transfer.notes, _("The quote had been created; it was not sent twice.")]
    _save(transfer, "vendor_id", "vendor_number", "vendor_url", "notes")
    _finish(run, state=Transfer.State.DONE, outcome=TransferAttempt.Outcome.SUCCEEDED)
    try:
        hubspot.write_back_quote(transfer.object_id, number=number or vendor_id, url=url)
    except errors.ConnectorError as failure:
        transfer.notes = [
            *transfer.notes,
            _("The quote number could not be written to the deal: %(error)s")
            % {"error": _describe(failure)},
        ]
        _save(transfer, "notes")
        return
    transfer.written_back = True
    _save(transfer, "written_back")


def _customer_from_hubspot(
    run: Run, hubspot: HubSpotClient
) -> tuple[Customer | None, dict[str, Any] | None]:
    """The contact or company as a customer, or None when it is excluded from transfer."""
    transfer = run.transfer
    settings = context.transfer_settings(tenant=run.tenant)
    ctx = context.TenantContext(tenant=run.tenant, settings=settings)
    if transfer.object_type == Transfer.ObjectType.COMPANY:
        company, excluded = hubspot.get_company(
            transfer.object_id, exclusion_property=settings.exclusion_property
        )
        if excluded:
            return None, _plain(company)
        customer = customer_for_deal(
            company=company,
            contact=None,
            placeholder=ctx.placeholder,
            default_country=ctx.default_country,
        )
        return customer, _plain(company)
    person, excluded = hubspot.get_contact(
        transfer.object_id, exclusion_property=settings.exclusion_property
    )
    if excluded:
        return None, _plain(person)
    return _person_customer(person, ctx), _plain(person)


def _person_customer(person: Person, ctx: context.TenantContext) -> Customer:
    return customer_for_deal(
        company=None,
        contact=person,
        placeholder=ctx.placeholder,
        default_country=ctx.default_country,
    )


def _run_customer(run: Run) -> None:
    transfer = run.transfer
    tenant = run.tenant
    connector = context.accounting_connector(tenant=tenant)
    hubspot = HubSpotClient(connection=context.hubspot_connection(tenant=tenant))
    generation = transfer.generation
    customer, source = _customer_from_hubspot(run, hubspot)
    transfer.source_payload = source
    if customer is None:
        _save(transfer, "source_payload")
        _finish(
            run,
            state=Transfer.State.SKIPPED,
            outcome=TransferAttempt.Outcome.SKIPPED,
            error=_("Excluded from transfer by the property “%(name)s”.")
            % {"name": context.transfer_settings(tenant=tenant).exclusion_property},
        )
        return
    transfer.title = customer.display_name[:255]
    transfer.sent_payload = _plain(customer)
    _save(transfer, "source_payload", "title", "sent_payload")
    ref, how = customers.customer_resolve(
        tenant=tenant,
        connector=connector,
        customer=customer,
        object_type=transfer.object_type,
        object_id=transfer.object_id,
        update_existing=True,
    )
    transfer.vendor_id = ref.vendor_id
    transfer.vendor_number = ref.number
    transfer.notes = [*customer.notes, _customer_note(how)]
    _save(transfer, "vendor_id", "vendor_number", "notes")
    done = _finish(
        run,
        state=Transfer.State.DONE,
        outcome=TransferAttempt.Outcome.SUCCEEDED,
        at_generation=generation,
    )
    if not done:
        # The contact changed again while this run was under way: it runs once more.
        _run_again(run)


def _run_again(run: Run) -> None:
    again = transfer_transition(
        transfer=run.transfer,
        to=Transfer.State.PENDING,
        only_from=Transfer.ACTIVE_STATES,
        lease_until=None,
    )
    if again:
        _end_attempt(run, outcome=TransferAttempt.Outcome.RETRY)
    else:
        _stop(run)


def _run_deletion(run: Run) -> None:
    transfer = run.transfer
    connector = context.accounting_connector(tenant=run.tenant)
    link = (
        customers.ObjectLink.objects.for_tenant(run.tenant)
        .filter(
            system=connector.system.value,
            object_type=transfer.object_type,
            object_id=transfer.object_id,
        )
        .first()
    )
    if link is None:
        _finish(
            run,
            state=Transfer.State.SKIPPED,
            outcome=TransferAttempt.Outcome.SKIPPED,
            error=_("Deleted in HubSpot; it had never been transferred."),
        )
        return
    if not connector.capabilities.can_delete_customers:
        _finish(
            run,
            state=Transfer.State.SKIPPED,
            outcome=TransferAttempt.Outcome.SKIPPED,
            error=_(
                "Deleted in HubSpot. %(system)s does not allow deleting customers through its "
                "API: please delete customer %(number)s there yourself if it is no longer needed."
            )
            % {"system": connector.system.label, "number": link.vendor_number or link.vendor_id},
        )
        return
    connector.delete_customer(customers.CustomerRef(vendor_id=link.vendor_id))
    link.delete()
    _finish(run, state=Transfer.State.DONE, outcome=TransferAttempt.Outcome.SUCCEEDED)
