"""Applies a mapping's rules to the shapes a transfer sends: the customer's fields, the
quote's texts, payment term and tax rate. Pure; the standard rules change nothing."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from connectors.shapes import Company, Customer, CustomerKind, Note
from sync.mapping import targets
from sync.mapping.rules import Rules, Values, value_of


def mapped(rules: Rules, key: str, values: Values, *, own: str = "") -> str | None:
    """The value the rule of `key` gives, or None where the standard rule applies."""
    return value_of(rules.source(key), values, flow=targets.BY_KEY[key].flow, own=own)


def field_note(key: str, version: int) -> Note:
    """Which field the mapping filled, and from which version (0: rules not saved yet,
    which only a preview uses)."""
    return Note(f"mapping.field.{key}", (("version", str(version) if version else "\u2013"),))


def customer_mapped(
    customer: Customer, rules: Rules, values: Values, *, version: int, own: str
) -> Customer:
    """The customer with the fields its mapping gives (name of a company, e-mail, phone,
    VAT ID); an empty value leaves the standard one. `own`: "company" or "contact", the
    HubSpot object the customer was made from."""
    if not rules.fields:
        return customer
    notes = list(customer.notes)
    company, person = customer.company, customer.person
    for key, attribute in (
        (targets.CUSTOMER_NAME, "name"),
        (targets.CUSTOMER_EMAIL, "email"),
        (targets.CUSTOMER_PHONE, "phone"),
        (targets.CUSTOMER_VAT_ID, "vat_id"),
    ):
        value = mapped(rules, key, values, own=own)
        if value is None or not value.strip():
            continue
        text = value.strip()
        if customer.kind is CustomerKind.COMPANY and company is not None:
            company = _with_company(company, attribute, text)
        elif person is not None and attribute in ("email", "phone"):
            person = (
                replace(person, email=text) if attribute == "email" else replace(person, phone=text)
            )
        else:
            continue
        notes.append(field_note(key, version))
    return replace(customer, company=company, person=person, notes=tuple(notes))


def _with_company(company: Company, attribute: str, value: str) -> Company:
    if attribute == "name":
        return replace(company, name=value)
    if attribute == "email":
        return replace(company, email=value)
    if attribute == "phone":
        return replace(company, phone=value)
    return replace(company, vat_id=value)


def country_tax_rate(rules: Rules, country_code: str) -> Decimal | None:
    """The tax rate the mapping gives customers in `country_code`, if any."""
    return rules.tax_rates.get(country_code.strip().upper())


def country_revenue_account(rules: Rules, country_code: str) -> str:
    """The revenue account the mapping gives customers in `country_code` ("" for none)."""
    return rules.revenue_accounts.get(country_code.strip().upper(), "")


def net_amount(value: str | None) -> Decimal | None:
    """A non-negative amount as a user or a HubSpot property writes it ("4.90", "4,90");
    None for anything else."""
    text = (value or "").strip().replace(",", ".")
    if not text or text.count(".") > 1 or not text.replace(".", "").isdigit():
        return None
    return Decimal(text).quantize(Decimal("0.01"))


# The shipping position's name, in the customer's language (an explicit table, as the
# payment term's words below: the document is read by the tenant's customer).
SHIPPING_WORDS = {"de": "Versandkosten", "en": "Shipping", "fr": "Frais de port"}


def payment_term_days(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    return int(value.strip())


# The words for a payment term on the document, in the customer's language (like
# connectors.documents, an explicit table: the document is read by the tenant's customer).
PAYMENT_TERM_WORDS = {
    "de": "Zahlbar innerhalb von {days} Tagen",
    "en": "Payable within {days} days",
    "fr": "Payable sous {days} jours",
}


def payment_term_label(days: int, language: str) -> str:
    words = PAYMENT_TERM_WORDS.get(language) or PAYMENT_TERM_WORDS["de"]
    return words.format(days=days)
