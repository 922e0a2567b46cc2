"""From a HubSpot deal to a vendor-neutral quote, with the tenant's defaults."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils import timezone

from accounts.models import Tenant
from connectors import documents
from connectors.base import AccountingConnector
from connectors.hubspot.client import HubSpotClient
from connectors.rules import Placeholder, customer_for_deal, fit_title
from connectors.shapes import Address, Article, Customer, Deal, Note, Quote, QuotePosition
from sync.mapping import apply as mapping_apply
from sync.mapping import rules as mapping_rules
from sync.mapping import services as mapping_services
from sync.mapping import targets as mapping_targets
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


@dataclass(frozen=True)
class DealMapping:
    """What the tenant's mapping gives one deal: the rules of the quote and customer flows in
    force, and the HubSpot values they read (none for the standard mapping)."""

    quote: mapping_services.InForce
    customer: mapping_services.InForce
    values: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def default_debtor(self) -> str:
        return self.quote.rules.default_debtor


STANDARD_MAPPING = DealMapping(
    quote=mapping_services.InForce(rules=mapping_rules.STANDARD_RULES, version=None),
    customer=mapping_services.InForce(rules=mapping_rules.STANDARD_RULES, version=None),
)


def deal_mapping(
    *,
    tenant: Tenant,
    system: str,
    hubspot: HubSpotClient,
    deal: Deal,
    unsaved: dict[str, mapping_rules.Rules] | None = None,
) -> DealMapping:
    """The mapping for `deal`: 2 queries, and 1 HubSpot call per object whose properties the
    rules read. `unsaved`: rules of a flow not saved yet, which a preview tries instead."""
    unsaved = unsaved or {}

    def rules_of(flow: str) -> mapping_services.InForce:
        if flow in unsaved:
            return mapping_services.InForce(rules=unsaved[flow], version=None)
        return mapping_services.mapping_in_force(tenant=tenant, system=system, flow=flow)

    quote_rules = rules_of(mapping_targets.QUOTE)
    customer_rules = rules_of(mapping_targets.CUSTOMER)
    wanted: dict[str, set[str]] = {}
    for obj, names in [
        *quote_rules.rules.properties(mapping_targets.QUOTE).items(),
        *customer_rules.rules.properties(
            mapping_targets.CUSTOMER, own=customer_object(deal)
        ).items(),
    ]:
        wanted.setdefault(obj, set()).update(names)
    ids = {
        "deal": deal.hubspot_id,
        "company": deal.company.hubspot_id if deal.company else "",
        "contact": deal.contact.hubspot_id if deal.contact else "",
    }
    values = mapping_services.source_values(hubspot=hubspot, wanted=wanted, ids=ids)
    return DealMapping(quote=quote_rules, customer=customer_rules, values=values)


def deal_customer(
    *, deal: Deal, placeholder: Placeholder, default_country: str, mapped: DealMapping
) -> Customer | None:
    """The deal's customer as the reference-000 rules and the customer mapping make it;
    None for a deal without company and contact that goes to the default customer."""
    if deal.company is None and deal.contact is None:
        if mapped.default_debtor:
            return None
        raise Refusal(Message("deal.no_customer"))
    customer = customer_for_deal(
        company=deal.company,
        contact=deal.contact,
        placeholder=placeholder,
        default_country=default_country,
    )
    return mapping_apply.customer_mapped(
        customer,
        mapped.customer.rules,
        mapped.values,
        version=mapped.customer.number,
        own=customer_object(deal),
    )


def customer_object(deal: Deal) -> str:
    """The HubSpot object the deal's customer is made from: its company, else its contact."""
    return "company" if deal.company is not None else "contact"


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
    mapped: DealMapping = STANDARD_MAPPING,
    articles: Mapping[str, Article] | None = None,
) -> tuple[Quote, list[Message]]:
    """The quote for `deal`, written in the language of the customer at `address`, with the
    fields the tenant's mapping gives."""
    notes: list[Message] = []
    rules, values, version = mapped.quote.rules, mapped.values, mapped.quote.number

    def from_mapping(key: str) -> str | None:
        value = mapping_apply.mapped(rules, key, values)
        if value is not None:
            notes.append(_note(mapping_apply.field_note(key, version)))
        return value

    currency = _currency(deal=deal, connector=connector, settings=settings)
    if not deal.line_items:
        raise Refusal(Message("deal.no_line_items"))
    max_length = connector.capabilities.title_max_length
    name = from_mapping(mapping_targets.TITLE)
    name = deal.name if name is None else name
    title, shortened = fit_title(name, max_length)
    language = document_language(address=address, settings=settings)
    reference = quote_reference(deal, language)
    own_introduction = from_mapping(mapping_targets.INTRODUCTION)
    if own_introduction is None:
        own_introduction = document_text(settings, language, "introduction")
    remark = from_mapping(mapping_targets.REMARK)
    if remark is None:
        remark = document_text(settings, language, "remark")
    full_name = ""
    if shortened and max_length is not None:
        full_name = name
        notes.append(Message("quote.title_shortened", {"length": max_length}))
    term = mapping_apply.mapped(rules, mapping_targets.PAYMENT_TERM, values)
    days = mapping_apply.payment_term_days(term)
    if days is not None:
        notes.append(Message("mapping.payment_term", {"days": days}))
    elif term:
        notes.append(Message("mapping.payment_term_not_days", {"value": term}))
    allowed = connector.tax_rates()
    default_rate = Decimal(0)
    if any(item.tax_rate is None for item in deal.line_items):
        country_rate = mapping_apply.country_tax_rate(rules, address.country_code)
        if country_rate is not None:
            default_rate = _country_tax_rate(
                connector=connector, rate=country_rate, allowed=allowed
            )
            notes.append(
                Message(
                    "mapping.tax_rate_from_country",
                    {"rate": percent(country_rate), "country": address.country_code.upper()},
                )
            )
        else:
            default_rate = _default_tax_rate(
                connector=connector, settings=settings, allowed=allowed
            )
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
    revenue_account = mapping_apply.country_revenue_account(rules, address.country_code)
    if revenue_account:
        notes.append(
            Message(
                "mapping.revenue_account_from_country",
                {"account": revenue_account, "country": address.country_code.upper()},
            )
        )
    lacks_rate = any(item.tax_rate is None for item in deal.line_items)
    shipping = _shipping_position(
        from_mapping(mapping_targets.SHIPPING_COST),
        notes=notes,
        language=language,
        tax_rate=lambda: (
            default_rate
            if lacks_rate
            else _default_tax_rate(connector=connector, settings=settings, allowed=allowed)
        ),
        revenue_account=revenue_account,
    )
    introduction = "\n".join(p for p in (full_name, own_introduction, reference) if p)
    positions = (
        tuple(
            QuotePosition(
                name=item.name,
                description=item.description,
                quantity=item.quantity,
                unit_net_price=item.unit_price,
                tax_rate=item.tax_rate if item.tax_rate is not None else default_rate,
                discount_percent=item.discount_percent or Decimal(0),
                unit=documents.unit_name(item.unit, language),
                revenue_account=revenue_account,
                # The line item's SKU is an article of the system's catalogue: the position
                # refers to it (products.deal_articles).
                article=(articles or {}).get(item.sku.strip()) if item.sku else None,
            )
            for item in deal.line_items
        )
        + shipping
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
            remark=remark,
            contact_person_id=contact_person_id,
            payment_term_days=days,
            payment_term_label=(
                mapping_apply.payment_term_label(days, language) if days is not None else ""
            ),
        ),
        notes,
    )


