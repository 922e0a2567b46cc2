"""The Qonto sandbox over real HTTP: both auth schemes, clients, quotes, invoices, idempotency,
the JSON:API errors, the per-IP limits, every fault switch, and the contract with the spec."""

from __future__ import annotations

import copy
import datetime as dt
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from sandbox.core import Faults, RunningSandbox, running
from sandbox.qonto.app import DEMO_IBAN, QontoSandbox

pytestmark = pytest.mark.filterwarnings(
    # openapi-core cannot check the spec's oauth2 security scheme and says so on every call.
    "ignore:Unsupported scheme type:UserWarning"
)

FIXTURES = Path(__file__).parent / "fixtures" / "qonto"
CLIENT_ID = "apiup-sandbox-client"
CLIENT_SECRET = "apiup-sandbox-secret"
SECRET_KEYS = {"acme-corp": "acme-secret-key", "numbered": "numbered-key", "milano": "milano-key"}
REDIRECT_URI = "https://app.apiup.example/connect/qonto/callback"


TIMEOUT = 10


def get(url: str, **kwargs: Any) -> requests.Response:
    return requests.get(url, timeout=TIMEOUT, **kwargs)


def post(url: str, **kwargs: Any) -> requests.Response:
    return requests.post(url, timeout=TIMEOUT, **kwargs)


def fixture(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return payload


def api_key(slug: str = "acme-corp", secret_key: str = "") -> dict[str, str]:
    return {"Authorization": f"{slug}:{secret_key or SECRET_KEYS[slug]}"}


def assert_json_api_error(response: requests.Response, status: int) -> list[dict[str, Any]]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"errors", "trace_id"}
    assert body["trace_id"] == response.headers["X-Tyk-Trace-Id"]
    assert body["errors"]
    errors: list[dict[str, Any]] = body["errors"]
    return errors


@pytest.fixture(scope="module")
def qonto() -> Iterator[RunningSandbox]:
    sandbox = QontoSandbox(contract=True)
    sandbox.add_organization(
        slug="acme-corp", secret_key="acme-secret-key", name="Acme Corp", iban=DEMO_IBAN
    )
    sandbox.add_organization(
        slug="numbered",
        secret_key="numbered-key",
        name="Numbered",
        iban=DEMO_IBAN,
        automatic_numbering=True,
    )
    sandbox.add_organization(
        slug="milano",
        secret_key="milano-key",
        name="Milano Srl",
        iban="IT60X0542811101000000123456",
        legal_country="IT",
    )
    with running(sandbox) as handle:
        yield handle


@pytest.fixture(autouse=True)
def no_faults(qonto: RunningSandbox) -> Iterator[None]:
    yield
    qonto.sandbox.faults = Faults()


def qonto_of(handle: RunningSandbox) -> QontoSandbox:
    assert isinstance(handle.sandbox, QontoSandbox)
    return handle.sandbox


def create_client(url: str, body: dict[str, Any], **headers: str) -> dict[str, Any]:
    response = post(f"{url}/v2/clients", json=body, headers=headers or api_key())
    assert response.status_code == 200, response.text
    client: dict[str, Any] = response.json()["client"]
    return client


def quote_body(client_id: str, **changes: Any) -> dict[str, Any]:
    body = fixture("quote.json") | {"client_id": client_id}
    return body | changes


# -- auth -----------------------------------------------------------------------------------


def test_api_key_is_login_colon_secret_key(qonto: RunningSandbox) -> None:
    response = get(f"{qonto.url}/v2/organization", headers=api_key())
    assert response.status_code == 200
    organization = response.json()["organization"]
    assert organization["slug"] == "acme-corp"
    assert organization["bank_accounts"][0]["iban"] == DEMO_IBAN

    import base64

    basic = base64.b64encode(b"acme-corp:acme-secret-key").decode()
    for header in (f"Basic {basic}", "acme-corp:wrong-key", "acme-corp", ""):
        refused = get(f"{qonto.url}/v2/organization", headers={"Authorization": header})
        errors = assert_json_api_error(refused, 401)
        assert errors[0]["code"] == "unauthorized"


def _consent(url: str, session: requests.Session, scope: str, decision: str) -> dict[str, str]:
    params = {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "response_type": "code",
        "scope": scope,
        "state": "state-1234",
    }
    page = session.get(f"{url}/oauth2/auth", params=params)
    assert page.status_code == 200
    assert "text/html" in page.headers["Content-Type"]
    assert all(f"<li>{name}</li>" in page.text for name in scope.split())
    answer = session.post(
        f"{url}/oauth2/auth",
        data=params | {"decision": decision, "organization_id": _first_org_id(page.text)},
        allow_redirects=False,
    )
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?")
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def _first_org_id(page: str) -> str:
    return page.split("<option value='", 1)[1].split("'", 1)[0]


