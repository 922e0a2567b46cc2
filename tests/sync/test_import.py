"""The initial import: 1,000 contacts, interrupted and resumed, with no duplicate; and each
contact on the path of every transfer."""

import dataclasses
import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from apiup.locks import LockTimeout
from connectors import errors
from connectors.qonto.client import QontoConnector
from connectors.qonto.provider import PROVIDER as QONTO
from connectors.ratelimit import Rate
from connectors.shapes import Person
from sync.models import ImportJob, Transfer, TransferAttempt
from sync.services import context, events, imports
from tests.factories import ConnectionFactory, TenantFactory, TransferFactory
from tests.fakes.memory import ACCEPTED_KEY, MemoryConnector
from tests.sync.conftest import PORTAL, World


@pytest.mark.django_db(transaction=True)
def test_a_thousand_contacts_are_imported_once_across_an_interruption(
    world_factory,
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    world: World = world_factory("qonto", subscriptions=[], rate_limit_max=10_000)
    # The import's own pace is Qonto's limit; here it is lifted to keep the test short.
    monkeypatch.setattr(QontoConnector, "provider", dataclasses.replace(QONTO, rate=Rate(500, 500)))
    for n in range(1000):
        world.hubspot_sandbox.seed_object(
            PORTAL, "contacts",
            {"firstname": "Kunde", "lastname": f"Nummer {n:04d}", "email": f"kunde{n}@beispiel.de"},
        )  # fmt: skip
    queued: list[str] = []

    def enqueue(job_id: str, seconds: float) -> None:
        queued.append(job_id)

    jobs = imports.import_start(tenant=world.tenant, enqueue=enqueue)
    contacts_job = next(job for job in jobs if job.object_type == Transfer.ObjectType.CONTACT)

    # Slices that end after one contact each, inside the first page (a page of new customers
    # takes minutes at a real vendor's pace): the cursor stays, the position in the page moves.
    monkeypatch.setattr(imports, "SLICE_SECONDS", 0.0)
    for _ in range(2):
        imports.import_run(str(contacts_job.pk), enqueue=enqueue)
    contacts_job.refresh_from_db()
    assert (contacts_job.processed, contacts_job.page_position, contacts_job.cursor) == (2, 2, "")
    assert contacts_job.state == ImportJob.State.RUNNING
    # The next slices read the page again, skip what is done, and carry on.
    progress: list[int] = []
    monkeypatch.setattr(imports, "SLICE_SECONDS", 5.0)
    while contacts_job.state != ImportJob.State.DONE:
        imports.import_run(str(contacts_job.pk), enqueue=enqueue)
        contacts_job.refresh_from_db()
        progress.append(contacts_job.processed)
        assert len(progress) < 50

    assert contacts_job.processed == 1000
    assert progress == sorted(progress)
    clients: Any = world.accounting.sandbox.inspect()["clients"]
    emails = [client.get("email") for client in clients]
    assert len(emails) == 1000
    assert len(set(emails)) == 1000
    assert (
        Transfer.objects.filter(
            tenant=world.tenant, kind=Transfer.Kind.CUSTOMER, state=Transfer.State.DONE
        ).count()
        == 1000
    )


# The import takes each contact along the path of every transfer (claim, lease, finish); an
# accounting system in memory stands in for the vendor.

State, Outcome = Transfer.State, TransferAttempt.Outcome


@pytest.fixture
def vendor(db) -> MemoryConnector:  # type: ignore[no-untyped-def]
    return MemoryConnector(
        connection=ConnectionFactory(tenant=TenantFactory(), credentials={"api_key": ACCEPTED_KEY})
    )


def import_anna(vendor: MemoryConnector, *, excluded: bool = False) -> None:
    tenant = vendor.connection.tenant
    imports._import_one(
        tenant=tenant,
        connector=vendor,
        ctx=context.TenantContext(tenant=tenant, settings=context.transfer_settings(tenant=tenant)),
        object_type=Transfer.ObjectType.CONTACT,
        shape=Person(
            first_name="Anna", last_name="Muster", email="anna@beispiel.de", hubspot_id="201"
        ),
        excluded=excluded,
    )


def anna(vendor: MemoryConnector) -> Transfer:
    return Transfer.objects.get(tenant=vendor.connection.tenant, object_id="201")


def test_a_contact_is_imported_through_a_claimed_and_finished_run(vendor: MemoryConnector) -> None:
    import_anna(vendor)

    transfer = anna(vendor)
    assert (transfer.state, transfer.lease_until) == (State.DONE, None)
    assert transfer.vendor_id in vendor.books.customers
    assert transfer.finished_at is not None
    assert list(transfer.attempt_log.values_list("outcome", flat=True)) == [Outcome.SUCCEEDED]
    import_anna(vendor)  # an import run again sends nothing again
    assert len(vendor.created) == 1
    assert anna(vendor).attempts == 1


def test_an_excluded_contact_is_skipped(vendor: MemoryConnector) -> None:
    import_anna(vendor, excluded=True)
    assert anna(vendor).state == State.SKIPPED
    assert vendor.created == []


def test_a_contact_whose_own_transfer_is_running_is_left_to_it(vendor: MemoryConnector) -> None:
    running = TransferFactory(
        tenant=vendor.connection.tenant, kind=Transfer.Kind.CUSTOMER, object_type="contact",
        object_id="201", state=State.PENDING, error="",
        lease_until=timezone.now() + dt.timedelta(minutes=5),
    )  # fmt: skip

    import_anna(vendor)

    assert vendor.created == []
    transfer = anna(vendor)
    assert (transfer.state, transfer.attempts) == (State.PENDING, 0)
    assert transfer.lease_until == running.lease_until


def test_a_contact_that_failed_before_is_tried_again(vendor: MemoryConnector) -> None:
    TransferFactory(
        tenant=vendor.connection.tenant, kind=Transfer.Kind.CUSTOMER, object_type="contact",
        object_id="201", state=State.FAILED, attempts=1,
    )  # fmt: skip

    import_anna(vendor)

    transfer = anna(vendor)
    assert (transfer.state, transfer.error, transfer.attempts) == (State.DONE, "", 2)


def test_a_rate_limit_frees_the_contact_and_the_job_waits_and_resumes_at_it(
    vendor: MemoryConnector,
) -> None:
    def limited() -> None:
        raise errors.RateLimited("429", wait_seconds=2)

    vendor.on_create = limited
    with pytest.raises(errors.RateLimited):
        import_anna(vendor)
    transfer = anna(vendor)
    assert (transfer.state, transfer.lease_until) == (State.PENDING, None)
    assert transfer.error_retryable

    vendor.on_create = lambda: None
    import_anna(vendor)  # the next slice
    assert anna(vendor).state == State.DONE
    outcomes = list(anna(vendor).attempt_log.values_list("outcome", flat=True))
    assert outcomes == [Outcome.RETRY, Outcome.SUCCEEDED]


def test_a_customer_lock_held_elsewhere_makes_the_job_wait(vendor: MemoryConnector) -> None:
    def locked() -> None:
        raise LockTimeout("customer-match:...")

    vendor.on_create = locked
    with pytest.raises(errors.TransientError):  # retryable: the job comes back in 30 s
        import_anna(vendor)
    assert (anna(vendor).state, anna(vendor).lease_until) == (State.PENDING, None)


def test_a_vendor_refusal_fails_only_that_contact(vendor: MemoryConnector) -> None:
    def refused() -> None:
        raise errors.PermanentError("406", vendor_message="Name ist zu lang")

    vendor.on_create = refused
    import_anna(vendor)

    transfer = anna(vendor)
    assert (transfer.state, transfer.error, transfer.lease_until) == (
        State.FAILED, "Name ist zu lang", None,
    )  # fmt: skip


def test_a_change_that_comes_in_during_the_import_transfers_the_contact_again(
    vendor: MemoryConnector,
) -> None:
    tenant = vendor.connection.tenant
    vendor.on_create = lambda: events.transfer_request(
        tenant=tenant, kind=Transfer.Kind.CUSTOMER, object_type="contact", object_id="201"
    )

    import_anna(vendor)

    transfer = anna(vendor)
    # Its own run (sent by the resume task, since the webhook's found the import's lease)
    # reads the newer data; the import does not finish it on the page it read before.
    assert (transfer.state, transfer.lease_until, transfer.generation) == (State.PENDING, None, 2)
