"""The bexio connector against the bexio sandbox over real HTTP, with every request and
response checked against the vendor's spec files."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask, Response, request

from connectors import errors, oauth
from connectors.bexio import mapping
from connectors.bexio.client import BexioConnector
from connectors.bexio.mapping import read_error
from connectors.bexio.provider import PROVIDER
from connectors.models import Connection
from connectors.registry import vendor_url
from connectors.shapes import (
    Address,
    Company,
    Customer,
    CustomerKind,
    Person,
    Quote,
    QuotePosition,
)
from sandbox.bexio.app import BexioSandbox
from sandbox.core import Faults, RunningSandbox, running
from sandbox.oauth_server import AccessToken
from tests.factories import ConnectionFactory

FIXTURES = Path(__file__).parent / "fixtures" / "bexio"
COMPANY_NAME = "Muster Treuhand AG"
REDIRECT_URI = "http://localhost:8000/connectors/bexio/callback"
CODE_VERIFIER = "pkce-verifier-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFG"
CLIENT_ID, CLIENT_SECRET = oauth.client_credentials(PROVIDER)


def _fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


class EditingBexioSandbox(BexioSandbox):
    """The sandbox plus bexio's 403 for a token that lacks the contact scopes."""

    def register_routes(self, app: Flask) -> None:
        super().register_routes(app)

        @app.before_request
        def missing_scope() -> Response | None:
            # Runs before the sandbox's own pipeline, which registers its hooks later.
            _, _, token = request.headers.get("Authorization", "").partition(" ")
            with self.lock:
                grant = self.access_tokens.get(token.strip())
            scopes = grant.scope.split() if grant is not None else []
            if request.path.startswith("/2.0/contact") and scopes and "contact_show" not in scopes:
                return self.error_response(403, "Forbidden")
            return None


def _serve(sandbox: BexioSandbox) -> Iterator[RunningSandbox]:
    with running(sandbox) as handle:
        yield handle


@pytest.fixture(scope="module")
def server() -> Iterator[RunningSandbox]:
    # One server for the module: stopping one takes half a second.
    yield from _serve(BexioSandbox(contract=True))


@pytest.fixture(scope="module")
def editing_server() -> Iterator[RunningSandbox]:
    yield from _serve(EditingBexioSandbox(contract=True))


@pytest.fixture
def pat(request: pytest.FixtureRequest) -> str:
    # One token (and so one client-side rate bucket and tax cache) per test.
    return f"pat-{request.node.name}-{time.time_ns()}"[:120]


def _seed(sandbox: BexioSandbox, pat: str, *, user_ids: tuple[int, ...] = (1,)) -> None:
    sandbox.faults = Faults()
    sandbox.reset()
    sandbox.add_company(name=COMPANY_NAME, personal_access_token=pat, user_ids=user_ids)
    sandbox.add_oauth_client(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uris=(REDIRECT_URI,),
    )


@pytest.fixture
def vendor(server: RunningSandbox, pat: str) -> Iterator[RunningSandbox]:
    yield from _checked(server, pat)


@pytest.fixture
def editing_vendor(editing_server: RunningSandbox, pat: str) -> Iterator[RunningSandbox]:
    yield from _checked(editing_server, pat)


def _checked(handle: RunningSandbox, pat: str) -> Iterator[RunningSandbox]:
    assert isinstance(handle.sandbox, BexioSandbox)
    _seed(handle.sandbox, pat)
    contract = handle.sandbox.contract
    assert contract is not None
    contract.violations.clear()
    yield handle
    # Every request the connector sent, and every answer, must match the spec.
    assert contract.violations == []


@pytest.fixture
def sandbox(vendor: RunningSandbox) -> BexioSandbox:
    assert isinstance(vendor.sandbox, BexioSandbox)
    return vendor.sandbox


def _connector(url: str, credentials: dict[str, Any], **fields: Any) -> BexioConnector:
    connection = Connection(system="bexio", credentials=credentials, **fields)
    return BexioConnector(connection=connection, base_url=url, oauth_url=url)


