"""`GET /account-info/v3/details` (vendor-specs/hubspot/prism-patched/account-info-v3.json):
the portal's details, among them its company currency.

`set_company_currency` lets a test or the demo give a portal another currency than EUR."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from flask import Response, g

if TYPE_CHECKING:
    from sandbox.hubspot.app import HubSpotSandbox

DEFAULT_CURRENCY = "EUR"


def set_company_currency(sandbox: HubSpotSandbox, portal_id: int, currency: str) -> None:
    with sandbox.lock:
        sandbox.company_currencies[portal_id] = currency


def details(sandbox: HubSpotSandbox) -> Callable[[], Response]:
    def view() -> Response:
        portal_id = int(g.portal_id)
        with sandbox.lock:
            currency = sandbox.company_currencies.get(portal_id, DEFAULT_CURRENCY)
        return sandbox.json({
            "accountType": "STANDARD", "additionalCurrencies": [], "companyCurrency": currency,
            "dataHostingLocation": "eu1", "portalId": portal_id,
            "portalName": sandbox.portals.get(portal_id, ""), "timeZone": "Europe/Berlin",
            "uiDomain": "app-eu1.hubspot.com", "utcOffset": "+01:00",
            "utcOffsetMilliseconds": 3600000,
        })  # fmt: skip

    return view
