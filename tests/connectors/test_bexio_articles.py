"""bexio's items (Artikel) by SKU against the bexio sandbox over real HTTP, every request and
answer checked against the spec: pages in id order that resume at a cursor, the exact SKU,
create, an update of chosen fields, delete, the polled changes (a comparison on markers:
items have no update stamp) and a quote position that names its item."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from connectors import errors
from connectors.bexio import articles
from connectors.bexio.client import BexioConnector
from connectors.models import Connection
from connectors.shapes import (
    Article,
    ArticleField,
    Company,
    Customer,
    CustomerKind,
    Quote,
    QuotePosition,
)
from sandbox.bexio.app import BexioSandbox
from sandbox.core import RunningSandbox, running

OWNER = "1"  # the first company's records


@pytest.fixture(scope="module")
def server() -> Iterator[RunningSandbox]:
    with running(BexioSandbox(contract=True)) as handle:
        yield handle


@pytest.fixture
def pat(request: pytest.FixtureRequest) -> str:
    # One token (and so one client-side rate bucket and tax cache) per test.
    return f"pat-articles-{request.node.name}-{time.time_ns()}"[:120]


@pytest.fixture
def sandbox(server: RunningSandbox, pat: str) -> Iterator[BexioSandbox]:
    bexio = server.sandbox
    assert isinstance(bexio, BexioSandbox)
    assert bexio.contract is not None
    bexio.reset()
    bexio.add_company(name="Muster Treuhand AG", personal_access_token=pat)
    bexio.contract.violations.clear()
    yield bexio
    # Every request the connector sent, and every answer, must match the spec.
    assert bexio.contract.violations == []


@pytest.fixture
def connector(server: RunningSandbox, sandbox: BexioSandbox, pat: str) -> BexioConnector:
    return _connector(server, pat)


def _connector(server: RunningSandbox, pat: str) -> BexioConnector:
    connection = Connection(system="bexio", credentials={"access_token": pat})
    return BexioConnector(connection=connection, base_url=server.url, oauth_url=server.url)


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(articles, "PAGE_SIZE", 120)
    monkeypatch.setattr(articles, "RESUME_OVERLAP", 10)


def _item(sandbox: BexioSandbox, vendor_id: str) -> dict[str, Any]:
    return sandbox.store.get("articles", OWNER, int(vendor_id))


def _edit_in_bexio(sandbox: BexioSandbox, vendor_id: str, **changes: Any) -> None:
    """What a bexio user does in the app."""
    sandbox.store.update("articles", OWNER, int(vendor_id), changes)


def _all_pages(connector: BexioConnector, cursor: str = "") -> tuple[list[Article], list[str]]:
    found: list[Article] = []
    cursors: list[str] = []
    while True:
        page = connector.articles_page(cursor)
        found += page.articles
        if not page.next_cursor:
            return found, cursors
        cursor = page.next_cursor
        cursors.append(cursor)


def test_pages_run_through_500_items_in_id_order_and_resume_at_a_cursor(
    server: RunningSandbox,
    sandbox: BexioSandbox,
    connector: BexioConnector,
    pat: str,
    small_pages: None,
) -> None:
    sandbox.seed_articles(1, 500)

    found, cursors = _all_pages(connector)

    assert [a.sku for a in found] == [f"ART-{n:05d}" for n in range(1, 501)]
    assert [int(a.vendor_id) for a in found] == list(range(1, 501))
    assert len(cursors) == 4  # 120 a page
    first = found[0]
    assert (first.name, first.description) == ("Artikel 1", "Beschreibung 1")
    assert (first.unit_price, first.tax_rate, first.price_is_gross) == (
        Decimal("1.5"),
        Decimal("8.10"),
        False,
    )
    assert first.marker
    # Another process resumes after the second page: nothing read twice, nothing missed,
    # although items of the pages read were deleted in bexio meanwhile.
    for vendor_id in (3, 100, 239):
        sandbox.store.delete("articles", OWNER, vendor_id)
    rest, _ = _all_pages(_connector(server, pat), cursors[1])
    assert [a.sku for a in rest] == [f"ART-{n:05d}" for n in range(241, 501)]


def test_find_compares_the_sku_exactly_and_refuses_two_items_with_it(
    sandbox: BexioSandbox, connector: BexioConnector
) -> None:
    made = {
        sku: connector.create_article(Article(sku=sku, name=f"Kaffee {sku}")).vendor_id
        for sku in ("KAFFEE-1", "KAFFEE-10", "kaffee-2")
    }

    found = connector.find_article("KAFFEE-1")
    assert found is not None
    assert (found.vendor_id, found.sku) == (made["KAFFEE-1"], "KAFFEE-1")
    # bexio's "=" ignores case: the answer is compared once more.
    assert connector.find_article("KAFFEE-2") is None
    assert connector.find_article("KAFFEE") is None
    assert connector.find_article("") is None

    connector.create_article(Article(sku="KAFFEE-10", name="Kaffee, doppelt"))
    with pytest.raises(errors.Conflict):
        connector.find_article("KAFFEE-10")


def test_create_sends_a_net_price_with_the_sales_tax(
    sandbox: BexioSandbox, connector: BexioConnector
) -> None:
    article = Article(
        sku="BOHNEN-1KG",
        name="Kaffeebohnen 1 kg",
        description="Arabica, hell geröstet",
        long_description="Aus Kolumbien.",
        unit_price=Decimal("27.03"),
        price_is_gross=True,
        tax_rate=Decimal("8.1"),
        currency="CHF",
        unit="Stück",
    )

    created = connector.create_article(article)

    item = _item(sandbox, created.vendor_id)
    tax = sandbox.store.get("taxes", OWNER, item["tax_income_id"])
    assert (tax["type"], tax["value"], tax["is_active"]) == ("sales_tax", 8.1, True)
    assert item["sale_price"] == "25.004625"  # 27.03 / 1.081
    assert (item["intern_code"], item["intern_name"]) == ("BOHNEN-1KG", "Kaffeebohnen 1 kg")
    assert item["intern_description"] == "Arabica, hell geröstet"
    assert "currency_id" not in sandbox.api_calls(path_prefix="/2.0/article")[0].request_body
    assert created.sku == "BOHNEN-1KG"
    assert (created.unit_price, created.tax_rate) == (Decimal("25.004625"), Decimal("8.10"))
    assert created == connector.find_article("BOHNEN-1KG")

    with pytest.raises(errors.TaxRateRefused):
        connector.create_article(Article(sku="X", name="X", tax_rate=Decimal("19")))
    with pytest.raises(errors.UnsupportedByVendor):
        connector.create_article(Article(sku="X", name="X", currency="EUR"))


def test_an_update_of_the_price_keeps_the_name_and_text_bexio_has(
    sandbox: BexioSandbox, connector: BexioConnector
) -> None:
    created = connector.create_article(
        Article(sku="TASSE", name="Tasse", description="weiss", unit_price=Decimal(12))
    )
    _edit_in_bexio(
        sandbox, created.vendor_id, intern_name="Tasse (Porzellan)", intern_description="matt"
    )
    changed = Article(
        sku="TASSE",
        name="Tasse aus HubSpot",
        description="aus HubSpot",
        unit_price=Decimal("14.50"),
        tax_rate=Decimal("2.6"),
    )

    updated = connector.update_article(
        created.vendor_id, changed, overwrite=frozenset({ArticleField.PRICE})
    )

    item = _item(sandbox, created.vendor_id)
    assert (item["intern_name"], item["intern_description"]) == ("Tasse (Porzellan)", "matt")
    assert item["sale_price"] == "14.500000"
    assert (updated.name, updated.unit_price, updated.tax_rate) == (
        "Tasse (Porzellan)",
        Decimal("14.5"),
        Decimal("2.60"),
    )
    assert updated.marker != created.marker
    body = sandbox.api_calls(path_prefix=f"/2.0/article/{created.vendor_id}")[-1].request_body
    assert set(body) == {"intern_code", "sale_price", "tax_income_id"}

    connector.update_article(
        created.vendor_id,
        changed,
        overwrite=frozenset({ArticleField.NAME, ArticleField.DESCRIPTIONS}),
    )
    item = _item(sandbox, created.vendor_id)
    assert (item["intern_name"], item["intern_description"]) == ("Tasse aus HubSpot", "aus HubSpot")
    with pytest.raises(errors.NotFound):
        connector.update_article("999", changed, overwrite=frozenset({ArticleField.NAME}))


def test_archive_deletes_the_item_and_a_gone_one_is_fine(
    sandbox: BexioSandbox, connector: BexioConnector
) -> None:
    assert connector.capabilities.can_archive_articles
    created = connector.create_article(Article(sku="ALT", name="Auslaufmodell"))

    connector.archive_article(created.vendor_id)

    assert sandbox.store.find("articles", OWNER, int(created.vendor_id)) is None
    assert connector.find_article("ALT") is None
    connector.archive_article(created.vendor_id)  # already gone


def test_changes_compare_markers_page_by_page_and_show_an_edit(
    sandbox: BexioSandbox, connector: BexioConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(articles, "PAGE_SIZE", 100)
    monkeypatch.setattr(articles, "POLL_PAGES", 3)
    sandbox.seed_articles(1, 500)

    none, cursor = connector.article_changes("")
    assert none == ()

    first, cursor = connector.article_changes(cursor)  # a poll reads at most 3 pages
    rest, cursor = connector.article_changes(cursor)  # then starts over
    assert [a.sku for a in first + rest] == [f"ART-{n:05d}" for n in range(1, 501)]
    markers = {a.vendor_id: a.marker for a in first + rest}

    _edit_in_bexio(sandbox, "7", sale_price="99.000000")
    _edit_in_bexio(sandbox, "420", intern_name="Artikel 420, neu")
    seen, cursor = connector.article_changes(cursor)
    more, cursor = connector.article_changes(cursor)
    seen += more
    assert cursor == articles.FIRST

    moved = {a.vendor_id: a for a in seen if markers[a.vendor_id] != a.marker}
    assert set(moved) == {"7", "420"}
    assert moved["7"].unit_price == Decimal(99)
    assert moved["420"].name == "Artikel 420, neu"
    # An unreadable cursor starts over rather than stopping the poll for good.
    again, _ = connector.article_changes("not-a-cursor")
    assert again[0].vendor_id == "1"


def test_a_quote_position_for_an_item_names_its_number(
    sandbox: BexioSandbox, connector: BexioConnector
) -> None:
    item = connector.create_article(Article(sku="BOHNEN-1KG", name="Kaffeebohnen 1 kg"))
    company = Company(name="Muster & Partner AG", email="info@muster-partner.example")
    customer = connector.create_customer(Customer(kind=CustomerKind.COMPANY, company=company))
    quote = Quote(
        title="Kaffee für das Büro",
        introduction="",
        positions=(
            QuotePosition(
                "Kaffeebohnen 1 kg", Decimal(3), Decimal("25.00"), Decimal("2.6"), article=item
            ),
            QuotePosition("Lieferung", Decimal(1), Decimal("15.00"), Decimal("8.1")),
        ),
        currency="CHF",
        valid_from=dt.date(2026, 7, 1),
        valid_until=dt.date(2026, 7, 31),
        reference="hubspot-deal-4712-quote",
        customer_id=customer.vendor_id,
    )

    ref = connector.create_quote(quote)

    positions = sandbox.store.get("offers", OWNER, int(ref.vendor_id))["positions"]
    # The spec has no article position (KbPositionArticle): a custom one names the item.
    assert [(p["type"], p["text"]) for p in positions] == [
        ("KbPositionCustom", "BOHNEN-1KG Kaffeebohnen 1 kg"),
        ("KbPositionCustom", "Lieferung"),
    ]
