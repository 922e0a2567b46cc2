"""From a HubSpot deal to a vendor-neutral quote, with the tenant's defaults."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from connectors.base import AccountingConnector
from connectors.rules import fit_title
from connectors.shapes import Deal, Quote, QuotePosition
from sync.messages import Message, Refusal, UnsupportedRefusal
from sync.models import TransferSettings


def quote_reference(deal: Deal) -> str:
    """Our mark on the quote, so it can be found again after an unknown outcome."""
    return f"HubSpot-Deal {deal.portal_id}-{deal.hubspot_id}"


def quote_from_deal(
    *,
    deal: Deal,
    customer_id: str,
    connector: AccountingConnector,
    settings: TransferSettings,
    today: dt.date | None = None,
) -> tuple[Quote, list[Message]]:
    notes: list[Message] = []
    accepted = connector.capabilities.currencies
    currency = (deal.currency or "EUR").upper()
    if accepted is not None and currency not in accepted:
        raise UnsupportedRefusal(
            Message(
                "deal.currency_refused",
                {
                    "system": connector.provider.label,
                    "currencies": ", ".join(sorted(accepted)),
                    "currency": currency,
                },
            )
        )
    if not deal.line_items:
        raise Refusal(Message("deal.no_line_items"))
    max_length = connector.capabilities.title_max_length
    title, shortened = fit_title(deal.name, max_length)
    reference = quote_reference(deal)
    introduction = reference
    if shortened and max_length is not None:
        introduction = f"{deal.name}\n{reference}"
        notes.append(Message("quote.title_shortened", {"length": max_length}))
    positions = tuple(
        QuotePosition(
            name=item.name,
            description=item.description,
            quantity=item.quantity,
            unit_net_price=item.unit_price,
            tax_rate=item.tax_rate if item.tax_rate is not None else settings.default_tax_rate,
            discount_percent=item.discount_percent or Decimal(0),
            unit=item.unit or "Stück",
        )
        for item in deal.line_items
    )
    valid_from = today or timezone.localdate()
    return (
        Quote(
            title=title,
            introduction=introduction,
            positions=positions,
            currency=currency,
            valid_from=valid_from,
            valid_until=valid_from + dt.timedelta(days=settings.validity_days),
            reference=reference,
            customer_id=customer_id,
        ),
        notes,
    )
