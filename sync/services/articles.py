"""A deal's line items and the accounting system's articles: a position whose SKU is an
article of the catalogue refers to it (products by SKU), else it stays free text."""

from __future__ import annotations

from connectors import errors
from connectors.base import AccountingConnector
from connectors.shapes import Article, Deal
from sync.messages import Message
from sync.models import TransferSettings


def deal_articles(
    *, connector: AccountingConnector, deal: Deal, settings: TransferSettings
) -> tuple[dict[str, Article], list[Message]]:
    """The articles of the system's catalogue that the deal's line items name by SKU (one
    call per SKU), created for SKUs it lacks where the tenant wants that. A SKU two articles
    share stays a free-text position: which one was meant cannot be told."""
    if not connector.capabilities.articles:
        return {}, []
    found: dict[str, Article] = {}
    created: list[str] = []
    for item in deal.line_items:
        sku = item.sku.strip()
        if not sku or sku in found:
            continue
        try:
            article = connector.find_article(sku)
        except errors.Conflict:
            continue
        if article is None and settings.create_missing_articles:
            article = connector.create_article(
                Article(
                    sku=sku,
                    name=item.name,
                    description=item.description,
                    unit_price=item.unit_price,
                    tax_rate=item.tax_rate,
                    unit=item.unit,
                )
            )
            created.append(sku)
        if article is not None:
            found[sku] = article
    notes = []
    if found:
        notes.append(Message("products.article_used", {"skus": ", ".join(sorted(found))}))
    if created:
        notes.append(Message("products.article_created", {"skus": ", ".join(created)}))
    return found, notes
