"""The bexio sandbox over real HTTP: the OAuth code flow and personal access tokens,
contacts, taxes, items, quotes and invoices, bexio's validation errors, its rate limit, every
fault switch, the inspection page and the contract with the saved spec."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from sandbox.bexio.app import BexioSandbox
from sandbox.bexio.oidc import AUTHORIZE_PATH, DISCOVERY_PATH, REVOKE_PATH, TOKEN_PATH
from sandbox.core import running

FIXTURES = Path(__file__).parent / "fixtures" / "bexio"
PAT = "pat-muster-ag-0123456789abcdef"
OTHER_PAT = "pat-other-gmbh-fedcba9876543210"
CLIENT_ID = "apiup"
CLIENT_SECRET = "apiup-client-secret"
REDIRECT_URI = "http://localhost:8000/connectors/bexio/callback"
SCOPE = "openid offline_access contact_edit kb_offer_edit kb_invoice_edit"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


@dataclass
class Bexio:
    sandbox: BexioSandbox
    url: str

    def call(self, method: str, path: str, *, token: str = PAT, **kwargs: Any) -> requests.Response:
        headers = {"Accept": "application/json", "Authorization": f"Bearer {token}"}
        headers.update(kwargs.pop("headers", {}))
        return requests.request(method, self.url + path, headers=headers, timeout=5, **kwargs)

    def faults(self, **values: Any) -> None:
        answer = requests.post(f"{self.url}/_sandbox/faults", json=values, timeout=5)
        assert answer.status_code == 200

    def authorize(self, *, scope: str = SCOPE, decision: str = "approve", **extra: str) -> dict:
        params = {
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "scope": scope,
            "state": "xyz-state",
            **extra,
        }
        page = requests.get(self.url + AUTHORIZE_PATH, params=params, timeout=5)
        assert page.status_code == 200
        assert "text/html" in page.headers["Content-Type"]
        answer = requests.post(
            self.url + AUTHORIZE_PATH,
            data={**params, "company_id": "1", "decision": decision},
            allow_redirects=False,
            timeout=5,
        )
        assert answer.status_code == 302
        location = urlsplit(answer.headers["Location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
        return {key: values[0] for key, values in parse_qs(location.query).items()}

    def token(self, **form: str) -> requests.Response:
        return requests.post(
            self.url + TOKEN_PATH,
            data={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, **form},
            timeout=5,
        )

    def code_flow(self, *, scope: str = SCOPE) -> dict:
        code = self.authorize(scope=scope)["code"]
        answer = self.token(grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI)
        assert answer.status_code == 200, answer.text
        return answer.json()


def seed(sandbox: BexioSandbox) -> BexioSandbox:
    sandbox.add_company(name="Muster AG", personal_access_token=PAT)
    sandbox.add_company(name="Other GmbH", personal_access_token=OTHER_PAT)
    sandbox.add_oauth_client(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uris=(REDIRECT_URI,)
    )
    return sandbox


def start(**options: Any) -> BexioSandbox:
    return seed(BexioSandbox(contract=True, **options))


@pytest.fixture(scope="module")
def server() -> Iterator[Bexio]:
    # One server for the module: stopping one takes half a second.
    sandbox = BexioSandbox(contract=True)
    with running(sandbox) as handle:
        yield Bexio(sandbox, handle.url)


@pytest.fixture
def bexio(server: Bexio) -> Iterator[Bexio]:
    assert requests.post(f"{server.url}/_sandbox/reset", timeout=5).status_code == 200
    seed(server.sandbox)
    contract = server.sandbox.contract
    assert contract is not None
    contract.violations.clear()
    yield server
    # Every answer, valid or refused, must match the spec wherever the spec describes it.
    assert contract.violations == []


def create_contact(bexio: Bexio, name: str = "contact_company", **changes: Any) -> dict:
    answer = bexio.call("POST", "/2.0/contact", json={**fixture(name), **changes})
    assert answer.status_code == 201, answer.text
    return answer.json()


# -- OAuth / OIDC ---------------------------------------------------------------------------


def test_discovery_document_points_at_the_sandbox(bexio: Bexio) -> None:
    document = requests.get(bexio.url + DISCOVERY_PATH, timeout=5).json()

    assert document["issuer"] == f"{bexio.url}/realms/bexio"
    assert document["authorization_endpoint"] == bexio.url + AUTHORIZE_PATH
    assert document["token_endpoint"] == bexio.url + TOKEN_PATH
    assert "offline_access" in document["scopes_supported"]
    assert "auth.bexio.com" not in json.dumps(document)


def test_code_flow_gives_tokens_and_refresh_rotates_them(bexio: Bexio) -> None:
    page = requests.get(
        bexio.url + AUTHORIZE_PATH,
        params={
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "scope": SCOPE,
            "state": "s",
        },
        timeout=5,
    )
    assert CLIENT_ID in page.text
    assert "kb_offer_edit" in page.text
    assert "Muster AG" in page.text

    redirect = bexio.authorize(nonce="n-0S6")
    assert redirect["state"] == "xyz-state"
    assert redirect["iss"] == f"{bexio.url}/realms/bexio"
    tokens = bexio.token(
        grant_type="authorization_code", code=redirect["code"], redirect_uri=REDIRECT_URI
    ).json()

    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3600
    assert tokens["scope"] == SCOPE
    assert tokens["refresh_expires_in"] == 0  # an offline token
    header, payload, signature = tokens["id_token"].split(".")
    expected = hmac.new(CLIENT_SECRET.encode(), f"{header}.{payload}".encode(), hashlib.sha256)
    assert base64.urlsafe_b64encode(expected.digest()).rstrip(b"=").decode() == signature
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["aud"] == CLIENT_ID
    assert claims["nonce"] == "n-0S6"
    assert bexio.call("GET", "/3.0/taxes", token=tokens["access_token"]).status_code == 200

    refreshed = bexio.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert refreshed.status_code == 200
    renewed = refreshed.json()
    assert renewed["refresh_token"] != tokens["refresh_token"]
    assert renewed["access_token"] != tokens["access_token"]
    assert bexio.call("GET", "/3.0/taxes", token=renewed["access_token"]).status_code == 200
    spent = bexio.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert spent.status_code == 400
    assert spent.json() == {"error": "invalid_grant", "error_description": "Invalid refresh token"}


def test_a_code_is_single_use_and_bound_to_its_redirect_uri(bexio: Bexio) -> None:
    code = bexio.authorize()["code"]
    wrong_uri = bexio.token(
        grant_type="authorization_code", code=code, redirect_uri="http://evil.example/cb"
    )
    assert wrong_uri.status_code == 400
    assert wrong_uri.json()["error"] == "invalid_grant"

    code = bexio.authorize()["code"]
    first = bexio.token(grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI)
    again = bexio.token(grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI)
    assert first.status_code == 200
    assert again.status_code == 400
    assert again.json() == {"error": "invalid_grant", "error_description": "Code not valid"}


def test_pkce_verifier_must_match_the_challenge(bexio: Bexio) -> None:
    verifier = "a-verifier-of-at-least-43-characters-0123456789"
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    extra = {"code_challenge": challenge.rstrip(b"=").decode(), "code_challenge_method": "S256"}

    code = bexio.authorize(**extra)["code"]
    wrong = bexio.token(
        grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI, code_verifier="x"
    )
    assert wrong.status_code == 400
    code = bexio.authorize(**extra)["code"]
    right = bexio.token(
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT_URI,
        code_verifier=verifier,
    )
    assert right.status_code == 200


def test_no_refresh_token_without_offline_access(bexio: Bexio) -> None:
    tokens = bexio.code_flow(scope="openid contact_edit")

    assert "refresh_token" not in tokens
    assert "access_token" in tokens


def test_denied_consent_redirects_with_access_denied(bexio: Bexio) -> None:
    redirect = bexio.authorize(decision="deny")

    assert redirect["error"] == "access_denied"
    assert redirect["state"] == "xyz-state"
    assert "code" not in redirect


def test_bad_authorization_requests(bexio: Bexio) -> None:
    base = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI}
    unknown_client = requests.get(
        bexio.url + AUTHORIZE_PATH, params={**base, "client_id": "nobody"}, timeout=5
    )
    assert unknown_client.status_code == 400
    assert "Client not found." in unknown_client.text
    foreign_redirect = requests.get(
        bexio.url + AUTHORIZE_PATH,
        params={**base, "redirect_uri": "http://evil.example/"},
        timeout=5,
    )
    assert foreign_redirect.status_code == 400
    assert "Invalid parameter: redirect_uri" in foreign_redirect.text
    bad_scope = requests.get(
        bexio.url + AUTHORIZE_PATH,
        params={**base, "scope": "openid make_coffee"},
        allow_redirects=False,
        timeout=5,
    )
    assert bad_scope.status_code == 302
    assert "error=invalid_scope" in bad_scope.headers["Location"]

    bad_secret = requests.post(
        bexio.url + TOKEN_PATH,
        data={"grant_type": "authorization_code", "code": "x", "redirect_uri": REDIRECT_URI},
        auth=(CLIENT_ID, "wrong"),
        timeout=5,
    )
    assert bad_secret.status_code == 401
    assert bad_secret.json()["error"] == "unauthorized_client"
    password_grant = bexio.token(grant_type="password", username="u", password="p")
    assert password_grant.status_code == 400
    assert password_grant.json()["error"] == "unsupported_grant_type"


def test_the_spec_step_refuses_a_token_request_in_rfc_6749_form(bexio: Bexio) -> None:
    # Refused before the client is authenticated: the wrong secret does not matter yet.
    no_code = requests.post(
        bexio.url + TOKEN_PATH,
        data={"grant_type": "authorization_code", "redirect_uri": REDIRECT_URI},
        auth=(CLIENT_ID, "wrong"),
        timeout=5,
    )
    assert no_code.status_code == 400
    assert no_code.json() == {
        "error": "invalid_request",
        "error_description": "Missing parameter: code",
    }
    no_grant = bexio.token(refresh_token="x")
    assert no_grant.json()["error_description"] == "Missing parameter: grant_type"
    no_refresh_token = bexio.token(grant_type="refresh_token")
    assert no_refresh_token.json()["error_description"] == "Missing parameter: refresh_token"


def test_an_access_token_expires() -> None:
    sandbox = start(access_token_lifetime=1)
    with running(sandbox) as handle:
        bexio = Bexio(sandbox, handle.url)
        tokens = bexio.code_flow()
        assert tokens["expires_in"] == 1
        assert bexio.call("GET", "/3.0/taxes", token=tokens["access_token"]).status_code == 200
        time.sleep(1.1)
        expired = bexio.call("GET", "/3.0/taxes", token=tokens["access_token"])
        assert expired.status_code == 401


def test_personal_access_token_and_missing_or_unknown_tokens(bexio: Bexio) -> None:
    assert bexio.call("GET", "/2.0/contact").status_code == 200

    unknown = bexio.call("GET", "/2.0/contact", token="not-a-token")
    assert unknown.status_code == 401
    assert unknown.json() == {"error_code": 401, "message": "Unauthorized"}
    anonymous = requests.get(
        bexio.url + "/2.0/contact", headers={"Accept": "application/json"}, timeout=5
    )
    assert anonymous.status_code == 401


def test_revoking_a_refresh_token_ends_its_session(bexio: Bexio) -> None:
    tokens = bexio.code_flow()
    other = bexio.code_flow()

    def revoke(token: str, **auth: Any) -> requests.Response:
        form = {"token": token, "token_type_hint": "refresh_token"}
        return requests.post(bexio.url + REVOKE_PATH, data={**form, **auth}, timeout=5)

    assert revoke(tokens["refresh_token"]).status_code == 401  # no client credentials
    stranger = {"client_id": "someone", "client_secret": "else"}
    assert revoke(tokens["refresh_token"], **stranger).status_code == 401
    ours = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    assert revoke(tokens["refresh_token"], **ours).status_code == 200
    # The session's access token ends with it; another consent's tokens do not.
    assert bexio.call("GET", "/2.0/contact", token=tokens["access_token"]).status_code == 401
    refused = bexio.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert refused.json()["error"] == "invalid_grant"
    assert bexio.call("GET", "/2.0/contact", token=other["access_token"]).status_code == 200
    # RFC 7009 2.2: a token the server does not know is answered as revoked.
    assert revoke("never-issued", **ours).status_code == 200


# -- contacts ---------------------------------------------------------------------------------


def test_create_a_company_and_a_person_and_read_them_back(bexio: Bexio) -> None:
    company = create_contact(bexio, "contact_company")
    person = create_contact(bexio, "contact_person")

    assert company["id"] == 1
    assert company["contact_type_id"] == 1
    assert company["name_1"] == "Muster Kunde AG"
    assert company["nr"] == "000001"
    assert company["salutation_id"] == 0  # bexio's quirk: 0, not null
    assert person["contact_type_id"] == 2
    assert (person["name_1"], person["name_2"]) == ("Meier", "Anna")
    read = bexio.call("GET", f"/2.0/contact/{person['id']}")
    assert read.status_code == 200
    assert read.json() == person


def test_search_contacts_by_mail_and_name(bexio: Bexio) -> None:
    company = create_contact(bexio, "contact_company")
    person = create_contact(bexio, "contact_person")
    create_contact(bexio, "contact_company", name_1="Andere AG", mail="hallo@andere.ch")

    def search(criteria: list[dict], **params: Any) -> list[dict]:
        answer = bexio.call("POST", "/2.0/contact/search", json=criteria, params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()

    by_mail = search([{"field": "mail", "value": "ANNA.meier@muster-kunde.ch", "criteria": "="}])
    assert [c["id"] for c in by_mail] == [person["id"]]
    by_name = search([{"field": "name_1", "value": "muster", "criteria": "like"}])
    assert [c["id"] for c in by_name] == [company["id"]]
    like_is_default = search([{"field": "name_1", "value": "AG"}])
    assert len(like_is_default) == 2
    both = search(
        [
            {"field": "contact_type_id", "value": "1", "criteria": "="},
            {"field": "mail", "value": "andere", "criteria": "like"},
        ]
    )
    assert [c["name_1"] for c in both] == ["Andere AG"]
    listed = search([{"field": "id", "value": "1,2,3", "criteria": "in"}], limit=2, offset=1)
    assert [c["id"] for c in listed] == [2, 3]
    assert search([{"field": "mail", "value": "nobody@nowhere.ch", "criteria": "="}]) == []


def test_a_contact_is_edited_by_post_and_deleted_with_success_true(bexio: Bexio) -> None:
    contact = create_contact(bexio, "contact_company")
    path = f"/2.0/contact/{contact['id']}"

    edited = bexio.call("POST", path, json={**fixture("contact_company"), "city": "Bern"})
    assert edited.status_code == 200
    assert edited.json()["city"] == "Bern"
    assert edited.json()["nr"] == contact["nr"]  # kept: the edit did not send it
    assert bexio.call("GET", path, token=OTHER_PAT).status_code == 404  # another company's
    assert bexio.call("DELETE", path).json() == {"success": True}
    assert bexio.call("GET", path).status_code == 404
    assert bexio.call("DELETE", path).status_code == 404


def fields(answer: requests.Response) -> list[str]:
    assert answer.status_code == 422
    assert answer.json()["error_code"] == 422
    assert answer.json()["message"] == "Validation error"
    return [error.split(":")[0] for error in answer.json()["errors"]]


def test_contact_validation_errors(bexio: Bexio) -> None:
    # What the spec declares (required, enum, format) is refused by the spec step.
    missing = bexio.call("POST", "/2.0/contact", json={"name_2": "Anna"})
    assert fields(missing) == ["contact_type_id", "name_1", "user_id", "owner_id"]
    assert (
        missing.json()["errors"][0] == "contact_type_id: 'contact_type_id' is a required property"
    )
    off_spec = bexio.call(
        "POST",
        "/2.0/contact",
        json={**fixture("contact_person"), "contact_type_id": 3, "mail": "anna"},
    )
    assert fields(off_spec) == ["contact_type_id", "mail"]
    # What only the company's data can tell is refused by the handler.
    wrong = bexio.call("POST", "/2.0/contact", json={**fixture("contact_person"), "owner_id": 99})
    assert wrong.json()["errors"] == ["owner_id: References no user of this company."]
    assert bexio.sandbox.store.select("contacts", "1") == []


def test_search_validation_errors(bexio: Bexio) -> None:
    answer = bexio.call(
        "POST",
        "/2.0/contact/search",
        json=[
            {"field": "name_1", "value": "x" * 256},
            {"field": "mail", "criteria": "="},
            {"field": "name_1", "value": "x", "criteria": "sounds_like"},
        ],
    )
    assert fields(answer) == ["0.value", "1.value", "2.criteria"]
    # The searchable fields are only listed in the docs' text: the handler refuses others.
    unknown = bexio.call("POST", "/2.0/contact/search", json=[{"field": "password", "value": "x"}])
    assert unknown.json()["errors"] == ["0 [field]: password is not a searchable field."]
    too_many = bexio.call("POST", "/2.0/contact/search", json=[], params={"limit": 2001})
    assert too_many.status_code == 422


def test_requests_without_an_accept_header_are_refused(bexio: Bexio) -> None:
    # The spec marks Accept required on every operation.
    answer = bexio.call(
        "POST", "/2.0/contact", json=fixture("contact_company"), headers={"Accept": None}
    )

    assert answer.status_code == 415
    assert answer.json()["message"].startswith("You did not specify a valid Accept-Header")
    assert bexio.sandbox.store.select("contacts", "1") == []
    assert bexio.call("GET", "/3.0/taxes", headers={"Accept": "*/*"}).status_code == 200


def test_unknown_records_are_404(bexio: Bexio) -> None:
    for path in ("/2.0/contact/42", "/2.0/kb_offer/42", "/2.0/kb_invoice/42", "/2.0/article/42"):
        answer = bexio.call("GET", path)
        assert answer.status_code == 404
        assert answer.json() == {"error_code": 404, "message": "Not found"}


# -- taxes, quotes, invoices -------------------------------------------------------------------


def test_active_sales_taxes_are_the_swiss_rates(bexio: Bexio) -> None:
    answer = bexio.call("GET", "/3.0/taxes", params={"types": "sales_tax", "scope": "active"})

    assert answer.status_code == 200
    rates = {tax["id"]: tax["value"] for tax in answer.json()}
    assert rates == {4: 8.1, 5: 2.6, 6: 3.8, 7: 0.0}
    assert all(tax["type"] == "sales_tax" and tax["is_active"] for tax in answer.json())
    inactive = bexio.call("GET", "/3.0/taxes", params={"scope": "inactive"}).json()
    assert {tax["value"] for tax in inactive} == {7.7, 2.5, 3.7}
    pre_tax = bexio.call("GET", "/3.0/taxes", params={"types": "pre_tax"}).json()
    assert [tax["code"] for tax in pre_tax] == ["VM81"]
    in_2020 = bexio.call("GET", "/3.0/taxes", params={"date": "2020-06-30", "types": "sales_tax"})
    assert {tax["value"] for tax in in_2020.json()} == {7.7, 2.5, 3.7, 0.0}
    bad = bexio.call("GET", "/3.0/taxes", params={"scope": "all"})
    assert bad.status_code == 422


def test_items_are_created_listed_searched_edited_and_deleted(bexio: Bexio) -> None:
    body = {"intern_code": "KAFFEE-1", "intern_name": "Kaffee", "sale_price": 12.5}
    created = bexio.call("POST", "/2.0/article", json={**body, "tax_income_id": 4})
    assert created.status_code == 201, created.text
    item = created.json()
    assert (item["sale_price"], item["tax_income_id"], item["article_type_id"]) == (
        "12.500000",
        4,
        1,
    )
    bexio.sandbox.seed_articles(1, 3)
    by_name = bexio.call("GET", "/2.0/article", params={"order_by": "intern_name_desc"})
    assert [i["intern_name"] for i in by_name.json()] == [
        "Kaffee",
        *("Artikel 3", "Artikel 2", "Artikel 1"),
    ]
    page = bexio.call("GET", "/2.0/article", params={"limit": 2, "offset": 1}).json()
    assert [i["id"] for i in page] == [2, 3]
    # "=" ignores case as bexio's database does; "like" (the default) finds a part.
    for criterion in ({"value": "kaffee-1", "criteria": "="}, {"value": "FFEE"}):
        found = bexio.call(
            "POST", "/2.0/article/search", json=[{"field": "intern_code", **criterion}]
        )
        assert [i["id"] for i in found.json()] == [item["id"]]
    unknown = bexio.call(
        "POST", "/2.0/article/search", json=[{"field": "sale_price", "value": "1"}]
    )
    assert unknown.status_code == 422

    edited = bexio.call("POST", f"/2.0/article/{item['id']}", json={"sale_price": "13"}).json()
    assert (edited["intern_name"], edited["sale_price"]) == ("Kaffee", "13.000000")
    no_tax = bexio.call("POST", "/2.0/article", json={**body, "tax_income_id": 8})  # pre-tax
    assert no_tax.status_code == 422
    assert no_tax.json()["errors"] == ["tax_income_id: References no sales tax."]

    deleted = bexio.call("DELETE", f"/2.0/article/{item['id']}")
    assert deleted.json() == {"success": True}
    assert bexio.call("GET", f"/2.0/article/{item['id']}").status_code == 404
    assert bexio.call("DELETE", f"/2.0/article/{item['id']}").status_code == 404


def test_a_quote_with_three_positions_is_a_draft_and_reads_back(bexio: Bexio) -> None:
    create_contact(bexio)
    created = bexio.call("POST", "/2.0/kb_offer", json=fixture("kb_offer"))

    assert created.status_code == 201, created.text
    quote = created.json()
    assert quote["document_nr"] == "AN-00001"
    assert quote["kb_item_status_id"] == 1
    assert quote["api_reference"] == "hubspot-deal-4711"
    assert [p["position_total"] for p in quote["positions"]] == [
        "3000.000000",
        "1080.000000",
        "80.000000",
    ]
    assert [p["amount"] for p in quote["positions"]] == ["2.000000", "10.000000", "1.000000"]
    assert [p["tax_value"] for p in quote["positions"]] == ["8.10", "8.10", "2.60"]
    assert quote["total_net"] == "4160.000000"
    assert quote["total_taxes"] == "332.560000"
    assert quote["total"] == "4492.550000"  # rounded to 5 Rappen
    read = bexio.call("GET", f"/2.0/kb_offer/{quote['id']}")
    assert read.json() == quote

    listed = bexio.call("GET", "/2.0/kb_offer").json()
    assert [q["id"] for q in listed if q["api_reference"] == "hubspot-deal-4711"] == [quote["id"]]


def test_quote_validation_errors(bexio: Bexio) -> None:
    offer = fixture("kb_offer")
    offer["mwst_type"] = 5
    offer["positions"] = [
        {"type": "KbPositionCustom", "amount": 2, "unit_price": "10", "tax_id": 4}
    ]
    off_spec = bexio.call("POST", "/2.0/kb_offer", json=offer)
    assert fields(off_spec) == ["mwst_type", "positions.0.amount"]

    offer = fixture("kb_offer")
    offer.pop("user_id")
    offer["contact_id"] = 99
    offer["positions"] = [
        {"type": "KbPositionCustom", "amount": "1", "unit_price": "10", "tax_id": 1},
        {"type": "KbPositionCustom", "amount": "1", "unit_price": "10", "tax_id": 8},
        {"type": "KbPositionCustom", "amount": "2", "unit_price": "10"},
    ]
    # Rules the spec cannot state (live answers, references into the company's data) are
    # the handler's.
    answer = bexio.call("POST", "/2.0/kb_offer", json=offer)
    assert answer.json()["errors"] == [
        "user_id: This field is required.",
        "contact_id: References no contact.",
        "positions: 0 [tax_id [Must be an active sales tax.]]",
        "positions: 1 [tax_id [Must be an active sales tax.]]",
        "positions: 2 [tax_id [This field is required.]]",
    ]
    assert bexio.sandbox.store.select("offers", "1") == []


def test_an_invoice_is_created_and_read_back(bexio: Bexio) -> None:
    create_contact(bexio)
    invoice = fixture("kb_offer")
    invoice["api_reference"] = "hubspot-deal-4711-invoice"
    created = bexio.call("POST", "/2.0/kb_invoice", json=invoice)

    assert created.status_code == 201, created.text
    assert created.json()["document_nr"] == "RE-00001"
    read = bexio.call("GET", f"/2.0/kb_invoice/{created.json()['id']}")
    assert read.status_code == 200
    assert read.json()["api_reference"] == "hubspot-deal-4711-invoice"


def create_invoice(bexio: Bexio, reference: str = "hubspot-deal-4711-invoice") -> dict:
    answer = bexio.call(
        "POST", "/2.0/kb_invoice", json={**fixture("kb_offer"), "api_reference": reference}
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def set_status(
    bexio: Bexio, kind: str, document_id: int, status: str, amount: str = ""
) -> requests.Response:
    return requests.post(
        f"{bexio.url}/_sandbox/documents/status",
        json={"kind": kind, "id": str(document_id), "status": status, "amount": amount},
        timeout=5,
    )


def test_an_invoice_made_from_a_quote_copies_it_and_is_edited_while_a_draft(bexio: Bexio) -> None:
    create_contact(bexio)
    quote = bexio.call("POST", "/2.0/kb_offer", json=fixture("kb_offer")).json()

    made = bexio.call("POST", f"/2.0/kb_offer/{quote['id']}/invoice")

    assert made.status_code == 200, made.text
    invoice = made.json()
    assert "_source_offer_id" not in invoice  # the link is the sandbox's own record
    assert (
        bexio.sandbox.store.get("invoices", "1", invoice["id"])["_source_offer_id"] == quote["id"]
    )
    assert invoice["kb_item_status_id"] == 7
    assert invoice["api_reference"] is None
    assert invoice["total_remaining_payments"] == invoice["total"] == quote["total"]
    assert [p["text"] for p in invoice["positions"]] == [p["text"] for p in quote["positions"]]
    assert {p["id"] for p in invoice["positions"]}.isdisjoint(p["id"] for p in quote["positions"])

    edited = bexio.call(
        "POST", f"/2.0/kb_invoice/{invoice['id']}", json={"api_reference": "deal-1"}
    )
    assert edited.json()["api_reference"] == "deal-1"
    assert edited.json()["positions"] == invoice["positions"]
    assert bexio.call("POST", f"/2.0/kb_invoice/{invoice['id']}/issue").json() == {"success": True}
    again = bexio.call("POST", f"/2.0/kb_invoice/{invoice['id']}", json={"api_reference": "x"})
    assert again.status_code == 422  # issued: no longer a draft
    assert bexio.call("POST", f"/2.0/kb_invoice/{invoice['id']}/issue").status_code == 422
    assert bexio.call("POST", "/2.0/kb_offer/99/invoice").status_code == 404


def test_invoices_are_searched_and_listed_by_their_last_change(bexio: Bexio) -> None:
    create_contact(bexio)
    first, second = create_invoice(bexio, "deal-1"), create_invoice(bexio, "deal-2")
    bexio.sandbox.store.update("invoices", "1", first["id"], {"updated_at": "2030-01-01 00:00:00"})

    found = bexio.call(
        "POST",
        "/2.0/kb_invoice/search",
        json=[{"field": "api_reference", "value": "deal-2", "criteria": "="}],
    )
    assert [i["id"] for i in found.json()] == [second["id"]]
    later = bexio.call(
        "POST",
        "/2.0/kb_invoice/search",
        params={"order_by": "updated_at_desc"},
        json=[{"field": "updated_at", "value": "2029-12-31 23:59:59", "criteria": ">"}],
    )
    assert [i["id"] for i in later.json()] == [first["id"]]
    listed = bexio.call(
        "GET", "/2.0/kb_invoice", params={"order_by": "updated_at_desc", "limit": 1}
    )
    assert [i["id"] for i in listed.json()] == [first["id"]]
    refused = bexio.call(
        "POST", "/2.0/kb_invoice/search", json=[{"field": "mail", "value": "x", "criteria": "="}]
    )
    assert refused.status_code == 422
    assert bexio.call("GET", "/2.0/kb_offer", params={"order_by": "colour"}).status_code == 422


def test_payments_change_an_invoices_status_and_what_is_open(bexio: Bexio) -> None:
    create_contact(bexio)
    invoice = create_invoice(bexio)
    path = f"/2.0/kb_invoice/{invoice['id']}"
    payment = {"date": "2026-07-10", "value": "1000.00"}
    assert bexio.call("POST", f"{path}/payment", json=payment).status_code == 422  # a draft
    bexio.call("POST", f"{path}/issue")

    booked = bexio.call("POST", f"{path}/payment", json=payment)

    assert booked.status_code == 201, booked.text
    assert booked.json()["value"] == "1000.000000"
    read = bexio.call("GET", path).json()
    assert read["kb_item_status_id"] == 16
    assert read["total_received_payments"] == "1000.000000"
    assert read["total_remaining_payments"] == "3492.550000"
    assert set_status(bexio, "invoice", invoice["id"], "paid").json()["kb_item_status_id"] == 9
    payments = bexio.call("GET", f"{path}/payment").json()
    assert [p["value"] for p in payments] == ["1000.000000", "3492.550000"]
    assert bexio.call("GET", path).json()["total_remaining_payments"] == "0.000000"
    assert bexio.call("POST", f"{path}/cancel").status_code == 422  # paid: not open any more


def test_the_status_hook_changes_documents_as_bexios_app_would(bexio: Bexio) -> None:
    create_contact(bexio)
    quote = bexio.call("POST", "/2.0/kb_offer", json=fixture("kb_offer")).json()
    invoice = create_invoice(bexio)
    stamp = invoice["updated_at"]
    bexio.sandbox.store.update(
        "invoices", "1", invoice["id"], {"updated_at": "2000-01-01 00:00:00"}
    )

    partly = set_status(bexio, "invoice", invoice["id"], "partially_paid", "100")
    assert partly.json()["kb_item_status_id"] == 16
    assert partly.json()["updated_at"] >= stamp  # the change moves its stamp
    assert set_status(bexio, "invoice", invoice["id"], "voided").json()["kb_item_status_id"] == 19
    assert set_status(bexio, "quote", quote["id"], "accepted").json()["kb_item_status_id"] == 3
    assert set_status(bexio, "quote", quote["id"], "rejected").json()["kb_item_status_id"] == 4
    assert set_status(bexio, "quote", quote["id"], "paid").status_code == 422
    assert set_status(bexio, "invoice", 99, "paid").status_code == 404
    assert set_status(bexio, "order", 1, "paid").status_code == 404
    page = requests.get(f"{bexio.url}/_sandbox/", timeout=5).text
    assert "payments (1)" in page


# -- rate limit and faults ---------------------------------------------------------------------


def test_the_per_window_limit_answers_429_with_ratelimit_headers() -> None:
    sandbox = start(requests_per_window=3, rate_window_seconds=1.0)
    with running(sandbox) as handle:
        bexio = Bexio(sandbox, handle.url)
        answers = [bexio.call("GET", "/3.0/taxes") for _ in range(4)]

        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert answers[0].headers["RateLimit-Limit"] == "3"
        assert answers[0].headers["RateLimit-Remaining"] == "2"
        limited = answers[3]
        assert limited.headers["ratelimit-remaining"] == "0"
        assert limited.headers["ratelimit-reset"] == "1"
        assert limited.json() == {"error_code": 429, "message": "Too Many Requests"}
        # Another company has its own budget.
        assert bexio.call("GET", "/3.0/taxes", token=OTHER_PAT).status_code == 200
        time.sleep(float(limited.headers["ratelimit-reset"]))
        assert bexio.call("GET", "/3.0/taxes").status_code == 200


def test_latency_fault(bexio: Bexio) -> None:
    bexio.faults(latency_ms=300)
    started = time.monotonic()

    assert bexio.call("GET", "/3.0/taxes").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_server_error_fault(bexio: Bexio) -> None:
    bexio.faults(server_error_rate=1.0)
    answer = bexio.call("POST", "/2.0/contact", json=fixture("contact_company"))

    assert answer.status_code == 500
    assert answer.json() == {"error_code": 500, "message": "Internal Server Error"}
    assert bexio.sandbox.store.select("contacts", "1") == []


def test_extra_429_fault_carries_the_ratelimit_headers(bexio: Bexio) -> None:
    bexio.faults(rate_limit_rate=1.0)
    answer = bexio.call("GET", "/3.0/taxes")

    assert answer.status_code == 429
    assert answer.headers["RateLimit-Reset"] == "1"


def test_drop_after_commit_keeps_the_quote_although_the_client_got_no_answer(
    bexio: Bexio,
) -> None:
    create_contact(bexio)
    bexio.faults(drop_after_commit_rate=1.0)

    with pytest.raises(requests.ConnectionError):
        bexio.call("POST", "/2.0/kb_offer", json=fixture("kb_offer"))

    bexio.faults(drop_after_commit_rate=0.0)
    listed = bexio.call("GET", "/2.0/kb_offer").json()
    assert [q["api_reference"] for q in listed] == ["hubspot-deal-4711"]


def test_down_fault_answers_503_until_it_is_over(bexio: Bexio) -> None:
    bexio.faults(down_for_seconds=0.5)

    down = bexio.call("GET", "/3.0/taxes")
    assert down.status_code == 503
    assert down.json() == {"error_code": 503, "message": "Service Unavailable"}
    time.sleep(0.6)
    assert bexio.call("GET", "/3.0/taxes").status_code == 200


# -- inspection and contract -------------------------------------------------------------------


def test_inspection_page_lists_what_was_created_and_hides_tokens(bexio: Bexio) -> None:
    create_contact(bexio)
    bexio.call("POST", "/2.0/kb_offer", json=fixture("kb_offer"))
    tokens = bexio.code_flow()

    page = requests.get(f"{bexio.url}/_sandbox/", timeout=5).text
    assert "Muster Kunde AG" in page
    assert "AN-00001" in page
    assert "hubspot-deal-4711" in page
    assert PAT not in page
    assert tokens["access_token"] not in page
    assert tokens["refresh_token"] not in page
    assert PAT[:6] in page


def test_valid_traffic_matches_the_spec() -> None:
    sandbox = start()
    with running(sandbox) as handle:
        bexio = Bexio(sandbox, handle.url)
        requests.get(bexio.url + DISCOVERY_PATH, timeout=5)
        token = bexio.code_flow()["access_token"]
        contact = create_contact(bexio)
        create_contact(bexio, "contact_person")
        bexio.call("GET", f"/2.0/contact/{contact['id']}", token=token)
        bexio.call("GET", "/2.0/contact", params={"limit": 10})
        bexio.call(
            "POST",
            "/2.0/contact/search",
            json=[{"field": "mail", "value": "info@muster-kunde.ch", "criteria": "="}],
        )
        bexio.call("GET", "/3.0/taxes", params={"types": "sales_tax", "scope": "active"})
        quote = bexio.call("POST", "/2.0/kb_offer", json=fixture("kb_offer"), token=token).json()
        bexio.call("GET", f"/2.0/kb_offer/{quote['id']}")
        bexio.call("GET", "/2.0/kb_offer")
        invoice = bexio.call("POST", "/2.0/kb_invoice", json=fixture("kb_offer")).json()
        bexio.call("GET", f"/2.0/kb_invoice/{invoice['id']}")

    contract = sandbox.contract
    assert contract is not None
    assert [c.status for c in sandbox.calls if not c.path.startswith("/realms/")] == [
        201,
        201,
        200,
        200,
        200,
        200,
        201,
        200,
        200,
        201,
        200,
    ]
    assert contract.violations == []
    # /3.0/taxes and the token endpoint included: the derived spec has them now.
    assert contract.checked == 12
    # What no saved OpenAPI file describes: the discovery document and the authorization
    # page (GET and POST).
    assert contract.undocumented == 3


def test_the_spec_step_refuses_a_contact_before_the_handler(bexio: Bexio) -> None:
    def stored() -> int:
        return len(bexio.sandbox.store.everything("contacts"))

    before = stored()
    bexio.sandbox.refuse_off_spec = True
    try:
        answer = bexio.call("POST", "/2.0/contact", json={"name_2": "Anna"})
    finally:
        bexio.sandbox.refuse_off_spec = False
    assert answer.status_code == 422
    body = answer.json()
    assert body["error_code"] == 422
    assert body["message"] == "Validation error"
    assert "owner_id: 'owner_id' is a required property" in body["errors"]
    assert stored() == before
