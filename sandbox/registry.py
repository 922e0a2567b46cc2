"""The vendor stand-ins and the ports they listen on when run beside the product."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sandbox.core import VendorSandbox

SANDBOXES: dict[str, tuple[str, int]] = {
    "hubspot": ("sandbox.hubspot.app:HubSpotSandbox", 8101),
    "lexoffice": ("sandbox.lexoffice.app:LexofficeSandbox", 8102),
    "bexio": ("sandbox.bexio.app:BexioSandbox", 8103),
    "sevdesk": ("sandbox.sevdesk.app:SevdeskSandbox", 8104),
    "qonto": ("sandbox.qonto.app:QontoSandbox", 8105),
    "stripe": ("sandbox.stripe.app:StripeSandbox", 8106),
}


def sandbox_class(name: str) -> type[VendorSandbox]:
    module_name, class_name = SANDBOXES[name][0].split(":")
    sandbox: type[VendorSandbox] = getattr(import_module(module_name), class_name)
    return sandbox


def default_port(name: str) -> int:
    return SANDBOXES[name][1]