@pytest.fixture
def connector(vendor: RunningSandbox, pat: str) -> BexioConnector:
    return _connector(vendor.url, {"access_token": pat}, account_name=COMPANY_NAME)


def _company() -> Customer:
    return Customer(
        kind=CustomerKind.COMPANY,
        company=Company(
            name="Muster & Partner  AG",
            email="info@muster-partner.example",
            phone="+41 44 123 45 67",
            address=Address("Bahnhofstrasse", "12", "8001", "Zürich", "CH"),
            contact_person=Person(first_name="Anna", last_name="Muster"),
        ),
    )


def _person(first_name: str = "Jonas", last_name: str = "Schmid") -> Customer:
    return Customer(
        kind=CustomerKind.PERSON,
        person=Person(
            first_name=first_name,
            last_name=last_name,
            email=f"{first_name}.{last_name}@example.ch".lower(),
            address=Address("Lindenweg", "2", "3011", "Bern", "CH"),
        ),
    )


def _company_by_email(email: str) -> Customer:
    """A company look-up: a company customer whose own address is `email`."""
    return Customer(kind=CustomerKind.COMPANY, company=Company(name="Beispiel AG", email=email))


def _person_by_email(email: str) -> Customer:
    """A person look-up: a person customer whose own address is `email`."""
    return Customer(
        kind=CustomerKind.PERSON, person=Person(first_name="Anna", last_name="Muster", email=email)
    )


def _quote(customer_id: str, **changes: Any) -> Quote:
    values: dict[str, Any] = {
        "title": "Digitalisierung der   Lagerlogistik Phase 2",
        "introduction": "Vielen Dank für Ihr Interesse.",
        "positions": (
            QuotePosition(
                "Beratung Einführung",
                Decimal("12.5"),
                Decimal("120.00"),
                Decimal("8.1"),
                unit="Stunde",
                description="Workshop vor Ort",
            ),
            QuotePosition("Fachbuch", Decimal(3), Decimal("39.90"), Decimal("2.6")),
            QuotePosition(
                "Export-Lizenz",
                Decimal("1.33333"),
                Decimal("999.12345"),
                Decimal(0),
                discount_percent=Decimal(10),
            ),
        ),
        "currency": "CHF",
        "valid_from": dt.date(2026, 7, 1),
        "valid_until": dt.date(2026, 7, 31),
        "reference": "hubspot-deal-4711-123",
        "customer_id": customer_id,
    }
    return Quote(**{**values, **changes})


def _company_of(sandbox: BexioSandbox) -> Any:
    return next(iter(sandbox.companies.values()))


def _records(sandbox: BexioSandbox, kind: str) -> dict[int, Any]:
    return {r["id"]: r for r in sandbox.store.select(kind, str(_company_of(sandbox).id))}


def _tax_id(sandbox: BexioSandbox, rate: float) -> int:
    taxes = _records(sandbox, "taxes").values()
    return next(
        t["id"] for t in taxes if t["is_active"] and t["type"] == "sales_tax" and t["value"] == rate
    )


# -- verify and the personal access token -----------------------------------------------------


def test_verify_proves_the_token_with_one_documented_call(
    connector: BexioConnector, sandbox: BexioSandbox, pat: str
) -> None:
    account = connector.verify()

    assert account.name == COMPANY_NAME
    assert connector.client.calls == 1
    call = sandbox.api_calls()[0]
    assert (call.method, call.path, call.status) == ("GET", "/2.0/contact", 200)
    assert pat not in connector.client.limiter_key
    assert connector.client.limiter_key == f"connection-{connector.connection.pk}"


