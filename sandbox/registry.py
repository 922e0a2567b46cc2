"""The vendor stand-ins and the ports they listen on when run beside the product: every
provider's declared sandbox (connectors/<system>/provider.py), and Stripe's for billing."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from apiup.settings.vendors import STRIPE_SANDBOX_PORT
from connectors.registry import PROVIDERS

if TYPE_CHECKING:
    from sandbox.core import VendorSandbox

SANDBOXES: dict[str, tuple[str, int]] = {
    **{p.key: (p.sandbox.app, p.sandbox.port) for p in PROVIDERS},
    "stripe": ("sandbox.stripe.app:StripeSandbox", STRIPE_SANDBOX_PORT),
}


def sandbox_class(name: str) -> type[VendorSandbox]:
    module_name, class_name = SANDBOXES[name][0].split(":")
    sandbox: type[VendorSandbox] = getattr(import_module(module_name), class_name)
    return sandbox


def default_port(name: str) -> int:
    return SANDBOXES[name][1]
