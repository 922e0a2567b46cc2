"""What the Content-Security-Policy leaves to static/js/app.js and static/css/app.css still
works in a real browser (Debian's Chromium): the language switch, the question before
disconnecting a system, the chart's bar heights, and the browser refuses nothing."""

from pathlib import Path

import pytest

from accounts.models import User
from billing.models import Subscription
from connectors.models import Connection
from sync.models import Transfer
from tests.browser.test_customer_journey import CHROMIUM, CHROMIUM_ARGS
from tests.factories import ConnectionFactory, TransferFactory, UserFactory

PASSWORD = "correct horse battery staple"


@pytest.mark.django_db(transaction=True)
def test_the_dashboard_behaves_under_its_content_security_policy(
    live_server,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; only for this test.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    assert Path(CHROMIUM).exists(), "Chromium is missing: bin/setup installs Debian's chromium"

    user: User = UserFactory()  # type: ignore[assignment]
    ConnectionFactory(tenant=user.tenant, system="hubspot", external_account_id="4711")
    ConnectionFactory(tenant=user.tenant, system="lexoffice")
    Subscription.objects.create(
        tenant=user.tenant, plan="lexoffice", status=Subscription.Status.ACTIVE
    )
    TransferFactory(tenant=user.tenant, state=Transfer.State.DONE)
    TransferFactory(tenant=user.tenant, state=Transfer.State.FAILED)

    refused: list[str] = []
    questions: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(locale="en-US")
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
        assert page.locator("h2", has_text="Active connections").count() == 1

        # The chart's bars take their heights from the script.
        bar = page.locator(".chart-stack .chart-bar.done").first
        assert bar.evaluate("element => element.getBoundingClientRect().height") > 10

        # Disconnecting asks first; declining keeps the connection.
        def decline(dialog) -> None:  # type: ignore[no-untyped-def]
            questions.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", decline)
        page.locator("form[data-confirm] button").first.click()
        page.wait_for_timeout(300)
        assert [question[:23] for question in questions] == ["Disconnect this system?"]
        assert Connection.objects.filter(tenant=user.tenant).count() == 2

        # The language switch submits on choice.
        with page.expect_navigation():
            page.select_option("select[name=language]", "de")
        assert page.locator("h2", has_text="Aktive Verbindungen").count() == 1
        browser.close()
    assert refused == []