@pytest.mark.django_db
@pytest.mark.parametrize("consented", [False, True], ids=["personal-access-token", "oauth"])
def test_a_token_without_the_contact_scope_asks_for_reconnecting(
    editing_vendor: RunningSandbox, consented: bool
) -> None:
    sandbox = editing_vendor.sandbox
    assert isinstance(sandbox, BexioSandbox)
    token = f"lacks-contact-scope-{time.time_ns()}"
    with sandbox.lock:
        sandbox.access_tokens[token] = AccessToken(
            account=_company_of(sandbox).id,
            user_id=1,
            scope="openid kb_offer_show",
            expires_at=time.time() + 3600,
            client_id=CLIENT_ID,
        )
    credentials: dict[str, Any] = {"access_token": token}
    if consented:
        credentials.update(refresh_token="not-needed", expires_at=time.time() + 3600)
    connection = ConnectionFactory(system="bexio", credentials=credentials)
    connector = BexioConnector(
        connection=connection, base_url=editing_vendor.url, oauth_url=editing_vendor.url
    )

    with pytest.raises(errors.ReconnectRequired) as caught:
        connector.verify()

    assert (caught.value.status, caught.value.vendor_message) == (403, "Forbidden")
    assert connector.client.calls == 1  # a missing scope is neither refreshed nor retried
    connection.refresh_from_db()
    assert connection.status == Connection.Status.NEEDS_RECONNECT


# -- OAuth 2.0 / OIDC ---------------------------------------------------------------------------


def _consent(url: str) -> str:
    """The customer approves on bexio's consent page; returns the code from the redirect."""
    page = requests.get(url, timeout=5)
    assert page.status_code == 200, page.text
    parts = urlsplit(url)
    params = {key: values[0] for key, values in parse_qs(parts.query).items()}
    answer = requests.post(
        f"{parts.scheme}://{parts.netloc}{parts.path}",
        data={**params, "company_id": "1", "decision": "approve"},
        allow_redirects=False,
        timeout=5,
    )
    assert answer.status_code == 302
    redirect = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert redirect["state"] == ["state-42"]
    return redirect["code"][0]


def _oauth_connection(vendor: RunningSandbox) -> Connection:
    url = oauth.authorization_url(
        PROVIDER,
        state="state-42",
        redirect_uri=REDIRECT_URI,
        code_verifier=CODE_VERIFIER,
        oauth_url=vendor.url,
    )
    tokens = oauth.exchange_code(
        PROVIDER,
        code=_consent(url),
        redirect_uri=REDIRECT_URI,
        code_verifier=CODE_VERIFIER,
        oauth_url=vendor.url,
    )
    assert tokens.refresh_token
    assert tokens.expires_in == 3600
    connection = ConnectionFactory(
        system="bexio",
        credentials={
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "expires_at": time.time() + tokens.expires_in,
        },
    )
    assert isinstance(connection, Connection)
    return connection


def test_the_authorization_url_asks_for_the_scopes_with_a_pkce_challenge() -> None:
    url = oauth.authorization_url(
        PROVIDER,
        state="s1",
        redirect_uri=REDIRECT_URI,
        code_verifier=CODE_VERIFIER,
        oauth_url=vendor_url(PROVIDER, "oauth"),
    )
    parts = urlsplit(url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}

    assert url.startswith(
        vendor_url(PROVIDER, "oauth") + "/realms/bexio/protocol/openid-connect/auth?"
    )
    assert query["scope"].split() == [
        "openid",
        "offline_access",
        "contact_show",
        "contact_edit",
        "kb_offer_show",
        "kb_offer_edit",
        "kb_invoice_show",
        "kb_invoice_edit",
        "article_show",
        "article_edit",
        "company_profile",
    ]
    assert query["code_challenge_method"] == "S256"
    assert query["code_challenge"] == oauth.code_challenge(CODE_VERIFIER)
    assert query["code_challenge"] != CODE_VERIFIER
    assert query["client_id"] == CLIENT_ID
    assert query["response_type"] == "code"
    assert "client_secret" not in query


@pytest.mark.django_db
def test_the_code_flow_gives_a_working_connection(vendor: RunningSandbox) -> None:
    connection = _oauth_connection(vendor)  # the sandbox checks the PKCE verifier
    connector = BexioConnector(connection=connection, base_url=vendor.url, oauth_url=vendor.url)

    assert connector.verify().name == connection.account_name
    with pytest.raises(errors.ReconnectRequired):  # a code is good for one exchange
        oauth.exchange_code(
            PROVIDER,
            code="spent-or-made-up",
            redirect_uri=REDIRECT_URI,
            code_verifier=CODE_VERIFIER,
            oauth_url=vendor.url,
        )


