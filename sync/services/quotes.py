"""From a HubSpot deal to a vendor-neutral quote, with the tenant's defaults."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from connectors import documents
from connectors.base import AccountingConnector
from connectors.rules import fit_title
from connectors.shapes import Address, Deal, Quote, QuotePosition
from sync.messages import Message, Refusal, UnsupportedRefusal
from sync.models import TransferSettings


def quote_reference(deal: Deal, language: str = documents.LEGACY_LANGUAGE) -> str:
    """Our mark on the quote, in the customer's language, so it can be found again after an
    unknown outcome (the transfer keeps it with what it sent)."""
    return documents.reference(language, f"{deal.portal_id}-{deal.hubspot_id}")


def document_language(*, address: Address, settings: TransferSettings) -> str:
    """The language of the customer's documents: the tenant's fixed choice, else the one of
    the customer's country."""
    return documents.language_for(
        address.country_code, address.postcode, forced=settings.document_language
    )


def document_text(settings: TransferSettings, language: str, key: str) -> str:
    """The tenant's own introduction or remark in `language`; "" where it has none."""
    texts = settings.document_texts if isinstance(settings.document_texts, dict) else {}
    own = texts.get(language)
    return str(own.get(key) or "").strip() if isinstance(own, dict) else ""


def quote_from_deal(
    *,
    deal: Deal,
    customer_id: str,
    connector: AccountingConnector,
    settings: TransferSettings,
    address: Address,
    today: dt.date | None = None,
    contact_person_id: str = "",
) -> tuple[Quote, list[Message]]:
    """The quote for `deal`, written in the language of the customer at `address`."""
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
    language = document_language(address=address, settings=settings)
    reference = quote_reference(deal, language)
    own_introduction = document_text(settings, language, "introduction")
    full_name = ""
    if shortened and max_length is not None:
        full_name = deal.name
        notes.append(Message("quote.title_shortened", {"length": max_length}))
    introduction = "\n".join(p for p in (full_name, own_introduction, reference) if p)
    positions = tuple(
        QuotePosition(
            name=item.name,
            description=item.description,
            quantity=item.quantity,
            unit_net_price=item.unit_price,
            tax_rate=item.tax_rate if item.tax_rate is not None else settings.default_tax_rate,
            discount_percent=item.discount_percent or Decimal(0),
            unit=documents.unit_name(item.unit, language),
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
            language=language,
            remark=document_text(settings, language, "remark"),
            contact_person_id=contact_person_id,
        ),
        notes,
    )