def _token(url: str, **form: str) -> requests.Response:
    return post(
        f"{url}/oauth2/token",
        data={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET} | form,
    )


def test_oauth_code_flow_with_refresh_and_grace_period() -> None:
    sandbox = QontoSandbox(
        contract=True,
        access_token_lifetime=1.2,
        authorization_code_lifetime=1.0,
        refresh_grace_period=0.4,
    )
    with running(sandbox) as handle:
        url, session = handle.url, requests.Session()
        denied = _consent(url, session, "client.read", "deny")
        assert denied == {
            "error": "access_denied",
            "error_description": "The resource owner denied the request",
            "state": "state-1234",
        }

        granted = _consent(url, session, "offline_access organization.read client.read", "approve")
        assert granted["state"] == "state-1234"
        exchange = {"grant_type": "authorization_code", "code": granted["code"]}
        wrong_redirect = _token(url, **exchange, redirect_uri="https://evil.example/")
        assert wrong_redirect.status_code == 400
        assert wrong_redirect.json()["error"] == "invalid_grant"
        tokens = _token(url, **exchange, redirect_uri=REDIRECT_URI)
        assert tokens.status_code == 200, tokens.text
        first = tokens.json()
        assert first["expires_in"] == 1
        assert first["token_type"] == "bearer"
        assert first["scope"] == "offline_access organization.read client.read"
        issued_at = time.monotonic()
        # A code is single use.
        again = _token(url, **exchange, redirect_uri=REDIRECT_URI)
        assert again.json() == {
            "error": "invalid_grant",
            "error_description": "The authorization code is invalid or expired",
        }

        bearer = {"Authorization": f"Bearer {first['access_token']}"}
        assert get(f"{url}/v2/clients", headers=bearer).status_code == 200
        # The token carries the consented scopes only.
        forbidden = post(f"{url}/v2/clients", headers=bearer, json={})
        assert assert_json_api_error(forbidden, 403)[0]["detail"] == "Missing scope client.write"

        refresh = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
        second = _token(url, **refresh)
        assert second.status_code == 200
        assert second.json()["refresh_token"] != first["refresh_token"]
        # The used refresh token still works during the grace period, then never again.
        assert _token(url, **refresh).status_code == 200
        time.sleep(0.5)
        expired = _token(url, **refresh)
        assert expired.status_code == 400
        assert expired.json()["error"] == "invalid_grant"
        latest = _token(
            url, grant_type="refresh_token", refresh_token=second.json()["refresh_token"]
        )
        assert latest.status_code == 200

        # Without offline_access there is no refresh token; a code expires after its lifetime.
        online = _consent(url, session, "client.read", "approve")
        online_tokens = _token(
            url, grant_type="authorization_code", code=online["code"], redirect_uri=REDIRECT_URI
        )
        assert "refresh_token" not in online_tokens.json()
        late = _consent(url, session, "client.read", "approve")
        time.sleep(max(0.0, 1.25 - (time.monotonic() - issued_at)))
        # The first access token has expired by now (1.2 s).
        assert get(f"{url}/v2/clients", headers=bearer).status_code == 401
        time.sleep(1.05)
        stale = _token(
            url, grant_type="authorization_code", code=late["code"], redirect_uri=REDIRECT_URI
        )
        assert stale.json()["error"] == "invalid_grant"

        assert sandbox.contract is not None
        assert sandbox.contract.violations == []


def test_token_endpoint_refuses_bad_clients_and_grants(qonto: RunningSandbox) -> None:
    wrong_secret = post(
        f"{qonto.url}/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": "x",
            "client_id": CLIENT_ID,
            "client_secret": "nope",
        },
    )
    assert wrong_secret.status_code == 401
    assert wrong_secret.json()["error"] == "invalid_client"
    password = _token(qonto.url, grant_type="password", username="a", password="b")
    assert password.status_code == 400
    assert password.json()["error"] == "unsupported_grant_type"
    no_code = _token(qonto.url, grant_type="authorization_code", redirect_uri=REDIRECT_URI)
    assert no_code.json() == {
        "error": "invalid_request",
        "error_description": "The parameter code is missing",
    }
    # The spec step refuses these before the client's secret is even looked at.
    no_secret = post(f"{qonto.url}/oauth2/token", data={"grant_type": "refresh_token"})
    assert no_secret.status_code == 400
    assert no_secret.json()["error"] == "invalid_request"
    as_json = post(f"{qonto.url}/oauth2/token", json={"grant_type": "refresh_token"})
    assert as_json.status_code == 400
    assert as_json.json()["error"] == "invalid_request"


