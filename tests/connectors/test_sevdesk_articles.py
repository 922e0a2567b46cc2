"""sevDesk's parts as the catalogue of articles by SKU, against the sandbox over real HTTP,
every request and response checked against the (patched) spec: pages in id order resumed at
their cursor, the exact SKU look-up, create, an update of chosen fields, archiving (status
inactive), the poll on update stamps, and positions that reference their part."""

from __future__ import annotations

import datetime as dt
import secrets
import time
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal

import pytest

from connectors import errors
from connectors.models import Connection
from connectors.ratelimit import Rate
from connectors.sevdesk.articles import ARTICLE_PAGE_SIZE
from connectors.sevdesk.client import SevdeskConnector
from connectors.shapes import (
    Address,
    Article,
    ArticleField,
    Company,
    Customer,
    CustomerKind,
    DocumentKind,
    Quote,
    QuotePosition,
)
from sandbox.core import RunningSandbox, running
from sandbox.sevdesk.app import SevdeskSandbox

PARTS = "/api/v1/Part"
NOT_IN_SPEC = {"/api/v1/Unity", "/api/v1/SevUser", "/api/v1/StaticCountry"}


@pytest.fixture
def token() -> str:
    return secrets.token_hex(16)


@pytest.fixture
def vendor(token: str) -> Iterator[RunningSandbox]:
    sandbox = SevdeskSandbox(contract=True, demo_token=None)
    sandbox.add_account(token=token)
    with running(sandbox) as handle:
        yield handle
    assert sandbox.contract is not None
    documented = [
        v
        for v in sandbox.contract.violations
        if not (v.path in NOT_IN_SPEC and v.error == "operation not in the vendor's spec")
    ]
    assert documented == [], "\n".join(
        f"{v.method} {v.path} {v.status} {v.where}: {v.error}" for v in documented
    )


@pytest.fixture
def sandbox(vendor: RunningSandbox) -> SevdeskSandbox:
    assert isinstance(vendor.sandbox, SevdeskSandbox)
    return vendor.sandbox


@pytest.fixture
def sevdesk(vendor: RunningSandbox, token: str) -> SevdeskConnector:
    connection = Connection(system="sevdesk", credentials={"api_token": token})
    connector = SevdeskConnector(connection=connection, base_url=f"{vendor.url}/api/v1")
    connector.client.api = replace(connector.client.api, rate=Rate(per_second=100, burst=100))
    return connector


def _edit(sandbox: SevdeskSandbox, token: str, part_id: int, **changes: object) -> None:
    """What the customer changes in sevDesk's web app (the stamp aside)."""
    sandbox.store.update("parts", str(sandbox.accounts[token].sev_client_id), part_id, changes)


def _part_calls(sandbox: SevdeskSandbox, method: str = "GET") -> list[str]:
    return [c.path for c in sandbox.api_calls(path_prefix=PARTS) if c.method == method]


def _consultancy(sku: str = "HS-BERATUNG") -> Article:
    return Article(
        sku=sku,
        name="Beratung",
        description="Eine Stunde Beratung vor Ort",
        long_description="Has no place in sevDesk",
        unit_price=Decimal("100"),
        tax_rate=Decimal(19),
        unit="Stunde",
    )


# -- pages ---------------------------------------------------------------------------------


def test_500_parts_page_in_id_order_and_an_import_resumes_at_its_cursor(
    sevdesk: SevdeskConnector, sandbox: SevdeskSandbox, token: str
) -> None:
    seeded = sandbox.seed_articles(token, 500)
    archived = seeded[42]["id"]
    _edit(sandbox, token, archived, status=50)

    pages, cursor = [], ""
    while True:
        page = sevdesk.articles_page(cursor)
        pages.append(page)
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert len(pages) == 500 // ARTICLE_PAGE_SIZE + 1  # the last one is found empty
    articles = [a for page in pages for a in page.articles]
    expected = [str(r["id"]) for r in seeded if r["id"] != archived]
    assert [a.vendor_id for a in articles] == expected  # id order, the inactive part left out
    assert articles[0] == Article(
        sku="SKU-00001",
        name="Artikel 1",
        description="Beschreibung 1",
        unit_price=Decimal(1),
        tax_rate=Decimal(19),
        unit="Stk",
        vendor_id=str(seeded[0]["id"]),
        marker=seeded[0]["update"],
    )
    assert len(_part_calls(sandbox)) == len(pages)

    # An import that stopped after two pages resumes where it stopped.
    resumed = sevdesk.articles_page(pages[1].next_cursor)
    assert resumed == pages[2]
    assert resumed.articles[0].sku == f"SKU-{2 * ARTICLE_PAGE_SIZE + 1:05d}"
    with pytest.raises(errors.PermanentError):
        sevdesk.articles_page("not-a-cursor")


