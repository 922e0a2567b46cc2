"""The data mapper in a real browser (Debian's Chromium): open the mapping, map a custom
HubSpot property to the quote's introduction, preview a deal with the unsaved rule, save,
move the deal to won in HubSpot, and find the property's value in the quote the accounting
system received. The page works 390 px wide, and the browser refuses nothing under the
Content-Security-Policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from accounts.models import User
from sync.mapping.models import MappingVersion
from sync.models import Transfer
from tests.browser.test_customer_journey import CHROMIUM, CHROMIUM_ARGS, SHOTS
from tests.factories import UserFactory
from tests.mapper.helpers import define_property
from tests.processes import celery_worker, wait_until
from tests.sync.conftest import PORTAL, world_factory

__all__ = ["world_factory"]
PASSWORD = "correct horse battery staple"
# The elements that reach beyond the window, to name the culprit when the page is too wide.
WIDEST = """[...document.querySelectorAll("body *")]
  .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
  .slice(0, 8)
  .map((e) => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)"""
INTRODUCTION = "Wie am Telefon besprochen, unser Angebot:"


@pytest.mark.django_db(transaction=True)
def test_a_custom_property_mapped_to_the_introduction_arrives_in_the_quote(
    world_factory: Any,
    live_server,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    assert Path(CHROMIUM).exists(), "Chromium is missing: bin/setup installs Debian's chromium"
    shots = SHOTS / "mapper"
    shots.mkdir(parents=True, exist_ok=True)
    world = world_factory("lexoffice")
    define_property(world, "deals", "angebotstext", "Angebotstext")
    user: User = UserFactory(tenant=world.tenant)  # type: ignore[assignment]
    deal_id = world.hubspot_sandbox.seed_deal(
        PORTAL,
        name="Relaunch Onlineshop",
        stage="contractsent",
        company={"name": "Beispiel GmbH", "address": "Hauptstraße 5", "zip": "10115",
                 "city": "Berlin", "country": "Germany"},
        contact={"firstname": "Anna", "lastname": "Muster", "email": "anna@beispiel.de"},
        line_items=[{"name": "Konzeption", "quantity": "2", "price": "450.00"}],
        properties={"angebotstext": INTRODUCTION},
    )  # fmt: skip

    refused: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(locale="en-US", viewport={"width": 390, "height": 844})
        page.on(
            "console",
            lambda message: (
                refused.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("input[name=login]", user.email)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.goto(f"{live_server.url}/")
        page.click("a:has-text('Data mapping')")
        assert page.locator("h1", has_text="Data mapping").count() == 1

        # Only the inputs of the chosen source are shown (static/js/app.js).
        lookup_table = page.locator("#quote\\.introduction-table")
        assert not lookup_table.is_visible()
        page.select_option("#quote\\.introduction-kind", "property")
        assert page.locator("#quote\\.introduction-property").is_visible()
        page.fill("#quote\\.introduction-property", "angebotstext")
        page.fill("#preview_deal", "Relaunch")
        with page.expect_navigation():
            page.click("button[value=preview]")
        preview = page.locator("#preview")
        assert INTRODUCTION in preview.inner_text()
        assert "/v1/quotations" in preview.inner_text()
        assert not MappingVersion.objects.filter(tenant=world.tenant).exists()
        # Nothing is wider than the phone.
        width = page.evaluate("document.documentElement.scrollWidth")
        widest = page.evaluate(WIDEST)
        assert width <= 390, widest
        page.screenshot(path=str(shots / "preview-390.png"), full_page=True)

        with page.expect_navigation():
            page.click("button[value=save]")
        assert page.locator("text=saved as version 1").count() == 1
        page.screenshot(path=str(shots / "saved-390.png"), full_page=True)
        browser.close()
    assert refused == []

    with celery_worker(vendor_urls=world.vendor_urls()):
        world.hubspot_sandbox.move_deal(PORTAL, deal_id, "closedwon")
        wait_until(
            lambda: Transfer.objects.filter(object_id=deal_id, state=Transfer.State.DONE).exists(),
            timeout=90,
        )
    [quotation] = [record for _, record in world.accounting.sandbox.store.everything("quotations")]
    assert quotation["introduction"].startswith(INTRODUCTION)
