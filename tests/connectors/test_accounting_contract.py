"""What every accounting connector must do, written once and run for each provider against
its sandbox over real HTTP (and for the in-memory connector the service tests use).

A new accounting system passes this file by adding its `Vendor` below: its sandbox with
contract checking on, and the credentials a connection to it holds.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from connectors import errors
from connectors.base import AccountingConnector
from connectors.models import Connection
from connectors.registry import accounting_providers, connector_class
from connectors.shapes import (
    Address,
    Company,
    Customer,
    CustomerKind,
    Person,
    Quote,
    QuotePosition,
)
from sandbox.core import VendorSandbox, running
from tests.factories import ConnectionFactory
from tests.fakes import memory


@dataclass(frozen=True)
class Vendor:
    """How to stand one provider up: its sandbox and the credentials it accepts."""

    key: str
    sandbox: Callable[[], VendorSandbox]
    credentials: dict[str, str]
    refused_credentials: dict[str, str]
    currency: str = "EUR"
    tax_rate: Decimal = Decimal(19)
    # Connected only by an OAuth consent: a refused token is refreshed from the stored
    # connection (under its row lock), so a refused connection must be a saved one.
    oauth_only: bool = False


def _lexoffice() -> VendorSandbox:
    from sandbox.lexoffice.app import LexofficeSandbox

    return LexofficeSandbox(api_keys={"lx-contract": "Vertrag GmbH"}, contract=True)


def _bexio() -> VendorSandbox:
    from sandbox.bexio.app import BexioSandbox

    bexio = BexioSandbox(contract=True)
    bexio.add_company(name="Vertrag AG", personal_access_token="bexio-contract")
    return bexio


def _sevdesk() -> VendorSandbox:
    from sandbox.sevdesk.app import SevdeskSandbox

    return SevdeskSandbox(contract=True)


def _qonto() -> VendorSandbox:
    from sandbox.qonto.app import QontoSandbox

    return QontoSandbox(contract=True)


def _eaccounting() -> VendorSandbox:
    from sandbox.eaccounting.app import DEFAULT_SCOPE, DEMO_COMPANY, EAccountingSandbox
    from sandbox.oauth_server import Grant

    eaccounting = EAccountingSandbox(contract=True)
    # An access token of the demo company's consent, known before the sandbox starts.
    eaccounting.oauth.access_tokens["eaccounting-contract"] = Grant(
        DEMO_COMPANY, DEFAULT_SCOPE, client_id="apiup-sandbox-client"
    )
    return eaccounting


VENDORS = {
    "lexoffice": Vendor(
        "lexoffice", _lexoffice, {"api_key": "lx-contract"}, {"api_key": "lx-revoked"}
    ),
    "bexio": Vendor(
        "bexio",
        _bexio,
        {"access_token": "bexio-contract"},
        {"access_token": "bexio-revoked"},
        currency="CHF",
        tax_rate=Decimal("8.1"),
    ),
    "sevdesk": Vendor(
        "sevdesk",
        _sevdesk,
        {"api_token": "0123456789abcdef0123456789abcdef"},
        {"api_token": "ffffffffffffffffffffffffffffffff"},
    ),
    "qonto": Vendor(
        "qonto",
        _qonto,
        {"login": "apiup-demo", "secret_key": "apiup-sandbox-secret-key"},
        {"login": "apiup-demo", "secret_key": "revoked"},
    ),
    "eaccounting": Vendor(
        "eaccounting",
        _eaccounting,
        {"access_token": "eaccounting-contract"},
        {"access_token": "eaccounting-revoked"},
        tax_rate=Decimal(21),  # the sandbox company is Dutch
        oauth_only=True,
    ),
}


def test_every_accounting_provider_runs_this_contract() -> None:
    assert sorted(VENDORS) == sorted(p.key for p in accounting_providers())


@dataclass
class Subject:
    """A connector under test and what can be asked of the vendor behind it."""

    connector: AccountingConnector
    vendor: Vendor
    sandbox: VendorSandbox | None  # None for the in-memory connector

    def connect(self, credentials: dict[str, str]) -> AccountingConnector:
        connection = Connection(system=self.vendor.key, credentials=credentials)
        if self.vendor.oauth_only and any(v.strip() for v in credentials.values()):
            saved = ConnectionFactory(system=self.vendor.key, credentials=credentials)
            assert isinstance(saved, Connection)
            connection = saved
        base_url = self.connector.base_url
        return type(self.connector)(connection=connection, base_url=base_url)

    def drop_the_next_answer(self, call: str) -> None:
        if self.sandbox is None:
            assert isinstance(self.connector, memory.MemoryConnector)
            self.connector.books.fail_next(call, errors.UnknownOutcome("answer lost"))
        else:
            self.sandbox.faults.update({"drop_after_commit_rate": 1.0})

    def answer_normally(self) -> None:
        if self.sandbox is not None:
            self.sandbox.faults.update({"drop_after_commit_rate": 0.0, "rate_limit_rate": 0.0})

    def limit_every_answer(self) -> None:
        assert self.sandbox is not None, "rate limits are the HTTP path's, not a fake's"
        self.sandbox.faults.update({"rate_limit_rate": 1.0})


@pytest.fixture(params=[*VENDORS, "memory"])
def subject(request: pytest.FixtureRequest) -> Iterator[Subject]:
    if request.param == "memory":
        vendor = Vendor("memory", lambda: None, {"api_key": memory.ACCEPTED_KEY}, {})  # type: ignore[arg-type,return-value]
        connection = Connection(system="memory", credentials=vendor.credentials)
        books = memory.MemoryBooks()
        yield Subject(memory.MemoryConnector(connection=connection, books=books), vendor, None)
        return
    vendor = VENDORS[request.param]
    sandbox = vendor.sandbox()
    with running(sandbox) as handle:
        url = handle.url + {"sevdesk": "/api/v1", "eaccounting": "/v2"}.get(vendor.key, "")
        connection = Connection(system=vendor.key, credentials=vendor.credentials)
        connector = connector_class(vendor.key)(connection=connection, base_url=url)
        connector.client.sleep = lambda _seconds: None  # retries without waiting
        yield Subject(connector, vendor, sandbox)
    # What was sent and what came back follows the vendor's spec.
    assert sandbox.contract is not None
    assert sandbox.contract.violations == []


def _company(email: str = "info@vertrag-beispiel.example") -> Customer:
    return Customer(
        kind=CustomerKind.COMPANY,
        company=Company(
            name="Vertrag Beispiel GmbH",
            email=email,
            address=Address("Hauptstraße", "5", "10115", "Berlin", "DE"),
            contact_person=Person(first_name="Anna", last_name="Muster", email="anna@v.example"),
        ),
    )


def _person(email: str = "anna@v.example") -> Customer:
    return Customer(
        kind=CustomerKind.PERSON,
        person=Person(
            first_name="Anna",
            last_name="Muster",
            email=email,
            address=Address("Nebenweg", "1", "10115", "Berlin", "DE"),
        ),
    )


def _quote(subject: Subject, customer_id: str, reference: str) -> Quote:
    today = dt.date.today()
    return Quote(
        title="Website Relaunch",
        introduction=reference,
        positions=(
            QuotePosition(
                name="Konzeption",
                quantity=Decimal(2),
                unit_net_price=Decimal("450.00"),
                tax_rate=subject.vendor.tax_rate,
            ),
        ),
        currency=subject.vendor.currency,
        valid_from=today,
        valid_until=today + dt.timedelta(days=30),
        reference=reference,
        customer_id=customer_id,
    )


def test_verify_names_the_account(subject: Subject) -> None:
    account = subject.connector.verify()
    if subject.vendor.key == "bexio":
        # bexio's API names no company: the connection keeps the name it was saved with.
        assert account.name == subject.connector.connection.account_name
    else:
        assert account.name


def test_a_created_customer_is_found_by_email_and_name_and_id(subject: Subject) -> None:
    created = subject.connector.create_customer(_company())
    by_email = subject.connector.find_customer_by_email(_company())
    by_name = subject.connector.find_customer_by_name(_company())
    assert by_email is not None
    assert by_email.vendor_id == created.vendor_id
    assert by_name is not None
    assert by_name.vendor_id == created.vendor_id
    found = subject.connector.get_customer(created.vendor_id)
    assert found is not None
    assert found.vendor_id == created.vendor_id


def test_find_by_email_never_returns_the_other_kind(subject: Subject) -> None:
    # The company's contact person has the address the person customer looks up by.
    subject.connector.create_customer(_company())
    assert subject.connector.find_customer_by_email(_person("anna@v.example")) is None
    person = subject.connector.create_customer(_person("anna@v.example"))
    found = subject.connector.find_customer_by_email(_person("anna@v.example"))
    assert found is not None
    assert found.vendor_id == person.vendor_id


def test_a_lost_quote_is_found_by_its_reference(subject: Subject) -> None:
    customer = subject.connector.create_customer(_company())
    reference = "HubSpot-Deal 4711-9001"
    subject.drop_the_next_answer("create_quote")
    # The answer is lost (Qonto's idempotency key may let the client's retry get it back).
    with contextlib.suppress(errors.UnknownOutcome):
        subject.connector.create_quote(_quote(subject, customer.vendor_id, reference))
    subject.answer_normally()
    found = subject.connector.find_quote(reference, customer_id=customer.vendor_id)
    assert found is not None
    assert found.vendor_id
    assert (
        subject.connector.find_quote("HubSpot-Deal 4711-1", customer_id=customer.vendor_id) is None
    )


@pytest.mark.django_db  # an OAuth-only connection is refreshed from its stored row
def test_a_refused_key_asks_the_customer_to_reconnect(subject: Subject) -> None:
    credentials = subject.vendor.refused_credentials or {"api_key": "revoked"}
    refused = subject.connect(credentials)
    with pytest.raises(errors.ReconnectRequired) as caught:
        refused.verify()
    assert refused.connection.status == Connection.Status.NEEDS_RECONNECT
    # A key cannot be refreshed: one call, no retry; the key is in no message.
    assert refused.client.calls == (1 if subject.sandbox is not None else 0)
    assert caught.value.vendor_message
    for secret in credentials.values():
        assert secret not in str(caught.value)


def test_a_connection_without_a_credential_asks_to_reconnect_without_a_call(
    subject: Subject,
) -> None:
    empty = subject.connect(dict.fromkeys(subject.vendor.credentials, " "))
    with pytest.raises(errors.ReconnectRequired):
        empty.verify()
    assert empty.connection.status == Connection.Status.NEEDS_RECONNECT
    assert empty.client.calls == 0


@pytest.mark.parametrize("subject", list(VENDORS), indirect=True)
def test_a_rate_limit_answer_is_retried_then_handed_back(subject: Subject) -> None:
    assert subject.sandbox is not None
    subject.limit_every_answer()
    with pytest.raises(errors.RateLimited) as caught:
        subject.connector.verify()
    assert caught.value.wait_seconds >= 0
    # Retried after each 429 as often as the client allows, then handed to the caller
    # (which reschedules the transfer) instead of failing it.
    assert len(subject.sandbox.api_calls()) == subject.connector.client.api.max_attempts
    subject.answer_normally()
    subject.connector.verify()  # answered again, no error


def test_the_connector_declares_what_it_can_do(subject: Subject) -> None:
    capabilities: Any = subject.connector.capabilities
    if capabilities.currencies is not None:
        assert subject.vendor.currency in capabilities.currencies
