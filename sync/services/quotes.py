"""From a HubSpot deal to a vendor-neutral quote, with the tenant's defaults."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from connectors import documents
from connectors.base import AccountingConnector
from connectors.rules import fit_title
from connectors.shapes import Address, Deal, Quote, QuotePosition
from sync.messages import (
    Message,
    Refusal,
    UnsupportedRefusal,
    percent,
    rates_text,
    settings_url,
)
from sync.models import TransferSettings
from sync.services import context


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
    currency = _currency(deal=deal, connector=connector, settings=settings)
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
    allowed = connector.tax_rates()
    default_rate = Decimal(0)
    if any(item.tax_rate is None for item in deal.line_items):
        default_rate = _default_tax_rate(connector=connector, settings=settings, allowed=allowed)
    for item in deal.line_items:
        if allowed and item.tax_rate is not None and item.tax_rate not in allowed:
            raise Refusal(
                Message(
                    "quote.tax_rate_not_allowed",
                    {
                        "item": item.name,
                        "rate": percent(item.tax_rate),
                        "system": connector.provider.label,
                        "rates": rates_text(allowed),
                    },
                )
            )
    introduction = "\n".join(p for p in (full_name, own_introduction, reference) if p)
    positions = tuple(
        QuotePosition(
            name=item.name,
            description=item.description,
            quantity=item.quantity,
            unit_net_price=item.unit_price,
            tax_rate=item.tax_rate if item.tax_rate is not None else default_rate,
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


def _currency(*, deal: Deal, connector: AccountingConnector, settings: TransferSettings) -> str:
    """The deal's currency; for a deal without one the tenant's choice, else the HubSpot
    account's company currency. One the account does not have is refused with the ones it
    has."""
    chosen = deal.currency or settings.fallback_currency
    currency = (chosen or context.portal_currency(tenant=settings.tenant) or "EUR").upper()
    accepted = connector.currencies()
    if accepted is None or currency in accepted:
        return currency
    params: dict[str, str] = {
        "system": connector.provider.label,
        "currencies": ", ".join(sorted(accepted)),
        "currency": currency,
    }
    if deal.currency:
        raise UnsupportedRefusal(Message("deal.currency_not_in_account", params))
    raise UnsupportedRefusal(
        Message("deal.fallback_currency_not_in_account", {**params, "url": settings_url()})
    )


def _default_tax_rate(
    *,
    connector: AccountingConnector,
    settings: TransferSettings,
    allowed: frozenset[Decimal] | None,
) -> Decimal:
    """The tenant's default tax rate, else the standard rate the account allows. A chosen
    rate the account no longer allows is refused with the setting that fixes it."""
    chosen = settings.default_tax_rate
    if chosen is None:
        return context.standard_tax_rate(tenant=settings.tenant, allowed=allowed)
    if allowed and chosen not in allowed:
        raise Refusal(
            Message(
                "quote.default_tax_rate_not_allowed",
                {
                    "system": connector.provider.label,
                    "rate": percent(chosen),
                    "rates": rates_text(allowed),
                    "url": settings_url(),
                },
            )
        )
    return chosen