@pytest.mark.django_db
def test_an_expired_token_is_refreshed_and_the_rotated_refresh_token_stored(
    vendor: RunningSandbox,
) -> None:
    sandbox = vendor.sandbox
    assert isinstance(sandbox, BexioSandbox)
    connection = _oauth_connection(vendor)
    first_refresh = connection.credentials["refresh_token"]
    connection.credentials = {**connection.credentials, "expires_at": time.time() - 10}
    connection.save()
    connector = BexioConnector(connection=connection, base_url=vendor.url, oauth_url=vendor.url)

    connector.verify()

    stored = Connection.objects.get(pk=connection.pk).credentials
    assert stored["refresh_token"] not in ("", first_refresh)
    assert stored["expires_at"] > time.time() + 3000
    assert first_refresh not in sandbox.refresh_tokens  # spent by the rotation
    assert stored["refresh_token"] in sandbox.refresh_tokens
    assert connector.client.calls == 1  # the refresh went to the token endpoint first


@pytest.mark.django_db
def test_a_token_refused_before_its_expiry_is_refreshed_once_and_the_call_repeated(
    vendor: RunningSandbox,
) -> None:
    connection = _oauth_connection(vendor)
    connection.credentials = {**connection.credentials, "access_token": "revoked-in-bexio"}
    connection.save()
    connector = BexioConnector(connection=connection, base_url=vendor.url, oauth_url=vendor.url)

    connector.verify()

    assert connector.client.calls == 2  # 401, then the same call with the new token
    assert Connection.objects.get(pk=connection.pk).credentials["access_token"] != (
        "revoked-in-bexio"
    )


@pytest.mark.django_db
def test_a_refused_refresh_token_marks_the_connection_for_reconnecting(
    vendor: RunningSandbox,
) -> None:
    connection = _oauth_connection(vendor)
    spent = connection.credentials["refresh_token"]
    oauth.refresh(PROVIDER, spent, oauth_url=vendor.url)  # rotates: `spent` is now invalid
    connection.credentials = {**connection.credentials, "expires_at": time.time() - 10}
    connection.save()
    connector = BexioConnector(connection=connection, base_url=vendor.url, oauth_url=vendor.url)

    with pytest.raises(errors.ReconnectRequired) as caught:
        connector.verify()

    assert caught.value.vendor_message == "Invalid refresh token"
    assert spent not in str(caught.value)
    assert Connection.objects.get(pk=connection.pk).status == Connection.Status.NEEDS_RECONNECT
    assert vendor.sandbox.api_calls(path_prefix="/2.0") == []  # the call was never sent
    assert connector.client.calls == 0


# -- contacts -------------------------------------------------------------------------------


def test_a_company_customer_is_created_and_found_by_mail_and_exact_name(
    connector: BexioConnector, sandbox: BexioSandbox
) -> None:
    created = connector.create_customer(_company())

    sent = sandbox.api_calls(path_prefix="/2.0/contact")[-1].request_body
    assert sent == _fixture("contact-company.request.json")
    assert created.number == "000001"
    # Look-alikes: a longer name that contains it, and a person of the same name.
    connector.create_customer(
        Customer(kind=CustomerKind.COMPANY, company=Company(name="Muster & Partner AG Basel"))
    )
    connector.create_customer(
        Customer(kind=CustomerKind.PERSON, person=Person(last_name="Muster & Partner AG"))
    )

    by_email = connector.find_customer_by_email(_company_by_email(" INFO@muster-partner.example "))
    by_name = connector.find_customer_by_name(_company())

    assert by_email == created
    assert by_name == created
    searches = [c.request_body for c in sandbox.api_calls(path_prefix="/2.0/contact/search")]
    assert searches == [
        [
            {"field": "contact_type_id", "value": "1", "criteria": "="},
            {"field": "mail", "value": "INFO@muster-partner.example", "criteria": "="},
        ],
        [
            {"field": "contact_type_id", "value": "1", "criteria": "="},
            {"field": "name_1", "value": "Muster & Partner AG", "criteria": "="},
        ],
    ]
    assert (
        connector.find_customer_by_email(_company_by_email("nobody@muster-partner.example")) is None
    )
    calls = connector.client.calls
    assert connector.find_customer_by_email(_company_by_email("")) is None
    assert connector.client.calls == calls


