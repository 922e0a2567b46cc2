"""Stripe, and what a deployment says about the plans' prices.

Which plans exist, with their default Stripe price and the price shown in the wizard, is
declared with each accounting system (connectors/<system>/provider.py); a deployment
overrides them with STRIPE_PRICE_<KEY> and PLAN_PRICE_<KEY>.
"""

import os

from .env import env


def _by_system(prefix: str) -> dict[str, str]:
    return {
        name.removeprefix(prefix).lower(): value
        for name, value in os.environ.items()
        if name.startswith(prefix) and value
    }


STRIPE_PRICES: dict[str, str] = _by_system("STRIPE_PRICE_")
PLAN_PRICES: dict[str, str] = _by_system("PLAN_PRICE_")
STRIPE_TRIAL_DAYS: int = env.int("STRIPE_TRIAL_DAYS", default=14)
STRIPE_API_VERSION = "2026-10-28.endive"
STRIPE_WEBHOOK_TOLERANCE_SECONDS: int = env.int("STRIPE_WEBHOOK_TOLERANCE_SECONDS", default=300)
