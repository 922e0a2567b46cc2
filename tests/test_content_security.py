"""The vendor's link is shown only when it is safe to follow, and the pages carry a
Content-Security-Policy that their own markup keeps to."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from billing.models import Subscription
from sync.models import Transfer
from tests.factories import ConnectionFactory, TransferFactory, UserFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent

HOSTILE_LINKS = [
    "javascript:alert(document.cookie)",
    "JavaScript:alert(1)",
    "java\tscript:alert(1)",
    " javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "//evil.example/quote",
    "ftp://files.example/quote.pdf",
]


@pytest.fixture
def customer() -> User:
    user: User = UserFactory()  # type: ignore[assignment]
    return user


def _client(user: User) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


def _pages(client: Client, transfer: Transfer) -> list[str]:
    return [
        client.get(reverse("sync:transfer_list")).content.decode(),
        client.get(reverse("sync:transfer_detail", args=[transfer.pk])).content.decode(),
    ]


def _quote_with_link(user: User, url: str) -> Transfer:
    transfer: Transfer = TransferFactory(  # type: ignore[assignment]
        tenant=user.tenant,
        state=Transfer.State.DONE,
        error="",
        vendor_id="q-1",
        vendor_number="",
        vendor_url=url,
    )
    return transfer


@pytest.mark.parametrize("url", HOSTILE_LINKS)
def test_a_vendor_link_other_than_https_is_not_shown(customer: User, url: str, settings) -> None:  # type: ignore[no-untyped-def]
    settings.SANDBOX_VENDORS = False
    settings.DEBUG = False
    transfer = _quote_with_link(customer, url)
    for page in _pages(_client(customer), transfer):
        assert "script:" not in page.lower()
        assert "data:text" not in page
        assert "evil.example" not in page
        assert "ftp:" not in page


def test_an_https_vendor_link_is_shown(customer: User, settings) -> None:  # type: ignore[no-untyped-def]
    settings.SANDBOX_VENDORS = False
    url = "https://app.lexoffice.de/permalink/quotations/view/q-1"
    transfer = _quote_with_link(customer, url)
    for page in _pages(_client(customer), transfer):
        assert f'href="{url}"' in page


def test_plain_http_links_only_to_the_sandboxes_of_development(customer: User, settings) -> None:  # type: ignore[no-untyped-def]
    url = "http://127.0.0.1:8102/_sandbox/quotations/q-1"
    transfer = _quote_with_link(customer, url)
    client = _client(customer)

    settings.SANDBOX_VENDORS, settings.DEBUG = False, False
    for page in _pages(client, transfer):
        assert url not in page

    settings.SANDBOX_VENDORS = True
    for page in _pages(client, transfer):
        assert f'href="{url}"' in page


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)
STYLE_ATTRIBUTE = re.compile(r"<[^>]+\sstyle\s*=", re.IGNORECASE)


def _policy(response) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    header = response["Content-Security-Policy"]
    directives = [part.strip().split() for part in header.split(";") if part.strip()]
    return {name: values for name, *values in directives}


def test_pages_carry_a_policy_that_runs_only_our_own_scripts_and_styles(customer: User) -> None:
    ConnectionFactory(tenant=customer.tenant, system="hubspot", external_account_id="4711")
    accounting = ConnectionFactory(tenant=customer.tenant, system="lexoffice")
    Subscription.objects.create(
        tenant=customer.tenant, plan="lexoffice", status=Subscription.Status.ACTIVE
    )
    TransferFactory(tenant=customer.tenant, state=Transfer.State.DONE)
    failed = TransferFactory(tenant=customer.tenant, state=Transfer.State.FAILED)
    client = _client(customer)
    urls = [
        reverse("dashboard:home"),
        reverse("dashboard:settings"),
        reverse("dashboard:team"),
        reverse("sync:transfer_list"),
        reverse("sync:transfer_detail", args=[failed.pk]),
        reverse("connectors:detail", args=[accounting.pk]),
    ]
    anonymous = Client(HTTP_ACCEPT_LANGUAGE="en")
    responses = [client.get(url) for url in urls]
    responses += [anonymous.get(reverse("account_login")), anonymous.get(reverse("account_signup"))]
    for response in responses:
        assert response.status_code == 200, response
        policy = _policy(response)
        assert policy["script-src"] == ["'self'"]
        assert policy["style-src"] == ["'self'"]
        assert policy["default-src"] == ["'self'"]
        assert policy["frame-ancestors"] == ["'none'"]
        page = response.content.decode()
        # What the policy refuses would silently not work: the markup has none of it.
        assert not INLINE_SCRIPT.search(page), INLINE_SCRIPT.search(page)
        assert not EVENT_HANDLER.search(page), EVENT_HANDLER.search(page)
        assert not STYLE_ATTRIBUTE.search(page), STYLE_ATTRIBUTE.search(page)


def test_the_chart_draws_its_bars_without_style_attributes(customer: User) -> None:
    TransferFactory(tenant=customer.tenant, state=Transfer.State.DONE)
    TransferFactory(tenant=customer.tenant, state=Transfer.State.DONE)
    TransferFactory(tenant=customer.tenant, state=Transfer.State.FAILED)
    page = _client(customer).get(reverse("dashboard:home")).content.decode()
    heights = re.findall(r'class="chart-bar (\w+)" data-height="(\d+)"', page)
    # Stacked: two of the busiest day's three transfers were done, one failed.
    assert heights == [("done", "67"), ("failed", "33")]
    script = (ROOT / "static" / "js" / "app.js").read_text(encoding="utf-8")
    assert "bar.style.height = `${bar.dataset.height}%`" in script