def test_a_person_customer_is_found_by_last_and_first_name(
    connector: BexioConnector, sandbox: BexioSandbox
) -> None:
    jonas = connector.create_customer(_person("Jonas", "Schmid"))
    connector.create_customer(_person("Jana", "Schmid"))

    sent = sandbox.api_calls(path_prefix="/2.0/contact")[0].request_body
    assert sent["contact_type_id"] == 2
    assert (sent["name_1"], sent["name_2"]) == ("Schmid", "Jonas")
    assert sent["mail"] == "jonas.schmid@example.ch"

    found = connector.find_customer_by_name(_person("jonas", "SCHMID"))
    assert found == jonas
    assert connector.find_customer_by_name(_person("Jan", "Schmid")) is None
    assert connector.find_customer_by_email(_person("Jonas", "Schmid")) == jonas
    assert connector.get_customer(jonas.vendor_id) == jonas
    assert connector.get_customer("999") is None
    calls = connector.client.calls
    assert connector.get_customer("not-a-bexio-id") is None
    assert connector.client.calls == calls


def test_contacts_belong_to_the_user_stored_with_the_connection(
    vendor: RunningSandbox, pat: str
) -> None:
    sandbox = vendor.sandbox
    assert isinstance(sandbox, BexioSandbox)
    _seed(sandbox, pat, user_ids=(7, 8))
    connector = _connector(vendor.url, {"access_token": pat, "user_id": "8"})

    created = connector.create_customer(_person())

    contact = _records(sandbox, "contacts")[int(created.vendor_id)]
    assert (contact["user_id"], contact["owner_id"]) == (8, 8)


def test_a_refused_contact_is_permanent_and_carries_bexios_message(
    connector: BexioConnector, sandbox: BexioSandbox
) -> None:
    # The default user 1 is no user of this company: bexio refuses the contact.
    _seed(sandbox, str(connector.connection.credentials["access_token"]), user_ids=(5,))

    with pytest.raises(errors.PermanentError) as caught:
        connector.create_customer(_person())

    assert caught.value.status == 422
    assert caught.value.vendor_message == (
        "Validation error: user_id: References no user of this company.; "
        "owner_id: References no user of this company."
    )
    assert [c.status for c in sandbox.api_calls()] == [422]  # sent once, not retried


def test_an_update_keeps_what_the_customer_added_in_bexio(
    editing_vendor: RunningSandbox, pat: str
) -> None:
    sandbox = editing_vendor.sandbox
    assert isinstance(sandbox, BexioSandbox)
    connector = _connector(editing_vendor.url, {"access_token": pat})
    created = connector.create_customer(_company())
    entered_since = {  # entered in bexio since
        "remarks": "Zahlt immer pünktlich",
        "mail_second": "buchhaltung@muster-partner.example",
    }
    sandbox.store.update("contacts", "1", int(created.vendor_id), entered_since)
    moved = Customer(
        kind=CustomerKind.COMPANY,
        company=Company(
            name="Muster & Partner AG",
            address=Address("Seestrasse", "1", "8002", "Zürich", "CH"),
        ),
    )

    updated = connector.update_customer(created, moved)

    assert connector.client.calls == 3  # create, then read and write
    sent = sandbox.api_calls(path_prefix=f"/2.0/contact/{created.vendor_id}")[-1]
    assert (sent.method, sent.status) == ("POST", 200)
    assert "salutation_id" not in sent.request_body  # bexio's 0 for "none" is not sent back
    contact = _records(sandbox, "contacts")[int(created.vendor_id)]
    assert (contact["street_name"], contact["house_number"]) == ("Seestrasse", "1")
    assert contact["postcode"] == "8002"
    assert contact["remarks"] == "Zahlt immer pünktlich"
    assert contact["mail_second"] == "buchhaltung@muster-partner.example"
    assert contact["mail"] == "info@muster-partner.example"  # not emptied
    assert updated == created


