"""The sevDesk connector against the sevDesk sandbox over real HTTP, with every request and
response checked against the vendor's (patched) spec."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from connectors import errors
from connectors.models import Connection
from connectors.ratelimit import Rate
from connectors.sevdesk import mapping
from connectors.sevdesk.client import USER_AGENT, SevdeskConnector
from connectors.sevdesk.provider import PROVIDER
from connectors.shapes import (
    Address,
    Company,
    Customer,
    CustomerKind,
    CustomerRef,
    Person,
    Quote,
    QuotePosition,
)
from sandbox.core import RunningSandbox, running
from sandbox.sevdesk.app import Account, SevdeskSandbox

FIXTURES = Path(__file__).parent / "fixtures" / "sevdesk"
USER_FULLNAME = "Anna Buchhaltung"
REFERENCE = "HubSpot-Deal 4711-123"
# Real sevDesk endpoints the spec file lacks; the contract check counts them apart.
NOT_IN_SPEC = {"/api/v1/Unity", "/api/v1/SevUser", "/api/v1/StaticCountry"}


def _fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture
def token() -> str:
    # One token (and so one client-side bucket and cache entry) per test.
    return secrets.token_hex(16)


@pytest.fixture
def vendor(token: str) -> Iterator[RunningSandbox]:
    sandbox = SevdeskSandbox(contract=True, demo_token=None)
    sandbox.add_account(token=token, company_name="Muster GmbH", user_fullname=USER_FULLNAME)
    with running(sandbox) as handle:
        yield handle
    assert sandbox.contract is not None
    documented = [
        v
        for v in sandbox.contract.violations
        if not (v.path in NOT_IN_SPEC and v.error == "operation not in the vendor's spec")
    ]
    assert documented == [], "\n".join(
        f"{v.method} {v.path} {v.status} {v.where}: {v.error}" for v in documented
    )


@pytest.fixture
def sandbox(vendor: RunningSandbox) -> SevdeskSandbox:
    assert isinstance(vendor.sandbox, SevdeskSandbox)
    return vendor.sandbox


@pytest.fixture
def account(sandbox: SevdeskSandbox, token: str) -> Account:
    return sandbox.accounts[token]


@pytest.fixture
def sent_headers() -> list[str]:
    return []


@pytest.fixture
def sevdesk(
    vendor: RunningSandbox, token: str, sent_headers: list[str]
) -> Iterator[SevdeskConnector]:
    connection = Connection(system="sevdesk", credentials={"api_token": token})
    connector = SevdeskConnector(connection=connection, base_url=f"{vendor.url}/api/v1")
    # The declared 5 calls per second would make this file wait most of its time; the
    # 429 test below runs with the declared rate.
    connector.client.api = replace(connector.client.api, rate=Rate(per_second=100, burst=100))

    agents: list[str] = []

    def record(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        sent_headers.append(str(response.request.headers.get("Authorization")))
        agents.append(str(response.request.headers.get("User-Agent")))

    connector.client.session.hooks["response"].append(record)
    yield connector
    # The raw token as the whole header on every call, never "Bearer ...".
    assert sent_headers
    assert set(sent_headers) == {token}
    # The meaningful User-Agent the spec asks for, on every call.
    assert set(agents) == {USER_AGENT}


def _company() -> Customer:
    return Customer(
        kind=CustomerKind.COMPANY,
        company=Company(
            name="Müller & Söhne Bau GmbH",
            email="info@mueller-bau.example",
            phone="+49 30 1234567",
            vat_id="DE123456789",
            address=Address("Hauptstraße", "5", "10115", "Berlin", "DE"),
            contact_person=Person(
                first_name="Anna",
                last_name="Müller",
                email="anna.mueller@mueller-bau.example",
                phone="+49 30 7654321",
            ),
        ),
    )


def _person(first_name: str = "Jonas", last_name: str = "Schmidt", country: str = "CH") -> Customer:
    return Customer(
        kind=CustomerKind.PERSON,
        person=Person(
            first_name=first_name,
            last_name=last_name,
            email=f"{first_name}.{last_name}@example.org".lower(),
            address=Address("Lindenweg", "2", "8001", "Zürich", country),
        ),
    )


def _company_by_email(email: str) -> Customer:
    """A company look-up: a company customer whose own address is `email`."""
    return Customer(kind=CustomerKind.COMPANY, company=Company(name="Beispiel GmbH", email=email))


def _person_by_email(email: str) -> Customer:
    """A person look-up: a person customer whose own address is `email`."""
    return Customer(
        kind=CustomerKind.PERSON, person=Person(first_name="Anna", last_name="Muster", email=email)
    )


def _quote(customer_id: str, **changes: Any) -> Quote:
    values: dict[str, Any] = {
        "title": "Digitalisierung der Lagerlogistik <Phase 2> & Schulung",
        "introduction": "Vielen Dank für Ihr Interesse.\nWir bieten an:",
        "positions": (
            QuotePosition(
                "Beratung  Einführung",
                Decimal("12.5"),
                Decimal("120.00"),
                Decimal(19),
                unit="Stunde",
                description="Workshop vor Ort",
            ),
            QuotePosition("Fachbuch", Decimal(3), Decimal("39.90"), Decimal(7)),
            QuotePosition(
                "Lizenz Jahresabo",
                Decimal(1),
                Decimal("999.50"),
                Decimal(19),
                unit="Jahr",
                discount_percent=Decimal(10),
            ),
        ),
        "currency": "EUR",
        "valid_from": dt.date(2026, 7, 1),
        "valid_until": dt.date(2026, 7, 31),
        "reference": REFERENCE,
        "customer_id": customer_id,
    }
    return Quote(**{**values, **changes})


def _calls(sandbox: SevdeskSandbox) -> list[tuple[str, str]]:
    return [(c.method, c.path.removeprefix("/api/v1")) for c in sandbox.api_calls()]


# -- verify --------------------------------------------------------------------------------


def test_verify_names_the_tokens_user_and_the_client(
    sevdesk: SevdeskConnector, sandbox: SevdeskSandbox, account: Account
) -> None:
    info = sevdesk.verify()
    assert info.name == USER_FULLNAME
    assert info.account_id == str(account.sev_client_id)
    assert _calls(sandbox) == [("GET", "/SevUser")]


def test_the_rate_bucket_is_not_named_after_the_token(
    sevdesk: SevdeskConnector, token: str
) -> None:
    assert token not in sevdesk.client.limiter_key
    assert len(sevdesk.client.limiter_key) == 32
    sevdesk.verify()


def test_a_company_with_contact_person_address_and_emails_is_created_and_found_again(
    sevdesk: SevdeskConnector, sandbox: SevdeskSandbox
) -> None:
    created = sevdesk.create_customer(_company())

    assert _calls(sandbox) == [
        ("GET", "/StaticCountry"),
        ("POST", "/Contact"),
        ("POST", "/ContactAddress"),
        ("POST", "/CommunicationWay"),
        ("POST", "/CommunicationWay"),
        ("POST", "/Contact"),
        ("POST", "/CommunicationWay"),
        ("POST", "/CommunicationWay"),
    ]
    bodies = [c.request_body for c in sandbox.api_calls() if c.method == "POST"]
    organisation_id = int(created.vendor_id)
    assert bodies[0] == {
        "name": "Müller & Söhne Bau GmbH",
        "category": {"id": 3, "objectName": "Category"},
        "vatNumber": "DE123456789",
    }
    assert bodies[1] == {
        "contact": {"id": organisation_id, "objectName": "Contact"},
        "country": {"id": 1, "objectName": "StaticCountry"},
        "name": "Müller & Söhne Bau GmbH",
        "street": "Hauptstraße 5",
        "zip": "10115",
        "city": "Berlin",
    }
    assert bodies[2] == {
        "contact": {"id": organisation_id, "objectName": "Contact"},
        "type": "EMAIL",
        "value": "info@mueller-bau.example",
        "key": {"id": 2, "objectName": "CommunicationWayKey"},
        "main": True,
    }
    assert bodies[3]["type"] == "PHONE"
    assert bodies[3]["value"] == "+49 30 1234567"
    assert bodies[4] == {
        "surename": "Anna",
        "familyname": "Müller",
        "category": {"id": 3, "objectName": "Category"},
        "parent": {"id": organisation_id, "objectName": "Contact"},
    }
    member_id = next(c["id"] for c in sandbox.contacts.values() if c.get("familyname"))
    assert {(w["contact"]["id"], w["type"], w["value"]) for w in bodies[5:7]} == {
        (int(member_id), "EMAIL", "anna.mueller@mueller-bau.example"),
        (int(member_id), "PHONE", "+49 30 7654321"),
    }
    assert created.number == sandbox.contacts[organisation_id]["customerNumber"]

    # Another organisation whose name contains ours is not the customer.
    sevdesk.create_customer(
        Customer(
            kind=CustomerKind.COMPANY, company=Company(name="Müller & Söhne Bau GmbH & Co. KG")
        )
    )
    urls: list[str] = []
    sevdesk.client.session.hooks["response"].append(lambda r, *a, **k: urls.append(r.url))
    calls = sevdesk.client.calls
    by_email = sevdesk.find_customer_by_email(_company_by_email("INFO@mueller-bau.example"))
    assert sevdesk.client.calls - calls == 2  # one page of e-mail addresses, the contact
    # The contact person's address leads a company look-up to their organisation: 1 more
    # call for it. A person look-up does not take the contact person (no person customer).
    member_address = "anna.mueller@mueller-bau.example"
    calls = sevdesk.client.calls
    by_member_email = sevdesk.find_customer_by_email(_company_by_email(member_address))
    assert sevdesk.client.calls - calls == 3
    calls = sevdesk.client.calls
    assert sevdesk.find_customer_by_email(_person_by_email(member_address)) is None
    assert sevdesk.client.calls - calls == 2  # the page, the contact person; no organisation
    by_name = sevdesk.find_customer_by_name(_company())
    assert by_email == by_member_email == by_name == created
    assert sevdesk.get_customer(created.vendor_id) == created
    assert sevdesk.get_customer("999999999") is None
    assert sevdesk.get_customer("not-a-number") is None
    assert sevdesk.find_customer_by_email(_company_by_email("nobody@mueller-bau.example")) is None
    queries = [parse_qs(urlsplit(url).query) for url in urls]
    assert queries[0] == {"type": ["EMAIL"], "limit": ["1000"], "offset": ["0"]}
    # The spec's `name` filter (name, first or last name); the exact match is made here, so
    # the longer name that the sandbox also returns (it ignores the filter) is not taken.
    assert {"name": ["Müller & Söhne Bau GmbH"], "limit": ["1000"], "offset": ["0"]} in queries


def test_a_person_is_created_and_found_by_email_and_by_first_and_last_name(
    sevdesk: SevdeskConnector, sandbox: SevdeskSandbox
) -> None:
    jonas = sevdesk.create_customer(_person("Jonas", "Schmidt"))
    sevdesk.create_customer(_person("Jana", "Schmidt"))
    # The contact person "Anna Müller" of an organisation is no person customer.
    sevdesk.create_customer(_company())

    first = sandbox.api_calls(path_prefix="/api/v1/Contact")[0].request_body
    assert first == {
        "surename": "Jonas",
        "familyname": "Schmidt",
        "category": {"id": 3, "objectName": "Category"},
    }
    address = next(iter(sandbox.addresses.values()))
    assert address["country"]["id"] == 2  # Switzerland, from GET /StaticCountry
    # The country list was read once for all three customers.
    assert [c.path for c in sandbox.api_calls()].count("/api/v1/StaticCountry") == 1

    found = sevdesk.find_customer_by_name(_person("jonas", "SCHMIDT"))
    assert found == jonas
    query = sandbox.api_calls(path_prefix="/api/v1/Contact")[-1]
    assert query.method == "GET"
    assert sevdesk.find_customer_by_name(_person("Jan", "Schmidt")) is None
    assert sevdesk.find_customer_by_name(_person("Anna", "Müller")) is None
    assert sevdesk.find_customer_by_email(_person("Jonas", "Schmidt")) == jonas
    assert (
        sevdesk.find_customer_by_email(_person_by_email("anna.mueller@mueller-bau.example")) is None
    )


def test_the_email_search_pages_through_all_addresses(
    sevdesk: SevdeskConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    people = [sevdesk.create_customer(_person(f"Eva{n}", "Lang")) for n in range(5)]
    monkeypatch.setattr(mapping, "LIST_LIMIT", 2)
    calls = sevdesk.client.calls

    found = sevdesk.find_customer_by_email(_person("Eva4", "Lang"))

    assert found == people[4]
    assert sevdesk.client.calls - calls == 4  # pages of 2, 2 and 1, then the contact


def test_an_update_renames_and_adds_a_new_email_once(
    sevdesk: SevdeskConnector, sandbox: SevdeskSandbox
) -> None:
    created = sevdesk.create_customer(_person())
    renamed = Customer(
        kind=CustomerKind.PERSON,
        person=Person(first_name="Jonas", last_name="Schmidt-Weber", email="jonas@weber.example"),
    )
    calls = sevdesk.client.calls

    updated = sevdesk.update_customer(created, renamed)
    sevdesk.update_customer(created, renamed)

    assert sevdesk.client.calls - calls == 5  # PUT, GET, POST; then PUT, GET
    assert updated == created
    contact = sandbox.contacts[int(created.vendor_id)]
    assert (contact["surename"], contact["familyname"]) == ("Jonas", "Schmidt-Weber")
    emails = sorted(w["value"] for w in sandbox.communication_ways.values())
    assert emails == ["jonas.schmidt@example.org", "jonas@weber.example"]
    put = next(c for c in sandbox.api_calls() if c.method == "PUT")
    assert "category" not in put.request_body


def test_an_unknown_country_fails_before_anything_is_written(
    sevdesk: SevdeskConnector, sandbox: SevdeskSandbox
) -> None:
    with pytest.raises(errors.UnsupportedByVendor) as caught:
        sevdesk.create_customer(_person(country="XX"))
    assert "XX" in str(caught.value)
    assert sandbox.contacts == {}


# -- quotes --------------------------------------------------------------------------------


def test_a_quote_with_three_positions_is_a_draft_and_reads_back(
    sevdesk: SevdeskConnector, sandbox: SevdeskSandbox, account: Account
) -> None:
    customer = sevdesk.create_customer(_person())
    calls = sevdesk.client.calls

    ref = sevdesk.create_quote(_quote(customer.vendor_id))

    # Its address, then the user and units (cached from now on; the countries already are).
    assert _calls(sandbox)[-4:] == [
        ("GET", "/SevUser"),
        ("GET", "/ContactAddress"),
        ("GET", "/Unity"),
        ("POST", "/Order/Factory/saveOrder"),
    ]
    assert sevdesk.client.calls - calls == 4
    expected = _fixture("save-order-three-positions.request.json")
    expected["order"]["contact"]["id"] = int(customer.vendor_id)
    expected["order"]["contactPerson"]["id"] = account.sev_user_id
    assert sandbox.api_calls(path_prefix="/api/v1/Order")[-1].request_body == expected

    order = sandbox.orders[int(ref.vendor_id)]
    assert ref.number == order["orderNumber"] == "HubSpot-Deal-4711-123"
    assert (order["orderType"], order["status"], order["header"]) == (
        "AN",
        "100",
        "Digitalisierung der Lagerlogistik <Phase 2> & Schulung",
    )
    assert order["orderDate"].startswith("2026-07-01T00:00:00")
    assert order["addressCountry"]["id"] == "2"
    # 12.5 x 120 + 999.50 - 10 % at 19 %, 3 x 39.90 at 7 %
    assert (order["sumNet"], order["sumGross"]) == ("2519.25", "2983.54")
    positions = requests.get(
        f"{sevdesk.client.api.base_url}/Order/{ref.vendor_id}/getPositions",
        headers={"Authorization": account.token},
        timeout=5,
    ).json()["objects"]
    assert [(p["name"], p["quantity"], p["unity"]["id"]) for p in positions] == [
        ("Beratung Einführung", "12.5", "9"),  # Stunde -> Std
        ("Fachbuch", "3", "1"),  # Stück -> Stk
        ("Lizenz Jahresabo", "1", "1"),  # no such unit -> Stk
    ]

    again = sevdesk.create_quote(_quote(customer.vendor_id, reference="HubSpot-Deal 4711-124"))
    assert _calls(sandbox)[-2:] == [
        ("GET", "/ContactAddress"),
        ("POST", "/Order/Factory/saveOrder"),
    ]
    assert sevdesk.find_quote("HubSpot-Deal 4711-124") == again
    assert sevdesk.find_quote("HubSpot-Deal 4711-999") is None


def test_a_tax_rate_the_tax_rule_refuses_is_permanent_with_sevdesks_message(
    sevdesk: SevdeskConnector, sandbox: SevdeskSandbox
) -> None:
    customer = sevdesk.create_customer(_person())
    wrong_rate = (QuotePosition("Beratung", Decimal(1), Decimal(100), Decimal(16)),)

    with pytest.raises(errors.PermanentError) as caught:
        sevdesk.create_quote(_quote(customer.vendor_id, positions=wrong_rate))

    assert caught.value.status == 422
    assert caught.value.vendor_message == "Tax rate 16 is not allowed for tax rule 1"
    assert [c.status for c in sandbox.api_calls() if c.path.endswith("/saveOrder")] == [422]
    assert sandbox.orders == {}


def test_a_quote_for_a_missing_contact_is_refused_with_sevdesks_message(
    sevdesk: SevdeskConnector, sandbox: SevdeskSandbox
) -> None:
    with pytest.raises(errors.PermanentError) as caught:
        sevdesk.create_quote(_quote("999999999"))
    assert caught.value.status == 400
    assert caught.value.vendor_message == "Contact does not exist"
    # Without an address the quote would have gone to Germany.
    sent = sandbox.api_calls(path_prefix="/api/v1/Order")[-1].request_body
    assert sent["order"]["addressCountry"] == {"id": 1, "objectName": "StaticCountry"}
    assert "address" not in sent["order"]


def test_ids_that_are_not_sevdesk_ids_fail_before_any_call(
    sevdesk: SevdeskConnector, sandbox: SevdeskSandbox
) -> None:
    with pytest.raises(errors.PermanentError):
        sevdesk.create_quote(_quote("6f1c1c36-0000-4000-8000-000000000000"))
    with pytest.raises(errors.PermanentError):
        sevdesk.update_customer(CustomerRef(vendor_id="abc"), _person())
    assert sandbox.api_calls() == []
    sevdesk.verify()  # one call, for the header check of the fixture


def test_an_invoice_is_created_as_a_draft(
    sevdesk: SevdeskConnector, sandbox: SevdeskSandbox
) -> None:
    customer = sevdesk.create_customer(_company())
    ref = sevdesk.create_invoice(_quote(customer.vendor_id))

    invoice = sandbox.invoices[int(ref.vendor_id)]
    assert (invoice["status"], invoice["invoiceType"]) == ("100", "RE")
    assert invoice["address"] == "Müller & Söhne Bau GmbH\nHauptstraße 5\n10115 Berlin"
    assert ref.number == ""  # numbered when it is sent
    sent = sandbox.api_calls(path_prefix="/api/v1/Invoice")[-1].request_body
    assert sent["invoice"]["invoiceDate"] == "01.07.2026"
    assert all(p["objectName"] == "InvoicePos" and p["mapAll"] for p in sent["invoicePosSave"])
    assert len(sandbox.invoice_positions) == 3


# -- rate limit and errors -----------------------------------------------------------------


def test_a_429_is_waited_out_with_its_retry_after(token: str) -> None:
    limited = SevdeskSandbox(rate_per_second=1, rate_burst=1, contract=True, demo_token=None)
    limited.add_account(token=token)
    with running(limited) as handle:
        connection = Connection(system="sevdesk", credentials={"api_token": token})
        sevdesk = SevdeskConnector(connection=connection, base_url=f"{handle.url}/api/v1")
        assert sevdesk.client.api.rate == PROVIDER.rate == Rate(per_second=5, burst=5)
        assert sevdesk.verify().name == USER_FULLNAME
        assert sevdesk.verify().name == USER_FULLNAME
    statuses = [c.status for c in limited.api_calls()]
    assert statuses == [200, 429, 200]


@pytest.mark.parametrize(
    ("fixture", "status", "message"),
    [
        ("error-400.json", 400, "Contact does not exist"),
        ("error-401.json", 401, "Authentication required"),
    ],
)
def test_error_bodies_read_as_sevdesks_words(fixture: str, status: int, message: str) -> None:
    response = requests.Response()
    response.status_code = status
    response._content = (FIXTURES / fixture).read_bytes()
    assert mapping.read_error(response) == message


def test_a_body_that_is_not_json_reads_as_its_text() -> None:
    response = requests.Response()
    response.status_code = 502
    response._content = b"Bad Gateway"
    assert mapping.read_error(response) == "Bad Gateway"


def test_capabilities_follow_the_spec() -> None:
    capabilities = SevdeskConnector.provider.capabilities
    assert capabilities is not None
    assert capabilities.title_max_length is None
    assert capabilities.currencies is None
    assert capabilities.can_delete_customers
    assert not capabilities.has_idempotency_keys
    assert capabilities.quote_is_draft
