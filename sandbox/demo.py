"""The sandboxes as `python -m sandbox` runs them beside the product: each knows the product's
app credentials and webhook addresses, so a newcomer can go through the whole flow locally.

The values come from the same environment variables (and defaults) the product reads, in
apiup/settings/vendors.py, so both sides agree without extra setup. Each vendor's own setup
is its sandbox class's `for_demo`; this module only gathers what they share."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from apiup.settings import vendors
from sandbox.core import VendorSandbox
from sandbox.registry import SANDBOXES, sandbox_class


@dataclass(frozen=True)
class DemoSetup:
    """What the product beside the sandboxes is: its address and its app registrations."""

    product_url: str = field(
        default_factory=lambda: os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:8000")
    )

    @property
    def accounting_callback(self) -> str:
        return f"{self.product_url.rstrip('/')}/registration/accounting/callback/"

    def url(self, path: str) -> str:
        return f"{self.product_url.rstrip('/')}{path}"

    stripe_secret_key: str = vendors.STRIPE_SECRET_KEY
    stripe_webhook_secret: str = vendors.STRIPE_WEBHOOK_SECRET

    @staticmethod
    def oauth_client(key: str) -> tuple[str, str]:
        return vendors.OAUTH_CLIENTS.get(key, vendors.OAUTH_CLIENT_DEFAULT)


def demo_sandbox(name: str) -> VendorSandbox:
    return sandbox_class(name).for_demo(DemoSetup())


# What a newcomer types into the wizard's token forms (also shown on each inspection page).
DEMO_CREDENTIALS = {
    name: credential for name in SANDBOXES if (credential := sandbox_class(name).demo_credential)
}
