"""A portal's company currency as `GET /account-info/v3/details` reports it
(vendor-specs/hubspot/prism-patched/account-info-v3.json): EUR unless a test or the demo gives
the portal another with `set_company_currency`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sandbox.hubspot.app import HubSpotSandbox

DEFAULT_CURRENCY = "EUR"


def set_company_currency(sandbox: HubSpotSandbox, portal_id: int, currency: str) -> None:
    with sandbox.lock:
        sandbox.company_currencies[portal_id] = currency