def test_a_deleted_customer_is_gone_and_deleting_again_is_harmless(
    editing_vendor: RunningSandbox, pat: str
) -> None:
    sandbox = editing_vendor.sandbox
    assert isinstance(sandbox, BexioSandbox)
    connector = _connector(editing_vendor.url, {"access_token": pat})
    created = connector.create_customer(_person())

    connector.delete_customer(created)
    connector.delete_customer(created)

    assert _records(sandbox, "contacts") == {}
    assert [(c.method, c.status) for c in sandbox.api_calls()[1:]] == [
        ("DELETE", 200),
        ("DELETE", 404),
    ]
    assert connector.get_customer(created.vendor_id) is None


# -- quotes and invoices ------------------------------------------------------------------------


def test_a_quote_with_three_tax_rates_is_a_draft_and_reads_back_with_its_reference(
    connector: BexioConnector, sandbox: BexioSandbox
) -> None:
    customer = connector.create_customer(_company())

    ref = connector.create_quote(_quote(customer.vendor_id))

    expected = _fixture("kb-offer-three-positions.request.json")
    expected["contact_id"] = int(customer.vendor_id)
    for position, rate in zip(expected["positions"], (8.1, 2.6, 0.0), strict=True):
        position["tax_id"] = _tax_id(sandbox, rate)
    sent = sandbox.api_calls(path_prefix="/2.0/kb_offer")[-1].request_body
    assert sent == expected
    stored = _records(sandbox, "offers")[int(ref.vendor_id)]
    assert stored["kb_item_status_id"] == 1  # draft
    assert stored["api_reference"] == "hubspot-deal-4711-123"
    assert stored["total_taxes"] == "124.612200"  # 8.1 % of 1500 + 2.6 % of 119.70
    assert ref.number == stored["document_nr"] == "AN-00001"
    assert connector.find_quote("hubspot-deal-4711-123") == ref

    # The taxes are looked up once per connection, not per quote.
    connector.create_quote(_quote(customer.vendor_id, reference="hubspot-deal-4712-124"))
    assert len(sandbox.api_calls(path_prefix="/3.0/taxes")) == 1
    fresh = BexioConnector(connection=connector.connection, base_url=connector.base_url)
    fresh.create_quote(_quote(customer.vendor_id, reference="hubspot-deal-4713-125"))
    assert len(sandbox.api_calls(path_prefix="/3.0/taxes")) == 1  # from the shared cache
    assert fresh.client.calls == 1


def test_a_rate_without_an_active_sales_tax_fails_before_the_quote_is_sent(
    connector: BexioConnector, sandbox: BexioSandbox
) -> None:
    customer = connector.create_customer(_person())
    # 7.7 % was the standard rate until 2023: bexio lists it, but inactive.
    old_rate = (QuotePosition("Beratung", Decimal(1), Decimal(100), Decimal("7.7")),)

    with pytest.raises(errors.PermanentError) as caught:
        connector.create_quote(_quote(customer.vendor_id, positions=old_rate))

    assert "7.7 %" in caught.value.vendor_message
    assert sandbox.api_calls(path_prefix="/2.0/kb_offer") == []
    assert len(sandbox.api_calls(path_prefix="/3.0/taxes")) == 1  # fetched just now: no retry


def test_a_quote_in_a_currency_the_company_lacks_is_refused_before_it_is_sent(
    connector: BexioConnector, sandbox: BexioSandbox
) -> None:
    # The sandbox lists no currencies (GET /2.0/currencies answers 404): the base currency.
    with pytest.raises(errors.UnsupportedByVendor) as caught:
        connector.create_quote(_quote("1", currency="EUR"))
    assert "EUR" in str(caught.value)
    assert sandbox.api_calls(path_prefix="/2.0/kb_offer") == []


