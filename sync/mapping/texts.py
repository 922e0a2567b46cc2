"""The notes a mapping writes into the activity log, in English (translated when shown)."""

from django.utils.translation import gettext_noop

NOTE_TEXTS = {
    "mapping.field": gettext_noop("%(field)s from your mapping (version %(version)s)."),
    "mapping.tax_rate_from_country": gettext_noop(
        "Tax rate %(rate)s %% for customers in %(country)s (your mapping)."
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