def test_consent_page_refuses_unknown_redirect_without_redirecting() -> None:
    sandbox = QontoSandbox()
    sandbox.add_oauth_client(
        client_id="strict", client_secret="s", redirect_uris=("https://ok.example/cb",)
    )
    with running(sandbox) as handle:
        page = get(
            f"{handle.url}/oauth2/auth",
            params={"client_id": "strict", "redirect_uri": "https://evil.example/cb"},
            allow_redirects=False,
        )
        assert page.status_code == 400
        assert "redirect_uri is not registered" in page.text


# -- clients --------------------------------------------------------------------------------


def test_clients_are_created_by_kind_and_found_by_email_and_name(qonto: RunningSandbox) -> None:
    company = create_client(qonto.url, fixture("client-company.json"))
    assert company["kind"] == company["type"] == "company"
    assert company["name"] == "Acme SAS"
    individual = create_client(qonto.url, fixture("client-individual.json"))
    # `type` alone is the alias of `kind`; a person's name is "first_name last_name".
    assert individual["kind"] == "individual"
    assert individual["name"] == "Jöhn Doe"

    def search(**params: str) -> list[str]:
        response = get(f"{qonto.url}/v2/clients", headers=api_key(), params=params)
        assert response.status_code == 200, response.text
        return [client["id"] for client in response.json()["clients"]]

    assert search(**{"filter[email]": "BILLING@acme.example"}) == [company["id"]]
    assert search(**{"filter[email]": "billing@acme"}) == []  # email is an exact match
    assert search(**{"filter[name]": "acme"}) == [company["id"]]  # name is partial
    assert search(**{"filter[name]": "john d"}) == [individual["id"]]  # and accent-free
    assert search(**{"filter[vat_number]": "fr32123456789"}) == [company["id"]]
    assert search(**{"filter[tax_identification_number]": "12345678900012"}) == [company["id"]]

    read = get(f"{qonto.url}/v2/clients/{company['id']}", headers=api_key())
    assert read.json() == {"client": company}
    # Another organization does not see them.
    other = get(f"{qonto.url}/v2/clients/{company['id']}", headers=api_key("numbered"))
    assert assert_json_api_error(other, 404)[0]["code"] == "not_found"


def test_client_list_pages(qonto: RunningSandbox) -> None:
    for number in range(3):
        create_client(
            qonto.url,
            {"kind": "company", "name": f"Paged {number}"},
            **api_key("milano"),
        )
    response = get(
        f"{qonto.url}/v2/clients",
        headers=api_key("milano"),
        params={"per_page": 2, "page": 2, "sort_by": "name:desc"},
    )
    body = response.json()
    assert [c["name"] for c in body["clients"]] == ["Paged 0"]
    assert body["meta"] == {
        "current_page": 2,
        "next_page": None,
        "prev_page": 1,
        "total_pages": 2,
        "total_count": 3,
        "per_page": 2,
    }


BAD = "invalid_format"


@pytest.mark.parametrize(
    ("body", "pointer", "code"),
    [
        ({"kind": "company", "email": "a@b.example"}, "/name", "invalid_format"),
        ({"kind": "company", "name": "x" * 251}, "/name", "invalid_format"),
        ({"kind": "individual", "first_name": "Ann"}, "/last_name", "invalid_format"),
        ({"type": "individual", "first_name": "A", "last_name": "x" * 61}, "/last_name", BAD),
        ({"name": "No kind"}, "/kind", "invalid_format"),
        ({"kind": "association", "name": "Club"}, "/kind", "not_in_list"),
        ({"kind": "company", "name": "Bad", "email": "not-an-email"}, "/email", BAD),
        ({"kind": "company", "name": "Bad", "vat_number": "x" * 21}, "/vat_number", BAD),
        # Freelancers are for Italian organizations only; acme-corp is French.
        ({"kind": "freelancer", "first_name": "A", "last_name": "B"}, "/kind", "not_in_list"),
    ],
)
def test_invalid_clients_are_refused_in_json_api_form(
    qonto: RunningSandbox, body: dict[str, Any], pointer: str, code: str
) -> None:
    response = post(f"{qonto.url}/v2/clients", json=body, headers=api_key())
    errors = assert_json_api_error(response, 422)
    assert errors[0]["source"] == {"pointer": pointer}
    assert errors[0]["code"] == code


