"""Events from an accounting system: stored once (also when the same event arrives twice at
the same moment), handed to the workers after commit, and dispatched by type to a registered
handler; a type without a handler is acknowledged and ignored. No vendor sends events yet, so
a handler is registered here, the way a vendor's will be."""

import datetime as dt
import threading

import pytest
from django.db import connection as db_connection
from django.test import TestCase
from django.utils import timezone

from connectors.models import Connection
from sync.models import Transfer, VendorEvent
from sync.services import events, recovery, vendor_events
from sync.services.maintenance import records_purge
from tests.factories import ConnectionFactory, TenantFactory

# Work that only a paying tenant's workers do (billing.selectors.may_transfer).
pytestmark = pytest.mark.usefixtures("every_tenant_pays")

State = VendorEvent.State
CHANGED = "contact.changed"


@pytest.fixture
def lexoffice(db, every_tenant_pays) -> Connection:  # type: ignore[no-untyped-def]
    made = ConnectionFactory(tenant=TenantFactory(), system="lexoffice")
    return Connection.objects.get(pk=made.pk)


def store(connection: Connection, queue: list[list[str]] | None = None, **given: object):  # type: ignore[no-untyped-def]
    fields = {"event_type": CHANGED, "payload": {"resourceId": "c-1"}, **given}
    sent = queue if queue is not None else []
    return vendor_events.vendor_event_store(
        connection=connection, enqueue=lambda tenant_id, ids: sent.append(ids), **fields
    )


@pytest.fixture
def handled(monkeypatch: pytest.MonkeyPatch) -> list[VendorEvent]:
    """A handler for lexware office's contact changes that asks for the contact's transfer."""
    seen: list[VendorEvent] = []

    def contact_changed(event: VendorEvent) -> str:
        seen.append(event)
        if event.payload.get("echo"):
            raise vendor_events.EventIgnored("our own change, come back")
        events.transfer_request(
            tenant=event.tenant, kind=Transfer.Kind.CUSTOMER, object_type="contact",
            object_id=str(event.payload["resourceId"]),
        )  # fmt: skip
        if event.payload.get("broken"):
            raise KeyError("organizationId")
        return "transfer requested"

    monkeypatch.setitem(vendor_events.HANDLERS, ("lexoffice", CHANGED), contact_changed)
    return seen


@pytest.mark.django_db
def test_an_event_is_stored_once_and_handed_out_once(lexoffice: Connection) -> None:
    queue: list[list[str]] = []
    with TestCase.captureOnCommitCallbacks(execute=True):
        first, new = store(lexoffice, queue, event_id="evt-1")
        again, new_again = store(lexoffice, queue, event_id="evt-1", payload={"other": 1})

    assert (new, new_again) == (True, False)
    assert again.pk == first.pk
    assert queue == [[str(first.pk)]]
    stored = VendorEvent.objects.get()
    assert (stored.tenant, stored.system) == (lexoffice.tenant, "lexoffice")
    assert stored.state == State.RECEIVED
    assert stored.payload == {"resourceId": "c-1"}  # the first delivery's


@pytest.mark.django_db
def test_events_are_told_apart_per_tenant_and_system_and_without_id_by_content(
    lexoffice: Connection,
) -> None:
    other_tenant = ConnectionFactory(tenant=TenantFactory(), system="lexoffice")
    other_system = ConnectionFactory(tenant=lexoffice.tenant, system="bexio")
    assert store(lexoffice, event_id="evt-1")[1]
    assert store(other_tenant, event_id="evt-1")[1]
    assert store(other_system, event_id="evt-1")[1]
    # A polling cursor's position, or the content where there is neither.
    assert store(lexoffice, dedupe_key="contacts@2026-12-01T10:00:00Z")[1]
    assert not store(lexoffice, dedupe_key="contacts@2026-12-01T10:00:00Z")[1]
    assert store(lexoffice, payload={"resourceId": "c-9"})[1]
    assert not store(lexoffice, payload={"resourceId": "c-9"})[1]
    assert store(lexoffice, payload={"resourceId": "c-10"})[1]
    assert VendorEvent.objects.count() == 6


@pytest.mark.django_db(transaction=True)
def test_the_same_event_arriving_at_the_same_moment_is_stored_once_without_error() -> None:
    lexoffice = ConnectionFactory(tenant=TenantFactory(), system="lexoffice")
    start = threading.Barrier(4)
    results: list[tuple[str, bool]] = []
    failures: list[BaseException] = []

    def deliver() -> None:
        try:
            start.wait(timeout=10)
            event, new = store(Connection.objects.get(pk=lexoffice.pk), event_id="evt-7")
            results.append((str(event.pk), new))
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert failures == []
    assert sorted(new for _, new in results) == [False, False, False, True]
    assert len({pk for pk, _ in results}) == 1
    assert VendorEvent.objects.count() == 1


