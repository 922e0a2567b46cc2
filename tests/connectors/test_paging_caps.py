"""Every paging loop of the accounting connectors ends, even against a vendor that answers
the same full page again and again and never says it was the last (HubSpot's cursor loops
have their own tests in test_hubspot.py). Outside HubSpot the loops count pages (page
numbers, offsets), so no vendor cursor can send them back; the cap is what ends them."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import requests

from connectors.bexio import mapping as bexio_mapping
from connectors.lexoffice import mapping as lexoffice_mapping
from connectors.qonto import mapping as qonto_mapping
from connectors.registry import connector_class
from connectors.sevdesk import mapping as sevdesk_mapping
from connectors.shapes import Company, Customer, CustomerKind
from tests.factories import ConnectionFactory

pytestmark = pytest.mark.django_db

SOMEONE_ELSE = Customer(kind=CustomerKind.COMPANY, company=Company(name="Beispiel GmbH"))


def _same_page_forever(connector: Any, body: Any) -> list[str]:
    """Makes every call of the connector answer `body`; returns the paths called."""
    called: list[str] = []

    def request(method: str, path: str, **kwargs: Any) -> requests.Response:
        called.append(path)
        response = requests.Response()
        response.status_code = 200
        response._content = json.dumps(body).encode()
        response.headers["Content-Type"] = "application/json"
        return response

    connector.client.request = request
    return called


def _connector(system: str, credentials: dict[str, str]) -> Any:
    connection = ConnectionFactory(system=system, credentials=credentials)
    return connector_class(system)(connection=connection, base_url="http://vendor.invalid")


CASES: dict[str, tuple[dict[str, str], Any, Callable[[Any], object], Callable[[], int]]] = {
    "lexoffice contacts": (
        {"api_key": "k"},
        {"content": [{"id": "c1", "company": {"name": "Andere AG"}}], "last": False},
        lambda connector: connector.find_customer_by_name(SOMEONE_ELSE),
        lambda: lexoffice_mapping.CONTACT_PAGES_MAX,
    ),
    "bexio quotes": (
        {"access_token": "t"},
        [{"id": 1, "api_reference": "other"}, {"id": 2, "api_reference": "other"}],
        lambda connector: connector.find_quote("HubSpot-Deal 1-2"),
        lambda: bexio_mapping.QUOTE_PAGES_MAX,
    ),
    "qonto quotes": (
        {"login": "l", "secret_key": "s"},
        {"quotes": [{"id": "q", "number": "other"}], "meta": {"next_page": 2}},
        lambda connector: connector.find_quote("HubSpot-Deal 1-2"),
        lambda: qonto_mapping.QUOTE_PAGES_MAX,
    ),
    "sevdesk contacts": (
        {"api_token": "0123456789abcdef0123456789abcdef"},
        {"objects": [{"id": "1", "objectName": "Contact", "name": "Andere AG"}] * 2},
        lambda connector: connector.find_customer_by_name(SOMEONE_ELSE),
        lambda: sevdesk_mapping.LIST_PAGES_MAX,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_vendor_that_never_says_last_page_is_read_up_to_the_cap(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    credentials, body, look_up, cap = CASES[case]
    system = case.split()[0]
    connector = _connector(system, credentials)
    # Full pages of two rows, so that a page is never the last by its length.
    connector.quote_page_size = 2
    monkeypatch.setattr(sevdesk_mapping, "LIST_LIMIT", 2)
    called = _same_page_forever(connector, body)

    assert look_up(connector) is None
    assert len(called) == cap()