def test_spec_refusals_store_nothing(qonto: RunningSandbox) -> None:
    clients = len(qonto_of(qonto).organization_by_slug("acme-corp").clients)
    body = {"kind": "company", "name": "Bad", "extra_emails": ["nope"], "city": 5}
    errors = assert_json_api_error(
        post(f"{qonto.url}/v2/clients", json=body, headers=api_key()), 422
    )
    assert {e["source"]["pointer"] for e in errors} == {"/extra_emails/0", "/city"}
    empty = post(f"{qonto.url}/v2/clients", json={"kind": "company", "name": ""}, headers=api_key())
    assert assert_json_api_error(empty, 422)[0]["source"] == {"pointer": "/name"}
    assert len(qonto_of(qonto).organization_by_slug("acme-corp").clients) == clients


def test_freelancers_are_for_italian_organizations(qonto: RunningSandbox) -> None:
    body = {"kind": "freelancer", "first_name": "Giulia", "last_name": "Rossi"}
    client = create_client(qonto.url, body, **api_key("milano"))
    assert client["kind"] == "freelancer"


def test_client_list_parameters_are_validated(qonto: RunningSandbox) -> None:
    short = get(f"{qonto.url}/v2/clients", headers=api_key(), params={"filter[name]": "a"})
    assert assert_json_api_error(short, 422)[0]["source"] == {"parameter": "filter[name]"}
    too_many = get(f"{qonto.url}/v2/clients", headers=api_key(), params={"per_page": 101})
    assert assert_json_api_error(too_many, 422)[0]["source"] == {"parameter": "per_page"}


def test_kind_wins_over_type() -> None:
    # The derived spec rejects a body whose kind and type disagree; the docs say kind wins,
    # and the spec step checks the body as Qonto reads it.
    with running(QontoSandbox()) as handle:
        body = {"kind": "company", "type": "individual", "name": "Both SAS"}
        client = create_client(
            handle.url, body, Authorization="apiup-demo:apiup-sandbox-secret-key"
        )
        assert client["kind"] == "company"


# -- quotes ---------------------------------------------------------------------------------


def test_quote_with_three_items_is_created_and_read_back(qonto: RunningSandbox) -> None:
    client = create_client(qonto.url, fixture("client-company.json"))
    response = post(
        f"{qonto.url}/v2/quotes",
        json=quote_body(client["id"], number="Q-3-ITEMS"),
        headers=api_key(),
    )
    assert response.status_code == 201, response.text
    quote = response.json()
    assert "quote" not in quote  # the quote is at the top level
    assert quote["status"] == "pending_approval"
    assert quote["number"] == "Q-3-ITEMS"
    assert [item["title"] for item in quote["items"]] == [
        "Consulting services",
        "Training",
        "Licence",
    ]
    # 250 + 720 (10 % off 800) + 59.97 net; VAT 50 + 144 + 3.30 (5.5 %).
    assert quote["items"][1]["subtotal"] == {"value": "720.00", "currency": "EUR"}
    assert quote["vat_amount"] == {"value": "197.30", "currency": "EUR"}
    assert quote["total_amount"] == {"value": "1227.27", "currency": "EUR"}
    assert quote["total_amount_cents"] == 122727
    assert quote["client"]["id"] == client["id"]

    read = get(f"{qonto.url}/v2/quotes/{quote['id']}", headers=api_key())
    assert read.status_code == 200
    assert read.json() == quote
    pending = get(
        f"{qonto.url}/v2/quotes", headers=api_key(), params={"filter[status]": "pending_approval"}
    ).json()
    assert quote["id"] in [q["id"] for q in pending["quotes"]]
    approved = get(
        f"{qonto.url}/v2/quotes", headers=api_key(), params={"filter[status]": "approved"}
    ).json()
    assert approved["quotes"] == []
    assert approved["meta"]["total_count"] == 0
    future = get(
        f"{qonto.url}/v2/quotes",
        headers=api_key(),
        params={"filter[created_at_from]": "2999-01-01T00:00:00Z"},
    ).json()
    assert future["quotes"] == []


