"""lexware office's articles (fact sheet "Articles"): the SKU is the article number, looked up
exactly with `?articleNumber=`; a price is sent as the leading one (NET or GROSS) with its tax
rate, Lexware computes the other; an update replaces the whole article and repeats its
`version`, so the fields an update may not overwrite are read first and sent back as they
are; `DELETE` removes one. The API has no filter by change date, so polling reads the
catalogue a few pages per poll and the engine keeps the articles whose version moved."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from connectors import errors
from connectors.shapes import Article, ArticleField, ArticlePage

PAGE_SIZE = 250  # the maximum for articles
# Pages one poll reads: 4 of the 120 calls a minute the key allows.
POLL_PAGES = 4
TAX_RATES = (0, 7, 19)


def article_of(record: dict[str, Any]) -> Article:
    price = record.get("price") or {}
    gross = price.get("leadingPrice") == "GROSS"
    amount = price.get("grossPrice" if gross else "netPrice")
    return Article(
        sku=str(record.get("articleNumber") or ""),
        name=str(record.get("title") or ""),
        description=str(record.get("description") or ""),
        unit_price=None if amount is None else Decimal(str(amount)),
        price_is_gross=gross,
        tax_rate=None if price.get("taxRate") is None else Decimal(str(price["taxRate"])),
        unit=str(record.get("unitName") or ""),
        gtin=str(record.get("gtin") or ""),
        currency="EUR",
        service=record.get("type") == "SERVICE",
        vendor_id=str(record.get("id") or ""),
        marker=f"{record.get('version')}",
    )


def _price(article: Article) -> dict[str, Any]:
    rate = int(article.tax_rate) if article.tax_rate is not None else 19
    if rate not in TAX_RATES:
        raise errors.TaxRateRefused(
            f"lexware office articles take the tax rates 0, 7 and 19 %, not {rate} %.",
            rate=Decimal(rate),
            allowed=frozenset(Decimal(r) for r in TAX_RATES),
        )
    amount = float(article.unit_price or 0)
    if article.price_is_gross:
        return {"leadingPrice": "GROSS", "grossPrice": amount, "taxRate": rate}
    return {"leadingPrice": "NET", "netPrice": amount, "taxRate": rate}


def write_body(article: Article) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": article.name[:255] or article.sku,
        "type": "SERVICE" if article.service else "PRODUCT",
        "unitName": article.unit or "Stück",
        "articleNumber": article.sku,
        "price": _price(article),
    }
    if article.description or article.long_description:
        body["description"] = "\n\n".join(
            t for t in (article.description, article.long_description) if t
        )
    if article.gtin:
        body["gtin"] = article.gtin
    return body


def update_body(
    current: dict[str, Any], article: Article, overwrite: frozenset[ArticleField]
) -> dict[str, Any]:
    """The whole article for PUT: the current one, with the chosen groups from `article`."""
    body: dict[str, Any] = {
        key: current[key]
        for key in ("title", "type", "unitName", "articleNumber", "gtin", "description", "note")
        if current.get(key) not in (None, "")
    }
    price = current.get("price") or {}
    leading = price.get("leadingPrice", "NET")
    body["price"] = {
        "leadingPrice": leading,
        "taxRate": price.get("taxRate", 19),
        ("grossPrice" if leading == "GROSS" else "netPrice"): price.get(
            "grossPrice" if leading == "GROSS" else "netPrice", 0
        ),
    }
    wanted = write_body(article)
    if ArticleField.NAME in overwrite:
        body["title"] = wanted["title"]
    if ArticleField.DESCRIPTIONS in overwrite:
        body.pop("description", None)
        if "description" in wanted:
            body["description"] = wanted["description"]
    if ArticleField.PRICE in overwrite:
        body["price"] = wanted["price"]
    body["articleNumber"] = article.sku
    body["version"] = current["version"]
    return body


def page_of(listing: dict[str, Any], page: int) -> ArticlePage:
    articles = tuple(article_of(r) for r in listing.get("content") or [])
    last = bool(listing.get("last", True))
    return ArticlePage(articles=articles, next_cursor="" if last else str(page + 1))