def _shipping_position(
    value: str | None,
    *,
    notes: list[Message],
    language: str,
    tax_rate: Callable[[], Decimal],
    revenue_account: str,
) -> tuple[QuotePosition, ...]:
    """The mapping's shipping cost as a position of its own (reference 001: shipping costs
    as a position), or none."""
    if value is None or not value.strip():
        return ()
    amount = mapping_apply.net_amount(value)
    if amount is None:
        notes.append(Message("mapping.shipping_cost_not_amount", {"value": value[:40]}))
        return ()
    if not amount:
        return ()
    words = mapping_apply.SHIPPING_WORDS
    return (
        QuotePosition(
            name=words.get(language, words["en"]),
            quantity=Decimal(1),
            unit_net_price=amount,
            tax_rate=tax_rate(),  # the default rate, as for a line item without one
            unit=documents.unit_name("", language),
            revenue_account=revenue_account,
        ),
    )


def _note(note: Note) -> Message:
    return Message(note.code, dict(note.params))


def _country_tax_rate(
    *, connector: AccountingConnector, rate: Decimal, allowed: frozenset[Decimal] | None
) -> Decimal:
    """The mapping's rate for the customer's country; one the account does not allow is
    refused with the rates it has."""
    if allowed and rate not in allowed:
        raise Refusal(
            Message(
                "quote.default_tax_rate_not_allowed",
                {
                    "system": connector.provider.label,
                    "rate": percent(rate),
                    "rates": rates_text(allowed),
                    "url": settings_url(),
                },
            )
        )
    return rate


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