def test_invalid_quotes_are_refused_in_json_api_form(qonto: RunningSandbox) -> None:
    client = create_client(qonto.url, fixture("client-company.json"))
    body = quote_body(client["id"], items=[], terms_and_conditions="x" * 3001)
    del body["number"], body["issue_date"]
    response = post(f"{qonto.url}/v2/quotes", json=body, headers=api_key())
    errors = assert_json_api_error(response, 422)
    # Refused by the spec step: the fields the spec declares.
    assert {e["source"]["pointer"] for e in errors} == {
        "/issue_date",
        "/terms_and_conditions",
        "/items",
    }
    # Automatic numbering is off by default, so the number is required (not in the spec).
    unnumbered = quote_body(client["id"])
    del unnumbered["number"]
    response = post(f"{qonto.url}/v2/quotes", json=unnumbered, headers=api_key())
    assert assert_json_api_error(response, 422)[0]["source"] == {"pointer": "/number"}
    unknown_client = quote_body("3c90c3cc-0d44-4b50-8888-8dd25736052a")
    refused = post(f"{qonto.url}/v2/quotes", json=unknown_client, headers=api_key())
    assert assert_json_api_error(refused, 422)[0]["code"] == "invalid_client_id"
    no_price = quote_body(client["id"], number="Q-NO-PRICE")
    no_price["items"][0] = {"title": "Free?", "quantity": "1", "vat_rate": "20"}
    missing_price = post(f"{qonto.url}/v2/quotes", json=no_price, headers=api_key())
    errors = assert_json_api_error(missing_price, 422)
    assert errors[0]["source"] == {"pointer": "/items/0/unit_price"}
    bad_filter = get(
        f"{qonto.url}/v2/quotes", headers=api_key(), params={"filter[status]": "draft"}
    )
    errors = assert_json_api_error(bad_filter, 400)
    assert errors[0]["code"] == "not_in_list"
    assert errors[0]["source"] == {"parameter": "filter[status]"}


def test_quote_numbers_are_unique_or_automatic(qonto: RunningSandbox) -> None:
    client = create_client(qonto.url, fixture("client-company.json"))
    body = quote_body(client["id"], number="Q-DUP")
    assert post(f"{qonto.url}/v2/quotes", json=body, headers=api_key()).status_code == 201
    duplicate = post(f"{qonto.url}/v2/quotes", json=body, headers=api_key())
    assert assert_json_api_error(duplicate, 409)[0]["source"] == {"pointer": "/number"}

    numbered = api_key("numbered")
    own_client = create_client(qonto.url, fixture("client-company.json"), **numbered)
    automatic = quote_body(own_client["id"])
    del automatic["number"]
    response = post(f"{qonto.url}/v2/quotes", json=automatic, headers=numbered)
    assert response.status_code == 201
    assert response.json()["number"].startswith("Q-")


def test_idempotency_key_returns_the_first_answer(qonto: RunningSandbox) -> None:
    client = create_client(qonto.url, fixture("client-company.json"))
    key = {"X-Qonto-Idempotency-Key": "0b7c5d2e-6f0a-4b1e-9a3c-1d2e3f4a5b6c"}
    first = post(
        f"{qonto.url}/v2/quotes",
        json=quote_body(client["id"], number="Q-IDEM-1"),
        headers=api_key() | key,
    )
    # Same key, different body: the stored first answer, and no second quote.
    second = post(
        f"{qonto.url}/v2/quotes",
        json=quote_body(client["id"], number="Q-IDEM-2"),
        headers=api_key() | key,
    )
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    organization = qonto_of(qonto).organization_by_slug("acme-corp")
    numbers = [q["number"] for q in organization.quotes.values()]
    assert "Q-IDEM-1" in numbers
    assert "Q-IDEM-2" not in numbers


def test_idempotency_key_is_forgotten_after_its_ttl() -> None:
    sandbox = QontoSandbox(idempotency_ttl=0.3)
    with running(sandbox) as handle:
        headers = {
            "Authorization": "apiup-demo:apiup-sandbox-secret-key",
            "X-Qonto-Idempotency-Key": "k-1",
        }
        first = post(
            f"{handle.url}/v2/clients", json={"kind": "company", "name": "A"}, headers=headers
        )
        time.sleep(0.35)
        later = post(
            f"{handle.url}/v2/clients", json={"kind": "company", "name": "B"}, headers=headers
        )
        assert later.json()["client"]["id"] != first.json()["client"]["id"]