# -- find by SKU -------------------------------------------------------------------------


def test_a_sku_is_found_exactly_and_twice_is_a_conflict(
    sevdesk: SevdeskConnector, sandbox: SevdeskSandbox, token: str
) -> None:
    sandbox.seed_articles(token, 30)

    found = sevdesk.find_article("SKU-00012")
    assert found is not None
    assert (found.sku, found.name, found.unit_price) == ("SKU-00012", "Artikel 12", Decimal(12))
    # sevDesk's filter matches parts of the number (the sandbox: SKU-00010 .. SKU-00019),
    # and case aside: neither is the article.
    assert sevdesk.find_article("SKU-0001") is None
    assert sevdesk.find_article("sku-00012") is None
    assert sevdesk.find_article("") is None

    twin = sevdesk.create_article(replace(_consultancy(), sku="SKU-00012"))
    with pytest.raises(errors.Conflict, match="SKU-00012"):
        sevdesk.find_article("SKU-00012")
    # An archived part is outside the catalogue: the other one is the article again.
    sevdesk.archive_article(twin.vendor_id)
    assert sevdesk.find_article("SKU-00012") == found


# -- create, update, archive --------------------------------------------------------------


def test_an_article_is_created_as_an_active_part_with_both_prices(
    sevdesk: SevdeskConnector, sandbox: SevdeskSandbox
) -> None:
    created = sevdesk.create_article(_consultancy())

    stored = sandbox.parts[int(created.vendor_id)]
    assert stored["partNumber"] == "HS-BERATUNG"
    assert (stored["name"], stored["text"]) == ("Beratung", "Eine Stunde Beratung vor Ort")
    assert (stored["price"], stored["priceNet"], stored["priceGross"]) == (100, 100, 119)
    assert (stored["taxRate"], stored["stock"], stored["status"]) == (19, 0, 100)
    assert stored["unity"] == {"id": 9, "objectName": "Unity"}  # "Stunde" is sevDesk's "Std"
    assert created == Article(
        sku="HS-BERATUNG",
        name="Beratung",
        description="Eine Stunde Beratung vor Ort",
        unit_price=Decimal(100),
        tax_rate=Decimal(19),
        unit="Std",
        vendor_id=created.vendor_id,
        marker=stored["update"],
    )
    assert sevdesk.find_article("HS-BERATUNG") == created

    # A gross price: the net one is computed with the tax rate, to the cent.
    gross = sevdesk.create_article(
        Article(
            sku="HS-BUCH",
            name="Fachbuch",
            unit_price=Decimal("49.95"),
            price_is_gross=True,
            tax_rate=Decimal(7),
        )
    )
    stored = sandbox.parts[int(gross.vendor_id)]
    assert (stored["priceNet"], stored["priceGross"], stored["taxRate"]) == (46.68, 49.95, 7)
    assert stored["unity"] == {"id": 1, "objectName": "Unity"}  # no unit: a piece
    assert gross.unit_price == Decimal("46.68")
    assert not gross.price_is_gross


def test_an_update_of_the_price_leaves_name_and_text_as_sevdesk_has_them(
    sevdesk: SevdeskConnector, sandbox: SevdeskSandbox, token: str
) -> None:
    created = sevdesk.create_article(_consultancy())
    part_id = int(created.vendor_id)
    _edit(sandbox, token, part_id, text="Im Web-Programm ergänzt")
    hubspot = replace(
        _consultancy(), name="Consulting", description="Other text", unit_price=Decimal(120)
    )

    updated = sevdesk.update_article(
        created.vendor_id, hubspot, overwrite=frozenset({ArticleField.PRICE})
    )

    (sent,) = [c.request_body for c in sandbox.api_calls(path_prefix=f"{PARTS}/")]
    assert sent == {
        "partNumber": "HS-BERATUNG",
        "taxRate": 19,
        "price": 120,
        "priceNet": 120,
        "priceGross": 142.8,
    }
    stored = sandbox.parts[part_id]
    assert (stored["name"], stored["text"]) == ("Beratung", "Im Web-Programm ergänzt")
    assert (updated.name, updated.description, updated.unit_price) == (
        "Beratung",
        "Im Web-Programm ergänzt",
        Decimal(120),
    )

    # Names and texts when the tenant chose them; a price without a rate keeps the part's.
    sevdesk.update_article(
        created.vendor_id,
        replace(hubspot, tax_rate=None, unit_price=Decimal(200)),
        overwrite=frozenset(ArticleField),
    )
    stored = sandbox.parts[part_id]
    assert (stored["name"], stored["text"]) == ("Consulting", "Other text")
    assert (stored["taxRate"], stored["priceNet"], stored["priceGross"]) == (19, 200, 238)
    assert _part_calls(sandbox) == [f"{PARTS}/{part_id}"]  # read once for the rate


