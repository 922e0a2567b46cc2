"""The initial import: 1,000 contacts, interrupted and resumed, with no duplicate."""

import dataclasses
from typing import Any

import pytest

from connectors.qonto.client import QontoConnector
from connectors.qonto.provider import PROVIDER as QONTO
from connectors.ratelimit import Rate
from sync.models import ImportJob, Transfer
from sync.services import imports
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
