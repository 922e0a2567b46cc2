"""The pages of a ZEP connection: its settings (deal stages from the portal's pipelines, read
from the HubSpot sandbox over HTTP; the exclusion property) and the linked pairs (search, CSV,
unlink and relink), each scoped to the signed-in person's company and role."""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Role, Tenant, User
from sandbox.core import RunningSandbox, running
from sandbox.hubspot.app import HubSpotSandbox
from sync.models import ObjectLink, Transfer, TransferSettings
from tests.factories import ConnectionFactory, UserFactory

pytestmark = pytest.mark.django_db

PORTAL = 4711


@pytest.fixture
def hubspot(settings) -> Iterator[RunningSandbox]:  # type: ignore[no-untyped-def]
    sandbox = HubSpotSandbox(
        client_id=settings.HUBSPOT_CLIENT_ID, client_secret=settings.HUBSPOT_CLIENT_SECRET
    )
    with running(sandbox) as handle:
        settings.VENDOR_API_URLS = {**settings.VENDOR_API_URLS, "hubspot": handle.url}
        yield handle


def _connected(tenant: Tenant, hubspot: RunningSandbox | None = None) -> None:
    token = hubspot.sandbox.issue_token(PORTAL) if hubspot else "t"  # type: ignore[attr-defined]
    ConnectionFactory(
        tenant=tenant,
        system="hubspot",
        external_account_id=str(PORTAL) if hubspot else str(tenant.pk),
        credentials={"access_token": token, "refresh_token": "", "expires_at": time.time() + 1800},
    )
    ConnectionFactory(
        tenant=tenant,
        system="zep",
        external_account_id="beispiel",
        credentials={"instance": "beispiel", "api_token": "r", "soap_token": "s"},
    )


def _browser(user: User) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


@pytest.fixture
def owner(db) -> User:  # type: ignore[no-untyped-def]
    return UserFactory()  # type: ignore[return-value]


def _link(
    tenant: Tenant, object_type: str, object_id: str, vendor_id: str, number: str = ""
) -> None:
    ObjectLink.objects.create(
        tenant=tenant,
        system="zep",
        object_type=object_type,
        object_id=object_id,
        vendor_id=vendor_id,
        vendor_number=number,
    )


def test_the_settings_offer_the_portals_stages_with_their_ids_and_are_saved(
    owner: User, hubspot: RunningSandbox
) -> None:
    _connected(owner.tenant, hubspot)
    browser = _browser(owner)
    page = browser.get(reverse("dashboard:zep_settings")).content.decode()
    assert "Sales Pipeline: Qualified To Buy (qualifiedtobuy)" in page
    assert "Projektgeschäft: Auftrag erteilt (98765002)" in page
    assert 'value="ZEP"' in page  # the default exclusion property

    response = browser.post(
        reverse("dashboard:zep_settings"),
        {"projects": "chosen", "stages": ["qualifiedtobuy", "98765002"],
         "exclusion_property": "zep_sync"},
    )  # fmt: skip
    assert response["Location"] == reverse("dashboard:zep_settings")
    stored = TransferSettings.objects.get(tenant=owner.tenant)
    assert stored.project_stage_ids == "qualifiedtobuy,98765002"
    assert stored.project_exclusion_property == "zep_sync"
    again = browser.get(reverse("dashboard:zep_settings")).content.decode()
    assert re.search(r'value="98765002"[^>]*checked', again)
    assert re.search(r'value="qualifiedtobuy"[^>]*checked', again)
    assert not re.search(r'value="closedwon"[^>]*checked', again)

    browser.post(
        reverse("dashboard:zep_settings"), {"projects": "all", "exclusion_property": "ZEP"}
    )
    assert TransferSettings.objects.get(tenant=owner.tenant).project_stage_ids == "all"
    browser.post(
        reverse("dashboard:zep_settings"),
        {"projects": "none", "stages": ["closedwon"], "exclusion_property": "ZEP"},
    )
    assert TransferSettings.objects.get(tenant=owner.tenant).project_stage_ids == ""