def test_a_refused_quote_is_permanent_and_carries_bexios_message(
    connector: BexioConnector, sandbox: BexioSandbox
) -> None:
    with pytest.raises(errors.PermanentError) as caught:
        connector.create_quote(_quote("999"))

    assert caught.value.status == 422
    assert caught.value.vendor_message == "Validation error: contact_id: References no contact."
    assert [c.status for c in sandbox.api_calls(path_prefix="/2.0/kb_offer")] == [422]
    assert _records(sandbox, "offers") == {}


def test_find_quote_pages_through_the_quotes(
    connector: BexioConnector, sandbox: BexioSandbox
) -> None:
    customer = connector.create_customer(_person())
    for number in range(3):
        connector.create_quote(_quote(customer.vendor_id, reference=f"hubspot-deal-{number}"))
    connector.quote_page_size = 2

    found = connector.find_quote("hubspot-deal-2")
    missing = connector.find_quote("hubspot-deal-9")

    assert found is not None
    assert found.number == "AN-00003"
    assert missing is None
    listings = [c for c in sandbox.api_calls(path_prefix="/2.0/kb_offer") if c.method == "GET"]
    assert len(listings) == 4  # two pages each: 2 quotes, then 1


def test_an_invoice_is_created_as_a_draft_with_the_same_positions(
    connector: BexioConnector, sandbox: BexioSandbox
) -> None:
    customer = connector.create_customer(_company())

    ref = connector.create_invoice(_quote(customer.vendor_id))

    stored = _records(sandbox, "invoices")[int(ref.vendor_id)]
    assert stored["kb_item_status_id"] == 7  # draft
    assert ref.number == stored["document_nr"] == "RE-00001"
    assert [p["tax_value"] for p in stored["positions"]] == ["8.10", "2.60", "0.00"]
    assert stored["api_reference"] == "hubspot-deal-4711-123"


# -- rate limit and error bodies -----------------------------------------------------------------


def test_a_429_is_waited_out_with_rate_limit_reset(pat: str) -> None:
    sandbox = BexioSandbox(contract=True, requests_per_window=3, rate_window_seconds=1.0)
    sandbox.add_company(name=COMPANY_NAME, personal_access_token=pat)
    with running(sandbox) as handle:
        connector = _connector(handle.url, {"access_token": pat})
        for _ in range(4):
            connector.verify()
    assert [c.status for c in sandbox.api_calls()] == [200, 200, 200, 429, 200]
    waited = sandbox.api_calls()[4].at - sandbox.api_calls()[3].at
    assert waited >= 0.9  # RateLimit-Reset said 1 s (bexio sends no Retry-After)
    assert sandbox.contract is not None
    assert sandbox.contract.violations == []


@pytest.mark.parametrize(
    ("fixture", "status", "message"),
    [
        (
            "validation-error-422.json",
            422,
            "Validation error: user_id: Pflichtfeld; positions: 0 [tax_id [Pflichtfeld]]",
        ),
        ("token-invalid-grant-400.json", 400, "Invalid refresh token"),
    ],
)
def test_error_bodies_read_as_the_vendors_words(fixture: str, status: int, message: str) -> None:
    response = requests.Response()
    response.status_code = status
    response._content = (FIXTURES / fixture).read_bytes()
    assert read_error(response) == message


def test_the_capabilities_follow_the_spec() -> None:
    capabilities = _connector("https://api.bexio.test", {}).capabilities
    assert capabilities.title_max_length is None
    assert capabilities.currencies == frozenset({"CHF"})
    assert capabilities.can_delete_customers is True
    assert capabilities.has_idempotency_keys is False
    assert capabilities.can_create_invoices is True
    assert capabilities.quote_is_draft is True


def test_the_contact_body_is_mapped_without_a_call() -> None:
    assert mapping.contact_create_body(_company(), user_id=1) == _fixture(
        "contact-company.request.json"
    )