def test_racing_creates_with_one_idempotency_key_make_one_client() -> None:
    # The key is looked up and the answer kept under one lock: retries that race share a create.
    sandbox = QontoSandbox()
    headers = {
        "Authorization": "apiup-demo:apiup-sandbox-secret-key",
        "X-Qonto-Idempotency-Key": "raced",
    }

    def create(n: int) -> requests.Response:
        body = {"kind": "company", "name": f"Racer {n}"}
        return post(f"{handle.url}/v2/clients", json=body, headers=headers)

    with running(sandbox) as handle, ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(create, range(6)))
    assert {answer.status_code for answer in answers} == {200}
    assert len({answer.json()["client"]["id"] for answer in answers}) == 1
    assert len(sandbox.organization_by_slug("apiup-demo").clients) == 1


# -- client invoices ------------------------------------------------------------------------


def test_a_draft_invoice_has_its_totals_and_no_number(qonto: RunningSandbox) -> None:
    client = create_client(qonto.url, fixture("client-company.json"))
    body = fixture("client-invoice.json") | {"client_id": client["id"]}
    draft = post(f"{qonto.url}/v2/client_invoices", json=body, headers=api_key())
    assert draft.status_code == 200, draft.text
    invoice = draft.json()["client_invoice"]
    assert invoice["status"] == "draft"
    assert invoice["total_amount"] == {"value": "18.00", "currency": "EUR"}  # 15 + 20 % VAT
    assert "number" not in invoice


def test_invalid_invoices_are_refused(qonto: RunningSandbox) -> None:
    bare = create_client(qonto.url, {"kind": "company", "name": "No currency SARL"})
    body = fixture("client-invoice.json") | {"client_id": bare["id"]}
    response = post(f"{qonto.url}/v2/client_invoices", json=body, headers=api_key())
    errors = assert_json_api_error(response, 422)
    assert errors[0] == {
        "code": "invalid_format",
        "detail": "currency is missing for this client",
        "source": {"pointer": "/data/attributes/currency"},
    }
    client = create_client(qonto.url, fixture("client-company.json"))
    wrong = copy.deepcopy(fixture("client-invoice.json")) | {
        "client_id": client["id"],
        "currency": "USD",
        "payment_methods": {"iban": "DE89370400440532013000"},
    }
    del wrong["due_date"]
    wrong["items"][0].pop("vat_rate")
    response = post(f"{qonto.url}/v2/client_invoices", json=wrong, headers=api_key())
    # Refused by the spec step: the fields the spec declares.
    pointers = {e["source"]["pointer"] for e in assert_json_api_error(response, 422)}
    assert pointers == {"/due_date", "/currency", "/items/0/vat_rate"}
    # The IBAN must be one of the organization's accounts (not in the spec).
    foreign = fixture("client-invoice.json") | {
        "client_id": client["id"],
        "payment_methods": {"iban": "DE89370400440532013000"},
    }
    response = post(f"{qonto.url}/v2/client_invoices", json=foreign, headers=api_key())
    assert assert_json_api_error(response, 422)[0]["source"] == {"pointer": "/payment_methods/iban"}
    numbered = fixture("client-invoice.json") | {"client_id": client["id"], "number": "INV-X"}
    first = post(f"{qonto.url}/v2/client_invoices", json=numbered, headers=api_key())
    assert first.status_code == 200
    clash = post(f"{qonto.url}/v2/client_invoices", json=numbered, headers=api_key())
    assert assert_json_api_error(clash, 409)[0]["code"] == "invoice_number_already_exists"


