"""The fault runs of bench/faults.py, short: twenty won deals over four tenants, with
every webhook batch delivered three times (two at once), 20 % of vendor calls answering 500
and 5 % of quote creations committed and then cut off. Exactly one quote per deal.

Runs on whatever `bin/test` runs on (the embedded default, or PostgreSQL + Redis), with the
product's live server and a real Celery worker process."""

from __future__ import annotations

import time

import pytest
from django.db import connection

from bench.common import QUICK_RESUME, seed_deals, settled, start_vendors, tally, win
from bench.faults import deliver_three_times
from tests.processes import celery_worker, wait_until

DEALS = 20
TENANTS = 4


@pytest.mark.django_db(transaction=True)
def test_duplicate_deliveries_vendor_errors_and_dropped_answers_give_one_quote_per_deal(
    live_server,  # type: ignore[no-untyped-def]
    settings,
) -> None:
    vendors = start_vendors(
        tenants=TENANTS,
        webhook_url=f"{live_server.url}/webhooks/hubspot",
        client_secret=settings.HUBSPOT_CLIENT_SECRET,
        retry_base_delay=0.5,
    )
    try:
        deliver_three_times(vendors)
        deals = seed_deals(vendors, DEALS)
        vendors.lexoffice.sandbox.faults.update(
            {"server_error_rate": 0.2, "drop_after_commit_rate": 0.05}
        )
        # Two pool processes on SQLite: more would only queue for its single write lock.
        sqlite = connection.vendor == "sqlite"
        with celery_worker(
            concurrency=2 if sqlite else TENANTS,
            vendor_urls=vendors.urls(),
            beat=True,
            env=QUICK_RESUME,
        ):
            started = time.monotonic()
            win(vendors, deals)
            wait_until(lambda: settled(deals), timeout=50, interval=0.5)
            result = tally(vendors, deals, seconds=time.monotonic() - started)
    finally:
        vendors.stop()
    print("\n" + result.line("short fault run"))
    assert result.duplicates == 0, result
    assert result.lost == 0, result
    assert result.failures_shown == 0, result
    assert result.quotes == DEALS, result


@pytest.mark.django_db(transaction=True)
def test_the_zep_mix_under_duplicates_and_dropped_answers_gives_one_customer_and_project_each(
    live_server,  # type: ignore[no-untyped-def]
    settings,
) -> None:
    """Two plans per tenant (lexware office and ZEP): every webhook batch three times and a
    quarter of ZEP's creations cut off after they commit (so that a run of 12 creations
    almost surely meets some); one ZEP customer per company, one project per deal (read from
    the ZEP sandbox), one quote per deal."""
    from bench.zep_faults import ZEP_EVENTS, zep_connect, zep_settled, zep_tally
    from sandbox.core import serve
    from sandbox.zep.app import ZepSandbox

    vendors = start_vendors(
        tenants=2,
        webhook_url=f"{live_server.url}/webhooks/hubspot",
        client_secret=settings.HUBSPOT_CLIENT_SECRET,
        retry_base_delay=0.5,
        subscriptions=ZEP_EVENTS,
    )
    zep = serve(ZepSandbox())
    try:
        zep_connect(vendors, zep)
        deliver_three_times(vendors)
        deals = seed_deals(vendors, 6)
        zep.sandbox.faults.update({"drop_after_commit_rate": 0.25})
        urls = {**vendors.urls(), "zep": zep.url + "/{instance}/next/api/v1"}
        with celery_worker(concurrency=2, vendor_urls=urls, beat=True, env=QUICK_RESUME):
            started = time.monotonic()
            win(vendors, deals)
            wait_until(lambda: zep_settled(deals), timeout=50, interval=0.5)
            result = zep_tally(vendors, zep, deals, seconds=time.monotonic() - started)
    finally:
        vendors.stop()
        zep.stop()
    print("\n" + result.line("short"))
    assert result.passed, result
    assert result.failures_shown == 0, result
