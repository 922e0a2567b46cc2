"""The Qonto connector against the Qonto sandbox over real HTTP, with every request and
response checked against the vendor's spec file."""

from __future__ import annotations

import copy
import datetime as dt
import json
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from connectors import errors, oauth
from connectors.credentials import TokenSet
from connectors.models import Connection
from connectors.qonto import mapping
from connectors.qonto.client import IDEMPOTENCY_NAMESPACE, QontoConnector
from connectors.qonto.provider import PROVIDER
from connectors.registry import vendor_url
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
from sandbox.core import Faults, RunningSandbox, running
from sandbox.qonto.app import DEMO_IBAN, QontoSandbox
from sandbox.qonto.state import ALL_SCOPES, Organization
from tests.factories import ConnectionFactory

pytestmark = pytest.mark.filterwarnings(
    # openapi-core cannot check the spec's oauth2 security scheme and says so on every call.
    "ignore:Unsupported scheme type:UserWarning"
)

FIXTURES = Path(__file__).parent / "fixtures" / "qonto"
LOGIN, SECRET_KEY = "apiup-demo", "apiup-sandbox-secret-key"  # the sandbox's demo organization
ORGANIZATION_NAME = "APIUP Demo SAS"
REDIRECT_URI = "https://app.apiup.example/connectors/qonto/callback"
REFERENCE = "HubSpot-Deal 123-4711"


def _fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def server() -> Iterator[RunningSandbox]:
    # One server for the module: stopping one takes half a second.
    with running(QontoSandbox(contract=True)) as handle:
        yield handle


@pytest.fixture
def vendor(server: RunningSandbox) -> Iterator[RunningSandbox]:
    sandbox = server.sandbox
    assert isinstance(sandbox, QontoSandbox)
    sandbox.faults = Faults()
    sandbox.idempotency_ttl = 30 * 60
    sandbox.api_key_scopes = ALL_SCOPES
    sandbox.reset()
    contract = sandbox.contract
    assert contract is not None
    contract.violations.clear()
    yield server
    # Every request the connector sent, and every answer, must match the spec.
    assert contract.violations == []


@pytest.fixture
def sandbox(vendor: RunningSandbox) -> QontoSandbox:
    assert isinstance(vendor.sandbox, QontoSandbox)
    return vendor.sandbox


def _organization(sandbox: QontoSandbox) -> Organization:
    return sandbox.organization_by_slug(LOGIN)


def _connector(url: str, credentials: dict[str, Any] | None = None) -> QontoConnector:
    connection = Connection(
        system="qonto",
        credentials=credentials or {"login": LOGIN, "secret_key": SECRET_KEY},
    )
    return QontoConnector(connection=connection, base_url=url, oauth_url=url)


@pytest.fixture
def connector(vendor: RunningSandbox) -> QontoConnector:
    return _connector(vendor.url)


def _company(name: str = "Muster & Partner  GmbH", hubspot_id: str = "9001") -> Customer:
    return Customer(
        kind=CustomerKind.COMPANY,
        company=Company(
            name=name,
            email="info@muster-partner.example",
            vat_id="DE 123456789",
            address=Address("Hauptstraße", "12", "10115", "Berlin", "DE"),
            contact_person=Person(first_name="Anna", last_name="Muster"),
            hubspot_id=hubspot_id,
        ),
    )


def _person(first_name: str = "Jonas", last_name: str = "Schmid") -> Customer:
    email = f"{first_name}.{last_name}@example.fr".lower().replace(" ", "")
    return Customer(
        kind=CustomerKind.PERSON,
        person=Person(
            first_name=first_name,
            last_name=last_name,
            email=email,
            address=Address("Rue de Rivoli", "1", "75001", "Paris", "FR"),
            hubspot_id=f"hs-{first_name}-{last_name}",
        ),
    )


def _company_by_email(email: str) -> Customer:
    """A company look-up: a company customer whose own address is `email`."""
    return Customer(kind=CustomerKind.COMPANY, company=Company(name="Beispiel SAS", email=email))