def test_an_archived_part_is_inactive_and_archiving_twice_or_a_missing_one_is_fine(
    sevdesk: SevdeskConnector, sandbox: SevdeskSandbox
) -> None:
    assert sevdesk.capabilities.articles
    assert sevdesk.capabilities.can_archive_articles
    created = sevdesk.create_article(_consultancy())

    sevdesk.archive_article(created.vendor_id)
    sevdesk.archive_article(created.vendor_id)
    sevdesk.archive_article("999999")

    assert sandbox.parts[int(created.vendor_id)]["status"] == 50
    assert sevdesk.find_article("HS-BERATUNG") is None
    assert sevdesk.articles_page("").articles == ()
    with pytest.raises(errors.PermanentError):
        sevdesk.archive_article("not-an-id")


# -- changes --------------------------------------------------------------------------------


def test_changes_are_the_parts_stamped_after_the_cursor(
    sevdesk: SevdeskConnector, sandbox: SevdeskSandbox, token: str
) -> None:
    seeded = sandbox.seed_articles(token, 1200, age_seconds=3600)
    changes, cursor = sevdesk.article_changes("")
    assert changes == ()
    assert abs(int(cursor) - time.time()) < 60
    assert _part_calls(sandbox) == []  # "now" needs no call

    assert sevdesk.article_changes(cursor) == ((), cursor)
    assert len(_part_calls(sandbox)) == 2  # 1,200 parts: two pages of 1,000

    moved = seeded[1100]
    sevdesk.update_article(
        str(moved["id"]),
        Article(sku=moved["partNumber"], name="Neu", unit_price=Decimal(5), tax_rate=Decimal(7)),
        overwrite=frozenset({ArticleField.NAME}),
    )
    stamp = dt.datetime.fromisoformat(sandbox.parts[moved["id"]]["update"])

    changes, later = sevdesk.article_changes(cursor)
    assert [(a.vendor_id, a.name) for a in changes] == [(str(moved["id"]), "Neu")]
    assert changes[0].marker == sandbox.parts[moved["id"]]["update"]
    assert int(later) == max(int(cursor), int(stamp.timestamp()))
    with pytest.raises(errors.PermanentError):
        sevdesk.article_changes("yesterday")


# -- positions -------------------------------------------------------------------------------


def test_positions_of_an_article_reference_its_part_on_quotes_and_invoices(
    sevdesk: SevdeskConnector, sandbox: SevdeskSandbox
) -> None:
    company = Company(
        name="Müller Bau GmbH", address=Address("Hauptstraße", "5", "10115", "Berlin", "DE")
    )
    customer = sevdesk.create_customer(Customer(kind=CustomerKind.COMPANY, company=company))
    article = sevdesk.create_article(_consultancy())
    quote = Quote(
        title="Beratung",
        introduction="",
        positions=(
            QuotePosition(
                "Beratung", Decimal(3), Decimal(100), Decimal(19), unit="Stück", article=article
            ),
            QuotePosition("Anfahrt", Decimal(1), Decimal(40), Decimal(19)),
        ),
        currency="EUR",
        valid_from=dt.date(2026, 7, 1),
        valid_until=dt.date(2026, 7, 31),
        reference="HubSpot-Deal 4711-9",
        customer_id=customer.vendor_id,
    )

    order = sevdesk.create_document(DocumentKind.QUOTE, quote)
    invoice = sevdesk.create_document(DocumentKind.INVOICE, quote)

    part = {"id": article.vendor_id, "objectName": "Part"}
    for positions, parent in (
        (sandbox.order_positions, ("order", order.vendor_id)),
        (sandbox.invoice_positions, ("invoice", invoice.vendor_id)),
    ):
        rows = sorted(
            (p for p in positions.values() if p[parent[0]]["id"] == parent[1]),
            key=lambda p: int(p["positionNumber"]),
        )
        assert [r.get("part") for r in rows] == [part, None]
        # The part's unit (hours), not the line item's piece.
        assert [r["unity"]["id"] for r in rows] == ["9", "1"]

    # A part that is not the account's is refused by sevDesk.
    gone = replace(quote.positions[0], article=replace(article, vendor_id="999999"))
    with pytest.raises(errors.PermanentError) as refused:
        sevdesk.create_document(
            DocumentKind.QUOTE, replace(quote, positions=(gone,), reference="HubSpot-Deal 4711-10")
        )
    assert refused.value.vendor_message == "Part was not found"
