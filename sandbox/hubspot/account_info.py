"""`GET /account-info/v3/details` (vendor-specs/hubspot/prism-patched/account-info-v3.json):
the portal's details, among them its company currency.

Kept apart from the app's routes: `register` adds the one route to a running stand-in, and
`set_company_currency` lets a test or the demo give a portal another currency than EUR."""

from __future__ import annotations

from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

from flask import Flask, Response, g

if TYPE_CHECKING:
    from sandbox.hubspot.app import HubSpotSandbox

DEFAULT_CURRENCY = "EUR"
# Per stand-in: portal id -> company currency, where it is not the default.
_currencies: WeakKeyDictionary[HubSpotSandbox, dict[int, str]] = WeakKeyDictionary()


def set_company_currency(sandbox: HubSpotSandbox, portal_id: int, currency: str) -> None:
    with sandbox.lock:
        _currencies.setdefault(sandbox, {})[portal_id] = currency


def register(sandbox: HubSpotSandbox, app: Flask) -> None:
    def details() -> Response:
        portal_id = int(g.portal_id)
        with sandbox.lock:
            currency = _currencies.get(sandbox, {}).get(portal_id, DEFAULT_CURRENCY)
        return sandbox.json(
            {
                "accountType": "STANDARD",
                "additionalCurrencies": [],
                "companyCurrency": currency,
                "dataHostingLocation": "eu1",
                "portalId": portal_id,
                "portalName": sandbox.portals.get(portal_id, ""),
                "timeZone": "Europe/Berlin",
                "uiDomain": "app-eu1.hubspot.com",
                "utcOffset": "+01:00",
                "utcOffsetMilliseconds": 3600000,
            }
        )

    app.add_url_rule("/account-info/v3/details", "account_info_details", details, methods=["GET"])