def _person_by_email(email: str) -> Customer:
    """A person look-up: a person customer whose own address is `email`."""
    return Customer(
        kind=CustomerKind.PERSON, person=Person(first_name="Anna", last_name="Muster", email=email)
    )


def _quote(customer_id: str, **changes: Any) -> Quote:
    values: dict[str, Any] = {
        "title": "Digitalisierung der   Lagerlogistik Phase 2",
        "introduction": REFERENCE,  # what the transfer service puts there
        "positions": (
            QuotePosition(
                "Beratung Einführung",
                Decimal("12.5"),
                Decimal("120.00"),
                Decimal(19),
                unit="Stunde",
                description="Workshop vor Ort",
            ),
            QuotePosition("Fachbuch", Decimal(3), Decimal("39.90"), Decimal(7)),
            QuotePosition(
                "Export-Lizenz",
                Decimal(2),
                Decimal("999.125"),
                Decimal(0),
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


def _key(connector: QontoConnector, effect: str) -> str:
    connection = connector.connection
    scope = connection.tenant_id or connection.pk or ""
    return str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{scope}|{effect}"))


# -- verify and the API key -------------------------------------------------------------------


def test_verify_sends_the_raw_api_key_and_names_the_organization(
    connector: QontoConnector, sandbox: QontoSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("DEBUG"):
        account = connector.verify()

    assert SECRET_KEY not in caplog.text
    assert account.name == ORGANIZATION_NAME
    assert account.account_id == _organization(sandbox).id
    assert connector.client.calls == 1
    call = sandbox.api_calls()[0]
    assert (call.method, call.path, call.status) == ("GET", "/v2/organization", 200)
    assert call.credential == f"api_key:{LOGIN}"  # `login:secret-key`, neither Basic nor base64
    # Qonto limits per source IP: one bucket for the machine, never the credential.
    assert connector.client.limiter_key == "source-ip"


@pytest.mark.django_db
def test_a_missing_scope_asks_for_reconnecting(
    vendor: RunningSandbox, sandbox: QontoSandbox
) -> None:
    sandbox.api_key_scopes = ("organization.read", "client.read")
    connection = ConnectionFactory(
        system="qonto", credentials={"login": LOGIN, "secret_key": SECRET_KEY}
    )
    connector = QontoConnector(connection=connection, base_url=vendor.url, oauth_url=vendor.url)

    with pytest.raises(errors.ReconnectRequired) as caught:
        connector.create_customer(_company())

    assert caught.value.vendor_message == "Missing scope client.write"
    assert caught.value.status == 403
    assert connector.client.calls == 1
    connection.refresh_from_db()
    assert connection.status == Connection.Status.NEEDS_RECONNECT


def _consent(url: str) -> str:
    """The customer approves on Qonto's consent page; returns the code from the redirect."""
    with requests.Session() as browser:
        page = browser.get(url, timeout=5)
        assert page.status_code == 200, page.text
        organization_id = page.text.split("<option value='", 1)[1].split("'", 1)[0]
        parts = urlsplit(url)
        params = {key: values[0] for key, values in parse_qs(parts.query).items()}
        answer = browser.post(
            f"{parts.scheme}://{parts.netloc}{parts.path}",
            data={**params, "organization_id": organization_id, "decision": "approve"},
            allow_redirects=False,
            timeout=5,
        )
    assert answer.status_code == 302
    redirect = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert redirect["state"] == ["state-42"]
    return redirect["code"][0]


def _oauth_connection(vendor: RunningSandbox) -> Connection:
    url = oauth.authorization_url(
        PROVIDER, state="state-42", redirect_uri=REDIRECT_URI, oauth_url=vendor.url
    )
    tokens = oauth.exchange_code(
        PROVIDER, code=_consent(url), redirect_uri=REDIRECT_URI, oauth_url=vendor.url
    )
    assert tokens.refresh_token  # offline_access was asked for
    assert tokens.expires_in == 3600
    connection = ConnectionFactory(
        system="qonto",
        credentials={
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "expires_at": time.time() + tokens.expires_in,
        },
    )
    assert isinstance(connection, Connection)
    return connection


def test_the_authorization_url_asks_for_the_product_scopes() -> None:
    oauth_url = vendor_url(PROVIDER, "oauth")
    url = oauth.authorization_url(
        PROVIDER, state="s1", redirect_uri=REDIRECT_URI, oauth_url=oauth_url
    )
    query = {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}

    assert url.startswith(oauth_url + "/oauth2/auth?")
    assert query == {
        "client_id": oauth.client_credentials(PROVIDER)[0],
        "redirect_uri": REDIRECT_URI,
        "response_type": "code",
        "scope": "offline_access organization.read client.read client.write "
        "client_invoice.write client_invoices.read webhook",
        "state": "s1",
    }


@pytest.mark.django_db
def test_the_code_flow_gives_a_working_connection(
    vendor: RunningSandbox, sandbox: QontoSandbox
) -> None:
    connection = _oauth_connection(vendor)
    connector = QontoConnector(connection=connection, base_url=vendor.url, oauth_url=vendor.url)

    assert connector.verify().name == ORGANIZATION_NAME
    assert sandbox.api_calls(path_prefix="/v2/")[-1].credential == f"oauth:{LOGIN}"
    with pytest.raises(errors.ReconnectRequired) as caught:  # a code is good for one exchange
        oauth.exchange_code(
            PROVIDER, code="ory_ac_made-up", redirect_uri=REDIRECT_URI, oauth_url=vendor.url
        )
    assert caught.value.vendor_message == "The authorization code is invalid or expired"


@pytest.mark.django_db
def test_an_expired_token_is_refreshed_and_the_new_refresh_token_stored(
    vendor: RunningSandbox, sandbox: QontoSandbox
) -> None:
    connection = _oauth_connection(vendor)
    first_refresh = connection.credentials["refresh_token"]
    connection.credentials = {**connection.credentials, "expires_at": time.time() - 10}
    connection.save()
    connector = QontoConnector(connection=connection, base_url=vendor.url, oauth_url=vendor.url)

    connector.verify()

    stored = Connection.objects.get(pk=connection.pk).credentials
    assert stored["refresh_token"] not in ("", first_refresh)
    assert stored["expires_at"] > time.time() + 3000
    assert sandbox.refresh_tokens[first_refresh].used_at is not None  # spent, in its grace
    assert sandbox.refresh_tokens[stored["refresh_token"]].used_at is None
    assert connector.client.calls == 1  # the refresh went to the token endpoint first
    token_calls = sandbox.api_calls(path_prefix="/oauth2/token")
    assert [c.status for c in token_calls] == [200, 200]  # code exchange, then the refresh
    assert token_calls[-1].request_body["grant_type"] == "refresh_token"


@pytest.mark.django_db
def test_a_token_refused_before_its_expiry_is_refreshed_once_and_the_call_repeated(
    vendor: RunningSandbox,
) -> None:
    connection = _oauth_connection(vendor)
    connection.credentials = {**connection.credentials, "access_token": "ory_at_revoked"}
    connection.save()
    connector = QontoConnector(connection=connection, base_url=vendor.url, oauth_url=vendor.url)

    connector.verify()

    assert connector.client.calls == 2  # 401, then the same call with the new token
    assert Connection.objects.get(pk=connection.pk).credentials["access_token"] != "ory_at_revoked"


@pytest.mark.django_db
def test_a_token_refused_again_after_the_refresh_is_not_refreshed_a_second_time(
    vendor: RunningSandbox, sandbox: QontoSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = _oauth_connection(vendor)
    connection.credentials = {**connection.credentials, "access_token": "ory_at_revoked"}
    connection.save()
    refreshes: list[str] = []

    def refused_again(provider: Any, refresh_token: str, *, oauth_url: str) -> TokenSet:
        refreshes.append(refresh_token)
        return TokenSet(access_token="ory_at_also_revoked", refresh_token="", expires_in=3600)

    monkeypatch.setattr(oauth, "refresh", refused_again)
    connector = QontoConnector(connection=connection, base_url=vendor.url, oauth_url=vendor.url)

    with pytest.raises(errors.AuthorizationExpired) as caught:
        connector.verify()

    # Refreshed once, sent twice; a refusal of the new token is no reason to ask the customer
    # to connect again (it may be revoked by mistake or the clocks disagree).
    assert not isinstance(caught.value, errors.ReconnectRequired)
    assert caught.value.status == 401
    assert len(refreshes) == 1
    assert [c.status for c in sandbox.api_calls(path_prefix="/v2/")] == [401, 401]
    assert Connection.objects.get(pk=connection.pk).status != Connection.Status.NEEDS_RECONNECT


@pytest.mark.django_db
def test_a_token_that_expires_while_the_connector_lives_is_refreshed_before_the_next_call(
    vendor: RunningSandbox, sandbox: QontoSandbox
) -> None:
    connection = _oauth_connection(vendor)
    connector = QontoConnector(connection=connection, base_url=vendor.url, oauth_url=vendor.url)
    connector.verify()
    # An hour later the token has run out, at Qonto and by what the connection stored.
    token = connection.credentials["access_token"]
    sandbox.access_tokens[token].expires_at = time.time() - 1
    connection.credentials = {**connection.credentials, "expires_at": time.time() - 10}
    connection.save()

    connector.verify()

    # Refreshed before the call, not after a 401: Qonto throttles after 200 refusals.
    assert [c.status for c in sandbox.api_calls(path_prefix="/v2/")] == [200, 200]
    assert Connection.objects.get(pk=connection.pk).credentials["access_token"] != token


@pytest.mark.django_db
def test_a_refused_refresh_token_marks_the_connection_for_reconnecting(
    vendor: RunningSandbox, sandbox: QontoSandbox
) -> None:
    connection = _oauth_connection(vendor)
    connection.credentials = {
        **connection.credentials,
        "refresh_token": "ory_rt_unknown",
        "expires_at": time.time() - 10,
    }
    connection.save()
    connector = QontoConnector(connection=connection, base_url=vendor.url, oauth_url=vendor.url)

    with pytest.raises(errors.ReconnectRequired) as caught:
        connector.verify()

    assert (
        caught.value.vendor_message == _fixture("token-invalid-grant-400.json")["error_description"]
    )
    assert "ory_rt_unknown" not in str(caught.value)
    assert Connection.objects.get(pk=connection.pk).status == Connection.Status.NEEDS_RECONNECT
    # The refresh failed before the call was sent: nothing reached the API. (The client's
    # counter cannot tell: it counts a call before asking for its headers.)
    assert sandbox.api_calls(path_prefix="/v2/") == []


# -- clients ----------------------------------------------------------------------------------


def test_a_company_client_is_created_and_found_by_email_and_exact_name(
    connector: QontoConnector, sandbox: QontoSandbox
) -> None:
    created = connector.create_customer(_company())

    call = sandbox.api_calls(path_prefix="/v2/clients")[-1]
    assert (call.method, call.status) == ("POST", 200)
    assert call.request_body == _fixture("client-company.request.json")
    # Look-alikes: a longer name that contains it, and a person whose name contains it.
    connector.create_customer(_company("Muster & Partner GmbH Niederlassung Köln", "9002"))
    connector.create_customer(_person("Muster &", "Partner GmbH"))

    assert (
        connector.find_customer_by_email(_company_by_email(" INFO@muster-partner.example "))
        == created
    )
    assert connector.find_customer_by_name(_company("muster &  partner gmbh")) == created
    assert connector.find_customer_by_name(_company("Muster & Partner")) is None
    assert (
        connector.find_customer_by_email(_company_by_email("nobody@muster-partner.example")) is None
    )
    calls = connector.client.calls
    assert connector.find_customer_by_email(_company_by_email("")) is None
    assert connector.find_customer_by_name(_company("M")) is None  # below the filter's minimum
    assert connector.client.calls == calls
    queries = [c.path for c in sandbox.api_calls(path_prefix="/v2/clients") if c.method == "GET"]
    assert len(queries) == 4


def test_an_individual_client_is_found_by_first_and_last_name(
    connector: QontoConnector, sandbox: QontoSandbox
) -> None:
    jonas = connector.create_customer(_person("Jonas", "Schmid"))
    connector.create_customer(_person("Jana", "Schmid"))

    sent = sandbox.api_calls(path_prefix="/v2/clients")[0].request_body
    assert sent == {
        "kind": "individual",
        "first_name": "Jonas",
        "last_name": "Schmid",
        "email": "jonas.schmid@example.fr",
        "billing_address": {
            "street_address": "Rue de Rivoli 1",
            "city": "Paris",
            "zip_code": "75001",
            "country_code": "FR",
        },
        "currency": "EUR",
        "locale": "FR",
    }
    assert connector.find_customer_by_name(_person("jonas", "SCHMID")) == jonas
    assert connector.find_customer_by_name(_person("Jan", "Schmid")) is None
    assert connector.find_customer_by_email(_person_by_email("Jonas.Schmid@example.fr")) == jonas
    assert connector.get_customer(jonas.vendor_id) == jonas
    assert connector.get_customer(str(uuid.uuid4())) is None
    calls = connector.client.calls
    assert connector.get_customer("not-a-qonto-id") is None
    assert connector.client.calls == calls


def test_a_person_without_first_name_still_gets_the_two_names_qonto_requires(
    connector: QontoConnector, sandbox: QontoSandbox
) -> None:
    created = connector.create_customer(_person("", "Lefèvre"))

    sent = sandbox.api_calls(path_prefix="/v2/clients")[-1].request_body
    assert (sent["first_name"], sent["last_name"]) == ("-", "Lefèvre")
    assert connector.find_customer_by_name(_person("", "Lefèvre")) == created


def test_a_repeated_create_with_the_same_hubspot_id_gets_the_first_client(
    connector: QontoConnector, sandbox: QontoSandbox
) -> None:
    first = connector.create_customer(_company())
    again = connector.create_customer(_company())

    assert again == first
    assert len(_organization(sandbox).clients) == 1
    assert [c.status for c in sandbox.api_calls(path_prefix="/v2/clients")] == [200, 200]
    other = connector.create_customer(_company(hubspot_id="9002"))
    assert other != first


def test_a_client_is_not_updated_because_qonto_has_no_update(connector: QontoConnector) -> None:
    ref = CustomerRef(vendor_id=str(uuid.uuid4()))
    assert connector.update_customer(ref, _company()) is ref
    assert connector.client.calls == 0


# -- quotes -----------------------------------------------------------------------------------


def test_a_quote_with_three_items_is_created_and_read_back(
    connector: QontoConnector, sandbox: QontoSandbox, vendor: RunningSandbox
) -> None:
    customer = connector.create_customer(_company())

    created = connector.create_quote(_quote(customer.vendor_id))

    call = sandbox.api_calls(path_prefix="/v2/quotes")[-1]
    assert (call.method, call.status) == ("POST", 201)
    assert call.request_body == _fixture("quote-three-items.request.json") | {
        "client_id": customer.vendor_id
    }
    assert created.number == "HS-4711"
    assert created.url == f"https://portal.qonto.com/quotes/{created.vendor_id}"
    read = requests.get(
        f"{vendor.url}/v2/quotes/{created.vendor_id}",
        headers={"Authorization": f"{LOGIN}:{SECRET_KEY}"},
        timeout=5,
    ).json()
    assert read["status"] == "pending_approval"  # Qonto quotes have no draft state
    assert read["client"]["id"] == customer.vendor_id
    titles = [i["title"] for i in read["items"]]
    assert titles == ["Beratung Einführung", "Fachbuch", "Export-Lizenz"]
    assert [i["subtotal"]["value"] for i in read["items"]] == ["1500.00", "119.70", "1798.43"]
    # 1500 * 19 % + 119.70 * 7 %: the percent scale of the quote examples.
    assert read["vat_amount"]["value"] == "293.38"
    assert read["total_amount"]["value"] == "3711.50"
    assert read["header"].endswith(REFERENCE)


def test_a_quote_lost_after_commit_is_retried_once_and_exists_once(
    connector: QontoConnector, sandbox: QontoSandbox
) -> None:
    customer = connector.create_customer(_company())
    sandbox.faults.drop_after_commit_rate = 1.0

    created = connector.create_quote(_quote(customer.vendor_id))

    sandbox.faults.drop_after_commit_rate = 0.0
    assert connector.client.calls == 3  # the client; the quote, dropped; the quote again
    posts = [c for c in sandbox.api_calls(path_prefix="/v2/quotes") if c.method == "POST"]
    # The sandbox logs the dropped call twice (0, then the 500 nobody received).
    assert (posts[0].status, posts[-1].status) == (0, 201)  # dropped, then the stored answer
    quotes = list(_organization(sandbox).quotes.values())
    assert [q["id"] for q in quotes] == [created.vendor_id]
    assert created.number == "HS-4711"
    key = _key(connector, f"quote:{REFERENCE}")
    assert (_organization(sandbox).id, key) in sandbox.idempotent_answers

    # The transfer's reconciliation finds it, narrowed to the customer or not.
    assert connector.find_quote(REFERENCE, customer_id=customer.vendor_id) == created
    assert connector.find_quote(REFERENCE) == created
    assert connector.find_quote(REFERENCE, customer_id=str(uuid.uuid4())) is None
    assert connector.find_quote("HubSpot-Deal 123-4712") is None
    # A later repeat with the same reference gets the same quote back, not a second one.
    assert connector.create_quote(_quote(customer.vendor_id)) == created
    assert len(_organization(sandbox).quotes) == 1


def test_without_the_stored_key_the_taken_number_leads_to_the_existing_quote(
    connector: QontoConnector, sandbox: QontoSandbox
) -> None:
    customer = connector.create_customer(_company())
    created = connector.create_quote(_quote(customer.vendor_id))
    sandbox.idempotency_ttl = 0  # the key is forgotten (Qonto keeps it 30 minutes)

    again = connector.create_quote(_quote(customer.vendor_id))

    assert again == created
    statuses = [c.status for c in sandbox.api_calls(path_prefix="/v2/quotes")]
    assert statuses == [201, 409, 200]  # create, number taken, found in the list
    assert len(_organization(sandbox).quotes) == 1


def test_find_quote_pages_through_the_newest_quotes(
    connector: QontoConnector, sandbox: QontoSandbox
) -> None:
    customer = connector.create_customer(_company())
    created = connector.create_quote(_quote(customer.vendor_id))
    organization = _organization(sandbox)
    template = organization.quotes[created.vendor_id]
    with sandbox.lock:
        for n in range(150):  # newer quotes of other deals, straight into the sandbox
            other = copy.deepcopy(template) | {"id": str(uuid.uuid4()), "number": f"Q-{n}"}
            other["header"] = f"Deal {n}"
            organization.quotes[other["id"]] = other

    assert connector.find_quote(REFERENCE) == created

    listing = [c for c in sandbox.api_calls(path_prefix="/v2/quotes") if c.method == "GET"]
    assert len(listing) == 2  # 100 newest, then the rest


def test_a_refused_quote_fails_once_with_qontos_words(
    connector: QontoConnector, sandbox: QontoSandbox
) -> None:
    with pytest.raises(errors.PermanentError) as caught:
        connector.create_quote(_quote(str(uuid.uuid4())))  # a client Qonto does not know

    assert not isinstance(caught.value, errors.NotFound | errors.Conflict)
    assert caught.value.status == 422
    assert caught.value.vendor_message == "client_id is invalid"
    assert connector.client.calls == 1  # a validation error is not retried
    assert sandbox.organization_by_slug(LOGIN).quotes == {}


def test_a_long_title_is_cut_in_the_header_but_keeps_the_reference() -> None:
    quote = _quote(str(uuid.uuid4()), title="Lager " * 300, introduction="")
    header = mapping.header(quote)
    assert len(header) == mapping.HEADER_MAX
    assert header.endswith(f"…\n{REFERENCE}")


def test_quote_numbers_are_short_and_stable() -> None:
    assert mapping.quote_number("HubSpot-Deal 123-4711") == "HS-4711"
    assert mapping.quote_number("hubspot-deal-4711-123") == "HS-hubspot-deal-4711-123"
    long = mapping.quote_number("x" * 80)
    assert long.startswith("HS-")
    assert len(long) == 40
    assert long == mapping.quote_number("x" * 80)


# -- invoices ---------------------------------------------------------------------------------


def test_a_draft_invoice_is_created_into_the_main_account(
    connector: QontoConnector, sandbox: QontoSandbox
) -> None:
    customer = connector.create_customer(_company())
    calls = connector.client.calls

    created = connector.create_invoice(_quote(customer.vendor_id))

    assert connector.client.calls == calls + 2  # the IBAN, then the invoice
    sent = sandbox.api_calls(path_prefix="/v2/client_invoices")[-1].request_body
    assert sent["status"] == "draft"
    assert sent["payment_methods"] == {"iban": DEMO_IBAN}
    assert (sent["issue_date"], sent["due_date"]) == ("2026-07-01", "2026-07-31")
    # The fraction scale of the invoice examples, for VAT and discount alike.
    assert [i["vat_rate"] for i in sent["items"]] == ["0.19", "0.07", "0"]
    assert sent["items"][2]["discount"] == {"type": "percentage", "value": "0.1"}
    invoice = _organization(sandbox).invoices[created.vendor_id]
    assert invoice["status"] == "draft"
    assert invoice["vat_amount"]["value"] == "293.38"
    assert created.url == invoice["invoice_url"]

    connector.create_invoice(_quote(customer.vendor_id, reference="HubSpot-Deal 123-4712"))
    assert connector.client.calls == calls + 3  # the IBAN is known now


def test_an_invoice_in_another_currency_is_refused_without_a_call(
    connector: QontoConnector,
) -> None:
    with pytest.raises(errors.UnsupportedByVendor):
        connector.create_invoice(_quote(str(uuid.uuid4()), currency="CHF"))
    assert connector.client.calls == 0


# -- errors -----------------------------------------------------------------------------------


def test_read_error_joins_the_details_of_every_error_object() -> None:
    response = requests.Response()
    response.status_code = 422
    response._content = json.dumps(_fixture("validation-error-422.json")).encode()

    assert (
        mapping.read_error(response) == "client_id is invalid; currency is missing for this client"
    )

    response._content = json.dumps(_fixture("token-invalid-grant-400.json")).encode()
    assert mapping.read_error(response) == "The refresh token is invalid or expired"
    response._content = b"<html>login</html>"
    assert mapping.read_error(response) == "<html>login</html>"


def test_the_connectors_calls_are_checked_against_the_spec(
    connector: QontoConnector, server: RunningSandbox
) -> None:
    """The contract checker really looks at the connector's traffic and finds it valid."""
    contract = server.sandbox.contract
    assert contract is not None
    before = contract.checked
    connector.verify()
    connector.find_customer_by_email(_person_by_email("nobody@example.com"))
    assert contract.checked >= before + 2
    assert contract.violations == []


def test_client_and_quote_bodies_are_mapped_without_a_call() -> None:
    assert mapping.client_body(_company()) == _fixture("client-company.request.json")
    client_id = "0b7bd8f4-4b7c-4a4e-9d4e-0f6a4f4f2a11"
    body = mapping.quote_body(_quote(client_id), terms_and_conditions=mapping.DEFAULT_TERMS)
    assert body == _fixture("quote-three-items.request.json") | {"client_id": client_id}
