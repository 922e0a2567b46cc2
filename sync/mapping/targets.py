"""The fields a mapping can fill, per flow, and where each one lands in each vendor's
request (the spec field whose limits apply when a mapping is saved).

A target is vendor-neutral (the quote's introduction) and lands in the field the vendor's
mapping writes it to (lexware office `introduction`, bexio `header`, sevDesk
`order.headText`, Qonto `header`). A target a vendor's spec has no field for is not offered
for that vendor. New flows (order, invoice, product) add their targets here."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from sync.mapping.spec import FieldSpec, SpecField, field_spec

CUSTOMER, QUOTE = "customer", "quote"
# The flows a mapping exists for; order, invoice and product come with their transfers.
FLOWS: dict[str, Promise] = {CUSTOMER: _("Customers"), QUOTE: _("Quotes")}
# Where a flow's HubSpot values come from: the object a bare {property} names.
PRIMARY_OBJECT = {CUSTOMER: "company", QUOTE: "deal"}
OBJECTS: dict[str, Promise] = {
    "deal": _("Deal"),
    "company": _("Company"),
    "contact": _("Contact"),
}

TITLE = "quote.title"
INTRODUCTION = "quote.introduction"
REMARK = "quote.remark"
PAYMENT_TERM = "quote.payment_term"
SHIPPING_COST = "quote.shipping_cost"
CUSTOMER_NAME = "customer.name"
CUSTOMER_EMAIL = "customer.email"
CUSTOMER_PHONE = "customer.phone"
CUSTOMER_VAT_ID = "customer.vat_id"


@dataclass(frozen=True)
class Target:
    key: str
    flow: str
    label: Promise
    help: Promise
    kind: str = "text"  # "text", "days" (a whole number) or "amount" (a net amount)


TARGETS: tuple[Target, ...] = (
    Target(TITLE, QUOTE, _("Title"), _("Standard: the deal name, shortened to the limit.")),
    Target(
        INTRODUCTION,
        QUOTE,
        _("Introduction"),
        _("Standard: your text of the settings page; our reference is always added."),
    ),
    Target(REMARK, QUOTE, _("Closing text"), _("Standard: your text of the settings page.")),
    Target(
        PAYMENT_TERM,
        QUOTE,
        _("Payment term (days)"),
        _("Standard: the account's own payment term."),
        kind="days",
    ),
    Target(
        SHIPPING_COST,
        QUOTE,
        _("Shipping cost (net)"),
        _(
            "Standard: none. An amount above zero becomes a position of its own, “Shipping”, "
            "at the default tax rate."
        ),
        kind="amount",
    ),
    Target(
        CUSTOMER_NAME,
        CUSTOMER,
        _("Customer name"),
        _("Standard: the company name, else its domain, else the placeholder company."),
    ),
    Target(CUSTOMER_EMAIL, CUSTOMER, _("E-mail address"), _("Standard: the e-mail address.")),
    Target(CUSTOMER_PHONE, CUSTOMER, _("Phone number"), _("Standard: the phone number.")),
    Target(CUSTOMER_VAT_ID, CUSTOMER, _("VAT ID"), _("Standard: none.")),
)
BY_KEY = {target.key: target for target in TARGETS}

_LEXOFFICE = "lexoffice/lexoffice-derived-openapi.yaml"
_BEXIO = "bexio/bexio-derived-openapi.yaml"
_SEVDESK = "sevdesk/sevdesk-openapi.patched.yaml"
_QONTO = "qonto/qonto-derived-openapi.yaml"
_EACCOUNTING = "eaccounting/eaccounting-openapi.normalized.json"
_SAVE_ORDER = "/Order/Factory/saveOrder"

# Where each target lands at each vendor: the field its connector mapping writes.
VENDOR_FIELDS: dict[str, dict[str, SpecField]] = {
    "lexoffice": {
        SHIPPING_COST: SpecField(
            _LEXOFFICE, "/v1/quotations", "post", "lineItems.unitPrice.netAmount"
        ),
        TITLE: SpecField(_LEXOFFICE, "/v1/quotations", "post", "title"),
        INTRODUCTION: SpecField(_LEXOFFICE, "/v1/quotations", "post", "introduction"),
        REMARK: SpecField(_LEXOFFICE, "/v1/quotations", "post", "remark"),
        PAYMENT_TERM: SpecField(
            _LEXOFFICE, "/v1/quotations", "post", "paymentConditions.paymentTermDuration"
        ),
        CUSTOMER_NAME: SpecField(_LEXOFFICE, "/v1/contacts", "post", "company.name"),
        CUSTOMER_EMAIL: SpecField(_LEXOFFICE, "/v1/contacts", "post", "emailAddresses.business"),
        CUSTOMER_PHONE: SpecField(_LEXOFFICE, "/v1/contacts", "post", "phoneNumbers.business"),
        CUSTOMER_VAT_ID: SpecField(_LEXOFFICE, "/v1/contacts", "post", "company.vatRegistrationId"),
    },
    "bexio": {
        SHIPPING_COST: SpecField(_BEXIO, "/2.0/kb_offer", "post", "positions.unit_price"),
        TITLE: SpecField(_BEXIO, "/2.0/kb_offer", "post", "title"),
        INTRODUCTION: SpecField(_BEXIO, "/2.0/kb_offer", "post", "header"),
        REMARK: SpecField(_BEXIO, "/2.0/kb_offer", "post", "footer"),
        CUSTOMER_NAME: SpecField(_BEXIO, "/2.0/contact", "post", "name_1"),
        CUSTOMER_EMAIL: SpecField(_BEXIO, "/2.0/contact", "post", "mail"),
        CUSTOMER_PHONE: SpecField(_BEXIO, "/2.0/contact", "post", "phone_fixed"),
    },
    "sevdesk": {
        SHIPPING_COST: SpecField(_SEVDESK, _SAVE_ORDER, "post", "orderPosSave.price"),
        TITLE: SpecField(_SEVDESK, _SAVE_ORDER, "post", "order.header"),
        INTRODUCTION: SpecField(_SEVDESK, _SAVE_ORDER, "post", "order.headText"),
        REMARK: SpecField(_SEVDESK, _SAVE_ORDER, "post", "order.footText"),
        PAYMENT_TERM: SpecField(_SEVDESK, _SAVE_ORDER, "post", "order.paymentTerms"),
        CUSTOMER_NAME: SpecField(_SEVDESK, "/Contact", "post", "name"),
        CUSTOMER_VAT_ID: SpecField(_SEVDESK, "/Contact", "post", "vatNumber"),
    },
    "qonto": {
        SHIPPING_COST: SpecField(_QONTO, "/v2/quotes", "post", "items.unit_price.value"),
        TITLE: SpecField(_QONTO, "/v2/quotes", "post", "header"),
        INTRODUCTION: SpecField(_QONTO, "/v2/quotes", "post", "header"),
        REMARK: SpecField(_QONTO, "/v2/quotes", "post", "terms_and_conditions"),
        CUSTOMER_NAME: SpecField(_QONTO, "/v2/clients", "post", "name"),
        CUSTOMER_EMAIL: SpecField(_QONTO, "/v2/clients", "post", "email"),
        CUSTOMER_VAT_ID: SpecField(_QONTO, "/v2/clients", "post", "vat_number"),
    },
    # No title or texts on eAccounting's documents; the payment term picks the terms of
    # payment of that many days for orders and invoices (quotes have none to set).
    "eaccounting": {
        SHIPPING_COST: SpecField(_EACCOUNTING, "/quotes", "post", "Rows.UnitPrice"),
        PAYMENT_TERM: SpecField(_EACCOUNTING, "/customerinvoicedrafts", "post", "TermsOfPaymentId"),
        CUSTOMER_NAME: SpecField(_EACCOUNTING, "/customers", "post", "Name"),
        CUSTOMER_EMAIL: SpecField(_EACCOUNTING, "/customers", "post", "EmailAddress"),
        CUSTOMER_PHONE: SpecField(_EACCOUNTING, "/customers", "post", "Telephone"),
        CUSTOMER_VAT_ID: SpecField(_EACCOUNTING, "/customers", "post", "VatNumber"),
    },
}


# Where a vendor's spec has a revenue account on a quote's positions (or on the quote), the
# field the mapping's revenue account per customer country lands in. lexware office's
# quotation line items, sevDesk's order positions and Qonto's quote items have none, so
# the mapping does not offer it for them; nor for eAccounting, whose rows take the account of
# their article's coding. bexio's custom position (`PositionCustom`, also
# the items of a kb_offer's `positions`) has `account_id`.
REVENUE_ACCOUNT_FIELDS: dict[str, SpecField] = {
    "bexio": SpecField(
        _BEXIO, "/2.0/{kb_document_type}/{document_id}/kb_position_custom", "post", "account_id"
    ),
}


def revenue_account_spec(system: str) -> FieldSpec | None:
    """The limits of `system`'s revenue account field; None where it has none."""
    where = REVENUE_ACCOUNT_FIELDS.get(system)
    return field_spec(where) if where is not None else None


@dataclass(frozen=True)
class VendorTarget:
    target: Target
    spec: FieldSpec
    where: SpecField


def targets_for(system: str, flow: str) -> list[VendorTarget]:
    """The targets of `flow` that `system`'s spec has a field for, with that field's limits."""
    fields = VENDOR_FIELDS.get(system, {})
    found = []
    for target in TARGETS:
        where = fields.get(target.key)
        if target.flow != flow or where is None:
            continue
        spec = field_spec(where)
        if spec is not None:
            found.append(VendorTarget(target=target, spec=spec, where=where))
    return found
