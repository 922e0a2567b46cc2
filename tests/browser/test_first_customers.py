"""Five first customers, each alone in a real browser (Debian's Chromium driven by
Playwright), from the signup to a correct quote in their accounting system, with nothing but
the product's own pages and their vendors' consent and payment pages:

- a German company on lexware office,
- a Swiss company on bexio, whose deal has no currency (CHF from the HubSpot account),
- a Swiss company on sevDesk,
- a French company on Qonto, in French, whose customer is a French contact,
- a Dutch company on Visma eAccounting, in English, connected through Visma's consent page,
- and a German consultancy on ZEP (time tracking), whose deal moved to a stage it chose
  becomes a ZEP project with the deal's company as ZEP customer.

Each ends by reading the quote the vendor's sandbox stored (customer and address, positions,
tax rate, currency, document language) and the activity log that says it is done. The
screenshots of every step go to var/screenshots/<customer>/, with the dashboard and the
activity log 390 px wide."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core import mail

from billing.models import Subscription
from connectors import oauth
from connectors.models import Connection
from connectors.registry import provider
from sandbox.bexio.app import BexioSandbox
from sandbox.core import RunningSandbox, serve
from sandbox.eaccounting.app import EAccountingSandbox
from sandbox.hubspot import account_info
from sandbox.hubspot.app import HubSpotSandbox
from sandbox.lexoffice.app import LexofficeSandbox
from sandbox.qonto.app import DEMO_IBAN, QontoSandbox
from sandbox.sevdesk.app import SevdeskSandbox
from sandbox.stripe.app import StripeSandbox
from sandbox.zep.app import ZepSandbox
from sync.models import Transfer
from tests.browser.test_customer_journey import CHROMIUM, CHROMIUM_ARGS, SHOTS
from tests.processes import celery_worker, wait_until

PASSWORD = "Sehr-sicheres-Passwort-42"
LEXOFFICE_KEY = "lexware-key-schwarzwald"
BEXIO_TOKEN = "bexio-pat-alpenblick"
SEVDESK_TOKEN = "5e7de5c0ffee5e7de5c0ffee5e7de5c0"
QONTO_LOGIN, QONTO_SECRET = "atelier-lumiere", "qonto-secret-atelier"
PORTALS = {
    4711: "Schwarzwald Software GmbH",
    4712: "Alpenblick Treuhand AG",
    4713: "Rheinblick Design GmbH",
    4714: "Atelier Lumière SAS",
    4715: "Hafenblick Consulting GmbH",
    4716: "Molenwerf Techniek B.V.",
}
ZEP_INSTANCE = "hafenblick"
ZEP_TOKENS = ("zep-rest-hafenblick", "zep-soap-hafenblick")
EACCOUNTING_COMPANY = "6a0f3c2e-1d4b-4f7e-9c1a-5b8d2e4f0716"
SWISS_PORTALS = (4712, 4713)


def records(running: RunningSandbox, resource: str) -> list[dict[str, Any]]:
    """Every record of `resource` the vendor's sandbox holds, of any account."""
    return [record for _, record in running.sandbox.store.everything(resource)]


