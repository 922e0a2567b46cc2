"""Where the vendors live and the product's own app credentials with them.

What a vendor is (its production hosts, its sandbox port, its OAuth paths) is declared once in
its provider (`connectors/<system>/provider.py`); this file only reads what the environment
says about a deployment: an address per vendor host (<KEY>_API_URL, <KEY>_OAUTH_URL), the app
registrations (<KEY>_CLIENT_ID, <KEY>_CLIENT_SECRET), and whether the product runs against
its local sandboxes (SANDBOX_VENDORS=1, set by development settings and bin/start).
"""

import os
import re

from .env import env

SANDBOX_VENDORS: bool = env.bool("SANDBOX_VENDORS", default=False)
SANDBOX_HOST: str = env.str("SANDBOX_HOST", default="127.0.0.1")

_HOST_VARIABLE = re.compile(r"^([A-Z][A-Z0-9]*)_(API|OAUTH)_URL$")


def _configured_hosts() -> dict[str, str]:
    """{"lexoffice": ..., "bexio_oauth": ...} from LEXOFFICE_API_URL, BEXIO_OAUTH_URL, ..."""
    hosts = {}
    for name, value in os.environ.items():
        match = _HOST_VARIABLE.match(name)
        if match and value:
            key = match[1].lower() + ("_oauth" if match[2] == "OAUTH" else "")
            hosts[key] = value.rstrip("/")
    return hosts


VENDOR_API_URLS: dict[str, str] = _configured_hosts()

# The sandboxes know this registration; a deployment sets each vendor's own (the deploy
# checks refuse it for every provider that declares OAuth: connectors.checks).
OAUTH_CLIENT_DEFAULT = ("apiup-sandbox-client", "apiup-sandbox-secret")
OAUTH_CLIENTS: dict[str, tuple[str, str]] = {
    name.removesuffix("_CLIENT_ID").lower(): (
        value,
        env.str(name.replace("_CLIENT_ID", "_CLIENT_SECRET"), default=OAUTH_CLIENT_DEFAULT[1]),
    )
    for name, value in os.environ.items()
    if name.endswith("_CLIENT_ID") and value
}

HUBSPOT_APP_ID: str = env.str("HUBSPOT_APP_ID", default="1001")
# HubSpot signs its webhooks with the app's client secret.
HUBSPOT_CLIENT_ID, HUBSPOT_CLIENT_SECRET = OAUTH_CLIENTS.get("hubspot", OAUTH_CLIENT_DEFAULT)
# The public URL HubSpot calls, for the v3 signature (behind a proxy it differs from the
# URL Django sees).
HUBSPOT_WEBHOOK_URL: str = env.str("HUBSPOT_WEBHOOK_URL", default="")

# The Stripe sandbox's account; the deploy checks (apiup.checks) refuse them in production.
STRIPE_SANDBOX_SECRET_KEY = "sk_test_apiup_sandbox"  # noqa: S105 (public, the sandbox's)
STRIPE_SANDBOX_WEBHOOK_SECRET = "whsec_apiup_sandbox"  # noqa: S105 (public, the sandbox's)
STRIPE_SECRET_KEY: str = env.str("STRIPE_SECRET_KEY", default=STRIPE_SANDBOX_SECRET_KEY)
STRIPE_WEBHOOK_SECRET: str = env.str("STRIPE_WEBHOOK_SECRET", default=STRIPE_SANDBOX_WEBHOOK_SECRET)
STRIPE_SANDBOX_PORT = 8106
VENDOR_API_URLS.setdefault(
    "stripe",
    f"http://{SANDBOX_HOST}:{STRIPE_SANDBOX_PORT}" if SANDBOX_VENDORS else "https://api.stripe.com",
)

# oauthlib refuses plain HTTP; the sandboxes on this machine speak nothing else.
if SANDBOX_VENDORS:
    os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")
# Vendors may grant a scope list that differs in order or extent from the one asked for;
# the product checks what it can do by calling, not by comparing scope strings.
os.environ.setdefault("OAUTHLIB_RELAX_TOKEN_SCOPE", "1")

# The circuit breaker per vendor API (connectors/breaker.py): this many failures in a row
# (a connection that fails, a 5xx answer) within the window open it; while it is open nothing
# calls the vendor and transfers wait without counting attempts. After the cool-down one
# probe call goes; its answer closes the breaker, its failure doubles the cool-down (up to
# the maximum).
CIRCUIT_BREAKER_FAILURES: int = env.int("CIRCUIT_BREAKER_FAILURES", default=10)
CIRCUIT_BREAKER_WINDOW_SECONDS: float = env.float("CIRCUIT_BREAKER_WINDOW_SECONDS", default=60.0)
CIRCUIT_BREAKER_COOLDOWN_SECONDS: float = env.float(
    "CIRCUIT_BREAKER_COOLDOWN_SECONDS", default=30.0
)
CIRCUIT_BREAKER_MAX_COOLDOWN_SECONDS: float = env.float(
    "CIRCUIT_BREAKER_MAX_COOLDOWN_SECONDS", default=300.0
)
