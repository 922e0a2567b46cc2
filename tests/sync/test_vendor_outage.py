"""A vendor outage longer than a transfer's attempts last: the circuit breaker holds every
transfer back without counting attempts, tells each tenant once, and when the vendor is back
every quote is created once and none has failed.

Two hours pass on a simulated clock (the product's time and the breakers'), so the test takes
seconds; the vendor and HubSpot are the sandboxes, over real HTTP, and the breaker has its
production thresholds."""

from __future__ import annotations

import datetime as dt
import heapq
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone, translation

from billing.models import Subscription
from connectors import breaker
from sandbox.core import RunningSandbox, serve
from sandbox.hubspot.app import HubSpotSandbox
from sandbox.lexoffice.app import LexofficeSandbox
from sync.models import Notice, Transfer
from sync.services import context, events, notices, recovery, runs, transfers
from tests.factories import ConnectionFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db

PORTALS = (4711, 4712, 4713)
DEALS_PER_TENANT = 3
OUTAGE = dt.timedelta(hours=2)


class SimulatedClock:
    """The product's clock (timezone.now) and the breakers' clock, moved by the test."""

    def __init__(self) -> None:
        self.at = time.time()

    def epoch(self) -> float:
        return self.at

    def aware(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.at, tz=dt.UTC)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> SimulatedClock:
    simulated = SimulatedClock()
    monkeypatch.setattr(timezone, "now", simulated.aware)
    monkeypatch.setattr(breaker, "now", simulated.epoch)
    # Breakers of this test's own: an earlier test's must not be found open or closed here.
    monkeypatch.setattr(breaker, "store", lambda: breaker.FileStore(tmp_path / "breakers"))
    return simulated


@pytest.fixture
def sandboxes(settings, fresh_cache) -> Iterator[tuple[RunningSandbox, RunningSandbox]]:  # type: ignore[no-untyped-def]
    # A fresh cache: a portal's company currency cached by an earlier test (the portals are
    # numbered alike) would be this test's too.
    hubspot = serve(HubSpotSandbox(portals={p: f"Firma {p}" for p in PORTALS}))
    lexoffice = serve(
        LexofficeSandbox(
            api_keys={f"lx-outage-{p}": f"Firma {p}" for p in PORTALS}, rate_per_second=20, burst=20
        )
    )
    settings.VENDOR_API_URLS = {
        **settings.VENDOR_API_URLS,
        "hubspot": hubspot.url,
        "lexoffice": lexoffice.url,
    }
    yield hubspot, lexoffice
    hubspot.sandbox.webhooks.stop()  # type: ignore[attr-defined]
    hubspot.stop()
    lexoffice.stop()


class Queue:
    """Stands in for Celery and its beat: tasks in the order they are due on the clock."""

    def __init__(self, clock: SimulatedClock) -> None:
        self.clock = clock
        self.due: list[tuple[float, int, str, bool]] = []
        self.sent = 0

    def __call__(self, transfer_id: str, seconds: float = 0.0, *, paced: bool = False) -> None:
        self.sent += 1
        heapq.heappush(self.due, (self.clock.at + seconds, self.sent, transfer_id, paced))

    def next_due(self) -> float:
        return self.due[0][0] if self.due else float("inf")

    def pop(self) -> tuple[str, bool]:
        _, _, transfer_id, paced = heapq.heappop(self.due)
        return transfer_id, paced


def _tenant_with_won_deals(hubspot: Any, portal: int) -> list[str]:
    tenant = TenantFactory()
    UserFactory(tenant=tenant)
    ConnectionFactory(
        tenant=tenant,
        system="hubspot",
        external_account_id=str(portal),
        credentials={
            "access_token": hubspot.issue_token(portal),
            "refresh_token": "",
            "expires_at": time.time() + 3600 * 24,
        },
    )
    ConnectionFactory(
        tenant=tenant, system="lexoffice", credentials={"api_key": f"lx-outage-{portal}"}
    )
    Subscription.objects.create(tenant=tenant, plan="lexoffice", status=Subscription.Status.ACTIVE)
    transfer_ids = []
    for number in range(DEALS_PER_TENANT):
        deal_id = hubspot.seed_deal(
            portal,
            name=f"Wartung {number}",
            stage="closedwon",
            company={"name": f"Kunde {portal}-{number} GmbH", "city": "Berlin"},
            line_items=[{"name": "Wartung", "quantity": "1", "price": "99"}],
        )
        transfer, _ = events.transfer_request(
            tenant=tenant, kind=Transfer.Kind.QUOTE, object_type="deal", object_id=deal_id
        )
        transfer_ids.append(str(transfer.pk))
    return transfer_ids