def test_invoice_status_actions_follow_qontos_transitions(qonto: RunningSandbox) -> None:
    client = create_client(qonto.url, fixture("client-company.json"))
    body = fixture("client-invoice.json") | {"client_id": client["id"]}
    invoice_id = post(f"{qonto.url}/v2/client_invoices", json=body, headers=api_key()).json()[
        "client_invoice"
    ]["id"]
    url = f"{qonto.url}/v2/client_invoices/{invoice_id}"

    def act(action: str, **body: str) -> requests.Response:
        return post(f"{url}/{action}", json=body or None, headers=api_key())

    assert_json_api_error(act("mark_as_paid"), 422)  # a draft is finalized first
    finalized = act("finalize").json()["client_invoice"]
    assert finalized["status"] == "unpaid"
    assert finalized["number"].startswith("INV-")
    assert finalized["finalized_at"]
    assert_json_api_error(act("finalize"), 422)
    future = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    assert assert_json_api_error(act("mark_as_paid", paid_at=future), 422)[0]["source"] == {
        "pointer": "/paid_at"
    }
    paid = act("mark_as_paid", paid_at="2025-01-02").json()["client_invoice"]
    assert (paid["status"], paid["paid_at"][:10]) == ("paid", "2025-01-02")
    unpaid = act("unmark_as_paid").json()["client_invoice"]
    assert (unpaid["status"], unpaid["paid_at"]) == ("unpaid", None)
    assert act("mark_as_canceled").json()["client_invoice"]["status"] == "canceled"
    assert get(url, headers=api_key()).json()["client_invoice"]["status"] == "canceled"

    listed = get(
        f"{qonto.url}/v2/client_invoices",
        params={"filter[status]": "canceled,paid", "sort_by": "created_at:desc"},
        headers=api_key(),
    ).json()
    assert [i["id"] for i in listed["client_invoices"]] == [invoice_id]
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)).isoformat()
    unchanged = get(
        f"{qonto.url}/v2/client_invoices",
        params={"filter[updated_at_from]": later},
        headers=api_key(),
    ).json()
    assert unchanged["client_invoices"] == []
    assert unchanged["meta"]["total_count"] == 0


def test_webhook_subscriptions_keep_their_secret_and_answer_flat_errors(
    qonto: RunningSandbox,
) -> None:
    base = f"{qonto.url}/v2/webhook_subscriptions"
    body = {
        "callback_url": "https://connector.example.com/webhooks/qonto",
        "types": ["v1/client-invoices"],
        "secret": "a-long-random-secret",
        "description": "HubSpot connector",
    }
    created = post(base, json=body, headers=api_key())
    assert created.status_code == 201, created.text
    subscription = created.json()
    assert subscription["secret"] == "a-long-random-secret"
    url = f"{base}/{subscription['id']}"
    try:
        listed = get(base, headers=api_key()).json()
        assert [s["id"] for s in listed["subscriptions"]] == [subscription["id"]]
        assert "secret" not in listed["subscriptions"][0]
        assert get(base, headers=api_key("numbered")).json()["subscriptions"] == []
        changed = requests.put(
            url, json={"description": "renamed"}, headers=api_key(), timeout=TIMEOUT
        )
        assert changed.json()["description"] == "renamed"
        assert "secret" not in changed.json()
        missing = post(base, json={"types": ["v1/client-invoices"]}, headers=api_key())
        assert missing.status_code == 400
        assert missing.json() == {
            "code": "invalid_format",
            "detail": "callback_url is missing",
            "source": {"pointer": "/callback_url"},
        }
        unknown = post(base, json=body | {"types": ["v1/quotes"]}, headers=api_key())
        assert (unknown.status_code, unknown.json()["code"]) == (400, "not_in_list")
    finally:
        assert requests.delete(url, headers=api_key(), timeout=TIMEOUT).status_code == 204
    gone = get(url, headers=api_key())
    assert gone.status_code == 404
    assert gone.json()["code"] == "not_found"
    assert "errors" not in gone.json()


# -- limits ---------------------------------------------------------------------------------


def test_rate_limit_is_per_ip_across_credentials() -> None:
    sandbox = QontoSandbox(contract=True, burst_limit=3, burst_window=1.0)
    sandbox.add_organization(slug="other", secret_key="other-key", name="Other", iban=DEMO_IBAN)
    with running(sandbox) as handle:
        demo = {"Authorization": "apiup-demo:apiup-sandbox-secret-key"}
        other = {"Authorization": "other:other-key"}
        for headers in (demo, other, demo):
            assert get(f"{handle.url}/v2/organization", headers=headers).status_code == 200
        limited = get(f"{handle.url}/v2/organization", headers=other)
        errors = assert_json_api_error(limited, 429)
        assert errors[0]["code"] == "too_many_requests"
        assert limited.headers["Retry-After"] == "1"
        time.sleep(1.05)
        assert get(f"{handle.url}/v2/organization", headers=other).status_code == 200
        assert sandbox.contract is not None
        assert sandbox.contract.violations == []


def test_ten_minute_window_is_enforced_too() -> None:
    sandbox = QontoSandbox(sustained_limit=2, sustained_window=600)
    with running(sandbox) as handle:
        demo = {"Authorization": "apiup-demo:apiup-sandbox-secret-key"}
        statuses = [
            get(f"{handle.url}/v2/organization", headers=demo).status_code for _ in range(3)
        ]
        assert statuses == [200, 200, 429]
        retry_after = int(get(f"{handle.url}/v2/organization", headers=demo).headers["Retry-After"])
        assert 590 <= retry_after <= 600


