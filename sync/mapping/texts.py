"""The notes a mapping writes into the activity log, in English (translated when shown)."""

from django.utils.translation import gettext_noop

NOTE_TEXTS = {
    # Which field a mapping filled: one code per target (sync.mapping.targets), so that the
    # field's name is translated when the note is read, not when it is written.
    "mapping.field.quote.title": gettext_noop("Title from your mapping (version %(version)s)."),
    "mapping.field.quote.introduction": gettext_noop(
        "Introduction from your mapping (version %(version)s)."
    ),
    "mapping.field.quote.remark": gettext_noop(
        "Closing text from your mapping (version %(version)s)."
    ),
    "mapping.field.quote.payment_term": gettext_noop(
        "Payment term from your mapping (version %(version)s)."
    ),
    "mapping.field.quote.shipping_cost": gettext_noop(
        "Shipping cost from your mapping (version %(version)s)."
    ),
    "mapping.shipping_cost_not_amount": gettext_noop(
        "The shipping cost “%(value)s” is no amount; no shipping position was added."
    ),
    "mapping.field.customer.name": gettext_noop(
        "Customer name from your mapping (version %(version)s)."
    ),
    "mapping.field.customer.email": gettext_noop(
        "E-mail address from your mapping (version %(version)s)."
    ),
    "mapping.field.customer.phone": gettext_noop(
        "Phone number from your mapping (version %(version)s)."
    ),
    "mapping.field.customer.vat_id": gettext_noop(
        "VAT ID from your mapping (version %(version)s)."
    ),
    "mapping.tax_rate_from_country": gettext_noop(
        "Tax rate %(rate)s %% for customers in %(country)s (your mapping)."
    ),
    "mapping.revenue_account_from_country": gettext_noop(
        "Revenue account %(account)s for customers in %(country)s (your mapping)."
    ),
    "mapping.payment_term": gettext_noop("Payment term: %(days)s days (your mapping)."),
    "mapping.payment_term_not_days": gettext_noop(
        "The payment term “%(value)s” is no number of days; the account's own term applies."
    ),
    "customer.default_debtor": gettext_noop(
        "The customer was not found; the document went to your default customer %(id)s "
        "instead of creating one."
    ),
}
