"""The activity detail shows what came from HubSpot and what was sent as readable tables,
says when nothing was sent, and keeps the raw data folded away for support."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from html import unescape

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from connectors.shapes import Address, Company, Deal, LineItem, Person
from sync.models import Transfer
from sync.payload_display import SEPARATOR
from sync.services.runs import plain
from tests.factories import TransferFactory, UserFactory

pytestmark = pytest.mark.django_db

DEAL = Deal(
    hubspot_id="123",
    portal_id="4711",
    name="Website relaunch",
    pipeline_id="default",
    stage_id="closedwon",
    amount=Decimal("1500.00"),
    close_date=dt.date(2026, 12, 6),
    company=Company(
        name="Beispiel GmbH",
        address=Address(street="Hauptstraße", house_number="5", city="München"),
    ),
    contact=Person(first_name="Anna", last_name="Muster", email="anna@beispiel.de"),
    line_items=(
        LineItem(name="Konzept", quantity=Decimal(1), unit_price=Decimal("500.00")),
        LineItem(name="Umsetzung", quantity=Decimal(10), unit_price=Decimal("100.00")),
    ),
)


def _page(transfer: Transfer, language: str = "en") -> str:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(User.objects.get(tenant=transfer.tenant))
    response = client.get(reverse("sync:transfer_detail", args=[transfer.pk]))
    assert response.status_code == 200
    return unescape(response.content.decode())


def _text(page: str) -> str:
    """The page as a reader sees it: tags become spaces."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def test_what_came_from_hubspot_is_a_labelled_table_and_nothing_sent_is_said() -> None:
    user = UserFactory()
    transfer = TransferFactory(
        tenant=user.tenant, state=Transfer.State.FAILED, source_payload=plain(DEAL)
    )
    page = _page(transfer)
    text = _text(page)

    assert "What came from HubSpot" in text
    assert f"Company{SEPARATOR}Address{SEPARATOR}City München" in text
    assert f"Contact{SEPARATOR}E-mail anna@beispiel.de" in text
    assert "Close date 6 Dec 2026" in text
    # The line items as one table, a row each.
    assert "Line items" in text
    assert "Konzept" in text
    assert "Umsetzung" in text
    assert "Unit price (net)" in text
    # Nothing sent: said in words, not as Python's None.
    assert "Nothing was sent to the accounting system for this transfer." in text
    assert "None" not in text
    # The raw data for support, folded away.
    assert '<details class="raw">' in page
    assert '"hubspot_id": "123"' in page


def test_what_was_sent_is_a_table_too_in_german() -> None:
    user = UserFactory()
    transfer = TransferFactory(
        tenant=user.tenant,
        state=Transfer.State.DONE,
        sent_payload={
            "title": "Angebot Website relaunch",
            "reference": "hubspot-deal-4711-123",
            "positions": [{"name": "Konzept", "quantity": "1", "unit_net_price": "500.00"}],
            "valid_until": "2026-12-20",
        },
    )
    text = _text(_page(transfer, "de"))
    assert "hubspot-deal-4711-123" in text
    assert "Konzept" in text
    assert "20.12.2026" in text
    assert "None" not in text