def one(found: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(found) == 1, json.dumps(found, indent=1, default=str)
    return found[0]


def number(value: Any) -> Decimal:
    return Decimal(str(value)).normalize()


# -- what each vendor must hold in the end ---------------------------------------------------


def lexoffice_quote(vendors: dict[str, RunningSandbox], deal_id: str) -> None:
    lexoffice = vendors["lexoffice"]
    quote = one(records(lexoffice, "quotations"))
    contact = one(records(lexoffice, "contacts"))
    assert contact["company"]["name"] == "Müller Maschinenbau GmbH"
    billing = contact["addresses"]["billing"][0]
    assert (billing["street"], billing["zip"], billing["city"], billing["countryCode"]) == (
        "Industriestraße 5", "70173", "Stuttgart", "DE",
    )  # fmt: skip
    assert quote["address"]["contactId"] == contact["id"]
    assert [
        (i["name"], number(i["quantity"]), number(i["unitPrice"]["netAmount"]), i["unitName"])
        for i in quote["lineItems"]
    ] == [
        ("Beratung", number(2), number(150), "Stück"),
        ("Schulung", number(1), number(800), "Stück"),
    ]
    assert {number(i["unitPrice"]["taxRatePercentage"]) for i in quote["lineItems"]} == {number(19)}
    assert quote["totalPrice"]["currency"] == "EUR"
    assert quote["language"] == "de"
    assert f"HubSpot-Deal 4711-{deal_id}" in json.dumps(quote, ensure_ascii=False)


def bexio_quote(vendors: dict[str, RunningSandbox], deal_id: str) -> None:
    bexio = vendors["bexio"]
    offer = one(records(bexio, "offers"))
    contact = one(records(bexio, "contacts"))
    assert contact["name_1"] == "Bergsicht Immobilien AG"
    assert (contact["street_name"], contact["postcode"], contact["city"]) == (
        "Bahnhofstrasse 10", "8001", "Zürich",
    )  # fmt: skip
    assert offer["contact_id"] == contact["id"]
    positions = offer["positions"]
    assert [(p["text"], number(p["amount"]), number(p["unit_price"])) for p in positions] == [
        ("Jahresabschluss", number(1), number(2400)),
        ("Lohnbuchhaltung", number(12), number(90)),
    ]
    assert {number(p["tax_value"]) for p in positions} == {number("8.1")}
    assert number(offer["total_taxes"]) == number("281.88")
    # The deal has no currency: CHF, the HubSpot account's company currency. The bexio
    # company lists no currencies, so the offer is sent without a currency_id, in the
    # company's base currency (CHF); nor has bexio a language id the spec explains, so the
    # offer is in the company's language, which is the customer's (Zürich: German).
    sent = one([c.request_body for c in bexio.sandbox.api_calls(path_prefix="/2.0/kb_offer")])
    assert "currency_id" not in sent
    assert offer["header"] == f"HubSpot-Deal 4712-{deal_id}"


def sevdesk_quote(vendors: dict[str, RunningSandbox], deal_id: str) -> None:
    sevdesk = vendors["sevdesk"]
    order = one(records(sevdesk, "orders"))
    contact = one(records(sevdesk, "contacts"))
    assert contact["name"] == "Rheinufer Architektur GmbH"
    assert order["address"] == "Rheinufer Architektur GmbH\nRheinweg 12\n4058 Basel\nSchweiz"
    assert order["contact"]["id"] == contact["id"]
    positions = records(sevdesk, "order_positions")
    assert sorted(
        (p["name"], number(p["quantity"]), number(p["price"]), number(p["taxRate"]))
        for p in positions
    ) == [
        # Tax rule 1 of sevDesk allows 0, 7 and 19 %: the Swiss 8.1 % is not among them.
        ("Entwurf", number(3), number(1200), number(19)),
        ("Visualisierung", number(2), number(450), number(19)),
    ]
    assert order["currency"] == "CHF"
    assert order["headText"] == f"HubSpot-Deal 4713-{deal_id}"


def qonto_quote(vendors: dict[str, RunningSandbox], deal_id: str) -> None:
    qonto = vendors["qonto"]
    quote = one(records(qonto, "quotes"))
    client = one(records(qonto, "clients"))
    assert (client.get("first_name"), client.get("last_name")) == ("Camille", "Lefèvre")
    address = client["billing_address"]
    assert (address["street_address"], address["zip_code"], address["city"]) == (
        "8 rue des Lilas", "69003", "Lyon",
    )  # fmt: skip
    assert (address["country_code"], client["locale"]) == ("FR", "FR")
    assert quote["client"]["id"] == client["id"]
    assert [
        (i["title"], number(i["quantity"]), number(i["unit_price"]["value"]), i["unit"])
        for i in quote["items"]
    ] == [
        ("Création du logo", number(1), number(900), "pièce"),
        ("Atelier de marque", number(2), number(350), "pièce"),
    ]
    assert {number(i["vat_rate"]) for i in quote["items"]} == {number(20)}
    assert quote["currency"] == "EUR"
    assert quote["header"] == f"Identité visuelle Lefèvre\nAffaire HubSpot 4714-{deal_id}"
    assert quote["terms_and_conditions"].startswith("Ce devis est valable")


def eaccounting_quote(vendors: dict[str, RunningSandbox], deal_id: str) -> None:
    eaccounting = vendors["eaccounting"]
    quote = one(records(eaccounting, "quotes"))
    customer = one(records(eaccounting, "customers"))
    assert (customer["Name"], customer["IsPrivatePerson"]) == ("Bakkerij de Vries B.V.", False)
    address = ("InvoiceAddress1", "InvoicePostalCode", "InvoiceCity", "InvoiceCountryCode")
    assert [customer[f] for f in address] == ["Zeedijk 7", "1012 AN", "Amsterdam", "NL"]
    assert quote["CustomerId"] == customer["Id"]
    assert [(r["Text"], number(r["Quantity"]), number(r["UnitPrice"])) for r in quote["Rows"]] == [
        ("Onderhoud", number(2), number(300)),
        ("Installatie", number(1), number(950)),
    ]
    # No article of their own: the generic article of the standard rate, 21 % in the account.
    assert {number(r["VatRate"]) for r in quote["Rows"]} == {number("0.21")}
    assert number(quote["TotalAmount"]) == number("1875.50")
    assert quote["CurrencyCode"] == "EUR"
    assert deal_id in quote["CompanyReference"]


# -- the five customers ------------------------------------------------------------------------


@dataclass(frozen=True)
class Customer:
    key: str
    locale: str
    email: str
    company: dict[str, str]
    portal: int
    plan: str
    credentials: dict[str, str]
    account_name: str
    deal: dict[str, Any]
    check_quote: Callable[[dict[str, RunningSandbox], str], None]
    # What the product decided for the quote: its currency and the customer's language.
    currency: str
    language: str
    # The company the customer picks on the vendor's consent page (a system connected by
    # OAuth only); "": the credentials are pasted.
    consent_account: str = ""


CUSTOMERS = [
    Customer(
        key="de-lexoffice",
        locale="de-DE",
        email="inhaberin@schwarzwald-software.de",
        company={"company_name": "Schwarzwald Software GmbH", "street": "Kaiser-Joseph-Straße",
                 "house_number": "12", "postcode": "79098", "city": "Freiburg", "country": "DE"},
        portal=4711,
        plan="lexoffice",
        credentials={"api_key": LEXOFFICE_KEY},
        account_name="Schwarzwald Software GmbH",
        deal={
            "name": "Wartungsvertrag Müller",
            "company": {"name": "Müller Maschinenbau GmbH", "address": "Industriestraße 5",
                        "zip": "70173", "city": "Stuttgart", "country": "Germany"},
            "line_items": [
                {"name": "Beratung", "quantity": "2", "price": "150"},
                {"name": "Schulung", "quantity": "1", "price": "800"},
            ],
        },
        check_quote=lexoffice_quote,
        currency="EUR",
        language="de",
    ),
    Customer(
        key="ch-bexio",
        locale="de-CH",
        email="buchhaltung@alpenblick-treuhand.ch",
        company={"company_name": "Alpenblick Treuhand AG", "street": "Seestrasse",
                 "house_number": "41", "postcode": "8002", "city": "Zürich", "country": "CH"},
        portal=4712,
        plan="bexio",
        credentials={"access_token": BEXIO_TOKEN},
        account_name="",
        deal={
            "name": "Mandat Bergsicht 2027",
            "company": {"name": "Bergsicht Immobilien AG", "address": "Bahnhofstrasse 10",
                        "zip": "8001", "city": "Zürich", "country": "Switzerland"},
            "line_items": [
                {"name": "Jahresabschluss", "quantity": "1", "price": "2400"},
                {"name": "Lohnbuchhaltung", "quantity": "12", "price": "90"},
            ],
        },
        check_quote=bexio_quote,
        currency="CHF",
        language="de",
    ),
    Customer(
        key="ch-sevdesk",
        locale="de-CH",
        email="studio@rheinblick-design.ch",
        company={"company_name": "Rheinblick Design GmbH", "street": "Rheingasse",
                 "house_number": "3", "postcode": "4058", "city": "Basel", "country": "CH"},
        portal=4713,
        plan="sevdesk",
        credentials={"api_token": SEVDESK_TOKEN},
        # sevDesk's API names no company: the account is named after the token's user.
        account_name="Lea Keller",
        deal={
            "name": "Neubau Rheinufer",
            "company": {"name": "Rheinufer Architektur GmbH", "address": "Rheinweg 12",
                        "zip": "4058", "city": "Basel", "country": "Switzerland"},
            "line_items": [
                {"name": "Entwurf", "quantity": "3", "price": "1200"},
                {"name": "Visualisierung", "quantity": "2", "price": "450"},
            ],
        },
        check_quote=sevdesk_quote,
        currency="CHF",
        language="de",
    ),
    Customer(
        key="fr-qonto",
        locale="fr-FR",
        email="contact@atelier-lumiere.fr",
        company={"company_name": "Atelier Lumière SAS", "street": "Rue de la République",
                 "house_number": "18", "postcode": "69002", "city": "Lyon", "country": "FR"},
        portal=4714,
        plan="qonto",
        credentials={"login": QONTO_LOGIN, "secret_key": QONTO_SECRET},
        account_name="Atelier Lumière SAS",
        deal={
            "name": "Identité visuelle Lefèvre",
            "contact": {"firstname": "Camille", "lastname": "Lefèvre",
                        "email": "camille.lefevre@example.fr", "address": "8 rue des Lilas",
                        "zip": "69003", "city": "Lyon", "country": "France"},
            "line_items": [
                {"name": "Création du logo", "quantity": "1", "price": "900"},
                {"name": "Atelier de marque", "quantity": "2", "price": "350"},
            ],
        },
        check_quote=qonto_quote,
        currency="EUR",
        language="fr",
    ),
    Customer(
        key="nl-eaccounting",
        locale="en-GB",
        email="administratie@molenwerf-techniek.nl",
        company={"company_name": "Molenwerf Techniek B.V.", "street": "Lagedijk",
                 "house_number": "22", "postcode": "1544 BJ", "city": "Zaandijk", "country": "NL"},
        portal=4716,
        plan="eaccounting",
        credentials={},
        account_name="Molenwerf Techniek B.V.",
        deal={
            "name": "Onderhoud De Vries",
            "company": {"name": "Bakkerij de Vries B.V.", "address": "Zeedijk 7",
                        "zip": "1012 AN", "city": "Amsterdam", "country": "Netherlands"},
            "line_items": [
                {"name": "Onderhoud", "quantity": "2", "price": "300"},
                {"name": "Installatie", "quantity": "1", "price": "950"},
            ],
        },
        check_quote=eaccounting_quote,
        currency="EUR",
        language="en",
        consent_account=EACCOUNTING_COMPANY,
    ),
]  # fmt: skip


# -- the vendors and the worker, shared by the five ------------------------------------------------


@pytest.fixture(scope="module")
def vendors(live_server, django_db_setup) -> Iterator[dict[str, RunningSandbox]]:  # type: ignore[no-untyped-def]
    hubspot_sandbox = HubSpotSandbox(
        client_id=django_settings.HUBSPOT_CLIENT_ID,
        client_secret=django_settings.HUBSPOT_CLIENT_SECRET,
        portals=PORTALS,
        webhook_target_url=f"{live_server.url}/webhooks/hubspot",
        webhook_subscriptions=["deal.propertyChange"],
        webhook_retry_base_delay=0.5,
    )
    for portal in SWISS_PORTALS:
        account_info.set_company_currency(hubspot_sandbox, portal, "CHF")
    bexio_sandbox = BexioSandbox()
    bexio_sandbox.add_company(name="Alpenblick Treuhand AG", personal_access_token=BEXIO_TOKEN)
    sevdesk_sandbox = SevdeskSandbox(demo_token=None)
    sevdesk_sandbox.add_account(
        token=SEVDESK_TOKEN, company_name="Rheinblick Design GmbH", user_fullname="Lea Keller"
    )
    qonto_sandbox = QontoSandbox()
    qonto_sandbox.add_organization(
        slug=QONTO_LOGIN, secret_key=QONTO_SECRET, name="Atelier Lumière SAS", iban=DEMO_IBAN
    )
    eaccounting_sandbox = EAccountingSandbox()
    eaccounting_sandbox.add_company(EACCOUNTING_COMPANY, PORTALS[4716])
    client_id, client_secret = oauth.client_credentials(provider("eaccounting"))
    eaccounting_sandbox.add_oauth_client(client_id=client_id, client_secret=client_secret)
    running = {
        "hubspot": serve(hubspot_sandbox),
        "lexoffice": serve(LexofficeSandbox(api_keys={LEXOFFICE_KEY: PORTALS[4711]})),
        "bexio": serve(bexio_sandbox),
        "sevdesk": serve(sevdesk_sandbox),
        "qonto": serve(qonto_sandbox),
        "eaccounting": serve(eaccounting_sandbox),
        "zep": serve(ZepSandbox(instances={ZEP_INSTANCE: ZEP_TOKENS})),
        "stripe": serve(
            StripeSandbox(
                secret_keys=[django_settings.STRIPE_SECRET_KEY],
                webhook_endpoints=[
                    (
                        f"{live_server.url}/billing/stripe/webhook",
                        django_settings.STRIPE_WEBHOOK_SECRET,
                    )
                ],
                webhook_retry_delays=(0.5, 1.0),
            )
        ),
    }
    yield running
    hubspot_sandbox.webhooks.stop()
    for handle in running.values():
        handle.stop()


def api_urls(vendors: dict[str, RunningSandbox]) -> dict[str, str]:
    # sevDesk's API lives under /api/v1 of its host (https://my.sevdesk.de/api/v1),
    # eAccounting's under /v2, ZEP's under each customer's instance.
    paths = {"sevdesk": "/api/v1", "eaccounting": "/v2", "zep": "/{instance}/next/api/v1"}
    return {name: running.url + paths.get(name, "") for name, running in vendors.items()}


@pytest.fixture(scope="module")
def worker(vendors: dict[str, RunningSandbox]) -> Iterator[None]:
    # One worker for the five: it applies Stripe's events and runs the quote transfers.
    with celery_worker(vendor_urls=api_urls(vendors)):
        yield


@pytest.fixture
def vendor_urls(vendors: dict[str, RunningSandbox], live_server, settings) -> None:  # type: ignore[no-untyped-def]
    urls = api_urls(vendors)
    settings.VENDOR_API_URLS = {
        **settings.VENDOR_API_URLS,
        **urls,
        "hubspot_oauth": urls["hubspot"],
        "eaccounting_oauth": vendors["eaccounting"].url,  # Visma's identity server
    }
    settings.PUBLIC_BASE_URL = live_server.url


@pytest.mark.parametrize("customer", CUSTOMERS, ids=[c.key for c in CUSTOMERS])
def test_a_first_customer_gets_a_correct_quote_without_help(
    customer: Customer,
    live_server,  # type: ignore[no-untyped-def]
    vendors: dict[str, RunningSandbox],
    worker: None,
    vendor_urls: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls between browser
    # steps are still plain synchronous code. Only for this test, never in deployment.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    assert Path(CHROMIUM).exists(), "Chromium is missing: bin/setup installs Debian's chromium"
    folder = SHOTS / customer.key
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    base = live_server.url
    shots: list[str] = []

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(locale=customer.locale).new_page()

        def shot(name: str) -> None:
            path = folder / f"{len(shots) + 1:02d}-{name}.png"
            page.screenshot(path=str(path), full_page=True)
            shots.append(path.name)

        def submit() -> None:
            page.click("main form:not([action]) button[type=submit]")

        def follow_continue() -> None:
            # The wizard's own "continue" link leads to the next unfinished step.
            page.click("main a.button.primary")

        # 1. personal data
        page.goto(f"{base}/accounts/signup/")
        page.fill("input[name=email]", customer.email)
        page.fill("input[name=password1]", PASSWORD)
        page.fill("input[name=password2]", PASSWORD)
        page.check("input[name=accept_terms]")
        shot("personal-data")
        page.click("main button[type=submit]")
        # 2. the confirmation link from the e-mail signs the new customer in
        link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", str(mail.outbox[-1].body))
        assert link
        page.goto(link.group(0))
        page.click("main button[type=submit]")
        # 3. company data, right after the confirmation
        assert page.locator("input[name=company_name]").count() == 1, page.url
        for name, value in customer.company.items():
            if name == "country":
                page.select_option("select[name=country]", value)
            else:
                page.fill(f"input[name={name}]", value)
        shot("company-data")
        page.click("main button[type=submit]")
        # 4. HubSpot, through the sandbox's consent screen
        shot("hubspot")
        page.click("main form[action*=hubspot] button[type=submit]")
        page.check(f"input[name=portal_id][value='{customer.portal}']")
        shot("hubspot-consent")
        page.click("button[value=approve]")
        assert str(customer.portal) in page.content() or PORTALS[customer.portal] in (
            page.content()
        )
        shot("hubspot-connected")
        follow_continue()
        # 5. plan
        page.check(f"input[name=plan][value={customer.plan}]")
        shot("plan")
        page.click("main button[type=submit]")
        # 6. accounting system, verified by a real call
        for name, value in customer.credentials.items():
            page.fill(f"input[name={name}]", value)
        shot("accounting")
        if customer.consent_account:
            page.click("main form[action*=connect] button[type=submit]")
            page.select_option("select", customer.consent_account)
            shot("accounting-consent")
            page.click("button[value=approve]")
        else:
            submit()
        assert Connection.objects.filter(system=customer.plan).exists(), page.content()
        if customer.account_name:
            assert customer.account_name in page.content()
        shot("accounting-connected")
        follow_continue()
        # 7. payment on Stripe's hosted page
        shot("payment")
        page.click("main button[type=submit]")
        page.fill("input[name=card_number]", "4242 4242 4242 4242")
        shot("stripe-checkout")
        page.click("text=Subscribe")
        wait_until(
            lambda: Subscription.objects.filter(status=Subscription.Status.TRIALING).exists(),
            timeout=60,  # applied by the worker from Stripe's event; slow on SQLite under load
        )
        # 8. the overview of active connections
        page.goto(f"{base}/")
        # In the language of the customer's browser.
        assert page.get_attribute("html", "lang") == customer.language
        assert "HubSpot" in page.content()
        shot("dashboard")

        # A deal moved to won in HubSpot becomes a quote in the accounting system.
        hubspot: Any = vendors["hubspot"].sandbox
        deal_id = hubspot.seed_deal(customer.portal, stage="contractsent", **customer.deal)
        hubspot.move_deal(customer.portal, deal_id, "closedwon")
        wait_until(
            lambda: Transfer.objects.filter(
                object_id=deal_id, state__in=["done", "failed"]
            ).exists(),
            timeout=90,
        )
        transfer = Transfer.objects.get(object_id=deal_id)
        assert transfer.state == Transfer.State.DONE, transfer.error_text
        sent = transfer.sent_payload or {}
        assert (sent["currency"], sent["language"]) == (customer.currency, customer.language)
        page.goto(f"{base}/activity/")
        row = page.locator("tr", has_text=customer.deal["name"])
        assert row.locator(".badge.state-done").count() == 1
        assert row.locator(".badge.state-placeholder").count() == 0
        shot("activity-log")
        customer.check_quote(vendors, deal_id)

        # On a phone the pages fit the screen: nothing scrolls sideways but a wide table.
        page.set_viewport_size({"width": 390, "height": 844})
        for path, name in (("/", "dashboard-390px"), ("/activity/", "activity-log-390px")):
            page.goto(f"{base}{path}")
            shot(name)
            assert page.evaluate("document.documentElement.scrollWidth") <= 390, name
        browser.close()


def test_a_zep_customer_gets_a_project_for_a_deal_in_a_chosen_stage(
    live_server,  # type: ignore[no-untyped-def]
    vendors: dict[str, RunningSandbox],
    worker: None,
    vendor_urls: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Sign-up, the ZEP plan, ZEP connected with its instance and tokens, paid; a stage chosen
    in the ZEP settings; a deal moved into it becomes a project within seconds."""
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    assert Path(CHROMIUM).exists(), "Chromium is missing: bin/setup installs Debian's chromium"
    folder = SHOTS / "de-zep"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    base = live_server.url
    shots: list[str] = []
    portal = 4715

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(locale="de-DE").new_page()

        def shot(name: str) -> None:
            path = folder / f"{len(shots) + 1:02d}-{name}.png"
            page.screenshot(path=str(path), full_page=True)
            shots.append(path.name)

        page.goto(f"{base}/accounts/signup/")
        page.fill("input[name=email]", "projekte@hafenblick-consulting.de")
        page.fill("input[name=password1]", PASSWORD)
        page.fill("input[name=password2]", PASSWORD)
        page.check("input[name=accept_terms]")
        page.click("main button[type=submit]")
        link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", str(mail.outbox[-1].body))
        assert link
        page.goto(link.group(0))
        page.click("main button[type=submit]")
        company = {"company_name": "Hafenblick Consulting GmbH", "street": "Am Sandtorkai",
                   "house_number": "7", "postcode": "20457", "city": "Hamburg"}  # fmt: skip
        for name, value in company.items():
            page.fill(f"input[name={name}]", value)
        page.select_option("select[name=country]", "DE")
        page.click("main button[type=submit]")
        page.click("main form[action*=hubspot] button[type=submit]")
        page.check(f"input[name=portal_id][value='{portal}']")
        page.click("button[value=approve]")
        page.click("main a.button.primary")
        # The ZEP plan; the connect step asks for the instance and both tokens, by the
        # word for a system that is no accounting system.
        page.check("input[name=plan][value=zep]")
        shot("plan")
        page.click("main button[type=submit]")
        assert "System verbinden" in page.content()
        page.fill("input[name=instance]", ZEP_INSTANCE)
        page.fill("input[name=api_token]", ZEP_TOKENS[0])
        page.fill("input[name=soap_token]", ZEP_TOKENS[1])
        shot("zep")
        page.click("main form:not([action]) button[type=submit]")
        assert Connection.objects.filter(system="zep").exists(), page.content()
        shot("zep-connected")
        page.click("main a.button.primary")
        assert "ZEP" in page.content()
        page.click("main button[type=submit]")
        page.fill("input[name=card_number]", "4242 4242 4242 4242")
        page.click("text=Subscribe")
        wait_until(
            lambda: Subscription.objects.filter(
                plan="zep", status=Subscription.Status.TRIALING
            ).exists(),
            timeout=60,
        )
        # The stage whose deals become projects, picked from the portal's stages.
        page.goto(f"{base}/")
        page.click("a[href$='/zep/settings/']")
        page.check("input[name=projects][value=chosen]")
        page.check("input[name=stages][value=contractsent]")
        shot("zep-settings")
        page.click("main form.zep-settings button[type=submit]")

        hubspot: Any = vendors["hubspot"].sandbox
        deal_id = hubspot.seed_deal(
            portal,
            name="Digitalisierung Reederei Nord",
            stage="appointmentscheduled",
            company={"name": "Reederei Nord GmbH", "address": "Kehrwieder 2", "zip": "20457",
                     "city": "Hamburg", "country": "Germany"},
        )  # fmt: skip
        hubspot.move_deal(portal, deal_id, "contractsent")
        zep = vendors["zep"]
        wait_until(lambda: bool(records(zep, "projects")), timeout=30)
        (company_id,) = hubspot.linked(portal, "deals", deal_id, "companies")
        project = one(records(zep, "projects"))
        customer = one(records(zep, "customers"))
        assert (project["name"], project["description"]) == (
            deal_id, "Digitalisierung Reederei Nord",
        )  # fmt: skip
        assert (customer["name"], customer["customer_number"]) == (
            "Reederei Nord GmbH", str(company_id),
        )  # fmt: skip
        assert project["customer_id"] == customer["id"]
        page.goto(f"{base}/activity/")
        row = page.locator("tr", has_text="Digitalisierung Reederei Nord")
        wait_until(lambda: row.locator(".badge.state-done").count() == 1, timeout=10)
        shot("activity-log")
        browser.close()
