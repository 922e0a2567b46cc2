"""What a new request for a business effect does to its transfer row: one quote per deal,
every change of a contact or company transferred, and the customer's retry."""

import pytest
from django.test import TestCase

from sync.models import Transfer
from sync.services.events import transfer_request, transfer_retry
from tests.factories import TenantFactory, TransferFactory

pytestmark = pytest.mark.django_db
State, Kind = Transfer.State, Transfer.Kind


def request(transfer: Transfer) -> tuple[Transfer, bool]:
    return transfer_request(
        tenant=transfer.tenant,
        kind=transfer.kind,
        object_type=transfer.object_type,
        object_id=transfer.object_id,
    )


def test_a_new_effect_gets_one_pending_transfer() -> None:
    tenant = TenantFactory()
    first, work = transfer_request(
        tenant=tenant, kind=Kind.QUOTE, object_type="deal", object_id="7"
    )
    again, more_work = transfer_request(
        tenant=tenant, kind=Kind.QUOTE, object_type="deal", object_id="7"
    )
    assert (first.pk, first.state, work) == (again.pk, State.PENDING, True)
    assert more_work is False  # already pending: its run is on its way


@pytest.mark.parametrize("state", [State.DONE, State.QUOTE_IN_FLIGHT])
def test_a_quote_that_is_done_or_under_way_is_not_opened_again(state: str) -> None:
    quote = TransferFactory(kind=Kind.QUOTE, state=state)
    _, work = request(quote)
    assert work is False
    assert Transfer.objects.get(pk=quote.pk).state == state


@pytest.mark.parametrize("state", [State.SKIPPED, State.FAILED])
def test_a_deal_won_again_after_a_skip_or_failure_is_tried_again(state: str) -> None:
    quote = TransferFactory(kind=Kind.QUOTE, state=state)
    _, work = request(quote)
    assert work is True
    assert Transfer.objects.get(pk=quote.pk).state == State.PENDING


def test_every_change_of_a_contact_is_transferred_and_counted() -> None:
    done = TransferFactory(kind=Kind.CUSTOMER, object_type="contact", state=State.DONE)
    _, work = request(done)
    stored = Transfer.objects.get(pk=done.pk)
    assert (work, stored.state, stored.generation) == (True, State.PENDING, 2)
    # While it is pending (maybe running), a change only raises the generation, so that the
    # run goes once more instead of finishing on the old data.
    _, work = request(done)
    stored = Transfer.objects.get(pk=done.pk)
    assert (work, stored.state, stored.generation) == (True, State.PENDING, 3)


def test_a_retry_takes_only_a_failed_transfer_and_a_sent_quote_is_looked_up_first() -> None:
    sent = TransferFactory(kind=Kind.QUOTE, state=State.FAILED, sent_payload={"reference": "r"})
    unsent = TransferFactory(kind=Kind.QUOTE, state=State.FAILED, sent_payload=None)
    done = TransferFactory(kind=Kind.CUSTOMER, object_type="contact", state=State.DONE)
    queued: list[str] = []

    with TestCase.captureOnCommitCallbacks(execute=True):
        outcomes = [transfer_retry(transfer=t, enqueue=queued.append) for t in (sent, unsent, done)]

    assert outcomes == [True, True, False]
    assert queued == [str(sent.pk), str(unsent.pk)]
    states = [Transfer.objects.get(pk=t.pk).state for t in (sent, unsent, done)]
    assert states == [State.QUOTE_IN_FLIGHT, State.PENDING, State.DONE]
