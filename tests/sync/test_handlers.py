"""Transfer kinds are handlers in a registry: every kind has one, a new flow is one handler
and one registry line, and the path around a handler (claim, finish, generation) holds for
every kind."""

import pytest
from django.conf import settings
from django.utils import translation

from connectors import errors
from connectors.hubspot.client import ArchivedInHubSpot
from connectors.shapes import Person
from sync.models import ObjectLink, Transfer, TransferAttempt
from sync.services import context, events, handlers, runs, transfers
from sync.services.transitions import transfer_sources
from tests.factories import ConnectionFactory, TenantFactory, TransferFactory
from tests.fakes.memory import ACCEPTED_KEY, MemoryBooks, MemoryConnector

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("every_tenant_pays")]
State, Outcome = Transfer.State, TransferAttempt.Outcome


def run_now(transfer: Transfer) -> None:
    transfers.run_transfer(str(transfer.pk), enqueue=lambda *a, **k: None, paced=True)


class InvoiceTransfer(handlers.TransferHandler):
    """A flow the product does not have yet, added the way a new one is."""

    def __init__(self) -> None:
        self.ran: list[str] = []

    def run(self, run: runs.Run) -> None:
        self.ran.append(run.transfer.object_id)
        runs.run_finish(run=run, state=State.DONE, outcome=Outcome.SUCCEEDED)


def test_every_kind_has_a_handler() -> None:
    assert set(handlers.HANDLERS) == set(Transfer.Kind)
    with pytest.raises(LookupError, match="credit_note"):
        handlers.handler_for(kind="credit_note")


@pytest.mark.parametrize("kind", list(Transfer.Kind))
def test_every_handler_asks_only_for_changes_the_state_machine_allows(kind: str) -> None:
    handler = handlers.handler_for(kind=kind)
    # A new request reopens only finished transfers; one under way is left to its run.
    assert handler.reopen_from <= transfer_sources(to=State.PENDING)
    assert not handler.reopen_from & set(Transfer.ACTIVE_STATES)
    for sent in (None, {"reference": "HubSpot-Deal 1-2"}):
        retry_from = transfer_sources(
            to=handler.retry_state(Transfer(kind=kind, sent_payload=sent))
        )
        assert State.FAILED in retry_from


def test_a_new_flow_is_one_handler_and_one_registry_line(monkeypatch: pytest.MonkeyPatch) -> None:
    invoice = InvoiceTransfer()
    monkeypatch.setitem(handlers.HANDLERS, "invoice", invoice)
    transfer = TransferFactory(kind="invoice", object_id="4242", state=State.PENDING, error="")

    run_now(transfer)

    transfer.refresh_from_db()
    assert invoice.ran == ["4242"]
    assert (transfer.state, transfer.lease_until, transfer.attempts) == (State.DONE, None, 1)
    assert list(transfer.attempt_log.values_list("outcome", flat=True)) == [Outcome.SUCCEEDED]
    # The registry also answers how a new request for the same effect is treated.
    _, work = events.transfer_request(
        tenant=transfer.tenant, kind="invoice", object_type="deal", object_id="4242"
    )
    assert work is False
    assert Transfer.objects.get(pk=transfer.pk).state == State.DONE


