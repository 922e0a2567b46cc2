"""The pages of documents per deal stage: the rules on the settings page (stages read from the
HubSpot sandbox over HTTP, documents only those the accounting system can create), the stage
of paid deals, and a deal's documents with their status on the activity detail."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from html import unescape

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from accounts.models import Tenant, User
from billing.models import Subscription
from sandbox.core import RunningSandbox, running
from sandbox.hubspot.app import HubSpotSandbox
from sync.models import DocumentRule, Transfer, TransferSettings
from sync.payload_display import SEPARATOR
from tests.factories import ConnectionFactory, TransferFactory, UserFactory

pytestmark = pytest.mark.django_db

PORTAL = 4711
SETTINGS_FORM = {
    "placeholder_name": "Musterfirma",
    "placeholder_street": "Musterstraße",
    "placeholder_city": "Musterstadt",
    "validity_days": "30",
    "exclusion_property": "not_to_accounting",
}


@pytest.fixture
def hubspot(settings) -> Iterator[RunningSandbox]:  # type: ignore[no-untyped-def]
    sandbox = HubSpotSandbox(
        client_id=settings.HUBSPOT_CLIENT_ID, client_secret=settings.HUBSPOT_CLIENT_SECRET
    )
    with running(sandbox) as handle:
        settings.VENDOR_API_URLS = {**settings.VENDOR_API_URLS, "hubspot": handle.url}
        yield handle
    cache.clear()  # the portal's currency and pipelines are cached per portal id


@pytest.fixture
def owner(db) -> User:  # type: ignore[no-untyped-def]
    return UserFactory()  # type: ignore[return-value]


def _customer(tenant: Tenant, plan: str, hubspot: RunningSandbox | None) -> None:
    """A tenant with a plan for `plan` (the accounting system is not asked: its declared
    capabilities decide) and, with the sandbox, a HubSpot connection to it."""
    Subscription.objects.create(tenant=tenant, plan=plan, status=Subscription.Status.ACTIVE)
    if hubspot is None:
        return
    ConnectionFactory(
        tenant=tenant,
        system="hubspot",
        external_account_id=str(PORTAL),
        credentials={
            "access_token": hubspot.sandbox.issue_token(PORTAL),  # type: ignore[attr-defined]
            "refresh_token": "",
            "expires_at": time.time() + 1800,
        },
    )


def _browser(user: User) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


def _text(page: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", unescape(page)))


def _rules(tenant: Tenant) -> list[tuple[str, str, str, bool]]:
    return [
        (rule.stage_id, rule.pipeline_id, rule.document, rule.finalize)
        for rule in DocumentRule.objects.filter(tenant=tenant).order_by("created_at")
    ]


def _add(browser: Client, **fields: str) -> str:
    response = browser.post(
        reverse("dashboard:document_rule_add"),
        {f"rule-{name}": value for name, value in fields.items()},
        follow=True,
    )
    assert response.status_code == 200
    return unescape(response.content.decode())


def test_the_section_offers_the_portals_stages_and_only_the_systems_documents(
    owner: User, hubspot: RunningSandbox
) -> None:
    _customer(owner.tenant, "lexoffice", hubspot)
    page = unescape(_browser(owner).get(reverse("dashboard:settings")).content.decode())
    text = _text(page)

    assert "Documents per deal stage" in text
    # The standard rule, shown as such, while the tenant has none of its own.
    assert "Any won stage any pipeline Quote standard rule" in text
    assert "dashboard/settings/rules/" not in page.split("Add a rule")[0]  # nothing to delete
    # Stages grouped by pipeline with their ids, and "any won stage".
    assert '<optgroup label="Projektgeschäft">' in page
    assert '<option value="98765002">Auftrag erteilt (98765002)</option>' in page
    assert '<option value="closedwon">Closed Won (closedwon)</option>' in page
    assert '<option value="won">Any won stage</option>' in page
    assert '<option value="98765000">Projektgeschäft (98765000)</option>' in page
    # Only what lexware office can create, and a word on what it cannot.
    document_select = page.split('name="rule-document"')[1].split("</select>")[0]
    assert 'value="quote"' in document_select
    assert 'value="invoice"' in document_select
    assert 'value="order"' not in document_select
    assert "lexware office cannot create: order confirmation." in text
    assert 'name="rule-finalize"' in page  # lexware office can create finalized invoices
    assert "pushed by lexware office within seconds" in text
    # The paid stage, "stays" by default, from the same stages.
    paid_select = page.split('name="paid_stage_id"')[1].split("</select>")[0]
    assert '<option value="" selected>Stays in its stage</option>' in paid_select
    assert '<option value="98765003">Bezahlt (98765003)</option>' in paid_select


def test_sevdesk_offers_order_confirmations_without_finalizing_and_is_polled(
    owner: User, hubspot: RunningSandbox
) -> None:
    _customer(owner.tenant, "sevdesk", hubspot)
    page = unescape(_browser(owner).get(reverse("dashboard:settings")).content.decode())
    document_select = page.split('name="rule-document"')[1].split("</select>")[0]
    assert 'value="order"' in document_select
    assert 'name="rule-finalize"' not in page
    assert "cannot create:" not in page
    assert "checked in sevDesk every minute" in _text(page)


def test_rules_are_added_keeping_the_standard_rule_and_deleted(
    owner: User, hubspot: RunningSandbox
) -> None:
    _customer(owner.tenant, "lexoffice", hubspot)
    browser = _browser(owner)

    page = _add(browser, stage="98765002", pipeline="98765000", document="invoice", finalize="on")

    assert "The rule is saved." in page
    assert _rules(owner.tenant) == [
        ("won", "", "quote", False),  # the standard rule, now one of the tenant's own
        ("98765002", "98765000", "invoice", True),
    ]
    text = _text(page)
    assert (
        "Projektgeschäft: Auftrag erteilt (98765002) Projektgeschäft (98765000) Invoice (finalized)"
        in text
    )
    assert "standard rule" not in text

    # The same rule again changes nothing.
    again = _add(browser, stage="98765002", pipeline="98765000", document="invoice", finalize="on")
    assert "This rule exists already." in again
    assert len(_rules(owner.tenant)) == 2

    standard = DocumentRule.objects.get(tenant=owner.tenant, document="quote")
    deleted = browser.post(
        reverse("dashboard:document_rule_delete", args=[standard.pk]), follow=True
    )
    assert "The rule is deleted." in deleted.content.decode()
    assert _rules(owner.tenant) == [("98765002", "98765000", "invoice", True)]

    last = DocumentRule.objects.get(tenant=owner.tenant)
    emptied = browser.post(reverse("dashboard:document_rule_delete", args=[last.pk]), follow=True)
    assert "the standard rule applies again" in emptied.content.decode()
    assert _rules(owner.tenant) == []


def test_a_rule_the_system_cannot_serve_is_refused_in_words(
    owner: User, hubspot: RunningSandbox
) -> None:
    _customer(owner.tenant, "lexoffice", hubspot)
    browser = _browser(owner)

    page = _text(_add(browser, stage="closedwon", document="order"))
    assert (
        "lexware office cannot create this document (order confirmation), so the rule "
        "cannot be served." in page
    )
    page = _text(_add(browser, stage="closedwon", document="quote", finalize="on"))
    assert "Only invoices can be created finalized." in page
    page = _text(_add(browser, stage="closedwon", pipeline="98765000", document="invoice"))
    assert "This stage is not in the chosen pipeline." in page
    page = _text(_add(browser, stage="nostage", document="invoice"))
    assert "Select a valid choice." in page
    assert _rules(owner.tenant) == []
    # The settings form beside it was not touched by the rule's POST.
    assert not TransferSettings.objects.filter(tenant=owner.tenant).exists()


def test_without_an_accounting_system_no_rule_is_added(
    owner: User, hubspot: RunningSandbox
) -> None:
    _customer(owner.tenant, "zep", hubspot)
    browser = _browser(owner)
    page = _text(browser.get(reverse("dashboard:settings")).content.decode())
    assert "Connect your accounting system to choose" in page
    page = _text(_add(browser, stage="closedwon", document="quote"))
    assert "Please connect your accounting system first." in page
    assert _rules(owner.tenant) == []


def test_stage_ids_are_typed_while_hubspot_cannot_be_read(owner: User) -> None:
    _customer(owner.tenant, "lexoffice", None)
    browser = _browser(owner)
    page = browser.get(reverse("dashboard:settings")).content.decode()
    assert "HubSpot's pipelines could not be read just now" in unescape(page)

    _add(browser, stage="won", document="invoice", finalize="on")
    assert _rules(owner.tenant) == [("won", "", "quote", False), ("won", "", "invoice", True)]


def test_the_stage_of_paid_deals_is_saved(owner: User, hubspot: RunningSandbox) -> None:
    _customer(owner.tenant, "lexoffice", hubspot)
    browser = _browser(owner)

    refused = browser.post(reverse("dashboard:settings"), {**SETTINGS_FORM, "paid_stage_id": "x1"})
    assert refused.status_code == 200
    assert not TransferSettings.objects.filter(tenant=owner.tenant).exists()

    saved = browser.post(
        reverse("dashboard:settings"), {**SETTINGS_FORM, "paid_stage_id": "98765003"}
    )
    assert saved.status_code == 302
    assert TransferSettings.objects.get(tenant=owner.tenant).paid_stage_id == "98765003"
    page = browser.get(reverse("dashboard:settings")).content.decode()
    assert '<option value="98765003" selected>Bezahlt (98765003)</option>' in page

    browser.post(reverse("dashboard:settings"), {**SETTINGS_FORM, "paid_stage_id": ""})
    assert TransferSettings.objects.get(tenant=owner.tenant).paid_stage_id == ""


def test_another_companys_rule_cannot_be_deleted(owner: User) -> None:
    other = UserFactory()
    theirs = DocumentRule.objects.create(tenant=other.tenant, stage_id="won", document="invoice")
    _customer(owner.tenant, "lexoffice", None)

    response = _browser(owner).post(reverse("dashboard:document_rule_delete", args=[theirs.pk]))

    assert response.status_code == 404
    assert DocumentRule.objects.filter(pk=theirs.pk).exists()


# -- the deal's documents on the activity detail ---------------------------------------------


def _deal_with_documents(tenant: Tenant) -> dict[str, Transfer]:
    made: dict[str, Transfer] = {
        kind: TransferFactory(
            tenant=tenant,
            kind=kind,
            object_id="555",
            state=Transfer.State.DONE,
            error="",
            vendor_id=f"{kind}-id",
            vendor_number=number,
            vendor_url=f"https://app.lexware.de/{kind}/{number}",
        )
        for kind, number in (("quote", "AG0007"), ("invoice", "RE0042"))
    }
    made["document_status"] = TransferFactory(  # type: ignore[assignment]
        tenant=tenant,
        kind=Transfer.Kind.DOCUMENT_STATUS,
        object_id="555",
        state=Transfer.State.DONE,
        error="",
        source_payload={
            "quote": {"status": "accepted", "number": "AG0007", "currency": "EUR"},
            "invoice": {
                "status": "paid",
                "number": "RE0042",
                "currency": "EUR",
                "total": "1190.00",
                "open_amount": "0.00",
                "paid_date": "2026-12-06",
            },
        },
        sent_payload={
            "apiup_invoice_status": "paid",
            "apiup_invoice_open_amount": "0.00",
            "apiup_invoice_paid_date": "2026-12-06",
            "dealstage": "98765003",
        },
    )
    return made


def test_a_deals_documents_are_shown_with_the_status_last_read(owner: User) -> None:
    made = _deal_with_documents(owner.tenant)
    # The same deal id in another company, and another deal of this one: neither shown.
    TransferFactory(kind="order", object_id="555", vendor_number="AB-OTHER", state="done")
    TransferFactory(tenant=owner.tenant, kind="order", object_id="556", vendor_number="AB-556")

    page = unescape(
        _browser(owner)
        .get(reverse("sync:transfer_detail", args=[made["invoice"].pk]))
        .content.decode()
    )
    text = _text(page)

    assert "Documents of this deal" in text
    assert "Quote AG0007 done accepted" in text
    assert "Invoice RE0042 done paid 0.00 EUR 6 Dec 2026" in text
    assert "AB-OTHER" not in text
    assert "AB-556" not in text
    assert f'href="{reverse("sync:transfer_detail", args=[made["quote"].pk])}"' in page
    assert f'href="{reverse("sync:transfer_detail", args=[made["document_status"].pk])}"' in page
    assert 'href="https://app.lexware.de/quote/AG0007"' in page
    assert "Status last read from the accounting system" in text


def test_the_status_transfer_says_what_was_read_and_what_the_deal_got(owner: User) -> None:
    made = _deal_with_documents(owner.tenant)
    page = unescape(
        _browser(owner)
        .get(reverse("sync:transfer_detail", args=[made["document_status"].pk]))
        .content.decode()
    )
    text = _text(page)

    assert "What the accounting system says" in text
    assert f"Invoice{SEPARATOR}Status paid" in text
    assert f"Invoice{SEPARATOR}Open amount 0.00 EUR" in text
    assert f"Invoice{SEPARATOR}Paid on 6 Dec 2026" in text
    assert f"Quote{SEPARATOR}Status accepted" in text
    assert "What was written to the HubSpot deal" in text
    assert "Deal moved to stage 98765003" in text
    assert "What came from HubSpot" not in text
    assert "apiup_invoice_status" not in text.split("Raw data")[0]
    assert "Documents of this deal" in text


def test_a_deal_without_a_status_read_yet_says_so(owner: User) -> None:
    quote = TransferFactory(tenant=owner.tenant, kind="quote", object_id="777", state="done")
    text = _text(
        _browser(owner).get(reverse("sync:transfer_detail", args=[quote.pk])).content.decode()
    )
    assert "has not been read yet" in text


def test_a_customer_transfer_shows_no_documents(owner: User) -> None:
    customer = TransferFactory(tenant=owner.tenant, kind="customer", object_type="company")
    text = _text(
        _browser(owner).get(reverse("sync:transfer_detail", args=[customer.pk])).content.decode()
    )
    assert "Documents of this deal" not in text
