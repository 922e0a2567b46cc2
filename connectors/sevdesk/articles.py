"""sevDesk's parts (`Part`) as the catalogue of articles keyed by SKU (`capabilities.articles`).

What the spec gives and what follows from it (`sevdesk-openapi.patched.yaml`, Part and
Part/{partId}; fact sheet "Parts"):
- The SKU is `partNumber`. `GET /Part?partNumber=..` does not say whether it matches exactly,
  so the rows are compared locally.
- A part has one text (`text`): it holds the article's short text (`description`);
  `long_description` has no place in sevDesk. Parts have no GTIN and no currency (the
  account's). The price is net (`price`, `priceNet`) and gross (`priceGross`): the spec
  asks for both "until" sevDesk computes the gross price itself, so both are sent, the other
  one computed with the part's tax rate.
- No DELETE: an archived part is set inactive (`status` 50), the spec's other status.
  Inactive parts are outside the catalogue: not listed, not found by SKU, not reported as
  changed, so a SKU archived once can be created again.
- `PUT /Part/{id}` changes the fields sent (`Model_PartUpdate` requires none) and sevDesk has
  no optimistic version: an update sends only the chosen field groups.
- `GET /Part` has no update filter and no sort parameter: `article_changes` pages through the
  whole catalogue (bounded like every list here) comparing update stamps; pages are cut with
  the generic `limit` / `offset` in sevDesk's list order (by id).
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import Iterator, Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from connectors import errors
from connectors.base import AccountingConnector
from connectors.sevdesk import mapping, status
from connectors.shapes import Article, ArticleField, ArticlePage

ARTICLE_PAGE_SIZE = 100  # parts per `articles_page`: one call each
PART_STATUS_INACTIVE = 50
PART_STATUS_ACTIVE = 100
# `taxRate` is required on a part; an article that has none gets Germany's standard rate,
# the rate sevDesk itself proposes for a new part.
DEFAULT_TAX_RATE = Decimal(19)
# A poll keeps parts stamped this long before its cursor: one saved while the previous poll
# ran, or stamped by a clock a little behind ours, is not missed (the engine compares markers).
CHANGES_OVERLAP_SECONDS = 30
CENT = Decimal("0.01")


class SevdeskArticles(AccountingConnector):
    """The articles part of `SevdeskConnector`, which supplies the list reader and units."""

    @abstractmethod
    def _pages(self, path: str, params: Mapping[str, str]) -> Iterator[dict[str, Any]]: ...

    @abstractmethod
    def _unities(self) -> tuple[mapping.Unity, ...]: ...

    def articles_page(self, cursor: str) -> ArticlePage:
        """1 call: `GET /Part?limit=100&offset=..`; the cursor is the offset of the next page.
        Inactive parts are skipped (they still count for the offset)."""
        offset = _cursor_number(cursor)
        params = {"limit": str(ARTICLE_PAGE_SIZE), "offset": str(offset)}
        rows = mapping.objects(self.request("GET", "/Part", params=params))
        unities = self._unities()
        articles = tuple(to_article(row, unities) for row in _by_id(rows) if _is_active(row))
        more = len(rows) >= ARTICLE_PAGE_SIZE
        return ArticlePage(articles, next_cursor=str(offset + len(rows)) if more else "")

    def find_article(self, sku: str) -> Article | None:
        """1 call per 1,000 hits (usually 1): `GET /Part?partNumber=..`, then the active
        parts whose part number is exactly `sku`. Conflict when there are several."""
        if not sku:
            return None
        found = [
            row
            for row in self._pages("/Part", {"partNumber": sku})
            if str(row.get("partNumber") or "") == sku and _is_active(row)
        ]
        if len(found) > 1:
            ids = ", ".join(str(row.get("id")) for row in _by_id(found))
            raise errors.Conflict(f"sevDesk has several parts with the number “{sku}” ({ids}).")
        return to_article(found[0], self._unities()) if found else None

    def create_article(self, article: Article) -> Article:
        """1 call: `POST /Part`, active, stock 0, with the unit matched as on positions."""
        fields = part_fields(article, frozenset(ArticleField), stored_rate=None)
        fields.update(
            unity=mapping.reference(str(mapping.unity_id(article.unit, self._unities())), "Unity"),
            stock=0,
            status=PART_STATUS_ACTIVE,
        )
        part = mapping.first(self.request("POST", "/Part", json=fields))
        if part is None or not mapping.is_id(str(part.get("id") or "")):
            raise errors.UnknownOutcome("sevDesk created a part but did not return it")
        return to_article(part, self._unities())

    def update_article(
        self, vendor_id: str, article: Article, *, overwrite: frozenset[ArticleField]
    ) -> Article:
        """1 call: `PUT /Part/{id}` with the part number and the groups in `overwrite`; 1 more
        (`GET /Part/{id}`) when a price comes without a tax rate, to compute the other price
        with the part's own rate."""
        part_id = mapping.require_id(vendor_id, "part")
        stored_rate = None
        if ArticleField.PRICE in overwrite and article.tax_rate is None:
            stored_rate = _decimal(self._part(part_id).get("taxRate"))
        fields = part_fields(article, overwrite, stored_rate=stored_rate)
        part = mapping.first(self.request("PUT", f"/Part/{part_id}", json=fields))
        return to_article(part if part is not None else self._part(part_id), self._unities())

    def archive_article(self, vendor_id: str) -> None:
        """1 call: `PUT /Part/{id}` with status 50 (inactive); the spec has no DELETE. A part
        that is gone already is fine: 1 more call (`GET /Part/{id}`) tells that apart from
        another refusal."""
        part_id = mapping.require_id(vendor_id, "part")
        try:
            self.request("PUT", f"/Part/{part_id}", json={"status": PART_STATUS_INACTIVE})
        except errors.PermanentError as exc:
            if exc.status not in (400, 404):
                raise
            try:
                self._part(part_id)
            except errors.NotFound:
                return
            raise

    def article_changes(self, cursor: str) -> tuple[tuple[Article, ...], str]:
        """The whole catalogue, 1 call per 1,000 parts, up to 10,000 parts (`GET /Part` has no
        update filter): the active parts stamped after the cursor, from
        `CHANGES_OVERLAP_SECONDS` before it. The cursor is the newest `update` stamp seen (a
        Unix timestamp), so sevDesk's clock moves it; "" starts now, without a call."""
        if not cursor:
            return (), str(int(time.time()))
        since = _cursor_number(cursor)
        newest, changed = since, []
        unities = self._unities()
        for row in self._pages("/Part", {}):
            stamp = status.moment(row.get("update"))
            if stamp is None or stamp.timestamp() <= since - CHANGES_OVERLAP_SECONDS:
                continue
            newest = max(newest, int(stamp.timestamp()))
            if _is_active(row):
                changed.append(to_article(row, unities))
        return tuple(changed), str(newest)

    def _part(self, part_id: str) -> dict[str, Any]:
        """`GET /Part/{id}`; sevDesk answers an unknown id with 400 "Part was not found"."""
        try:
            part = mapping.first(self.request("GET", f"/Part/{part_id}"))
        except errors.PermanentError as exc:
            if exc.status != 400:
                raise
            part = None
        if part is None:
            raise errors.NotFound(f"sevDesk has no part {part_id} (any more).")
        return part


