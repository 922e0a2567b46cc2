"""The sandboxes as bin/start runs them accept the credentials the README gives newcomers."""

import requests

from apiup.settings import vendors
from sandbox.core import running
from sandbox.demo import DEMO_CREDENTIALS, demo_sandbox

AUTH = {
    "lexoffice": ("/v1/profile", {"Authorization": f"Bearer {DEMO_CREDENTIALS['lexoffice']}"}),
    "sevdesk": ("/api/v1/SevUser", {"Authorization": DEMO_CREDENTIALS["sevdesk"]}),
    "bexio": (
        "/2.0/contact",
        {"Authorization": f"Bearer {DEMO_CREDENTIALS['bexio']}", "Accept": "application/json"},
    ),
    "qonto": ("/v2/organization", {"Authorization": DEMO_CREDENTIALS["qonto"]}),
    "stripe": ("/v1/events/evt_unknown", {"Authorization": f"Bearer {vendors.STRIPE_SECRET_KEY}"}),
}


def test_each_demo_sandbox_accepts_the_demo_credential() -> None:
    for name, (path, headers) in AUTH.items():
        with running(demo_sandbox(name)) as handle:
            answer = requests.get(handle.url + path, headers=headers, timeout=5)
            refused = requests.get(handle.url + path, timeout=5)
        # Stripe answers 404 for the unknown event, but only after accepting the key.
        assert answer.status_code in (200, 404), (name, answer.status_code, answer.text)
        assert refused.status_code == 401, name


def test_the_hubspot_demo_sends_webhooks_to_the_product_signed_with_its_secret() -> None:
    sandbox = demo_sandbox("hubspot")
    settings = sandbox.webhooks.settings()  # type: ignore[attr-defined]
    assert settings["target_url"].endswith("/webhooks/hubspot")
    assert sandbox.client_secret == vendors.HUBSPOT_CLIENT_SECRET  # type: ignore[attr-defined]