def test_chosen_stages_need_at_least_one(owner: User, hubspot: RunningSandbox) -> None:
    _connected(owner.tenant, hubspot)
    response = _browser(owner).post(
        reverse("dashboard:zep_settings"), {"projects": "chosen", "exclusion_property": "ZEP"}
    )
    assert response.status_code == 200
    assert "Please choose at least one stage." in response.content.decode()
    assert not TransferSettings.objects.filter(tenant=owner.tenant).exists()


def test_without_hubspots_pipelines_stage_ids_are_typed(owner: User, settings) -> None:  # type: ignore[no-untyped-def]
    # HubSpot unreachable: the stored ids stay, others are typed.
    settings.VENDOR_API_URLS = {**settings.VENDOR_API_URLS, "hubspot": "http://127.0.0.1:9"}
    _connected(owner.tenant)
    TransferSettings.objects.create(tenant=owner.tenant, project_stage_ids="closedwon")
    browser = _browser(owner)
    page = browser.get(reverse("dashboard:zep_settings")).content.decode()
    assert "Other stage ids" in page
    assert 'value="closedwon"' in page
    browser.post(
        reverse("dashboard:zep_settings"),
        {"projects": "chosen", "stages": ["closedwon"], "other_stages": "123, 456",
         "exclusion_property": "ZEP"},
    )  # fmt: skip
    assert TransferSettings.objects.get(tenant=owner.tenant).project_stage_ids == (
        "closedwon,123,456"
    )