# -- sevDesk's Part JSON ---------------------------------------------------------------------


def part_fields(
    article: Article, overwrite: frozenset[ArticleField], *, stored_rate: Decimal | None
) -> dict[str, Any]:
    """The part number and the field groups in `overwrite`, as `Model_Part` names them."""
    fields: dict[str, Any] = {"partNumber": article.sku}
    if ArticleField.NAME in overwrite:
        fields["name"] = article.name.strip()
    if ArticleField.DESCRIPTIONS in overwrite:
        fields["text"] = article.description.strip() or None
    if ArticleField.PRICE in overwrite:
        rate = article.tax_rate if article.tax_rate is not None else stored_rate
        rate = DEFAULT_TAX_RATE if rate is None else rate
        fields["taxRate"] = _number(rate)
        if article.unit_price is not None:
            net, gross = _net_and_gross(article.unit_price, rate, is_gross=article.price_is_gross)
            fields.update(price=_number(net), priceNet=_number(net), priceGross=_number(gross))
    return fields


def to_article(part: Mapping[str, Any], unities: tuple[mapping.Unity, ...]) -> Article:
    """The part as an article: its net price (the gross one where sevDesk has no net one)."""
    net = _decimal(part.get("priceNet"))
    if net is None:
        net = _decimal(part.get("price"))
    gross = _decimal(part.get("priceGross"))
    unity_id = mapping.id_of(part.get("unity"))
    unit = next((u.name for u in unities if str(u.id) == unity_id), "")
    return Article(
        sku=str(part.get("partNumber") or ""),
        name=str(part.get("name") or ""),
        description=str(part.get("text") or ""),
        unit_price=net if net is not None else gross,
        price_is_gross=net is None and gross is not None,
        tax_rate=_decimal(part.get("taxRate")),
        unit=unit,
        vendor_id=str(part.get("id") or ""),
        marker=str(part.get("update") or ""),
    )


def _net_and_gross(price: Decimal, rate: Decimal, *, is_gross: bool) -> tuple[Decimal, Decimal]:
    """The price as given and the other one computed, to the cent."""
    factor = 1 + rate / 100
    if is_gross:
        return (price / factor).quantize(CENT, ROUND_HALF_UP), price
    return price, (price * factor).quantize(CENT, ROUND_HALF_UP)


def _is_active(part: Mapping[str, Any]) -> bool:
    return str(part.get("status") or PART_STATUS_ACTIVE) != str(PART_STATUS_INACTIVE)


def _by_id(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(parts, key=lambda part: int(mapping.id_of(part) or 0))


def _cursor_number(cursor: str) -> int:
    if not cursor:
        return 0
    if not cursor.isdigit():
        raise errors.PermanentError(f"“{cursor}” is not a sevDesk article cursor.")
    return int(cursor)


def _decimal(value: Any) -> Decimal | None:
    """sevDesk answers numbers as numbers or as strings ("119", "12.5")."""
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)