def test_a_transfer_of_a_kind_without_handler_fails_visibly_and_runs_nothing_else(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ran: list[str] = []
    monkeypatch.setattr(handlers.DeletionTransfer, "run", lambda self, run: ran.append("deletion"))
    transfer = TransferFactory(kind="invoice", state=State.PENDING, error="")

    run_now(transfer)

    transfer.refresh_from_db()
    assert ran == []
    assert transfer.state == State.FAILED
    assert transfer.error_retryable
    assert transfer.lease_until is None


def test_a_run_whose_transfer_was_finished_elsewhere_leaves_it_as_it_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def overtaken(self: object, run: runs.Run) -> None:
        # Another run (after this one's lease ran out) finished the transfer meanwhile.
        Transfer.objects.filter(pk=run.transfer.pk).update(state=State.DONE, vendor_id="q-1")
        runs.run_finish(run=run, state=State.FAILED, outcome=Outcome.FAILED, error="406")

    monkeypatch.setattr(handlers.DocumentTransfer, "run", overtaken)
    transfer = TransferFactory(state=State.PENDING, error="")

    run_now(transfer)

    transfer.refresh_from_db()
    assert (transfer.state, transfer.vendor_id, transfer.error) == (State.DONE, "q-1", "")
    (attempt,) = transfer.attempt_log.all()
    assert attempt.outcome == Outcome.SKIPPED
    assert attempt.finished_at is not None


def test_a_contact_changed_while_its_transfer_runs_is_transferred_once_more() -> None:
    tenant = TenantFactory()
    vendor = MemoryConnector(
        connection=ConnectionFactory(tenant=tenant, credentials={"api_key": ACCEPTED_KEY})
    )
    transfer = TransferFactory(
        tenant=tenant, kind=Transfer.Kind.CUSTOMER, object_type="contact", object_id="201",
        state=State.PENDING, error="",
    )  # fmt: skip
    # The webhook of a newer change arrives while the customer is being created.
    vendor.on_create = lambda: events.transfer_request(
        tenant=tenant, kind=Transfer.Kind.CUSTOMER, object_type="contact", object_id="201"
    )
    ctx = context.TenantContext(tenant=tenant, settings=context.transfer_settings(tenant=tenant))
    anna = Person(first_name="Anna", last_name="Muster", email="anna@beispiel.de", hubspot_id="201")

    def transfer_anna() -> None:
        run = runs.run_claim(transfer_id=str(transfer.pk))
        assert run is not None
        handlers.customer_transfer(
            run=run, connector=vendor, ctx=ctx, shape=anna, excluded=False, update_existing=True
        )

    transfer_anna()
    transfer.refresh_from_db()
    assert (transfer.state, transfer.lease_until, transfer.generation) == (State.PENDING, None, 2)
    # The next run reads the newer data and finishes.
    vendor.on_create = lambda: None
    transfer_anna()
    transfer.refresh_from_db()
    assert transfer.state == State.DONE
    outcomes = list(transfer.attempt_log.values_list("outcome", flat=True))
    assert outcomes == [Outcome.RETRY, Outcome.SUCCEEDED]
    # A change after it finished opens it again.
    _, work = events.transfer_request(
        tenant=tenant, kind=Transfer.Kind.CUSTOMER, object_type="contact", object_id="201"
    )
    assert work is True
    assert Transfer.objects.get(pk=transfer.pk).state == State.PENDING


# -- deletions ---------------------------------------------------------------------------


class HubSpotAnswering:
    """HubSpot's answer to reading the object a deletion event names, without HTTP."""

    def __init__(self, answer: Exception | None) -> None:
        self.answer = answer
        self.asked: list[str] = []

    def get_contact(self, object_id: str, **_: object) -> tuple[Person, bool]:
        self.asked.append(object_id)
        if self.answer is not None:
            raise self.answer
        return Person(first_name="Anna", last_name="Muster", hubspot_id=object_id), False

    get_company = get_contact  # the handler only needs to know whether it is still there


def _deletion(
    monkeypatch: pytest.MonkeyPatch, object_type: str, answer: Exception | None
) -> tuple[Transfer, MemoryBooks, HubSpotAnswering]:
    tenant = TenantFactory()
    books = MemoryBooks()
    connector = MemoryConnector(
        connection=ConnectionFactory(tenant=tenant, credentials={"api_key": ACCEPTED_KEY}),
        books=books,
    )
    hubspot = HubSpotAnswering(answer)
    monkeypatch.setattr(context, "accounting_connector", lambda *, tenant: connector)
    monkeypatch.setattr(context, "hubspot_connection", lambda *, tenant: None)
    monkeypatch.setattr(handlers, "HubSpotClient", lambda *, connection: hubspot)
    ObjectLink.objects.create(
        tenant=tenant, system="memory", object_type=object_type, object_id="301",
        vendor_id="7", vendor_number="K-7",
    )  # fmt: skip
    transfer = TransferFactory(
        tenant=tenant, kind=Transfer.Kind.DELETION, object_type=object_type, object_id="301",
        state=State.PENDING, error="",
    )  # fmt: skip
    assert isinstance(transfer, Transfer)
    return transfer, books, hubspot


@pytest.mark.parametrize("object_type", ["contact", "company"])
@pytest.mark.parametrize(
    "answer", [ArchivedInHubSpot("archived"), errors.NotFound("HubSpot answered 404")]
)
def test_a_deletion_hubspot_confirms_deletes_the_customer(
    monkeypatch: pytest.MonkeyPatch, object_type: str, answer: Exception
) -> None:
    transfer, books, hubspot = _deletion(monkeypatch, object_type, answer)

    run_now(transfer)

    transfer.refresh_from_db()
    assert hubspot.asked == ["301"]
    assert books.calls == ["delete_customer"]
    assert transfer.state == State.DONE
    assert not ObjectLink.objects.filter(object_id="301").exists()


@pytest.mark.parametrize("object_type", ["contact", "company"])
def test_a_deletion_event_for_an_object_hubspot_still_has_deletes_nothing(
    monkeypatch: pytest.MonkeyPatch, object_type: str
) -> None:
    # A forged, replayed or late event (the object was restored since) must not delete a
    # customer in the accounting system.
    transfer, books, hubspot = _deletion(monkeypatch, object_type, None)

    run_now(transfer)

    transfer.refresh_from_db()
    assert hubspot.asked == ["301"]
    assert books.calls == []
    assert transfer.state == State.SKIPPED
    # The note is stored in the product's language (German by default).
    assert "HubSpot" in transfer.error
    with translation.override(settings.LANGUAGE_CODE):
        assert transfer.get_object_type_display() in transfer.error
    assert ObjectLink.objects.filter(object_id="301").exists()


def test_a_deletion_hubspot_cannot_confirm_now_is_retried_and_deletes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    transfer, books, _ = _deletion(
        monkeypatch, "contact", errors.TransientError("HubSpot answered 502")
    )

    run_now(transfer)

    transfer.refresh_from_db()
    assert books.calls == []
    assert transfer.state in Transfer.ACTIVE_STATES
    assert ObjectLink.objects.filter(object_id="301").exists()
