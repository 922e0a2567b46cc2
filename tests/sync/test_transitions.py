"""The transfer state machine: every state is in the table, and a change the table does not
allow, or that another process has overtaken, moves nothing."""

import pytest
from django.db.models import F

from accounts.models import Tenant
from sync.models import Transfer
from sync.services.transitions import ALLOWED, transfer_sources, transfer_transition
from tests.factories import TenantFactory, TransferFactory

pytestmark = pytest.mark.django_db
State = Transfer.State


def test_every_state_is_in_the_table_and_leads_only_to_states() -> None:
    assert set(ALLOWED) == set(State)
    for targets in ALLOWED.values():
        assert targets <= set(State)
    # Every state is reached from some other one: none is dead.
    assert set().union(*ALLOWED.values()) == set(State)


def test_a_done_quote_is_not_sent_again() -> None:
    transfer = TransferFactory(state=State.DONE, vendor_id="q-1", sent_payload=None)

    moved = transfer_transition(
        transfer=transfer, to=State.QUOTE_IN_FLIGHT, sent_payload={"reference": "again"}
    )

    assert moved is False
    stored = Transfer.objects.get(pk=transfer.pk)
    assert stored.state == State.DONE
    assert stored.sent_payload is None  # nothing of a refused change is written
    assert transfer.state == State.DONE


@pytest.mark.parametrize(
    ("source", "to"),
    [
        (State.DONE, State.FAILED),
        (State.SKIPPED, State.DONE),
        (State.QUOTE_IN_FLIGHT, State.PENDING),
        (State.FAILED, State.DONE),
    ],
)
def test_changes_outside_the_table_are_refused(source: str, to: str) -> None:
    transfer = TransferFactory(state=source)
    assert transfer_transition(transfer=transfer, to=to) is False
    assert Transfer.objects.get(pk=transfer.pk).state == source


def test_an_allowed_change_moves_and_writes_its_fields_in_the_same_update() -> None:
    transfer = TransferFactory(state=State.PENDING, error="")

    moved = transfer_transition(
        transfer=transfer, to=State.FAILED, error="406", generation=F("generation") + 1
    )

    assert moved is True
    stored = Transfer.objects.get(pk=transfer.pk)
    assert (stored.state, stored.error, stored.generation) == (State.FAILED, "406", 2)
    assert (transfer.state, transfer.error, transfer.generation) == (State.FAILED, "406", 2)


def test_the_second_of_two_runs_learns_that_the_first_moved_the_transfer() -> None:
    transfer = TransferFactory(state=State.PENDING)
    first, second = (Transfer.objects.get(pk=transfer.pk) for _ in range(2))

    assert transfer_transition(transfer=first, to=State.DONE) is True
    # The second still believes the transfer is pending; the stored state decides.
    assert transfer_transition(transfer=second, to=State.QUOTE_IN_FLIGHT) is False
    assert Transfer.objects.get(pk=transfer.pk).state == State.DONE


def test_only_from_narrows_the_sources_and_never_widens_them() -> None:
    failed = TransferFactory(state=State.FAILED)
    assert (
        transfer_transition(transfer=failed, to=State.PENDING, only_from=[State.SKIPPED]) is False
    )
    assert transfer_transition(transfer=failed, to=State.PENDING, only_from=[State.FAILED]) is True
    done = TransferFactory(state=State.DONE)
    assert (
        transfer_transition(transfer=done, to=State.QUOTE_IN_FLIGHT, only_from=[State.DONE])
        is False
    )


def test_a_newer_generation_keeps_a_run_from_finishing_on_old_data() -> None:
    transfer = TransferFactory(state=State.PENDING, kind=Transfer.Kind.CUSTOMER)
    read_at = transfer.generation
    Transfer.objects.filter(pk=transfer.pk).update(generation=F("generation") + 1)

    assert transfer_transition(transfer=transfer, to=State.DONE, at_generation=read_at) is False
    assert transfer_transition(transfer=transfer, to=State.DONE, at_generation=read_at + 1)


def test_a_transfer_of_another_tenant_is_not_moved_through_a_foreign_instance() -> None:
    transfer = TransferFactory(state=State.PENDING)
    forged = Transfer.objects.get(pk=transfer.pk)
    forged.tenant = Tenant.objects.get(pk=TenantFactory().pk)

    assert transfer_transition(transfer=forged, to=State.DONE) is False
    assert Transfer.objects.get(pk=transfer.pk).state == State.PENDING


def test_a_state_outside_the_model_is_an_error_not_a_refusal() -> None:
    with pytest.raises(ValueError, match="customer_resolved"):
        transfer_sources(to="customer_resolved")
