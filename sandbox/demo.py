"""The sandboxes as `python -m sandbox` runs them beside the product: each knows the product's
app credentials and webhook addresses, so a newcomer can go through the whole flow locally.

The values come from the same environment variables (and defaults) the product reads, in
apiup/settings/vendors.py, so both sides agree without extra setup."""

from __future__ import annotations

import os

from apiup.settings import vendors
from sandbox.core import VendorSandbox

PRODUCT_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
ACCOUNTING_CALLBACK = f"{PRODUCT_URL}/registration/accounting/callback/"

# What a newcomer types into the wizard's token forms (also shown on each inspection page).
DEMO_CREDENTIALS = {
    "lexoffice": "lexoffice-sandbox-key",
    "sevdesk": "0123456789abcdef0123456789abcdef",
    "bexio": "bexio-sandbox-token",
    "qonto": "apiup-demo:apiup-sandbox-secret-key",
}


def demo_sandbox(name: str) -> VendorSandbox:
    if name == "hubspot":
        from sandbox.hubspot.app import HubSpotSandbox

        return HubSpotSandbox(
            client_id=vendors.HUBSPOT_CLIENT_ID,
            client_secret=vendors.HUBSPOT_CLIENT_SECRET,
            webhook_target_url=f"{PRODUCT_URL}/webhooks/hubspot",
            webhook_subscriptions=[
                "deal.creation",
                "deal.propertyChange",
                "contact.creation",
                "contact.propertyChange",
                "contact.deletion",
                "company.creation",
                "company.propertyChange",
                "company.deletion",
            ],
            webhook_retry_base_delay=5.0,
        )
    if name == "lexoffice":
        from sandbox.lexoffice.app import LexofficeSandbox

        return LexofficeSandbox(api_keys={DEMO_CREDENTIALS["lexoffice"]: "Demo Buchhaltung GmbH"})
    if name == "bexio":
        from sandbox.bexio.app import BexioSandbox

        bexio_client = vendors.OAUTH_CLIENTS.get("bexio", vendors.OAUTH_CLIENT_DEFAULT)
        bexio = BexioSandbox()
        bexio.add_company(name="Demo Treuhand AG", personal_access_token=DEMO_CREDENTIALS["bexio"])
        bexio.add_oauth_client(
            client_id=bexio_client[0],
            client_secret=bexio_client[1],
            redirect_uris=(ACCOUNTING_CALLBACK,),
        )
        return bexio
    if name == "sevdesk":
        from sandbox.sevdesk.app import SevdeskSandbox

        return SevdeskSandbox(demo_token=DEMO_CREDENTIALS["sevdesk"])
    if name == "qonto":
        from sandbox.qonto.app import QontoSandbox

        return QontoSandbox()  # its demo organization and OAuth client match the defaults
    if name == "stripe":
        from sandbox.stripe.app import StripeSandbox

        return StripeSandbox(
            secret_keys=[vendors.STRIPE_SECRET_KEY],
            webhook_endpoints=[
                (f"{PRODUCT_URL}/billing/stripe/webhook", vendors.STRIPE_WEBHOOK_SECRET)
            ],
            webhook_retry_delays=(5.0, 30.0, 120.0),
        )
    raise KeyError(name)
