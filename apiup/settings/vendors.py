"""Where the vendors live and the product's own app credentials with them.

Production talks to the vendors' real hosts. Development and the demo point every vendor at
its local sandbox (`python -m sandbox`, started by bin/start) with SANDBOX_VENDORS=1.
"""

from .env import env

SANDBOX_VENDORS: bool = env.bool("SANDBOX_VENDORS", default=False)
_SANDBOX_HOST = env.str("SANDBOX_HOST", default="127.0.0.1")


def _sandbox(port: int) -> str:
    return f"http://{_SANDBOX_HOST}:{port}"


VENDOR_API_URLS: dict[str, str] = {
    "hubspot": env.str(
        "HUBSPOT_API_URL", default=_sandbox(8101) if SANDBOX_VENDORS else "https://api.hubapi.com"
    ),
    # HubSpot's consent screen is on another host than its API.
    "hubspot_oauth": env.str(
        "HUBSPOT_OAUTH_URL",
        default=_sandbox(8101) if SANDBOX_VENDORS else "https://app.hubspot.com",
    ),
    "lexoffice": env.str(
        "LEXOFFICE_API_URL", default=_sandbox(8102) if SANDBOX_VENDORS else "https://api.lexware.io"
    ),
    "bexio": env.str(
        "BEXIO_API_URL", default=_sandbox(8103) if SANDBOX_VENDORS else "https://api.bexio.com"
    ),
    "bexio_oauth": env.str(
        "BEXIO_OAUTH_URL",
        default=_sandbox(8103) if SANDBOX_VENDORS else "https://auth.bexio.com",
    ),
    "sevdesk": env.str(
        "SEVDESK_API_URL",
        default=_sandbox(8104) + "/api/v1" if SANDBOX_VENDORS else "https://my.sevdesk.de/api/v1",
    ),
    "qonto": env.str(
        "QONTO_API_URL",
        default=_sandbox(8105) if SANDBOX_VENDORS else "https://thirdparty.qonto.com",
    ),
    "qonto_oauth": env.str(
        "QONTO_OAUTH_URL", default=_sandbox(8105) if SANDBOX_VENDORS else "https://oauth.qonto.com"
    ),
    "stripe": env.str(
        "STRIPE_API_URL", default=_sandbox(8106) if SANDBOX_VENDORS else "https://api.stripe.com"
    ),
}

# The product's app registrations with the vendors (OAuth clients, webhook secrets).
HUBSPOT_APP_ID: str = env.str("HUBSPOT_APP_ID", default="1001")
HUBSPOT_CLIENT_ID: str = env.str("HUBSPOT_CLIENT_ID", default="apiup-sandbox-client")
HUBSPOT_CLIENT_SECRET: str = env.str("HUBSPOT_CLIENT_SECRET", default="apiup-sandbox-secret")
HUBSPOT_SCOPES: list[str] = env.list(
    "HUBSPOT_SCOPES",
    default=[
        "oauth",
        "crm.objects.deals.read",
        "crm.objects.deals.write",
        "crm.objects.contacts.read",
        "crm.objects.companies.read",
        "crm.objects.line_items.read",
        "crm.schemas.deals.write",
    ],
)
# The public URL HubSpot calls, for the v3 signature (behind a proxy it differs from the
# URL Django sees).
HUBSPOT_WEBHOOK_URL: str = env.str("HUBSPOT_WEBHOOK_URL", default="")

BEXIO_CLIENT_ID: str = env.str("BEXIO_CLIENT_ID", default="apiup-sandbox-client")
BEXIO_CLIENT_SECRET: str = env.str("BEXIO_CLIENT_SECRET", default="apiup-sandbox-secret")
QONTO_CLIENT_ID: str = env.str("QONTO_CLIENT_ID", default="apiup-sandbox-client")
QONTO_CLIENT_SECRET: str = env.str("QONTO_CLIENT_SECRET", default="apiup-sandbox-secret")

STRIPE_SECRET_KEY: str = env.str("STRIPE_SECRET_KEY", default="sk_test_apiup_sandbox")
STRIPE_WEBHOOK_SECRET: str = env.str("STRIPE_WEBHOOK_SECRET", default="whsec_apiup_sandbox")
