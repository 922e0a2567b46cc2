"""Plans and their Stripe prices."""

from .env import env

STRIPE_PRICES: dict[str, str] = {
    "lexoffice": env.str("STRIPE_PRICE_LEXOFFICE", default="price_lexoffice_monthly"),
    "bexio": env.str("STRIPE_PRICE_BEXIO", default="price_bexio_monthly"),
    "sevdesk": env.str("STRIPE_PRICE_SEVDESK", default="price_sevdesk_monthly"),
    "qonto": env.str("STRIPE_PRICE_QONTO", default="price_qonto_monthly"),
}
STRIPE_TRIAL_DAYS: int = env.int("STRIPE_TRIAL_DAYS", default=14)
STRIPE_API_VERSION = "2026-10-28.endive"
STRIPE_WEBHOOK_TOLERANCE_SECONDS: int = env.int("STRIPE_WEBHOOK_TOLERANCE_SECONDS", default=300)
# The monthly price shown with each plan in the setup wizard (Stripe's price is what is
# charged; keep the two in step).
PLAN_PRICES: dict[str, str] = {
    "lexoffice": env.str("PLAN_PRICE_LEXOFFICE", default="29 €"),
    "bexio": env.str("PLAN_PRICE_BEXIO", default="29 CHF"),
    "sevdesk": env.str("PLAN_PRICE_SEVDESK", default="29 €"),
    "qonto": env.str("PLAN_PRICE_QONTO", default="29 €"),
}