def test_too_many_401_answers_throttle_the_ip() -> None:
    sandbox = QontoSandbox(unauthorized_limit=3)
    with running(sandbox) as handle:
        bad = {"Authorization": "apiup-demo:wrong"}
        statuses = [get(f"{handle.url}/v2/organization", headers=bad).status_code for _ in range(5)]
        assert statuses == [401, 401, 401, 401, 429]
        # Throttled for good credentials from the same IP as well.
        good = {"Authorization": "apiup-demo:apiup-sandbox-secret-key"}
        throttled = get(f"{handle.url}/v2/organization", headers=good)
        assert_json_api_error(throttled, 429)
        assert int(throttled.headers["Retry-After"]) > 3000


# -- faults ---------------------------------------------------------------------------------


def test_latency_fault(qonto: RunningSandbox) -> None:
    post(f"{qonto.url}/_sandbox/faults", json={"latency_ms": 300})
    started = time.monotonic()
    assert get(f"{qonto.url}/v2/organization", headers=api_key()).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_server_error_fault(qonto: RunningSandbox) -> None:
    post(f"{qonto.url}/_sandbox/faults", json={"server_error_rate": 1.0})
    response = get(f"{qonto.url}/v2/organization", headers=api_key())
    assert assert_json_api_error(response, 500)[0]["code"] == "internal_server_error"


def test_rate_limit_fault(qonto: RunningSandbox) -> None:
    post(f"{qonto.url}/_sandbox/faults", json={"rate_limit_rate": 1.0})
    response = get(f"{qonto.url}/v2/organization", headers=api_key())
    assert_json_api_error(response, 429)
    assert response.headers["Retry-After"] == "1"


def test_down_fault(qonto: RunningSandbox) -> None:
    post(f"{qonto.url}/_sandbox/faults", json={"down_for_seconds": 0.5})
    response = get(f"{qonto.url}/v2/organization", headers=api_key())
    assert assert_json_api_error(response, 503)[0]["code"] == "service_unavailable"
    time.sleep(0.55)
    assert get(f"{qonto.url}/v2/organization", headers=api_key()).status_code == 200


def test_drop_after_commit_keeps_the_quote_and_the_key(qonto: RunningSandbox) -> None:
    client = create_client(qonto.url, fixture("client-company.json"))
    post(f"{qonto.url}/_sandbox/faults", json={"drop_after_commit_rate": 1.0})
    headers = api_key() | {"X-Qonto-Idempotency-Key": "dropped-1"}
    body = quote_body(client["id"], number="Q-DROPPED")
    with pytest.raises(requests.ConnectionError):
        post(f"{qonto.url}/v2/quotes", json=body, headers=headers)
    organization = qonto_of(qonto).organization_by_slug("acme-corp")
    assert [q for q in organization.quotes.values() if q["number"] == "Q-DROPPED"]
    # The retry with the same key gets the stored answer instead of a second quote.
    post(f"{qonto.url}/_sandbox/faults", json={"drop_after_commit_rate": 0.0})
    retry = post(f"{qonto.url}/v2/quotes", json=body, headers=headers)
    assert retry.status_code == 201
    assert retry.json()["number"] == "Q-DROPPED"
    assert len([q for q in organization.quotes.values() if q["number"] == "Q-DROPPED"]) == 1


# -- inspection and contract ----------------------------------------------------------------


def test_inspection_page_lists_what_was_created(qonto: RunningSandbox) -> None:
    client = create_client(qonto.url, {"kind": "company", "name": "Inspected SAS"})
    page = get(f"{qonto.url}/_sandbox/")
    assert page.status_code == 200
    for text in ("acme-corp", "Inspected SAS", client["id"], "Q-3-ITEMS", "idempotency keys"):
        assert text in page.text
    assert "acme-secret-key" not in page.text
    state = get(f"{qonto.url}/_sandbox/state").json()
    assert {"organizations", "clients", "quotes", "invoices", "idempotency keys"} <= set(state)
    assert len(state["idempotency keys"]) >= 2


def test_valid_traffic_matches_the_spec(qonto: RunningSandbox) -> None:
    """Runs last: everything the module sent must have passed the contract check."""
    contract = qonto.sandbox.contract
    assert contract is not None
    assert contract.checked > 30
    assert contract.violations == []