def test_the_linked_pairs_are_listed_searched_and_exported(owner: User) -> None:
    _connected(owner.tenant)
    _link(owner.tenant, Transfer.ObjectType.COMPANY, "1001", "17", "1001")
    _link(owner.tenant, Transfer.ObjectType.DEAL, "2002", "55")
    browser = _browser(owner)
    page = browser.get(reverse("dashboard:zep_links")).content.decode()
    for text in ("1001", "2002", "55"):
        assert text in page
    found = browser.get(reverse("dashboard:zep_links"), {"q": "2002"}).content.decode()
    assert "2002" in found
    assert "1001" not in found

    export = browser.get(reverse("dashboard:zep_links_export"))
    assert export["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(export.content.decode())))
    assert rows[0] == ["hubspot_object", "hubspot_id", "zep_id", "zep_number", "synchronised"]
    assert sorted(rows[1:]) == [
        ["company", "1001", "17", "1001", "yes"],
        ["deal", "2002", "55", "", "yes"],
    ]


def test_unlink_and_relink_by_post(owner: User) -> None:
    _connected(owner.tenant)
    _link(owner.tenant, Transfer.ObjectType.DEAL, "2002", "55")
    browser = _browser(owner)
    response = browser.post(
        reverse("dashboard:zep_unlink"), {"object_type": "deal", "object_id": "2002"}
    )
    assert response["Location"] == reverse("dashboard:zep_links")
    assert not ObjectLink.objects.get(tenant=owner.tenant, object_id="2002").synchronised
    page = browser.get(reverse("dashboard:zep_links")).content.decode()
    assert "Link again" in page

    browser.post(reverse("dashboard:zep_relink"), {"object_type": "deal", "object_id": "2002"})
    assert ObjectLink.objects.get(tenant=owner.tenant, object_id="2002").synchronised
    # Relinking transfers the record again: its project transfer is requested.
    assert Transfer.objects.filter(
        tenant=owner.tenant, kind=Transfer.Kind.PROJECT, object_id="2002"
    ).exists()


def test_linking_by_hand_to_an_existing_zep_customer(owner: User) -> None:
    _connected(owner.tenant)
    browser = _browser(owner)
    refused = browser.post(
        reverse("dashboard:zep_relink"), {"object_type": "company", "object_id": "3003"},
        follow=True,
    )  # fmt: skip
    assert "is not linked yet" in refused.content.decode()
    assert not ObjectLink.objects.filter(tenant=owner.tenant).exists()

    browser.post(
        reverse("dashboard:zep_relink"),
        {"object_type": "company", "object_id": "3003", "vendor_number": "K-77"},
    )
    link = ObjectLink.objects.get(tenant=owner.tenant, object_id="3003")
    assert (link.vendor_number, link.synchronised) == ("K-77", True)


def test_members_see_the_pairs_but_may_not_unlink_and_settings_are_for_admins(
    owner: User,
) -> None:
    _connected(owner.tenant)
    _link(owner.tenant, Transfer.ObjectType.DEAL, "2002", "55")
    member = UserFactory(tenant=owner.tenant, role=Role.MEMBER)
    browser = _browser(member)  # type: ignore[arg-type]
    page = browser.get(reverse("dashboard:zep_links")).content.decode()
    assert "2002" in page
    assert "Unlink" not in page
    refused = browser.post(
        reverse("dashboard:zep_unlink"), {"object_type": "deal", "object_id": "2002"}
    )
    assert refused.status_code == 403
    assert ObjectLink.objects.get(object_id="2002").synchronised
    assert browser.get(reverse("dashboard:zep_settings")).status_code == 403


def test_another_companys_pairs_are_neither_shown_nor_unlinked(owner: User) -> None:
    _connected(owner.tenant)
    stranger = UserFactory()
    _connected(stranger.tenant)  # type: ignore[attr-defined]
    _link(stranger.tenant, Transfer.ObjectType.DEAL, "9009", "99")  # type: ignore[attr-defined]
    browser = _browser(owner)
    assert "9009" not in browser.get(reverse("dashboard:zep_links")).content.decode()
    assert "9009" not in browser.get(reverse("dashboard:zep_links_export")).content.decode()
    browser.post(reverse("dashboard:zep_unlink"), {"object_type": "deal", "object_id": "9009"})
    assert ObjectLink.objects.get(object_id="9009").synchronised


def test_without_a_zep_connection_the_pages_lead_to_the_overview(owner: User) -> None:
    assert _browser(owner).get(reverse("dashboard:zep_links"))["Location"] == reverse(
        "dashboard:home"
    )


def test_the_dashboard_shows_the_zep_connection_with_its_pages(owner: User) -> None:
    _connected(owner.tenant)
    page = _browser(owner).get(reverse("dashboard:home")).content.decode()
    assert "Project time tracking" in page
    assert reverse("dashboard:zep_links") in page
    assert reverse("dashboard:zep_settings") in page


# The elements that reach beyond the window, to name the culprit when a page is too wide.
WIDEST = """[...document.querySelectorAll("body *")]
  .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
  .slice(0, 8)
  .map((e) => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)"""


@pytest.mark.django_db(transaction=True)
def test_the_zep_pages_fit_390_pixels_and_unlink_in_a_browser_under_the_csp(
    hubspot: RunningSandbox,
    live_server,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from playwright.sync_api import sync_playwright

    from tests.browser.test_customer_journey import CHROMIUM, CHROMIUM_ARGS

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    user: User = UserFactory()  # type: ignore[assignment]
    _connected(user.tenant, hubspot)
    for number in range(3):
        _link(user.tenant, Transfer.ObjectType.COMPANY, f"{10**12 + number}", f"{number}", "K-1")
    _link(user.tenant, Transfer.ObjectType.DEAL, "2002", "55")
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
        page.on("dialog", lambda dialog: dialog.accept())
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("input[name=login]", user.email)
        page.fill("input[name=password]", "correct horse battery staple")
        page.click("button[type=submit]")
        for name in ("dashboard:home", "dashboard:zep_settings", "dashboard:zep_links"):
            page.goto(live_server.url + reverse(name))
            assert page.evaluate("document.documentElement.scrollWidth") <= 390, (
                name,
                page.evaluate(WIDEST),
            )
        row = page.locator("tr", has_text="2002")
        with page.expect_navigation():
            row.locator("button", has_text="Unlink").click()
        assert page.locator("text=no longer synchronised").count() == 1
        browser.close()
    assert refused == []
    assert not ObjectLink.objects.get(tenant=user.tenant, object_id="2002").synchronised
