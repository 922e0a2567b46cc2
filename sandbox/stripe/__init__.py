"""Stand-in for Stripe's API v1 (Checkout, billing portal, subscriptions, events, webhooks)."""