@pytest.mark.django_db
def test_an_event_goes_to_the_handler_of_its_type_once(
    lexoffice: Connection, handled: list[VendorEvent]
) -> None:
    event, _ = store(lexoffice, event_id="evt-1")

    vendor_events.vendor_events_process(tenant_id=str(lexoffice.tenant_id), event_ids=[event.pk])
    # The task delivered again (a worker lost after its commit): nothing is done twice.
    vendor_events.vendor_events_process(tenant_id=str(lexoffice.tenant_id), event_ids=[event.pk])

    event.refresh_from_db()
    assert (event.state, event.note) == (State.PROCESSED, "transfer requested")
    assert event.processed_at is not None
    assert len(handled) == 1
    assert Transfer.objects.filter(tenant=lexoffice.tenant, object_id="c-1").count() == 1


@pytest.mark.django_db
def test_a_type_without_handler_is_acknowledged_and_ignored(
    lexoffice: Connection, handled: list[VendorEvent]
) -> None:
    event, _ = store(lexoffice, event_type="voucher.deleted")

    assert vendor_events.vendor_event_process(event=event) == State.IGNORED

    event.refresh_from_db()
    assert event.note == "No handler for this type of event."
    assert handled == []


@pytest.mark.django_db
def test_an_event_the_handler_ignores_or_fails_on_leaves_no_half_done_work(
    lexoffice: Connection, handled: list[VendorEvent]
) -> None:
    echo, _ = store(lexoffice, payload={"resourceId": "c-2", "echo": True})
    broken, _ = store(lexoffice, payload={"resourceId": "c-3", "broken": True})

    assert vendor_events.vendor_event_process(event=echo) == State.IGNORED
    assert vendor_events.vendor_event_process(event=broken) == State.FAILED

    echo.refresh_from_db()
    broken.refresh_from_db()
    assert echo.note == "our own change, come back"
    assert broken.note == "KeyError: 'organizationId'"
    # The transfer the failing handler had requested went with its transaction.
    assert not Transfer.objects.filter(object_id="c-3").exists()


@pytest.mark.django_db
def test_events_of_another_tenant_are_not_processed(
    lexoffice: Connection, handled: list[VendorEvent]
) -> None:
    event, _ = store(lexoffice, event_id="evt-1")
    stranger = TenantFactory()

    vendor_events.vendor_events_process(tenant_id=str(stranger.pk), event_ids=[event.pk])

    assert VendorEvent.objects.get(pk=event.pk).state == State.RECEIVED
    assert handled == []


def test_a_type_has_one_handler() -> None:
    key = ("lexoffice", "test.registered-twice")
    try:
        vendor_events.register(system=key[0], event_type=key[1])(lambda event: "")
        with pytest.raises(ValueError, match="has a handler already"):
            vendor_events.register(system=key[0], event_type=key[1])(lambda event: "")
    finally:
        vendor_events.HANDLERS.pop(key, None)


@pytest.mark.django_db
def test_lost_events_are_resumed_and_old_ones_purged(lexoffice: Connection, settings) -> None:  # type: ignore[no-untyped-def]
    settings.TRANSFER_RESUME_AFTER_SECONDS = 30
    lost, _ = store(lexoffice, event_id="evt-lost")
    fresh, _ = store(lexoffice, event_id="evt-fresh")
    old, _ = store(lexoffice, event_id="evt-old")
    now = timezone.now()
    VendorEvent.objects.filter(pk=lost.pk).update(received_at=now - dt.timedelta(seconds=60))
    VendorEvent.objects.filter(pk=old.pk).update(received_at=now - dt.timedelta(days=31))
    sent: list[tuple[str, list[str]]] = []

    recovery.vendor_events_resume(enqueue=lambda tenant_id, ids: sent.append((tenant_id, ids)))
    purged = records_purge(now=now)

    ((tenant_id, ids),) = sent
    assert tenant_id == str(lexoffice.tenant_id)
    assert sorted(ids) == sorted([str(lost.pk), str(old.pk)])  # not the one just stored
    assert purged["vendor_events"] == 1
    assert set(VendorEvent.objects.values_list("pk", flat=True)) == {lost.pk, fresh.pk}
