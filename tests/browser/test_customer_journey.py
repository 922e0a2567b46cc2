"""A new customer in a real browser (Debian's Chromium driven by Playwright): registration,
the wizard's seven steps against the sandbox vendors, then a won deal in HubSpot shows up as
a transfer in the dashboard. A screenshot of every step goes to var/screenshots/."""

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core import mail

from billing.models import Subscription
from sandbox.core import RunningSandbox, serve
from sandbox.hubspot.app import HubSpotSandbox
from sandbox.lexoffice.app import LexofficeSandbox
from sandbox.stripe.app import StripeSandbox
from sync.models import Transfer
from tests.processes import celery_worker, wait_until

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parent.parent.parent / "var" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def vendors(live_server, settings) -> Iterator[dict[str, RunningSandbox]]:  # type: ignore[no-untyped-def]
    hubspot = serve(
        HubSpotSandbox(
            client_id=settings.HUBSPOT_CLIENT_ID,
            client_secret=settings.HUBSPOT_CLIENT_SECRET,
            webhook_target_url=f"{live_server.url}/webhooks/hubspot",
            webhook_subscriptions=["deal.propertyChange"],
            webhook_retry_base_delay=0.5,
        )
    )
    lexoffice = serve(LexofficeSandbox(api_keys={"browser-key": "Browser Buchhaltung GmbH"}))
    stripe = serve(
        StripeSandbox(
            secret_keys=[settings.STRIPE_SECRET_KEY],
            webhook_endpoints=[
                (f"{live_server.url}/billing/stripe/webhook", settings.STRIPE_WEBHOOK_SECRET)
            ],
            webhook_retry_delays=(0.5, 1.0),
        )
    )
    urls = {"hubspot": hubspot.url, "lexoffice": lexoffice.url, "stripe": stripe.url}
    settings.VENDOR_API_URLS = {
        **settings.VENDOR_API_URLS,
        **urls,
        "hubspot_oauth": hubspot.url,
    }
    settings.PUBLIC_BASE_URL = live_server.url
    yield {"hubspot": hubspot, "lexoffice": lexoffice, "stripe": stripe}
    hubspot.sandbox.webhooks.stop()  # type: ignore[attr-defined]
    for handle in (hubspot, lexoffice, stripe):
        handle.stop()


def test_a_new_customer_goes_through_the_wizard_and_sees_a_transfer(
    live_server,  # type: ignore[no-untyped-def]
    vendors: dict[str, RunningSandbox],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls between browser
    # steps are still plain synchronous code. Only for this test, never in deployment.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    assert Path(CHROMIUM).exists(), "Chromium is missing: bin/setup installs Debian's chromium"
    SHOTS.mkdir(parents=True, exist_ok=True)
    base = live_server.url
    shots: list[str] = []

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(locale="de-DE")

        def shot(name: str) -> None:
            path = SHOTS / f"{len(shots) + 1:02d}-{name}.png"
            page.screenshot(path=str(path), full_page=True)
            shots.append(path.name)

        # 1. personal data
        page.goto(f"{base}/accounts/signup/")
        page.fill("input[name=email]", "neu@kunde.de")
        page.fill("input[name=password1]", "Sehr-sicheres-Passwort-42")
        page.fill("input[name=password2]", "Sehr-sicheres-Passwort-42")
        page.check("input[name=accept_terms]")
        shot("personal-data")
        page.click("main button[type=submit]")
        # The confirmation link from the e-mail, which signs the new customer in.
        link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", str(mail.outbox[-1].body))
        assert link
        page.goto(link.group(0))
        page.click("main button[type=submit]")
        page.goto(f"{base}/registration/setup/")
        # 2. company data
        page.fill("input[name=company_name]", "Neukunde GmbH")
        page.fill("input[name=street]", "Hauptstraße")
        page.fill("input[name=house_number]", "7")
        page.fill("input[name=postcode]", "10115")
        page.fill("input[name=city]", "Berlin")
        page.select_option("select[name=country]", "DE")
        shot("company-data")
        page.click("main button[type=submit]")
        # 3. HubSpot, through the sandbox's consent screen
        shot("hubspot")
        page.click("main button:has-text('HubSpot verbinden')")
        page.check("input[name=portal_id][value='4711']")
        shot("hubspot-consent")
        page.click("button[value=approve]")
        assert "4711" in page.content()
        shot("hubspot-connected")
        page.goto(f"{base}/billing/plan/")
        # 4. plan
        page.check("input[name=plan][value=lexoffice]")
        shot("plan")
        page.click("main button[type=submit]")
        # 5. accounting system, verified by a real call
        page.fill("input[name=api_key]", "browser-key")
        page.click("main button[type=submit]")
        assert "Browser Buchhaltung GmbH" in page.content()
        shot("accounting-connected")
        page.goto(f"{base}/billing/payment/")
        # 6. payment on Stripe's hosted page
        shot("payment")
        page.click("main button[type=submit]")
        page.fill("input[name=card_number]", "4242 4242 4242 4242")
        shot("stripe-checkout")
        page.click("text=Subscribe")
        # The webhook stores Stripe's events; a worker applies them.
        with celery_worker(vendor_urls={"stripe": vendors["stripe"].url}):
            wait_until(
                lambda: Subscription.objects.filter(status=Subscription.Status.TRIALING).exists(),
                timeout=60,  # applied by the worker from Stripe's event; slow on SQLite under load
            )
        # 7. the overview of active connections
        page.goto(f"{base}/")
        content = page.content()
        assert "HubSpot" in content
        assert "lexware office" in content
        shot("dashboard")

        # A deal moved to won in HubSpot becomes a transfer the customer sees.
        hubspot: Any = vendors["hubspot"].sandbox
        with celery_worker(
            vendor_urls={"hubspot": vendors["hubspot"].url, "lexoffice": vendors["lexoffice"].url}
        ):
            deal_id = hubspot.seed_deal(
                4711, name="Erster Auftrag", stage="contractsent",
                company={"name": "Kunde AG", "address": "Weg 1", "zip": "10115", "city": "Berlin",
                         "country": "Germany"},
                line_items=[{"name": "Beratung", "quantity": "2", "price": "150"}],
            )  # fmt: skip
            hubspot.move_deal(4711, deal_id, "closedwon")
            wait_until(
                lambda: Transfer.objects.filter(object_id=deal_id, state="done").exists(),
                timeout=90,
            )
        page.goto(f"{base}/activity/")
        assert "Erster Auftrag" in page.content()
        shot("activity-log")
        # On a phone the pages fit the screen: nothing scrolls sideways but a wide table.
        page.set_viewport_size({"width": 390, "height": 844})
        for path, name in (("/", "dashboard-390px"), ("/activity/", "activity-log-390px")):
            page.goto(f"{base}{path}")
            shot(name)
            assert page.evaluate("document.documentElement.scrollWidth") <= 390, name
        browser.close()
    assert len(shots) == 13
