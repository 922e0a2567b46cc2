"""bexio's items (Artikel, `/2.0/article`) as the neutral `Article` and back: pure functions.

- The SKU is `intern_code` (the item number), the name `intern_name`. bexio has one text,
  `intern_description`: it carries `Article.description`, else the long description when
  there is no short one.
- `sale_price` is read and written as a net price: the spec does not say whether it includes
  tax, and the product's documents are net (`mwst_is_net`). A gross price is made net with
  its rate before it is sent.
- `tax_income_id` is an active sales tax's id and `currency_id` one of the company's
  currencies, both looked up by the connector (`/3.0/taxes`, `/2.0/currencies`).
- Not mapped: units (`unit_id` names no unit, and the spec has no list of them) and GTIN
  (no such field).
- An item has no version and no update stamp in the spec, so its marker is a digest of the
  fields above: it moves when one of them does.
- Lists and searches take `limit`/`offset` only, so a page cursor is "<offset>.<last id>":
  the next page starts a little before the offset and skips the ids already read, so that
  items deleted meanwhile neither shift items out of the import nor repeat them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from connectors.bexio.mapping import SEARCH_TEXT_MAX, criterion, decimal, rate, six
from connectors.shapes import Article, ArticleField

PAGE_SIZE = 500  # bexio's default page; at most 2000
# How far before the cursor's offset the next page starts: items deleted between two pages
# shift the rest forward by as many rows.
RESUME_OVERLAP = 50
POLL_PAGES = 4  # pages one poll compares (2,000 items); a larger catalogue takes more polls
FIRST = "0.0"  # the cursor of the first page


def sku_criteria(sku: str) -> list[dict[str, str]] | None:
    """The search for the item number; None for an empty or too long SKU."""
    if not sku or len(sku) > SEARCH_TEXT_MAX:
        return None
    return [criterion("intern_code", sku)]


def items_of(found: Any) -> list[Mapping[str, Any]]:
    items = [i for i in found if isinstance(i, Mapping)] if isinstance(found, list) else []
    return sorted(items, key=lambda i: int(i.get("id") or 0))


# -- cursors -----------------------------------------------------------------------------


def read_cursor(cursor: str) -> tuple[int, int] | None:
    """(offset, last id read) of a page cursor; (0, 0) for ""; None when it is not one."""
    offset, dot, last_id = (cursor or FIRST).partition(".")
    if not (dot and offset.isdigit() and last_id.isdigit()):
        return None
    return int(offset), int(last_id)


def resume_at(offset: int) -> int:
    return max(0, offset - RESUME_OVERLAP)


def next_cursor(start: int, rows: list[Mapping[str, Any]], *, limit: int) -> str:
    """The cursor after `rows`, read at offset `start`; "" after the last page."""
    if len(rows) < limit or not rows:
        return ""
    return f"{start + len(rows)}.{int(rows[-1]['id'])}"


# -- reading -----------------------------------------------------------------------------


def marker(item: Mapping[str, Any]) -> str:
    """A digest of what `to_article` reads (the spec gives items no version or stamp)."""
    price = decimal(item.get("sale_price"))
    fields = [
        *(item.get(k) for k in ("intern_code", "intern_name", "intern_description")),
        None if price is None else six(price),
        *(item.get(k) for k in ("tax_income_id", "currency_id")),
    ]
    return hashlib.sha256(json.dumps(fields, default=str).encode()).hexdigest()[:20]


def to_article(
    item: Mapping[str, Any], *, tax_rates: Mapping[int, Decimal], currencies: Mapping[int, str]
) -> Article:
    """An item as read; an unknown (inactive) tax or currency id reads as none."""
    tax_id, currency_id = item.get("tax_income_id"), item.get("currency_id")
    return Article(
        sku=str(item.get("intern_code") or ""),
        name=str(item.get("intern_name") or ""),
        description=str(item.get("intern_description") or ""),
        unit_price=decimal(item.get("sale_price")),
        tax_rate=tax_rates.get(tax_id) if isinstance(tax_id, int) else None,
        currency=currencies.get(currency_id, "") if isinstance(currency_id, int) else "",
        vendor_id=str(item["id"]),
        marker=marker(item),
    )


# -- writing -----------------------------------------------------------------------------


def net_price(article: Article) -> Decimal | None:
    price = article.unit_price
    if price is None or not article.price_is_gross or not article.tax_rate:
        return price
    return price / (1 + rate(article.tax_rate) / 100)


def item_body(
    article: Article,
    fields: frozenset[ArticleField],
    *,
    tax_id: int | None,
    currency_id: int | None,
) -> dict[str, Any]:
    """The SKU and the field groups in `fields` (an edit takes a partial body, so what is left
    out stays as bexio has it). Values the article does not have are left out, not cleared."""
    body: dict[str, Any] = {"intern_code": article.sku.strip()}
    if ArticleField.NAME in fields:
        body["intern_name"] = article.name.strip()
    if ArticleField.DESCRIPTIONS in fields:
        body["intern_description"] = article.description.strip() or (
            article.long_description.strip()
        )
    if ArticleField.PRICE in fields:
        price = net_price(article)
        if price is not None:
            body["sale_price"] = six(price)
        if tax_id is not None:
            body["tax_income_id"] = tax_id
        if currency_id is not None:
            body["currency_id"] = currency_id
    return body