def test_a_vendor_down_for_two_hours_ends_in_every_quote_once_and_no_failure(
    clock: SimulatedClock,
    sandboxes: tuple[RunningSandbox, RunningSandbox],
    django_capture_on_commit_callbacks: Callable[..., AbstractContextManager[Any]],
) -> None:
    hubspot, lexoffice = sandboxes
    vendor: Any = lexoffice.sandbox
    queue = Queue(clock)
    for portal in PORTALS:
        for transfer_id in _tenant_with_won_deals(hubspot.sandbox, portal):
            queue(transfer_id)
    started = clock.at
    vendor.faults.update({"down_for_seconds": 10 * OUTAGE.total_seconds()})  # until told
    back_at = started + OUTAGE.total_seconds()
    calls_when_back = told_during_outage = 0
    next_beat = started
    while Transfer.objects.filter(state__in=Transfer.ACTIVE_STATES).exists():
        assert clock.at - started < 4 * 3600, "the transfers did not finish in four hours"
        # The periodic tasks: lost or long-waiting transfers, and the notices.
        if next_beat <= queue.next_due():
            clock.at = max(clock.at, next_beat)
            recovery.transfers_resume(enqueue=queue)
            notices.notices_send()
            next_beat += 60
            continue
        clock.at = max(clock.at, queue.next_due())
        if clock.at >= back_at and vendor.faults.down_until:
            vendor.faults.update({"down_until": 0.0})
            calls_when_back = len(vendor.api_calls())
            told_during_outage = len(mail.outbox)
        transfer_id, paced = queue.pop()
        with django_capture_on_commit_callbacks(execute=True):
            transfers.run_transfer(transfer_id, enqueue=queue, paced=paced)

    every = Transfer.objects.all()
    failed = list(every.filter(state=Transfer.State.FAILED).values_list("attempts", "error"))
    assert sorted(every.values_list("state", flat=True).distinct()) == [Transfer.State.DONE], failed
    # No attempt was spent while the vendor was down: far fewer than the twelve allowed.
    assert max(every.values_list("attempts", flat=True)) < runs.MAX_ATTEMPTS / 2
    assert len(vendor.quotations) == len(PORTALS) * DEALS_PER_TENANT  # one per deal
    quoted = sorted(str(q["introduction"]) for q in vendor.quotations.values())
    assert len(set(quoted)) == len(quoted)
    # While it was down the vendor saw the calls that opened the breaker and one probe per
    # cool-down (doubling up to five minutes): a few dozen, not thousands.
    assert calls_when_back < 60, calls_when_back
    # Each tenant was told once that the vendor is not reachable, and nothing since.
    assert told_during_outage == len(PORTALS)
    assert Notice.objects.filter(kind=Notice.Kind.VENDOR_UNREACHABLE).count() == len(PORTALS)
    assert all("lexware office" in message.body for message in mail.outbox)
    assert len(mail.outbox) == len(PORTALS)
    assert clock.at - back_at < 15 * 60  # the transfers went on soon after it came back


def _open_breaker(transfer: Transfer) -> breaker.CircuitBreaker:
    circuit = context.accounting_connector(tenant=transfer.tenant).client.circuit
    for _ in range(circuit.thresholds.failures):
        circuit.failed()
    return circuit


def test_a_transfer_meeting_an_open_breaker_waits_without_counting_an_attempt(
    clock: SimulatedClock,
    sandboxes: tuple[RunningSandbox, RunningSandbox],
    django_capture_on_commit_callbacks: Callable[..., AbstractContextManager[Any]],
) -> None:
    hubspot, lexoffice = sandboxes
    first, second = (
        Transfer.objects.get(pk=pk)
        for pk in _tenant_with_won_deals(hubspot.sandbox, PORTALS[0])[:2]
    )
    _open_breaker(first)
    queue = Queue(clock)

    # Paced already (its turn booked before the breaker opened): it meets the breaker in its run.
    with django_capture_on_commit_callbacks(execute=True):
        transfers.run_transfer(str(first.pk), enqueue=queue, paced=True)
    # Not paced yet: it is handed back before it takes a worker.
    transfers.run_transfer(str(second.pk), enqueue=queue)

    for transfer in (first, second):
        transfer.refresh_from_db()
        assert transfer.state == Transfer.State.PENDING
        assert transfer.attempts == 0
        assert not transfer.attempt_log.exists()
        assert (
            "lexware office ist gerade nicht erreichbar" in transfer.error
        )  # the product language
        # Back after the cool-down (30 s), spread so that the waiting do not come at once.
        assert transfer.next_attempt_at is not None
        wait = (transfer.next_attempt_at - timezone.now()).total_seconds()
        assert 30 <= wait <= 46
    assert sorted(transfer_id for _, _, transfer_id, _ in queue.due) == sorted(
        [str(first.pk), str(second.pk)]
    )
    assert len(lexoffice.sandbox.api_calls()) == 0


def test_each_outage_is_told_once_and_the_notice_clears_when_the_breaker_closes(
    clock: SimulatedClock, sandboxes: tuple[RunningSandbox, RunningSandbox]
) -> None:
    hubspot, _lexoffice = sandboxes
    (transfer_id, *_) = _tenant_with_won_deals(hubspot.sandbox, PORTALS[0])
    transfer = Transfer.objects.get(pk=transfer_id)
    Transfer.objects.filter(pk=transfer.pk).update(next_attempt_at=timezone.now())  # waiting
    circuit = _open_breaker(transfer)

    # The mail is in the product's language, whatever language the thread was left in.
    with translation.override("en"):
        assert notices.notices_send() == 1
    assert "lexware office ist gerade nicht erreichbar" in mail.outbox[0].body
    clock.at += 600
    assert notices.notices_send() == 0  # the same outage: not told again

    circuit.succeeded()  # a probe was answered: the breaker closes
    clock.at += 600
    assert notices.notices_send() == 0

    clock.at += 600
    _open_breaker(transfer)  # a new outage, within the day: told again
    assert notices.notices_send() == 1
    assert len(mail.outbox) == 2
