"""The HubSpot sandbox over real HTTP, with every request and answer checked against the spec."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from sandbox.core import running
from sandbox.hubspot.app import HubSpotSandbox

CLIENT_ID = "test-client"
CLIENT_SECRET = "test-secret"
REDIRECT_URI = "http://localhost:8000/hubspot/callback"
BEISPIEL, DEMO = 4711, 4712


@dataclass
class HubSpot:
    sandbox: HubSpotSandbox
    url: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.get(self.url + path, headers=self.auth, timeout=5, **kwargs)

    def post(self, path: str, body: Any) -> requests.Response:
        return requests.post(self.url + path, json=body, headers=self.auth, timeout=5)


@contextmanager
def start(**options: Any) -> Iterator[HubSpot]:
    sandbox = HubSpotSandbox(
        contract=True,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uris=[REDIRECT_URI],
        **options,
    )
    try:
        with running(sandbox) as handle:
            yield HubSpot(sandbox, handle.url, sandbox.issue_token(BEISPIEL))
    finally:
        sandbox.webhooks.stop()
    assert sandbox.contract is not None
    assert sandbox.contract.violations == []


@pytest.fixture
def hubspot() -> Iterator[HubSpot]:
    with start() as hub:
        yield hub


def seed_website_deal(sandbox: HubSpotSandbox) -> str:
    return sandbox.seed_deal(
        BEISPIEL,
        name="Relaunch Website",
        amount="4200",
        company={"name": "Beispiel GmbH", "domain": "beispiel.de", "city": "Köln"},
        contact={"firstname": "Anna", "lastname": "Muster", "email": "anna@beispiel.de"},
        line_items=[
            {"name": "Konzept", "quantity": "1", "price": "1200"},
            {"name": "Umsetzung", "quantity": "3", "price": "1000", "hs_sku": "DEV-1"},
        ],
    )


def assert_hubspot_error(answer: requests.Response, status: int, category: str) -> dict[str, Any]:
    body: dict[str, Any] = answer.json()
    assert answer.status_code == status, body
    assert body["status"] == "error"
    assert body["category"] == category
    assert len(body["correlationId"]) == 36
    return body


# -- OAuth ----------------------------------------------------------------------------------


def pkce_pair() -> tuple[str, str]:
    verifier = "v" * 43 + "-PKCE-verifier"
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def authorize(hub: HubSpot, *, portal: int, challenge: str, decision: str = "approve") -> str:
    query = {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": "crm.objects.deals.read crm.objects.contacts.write oauth",
        "state": "csrf-123",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    page = requests.get(hub.url + "/oauth/authorize", params=query, timeout=5)
    assert page.status_code == 200
    assert "Beispiel GmbH" in page.text
    assert "Demo AG" in page.text
    answer = requests.post(
        hub.url + "/oauth/authorize",
        data={**query, "portal_id": str(portal), "decision": decision},
        allow_redirects=False,
        timeout=5,
    )
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?")
    return location


def exchange(hub: HubSpot, **form: str) -> requests.Response:
    base = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    return requests.post(hub.url + "/oauth/v1/token", data={**base, **form}, timeout=5)


def test_oauth_code_flow_with_pkce_reaches_the_chosen_portal(hubspot: HubSpot) -> None:
    verifier, challenge = pkce_pair()
    wrong = parse_qs(urlsplit(authorize(hubspot, portal=DEMO, challenge=challenge)).query)
    refused = exchange(
        hubspot,
        grant_type="authorization_code",
        code=wrong["code"][0],
        redirect_uri=REDIRECT_URI,
        code_verifier="not-the-verifier",
    )
    assert refused.status_code == 400
    assert refused.json()["status"] == "BAD_AUTH_CODE"

    query = parse_qs(urlsplit(authorize(hubspot, portal=DEMO, challenge=challenge)).query)
    assert query["state"] == ["csrf-123"]
    granted = exchange(
        hubspot,
        grant_type="authorization_code",
        code=query["code"][0],
        redirect_uri=REDIRECT_URI,
        code_verifier=verifier,
    )
    assert granted.status_code == 200
    tokens = granted.json()
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 1800

    info = requests.get(
        hubspot.url + f"/oauth/v1/access-tokens/{tokens['access_token']}", timeout=5
    )
    assert info.status_code == 200
    assert info.json()["hub_id"] == DEMO
    assert info.json()["app_id"] == hubspot.sandbox.app_id
    assert "crm.objects.deals.read" in info.json()["scopes"]
    assert 0 < info.json()["expires_in"] <= 1800

    # The token reaches the Demo AG portal only.
    seed_website_deal(hubspot.sandbox)  # in Beispiel GmbH
    demo = HubSpot(hubspot.sandbox, hubspot.url, tokens["access_token"])
    assert demo.get("/crm/v3/objects/deals").json()["results"] == []
    used_again = exchange(
        hubspot,
        grant_type="authorization_code",
        code=query["code"][0],
        redirect_uri=REDIRECT_URI,
        code_verifier=verifier,
    )
    assert used_again.json()["status"] == "BAD_AUTH_CODE"


def test_denied_consent_redirects_with_access_denied(hubspot: HubSpot) -> None:
    location = authorize(hubspot, portal=BEISPIEL, challenge=pkce_pair()[1], decision="deny")
    assert parse_qs(urlsplit(location).query) == {"error": ["access_denied"], "state": ["csrf-123"]}


def test_bad_authorization_requests_are_shown_or_sent_back(hubspot: HubSpot) -> None:
    query = {"client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI, "scope": "oauth"}
    unknown_client = requests.get(
        hubspot.url + "/oauth/authorize", params={**query, "client_id": "nobody"}, timeout=5
    )
    assert unknown_client.status_code == 400
    assert "Unknown client_id." in unknown_client.text
    foreign = requests.get(
        hubspot.url + "/oauth/authorize",
        params={**query, "redirect_uri": "http://evil.example/cb"},
        timeout=5,
    )
    assert foreign.status_code == 400  # never redirected to an unregistered URI
    plain = requests.get(
        hubspot.url + "/oauth/authorize",
        params={**query, "state": "s", "code_challenge": "c", "code_challenge_method": "plain"},
        allow_redirects=False,
        timeout=5,
    )
    assert plain.status_code == 302
    sent_back = parse_qs(urlsplit(plain.headers["Location"]).query)
    assert sent_back["error"] == ["invalid_request"]
    assert sent_back["state"] == ["s"]


def test_refresh_then_revoked_refresh_token_is_refused(hubspot: HubSpot) -> None:
    verifier, challenge = pkce_pair()
    code = parse_qs(urlsplit(authorize(hubspot, portal=BEISPIEL, challenge=challenge)).query)
    tokens = exchange(
        hubspot,
        grant_type="authorization_code",
        code=code["code"][0],
        redirect_uri=REDIRECT_URI,
        code_verifier=verifier,
    ).json()
    refreshed = exchange(hubspot, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert refreshed.status_code == 200
    assert refreshed.json()["access_token"] != tokens["access_token"]
    assert refreshed.json()["refresh_token"] == tokens["refresh_token"]
    assert refreshed.json()["hub_id"] == BEISPIEL

    revoked = requests.delete(
        hubspot.url + f"/oauth/v1/refresh-tokens/{tokens['refresh_token']}", timeout=5
    )
    assert revoked.status_code == 204
    again = exchange(hubspot, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert again.status_code == 400
    assert again.json()["status"] == "BAD_REFRESH_TOKEN"
    wrong_secret = exchange(
        hubspot, grant_type="refresh_token", refresh_token="x", client_secret="guess"
    )
    assert wrong_secret.json()["status"] == "BAD_CLIENT_SECRET"


def test_expired_or_missing_token_is_answered_401(hubspot: HubSpot) -> None:
    expired = hubspot.sandbox.issue_token(BEISPIEL, expires_in=0.05)
    time.sleep(0.1)
    answer = requests.get(
        hubspot.url + "/crm/v3/objects/deals",
        headers={"Authorization": f"Bearer {expired}"},
        timeout=5,
    )
    body = assert_hubspot_error(answer, 401, "EXPIRED_AUTHENTICATION")
    assert body["message"].startswith("The OAuth token used to make this call expired")
    missing = requests.get(hubspot.url + "/crm/v3/objects/deals", timeout=5)
    assert_hubspot_error(missing, 401, "INVALID_AUTHENTICATION")


# -- CRM objects ----------------------------------------------------------------------------


def test_deal_read_with_associations_marks_the_primary_company(hubspot: HubSpot) -> None:
    deal_id = seed_website_deal(hubspot.sandbox)
    for path in (f"/crm/v3/objects/deals/{deal_id}", f"/crm/v3/objects/0-3/{deal_id}"):
        deal = hubspot.get(
            path,
            params={
                "associations": "companies,contacts,line_items",
                "properties": "dealname,amount,dealstage,hs_deal_stage_probability",
            },
        ).json()
        assert deal["properties"]["dealname"] == "Relaunch Website"
        assert deal["properties"]["hs_deal_stage_probability"] == "0.2"
        assert set(deal) >= {"id", "properties", "createdAt", "updatedAt", "archived"}
        company_types = {a["type"] for a in deal["associations"]["companies"]["results"]}
        assert company_types == {"deal_to_company", "deal_to_company_unlabeled"}
        assert len(deal["associations"]["line_items"]["results"]) == 2
        assert deal["associations"]["contacts"]["results"][0]["type"] == "deal_to_contact"

    companies = hubspot.get(f"/crm/v4/objects/deals/{deal_id}/associations/companies").json()
    (company,) = companies["results"]
    assert {t["typeId"] for t in company["associationTypes"]} == {5, 341}
    assert {"category": "HUBSPOT_DEFINED", "typeId": 5, "label": "Primary"} in company[
        "associationTypes"
    ]
    items = hubspot.get(f"/crm/v4/objects/0-3/{deal_id}/associations/line_items").json()
    assert {t["typeId"] for to in items["results"] for t in to["associationTypes"]} == {19}


def test_batch_read_of_line_items_and_its_limits(hubspot: HubSpot) -> None:
    deal_id = seed_website_deal(hubspot.sandbox)
    links = hubspot.get(f"/crm/v4/objects/deals/{deal_id}/associations/line_items").json()
    ids = [link["toObjectId"] for link in links["results"]]
    answer = hubspot.post(
        "/crm/v3/objects/line_items/batch/read",
        {
            "inputs": [{"id": i} for i in ids],
            "properties": ["name", "quantity", "price", "amount", "hs_sku"],
            "propertiesWithHistory": [],
        },
    )
    assert answer.status_code == 200
    by_name = {r["properties"]["name"]: r["properties"] for r in answer.json()["results"]}
    assert by_name["Umsetzung"]["amount"] == "3000.00"
    assert by_name["Umsetzung"]["hs_sku"] == "DEV-1"

    partly = hubspot.post(
        "/crm/v3/objects/line_items/batch/read",
        {"inputs": [{"id": ids[0]}, {"id": "404"}], "properties": [], "propertiesWithHistory": []},
    )
    assert partly.status_code == 207
    assert partly.json()["errors"][0]["context"] == {"ids": ["404"]}

    too_many = hubspot.post(
        "/crm/v3/objects/line_items/batch/read",
        {
            "inputs": [{"id": str(i)} for i in range(101)],
            "properties": [],
            "propertiesWithHistory": [],
        },
    )
    assert_hubspot_error(too_many, 400, "VALIDATION_ERROR")
    without_history = hubspot.post(
        "/crm/v3/objects/line_items/batch/read", {"inputs": [], "properties": []}
    )
    body = assert_hubspot_error(without_history, 400, "VALIDATION_ERROR")
    assert "propertiesWithHistory" in body["message"]


def search_body(**changes: Any) -> dict[str, Any]:
    # The spec requires every one of these fields.
    return {"filterGroups": [], "sorts": [], "properties": [], "limit": 10, "after": "0", **changes}


def test_search_contact_by_email_and_lookup_by_id_property(hubspot: HubSpot) -> None:
    seed_website_deal(hubspot.sandbox)
    hubspot.sandbox.seed_object(BEISPIEL, "contacts", {"email": "bert@example.org"})
    found = hubspot.post(
        "/crm/v3/objects/contacts/search",
        search_body(
            filterGroups=[
                {
                    "filters": [
                        {"propertyName": "email", "operator": "EQ", "value": "ANNA@beispiel.de"}
                    ]
                }
            ],
            properties=["email", "firstname"],
        ),
    ).json()
    assert found["total"] == 1
    assert found["results"][0]["properties"]["firstname"] == "Anna"

    by_email = hubspot.get(
        "/crm/v3/objects/contacts/anna@beispiel.de", params={"idProperty": "email"}
    ).json()
    assert by_email["id"] == found["results"][0]["id"]

    first = hubspot.post(
        "/crm/v3/objects/contacts/search", search_body(limit=1, sorts=["-createdate"])
    ).json()
    assert first["total"] == 2
    second = hubspot.post(
        "/crm/v3/objects/contacts/search",
        search_body(limit=1, sorts=["-createdate"], after=first["paging"]["next"]["after"]),
    ).json()
    ids = {first["results"][0]["id"], second["results"][0]["id"]}
    assert len(ids) == 2
    assert by_email["id"] in ids
    bad = hubspot.post(
        "/crm/v3/objects/contacts/search",
        search_body(filterGroups=[{"filters": [{"propertyName": "email", "operator": "LIKE"}]}]),
    )
    assert_hubspot_error(bad, 400, "VALIDATION_ERROR")
    missing = hubspot.get(
        "/crm/v3/objects/contacts/nobody@example.org", params={"idProperty": "email"}
    )
    assert_hubspot_error(missing, 404, "OBJECT_NOT_FOUND")


def test_create_update_list_and_validation_errors(hubspot: HubSpot) -> None:
    company = hubspot.post(
        "/crm/v3/objects/companies",
        {"properties": {"name": "Demo AG", "domain": "demo.ch"}, "associations": []},
    )
    assert company.status_code == 201
    deal = hubspot.post(
        "/crm/v3/objects/deals",
        {
            "properties": {"dealname": "Pilot", "amount": "900", "pipeline": "default"},
            "associations": [
                {
                    "to": {"id": company.json()["id"]},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 5}],
                }
            ],
        },
    )
    assert deal.status_code == 201
    assert deal.json()["properties"]["dealstage"] == "appointmentscheduled"
    moved = requests.patch(
        hubspot.url + f"/crm/v3/objects/deals/{deal.json()['id']}",
        json={"properties": {"dealstage": "closedwon"}},
        headers=hubspot.auth,
        timeout=5,
    )
    assert moved.json()["properties"]["dealstage"] == "closedwon"
    assert "closedate" in moved.json()["properties"]

    unknown = hubspot.post(
        "/crm/v3/objects/deals",
        {"properties": {"dealname": "X", "hs_tax_rate": "19"}, "associations": []},
    )
    body = assert_hubspot_error(unknown, 400, "VALIDATION_ERROR")
    assert body["message"].startswith("Property values were not valid")
    assert body["errors"][0]["code"] == "PROPERTY_DOESNT_EXIST"
    bad_stage = hubspot.post(
        "/crm/v3/objects/deals",
        {"properties": {"dealname": "X", "dealstage": "won"}, "associations": []},
    )
    assert assert_hubspot_error(bad_stage, 400, "VALIDATION_ERROR")["errors"][0]["code"] == (
        "INVALID_OPTION"
    )
    no_associations = hubspot.post("/crm/v3/objects/deals", {"properties": {"dealname": "X"}})
    # The spec's SimplePublicObjectInputForCreate requires `associations`: the spec step
    # refuses it with one ErrorDetail naming the field.
    assert assert_hubspot_error(no_associations, 400, "VALIDATION_ERROR")["errors"] == [
        {
            "message": "'associations' is a required property",
            "in": "associations",
            "code": "INVALID_INPUT",
        }
    ]
    contact = {"properties": {"email": "eva@demo.ch"}, "associations": []}
    assert hubspot.post("/crm/v3/objects/contacts", contact).status_code == 201
    assert_hubspot_error(hubspot.post("/crm/v3/objects/contacts", contact), 409, "CONFLICT")

    for n in range(3):
        hubspot.sandbox.seed_object(BEISPIEL, "products", {"name": f"Produkt {n}", "price": "10"})
    page = hubspot.get("/crm/v3/objects/products", params={"limit": 2}).json()
    assert len(page["results"]) == 2
    rest = hubspot.get(
        "/crm/v3/objects/products", params={"limit": 2, "after": page["paging"]["next"]["after"]}
    ).json()
    assert [p["properties"]["name"] for p in rest["results"]] == ["Produkt 2"]
    assert "paging" not in rest


def test_a_list_resumes_after_a_cursor_whose_object_was_archived_meanwhile(
    hubspot: HubSpot,
) -> None:
    """The product stores the `after` of an import and resumes from it later: HubSpot's
    cursor names a place in the list, so it stays good when its object is gone."""
    ids = [
        hubspot.sandbox.seed_object(BEISPIEL, "companies", {"name": f"Firma {n}"}) for n in range(3)
    ]
    first = hubspot.get("/crm/v3/objects/companies", params={"limit": 1}).json()
    cursor = first["paging"]["next"]["after"]
    assert first["paging"]["next"]["link"] == f"?after={cursor}"
    hubspot.sandbox.archive_object(BEISPIEL, "companies", ids[0], "CRM_UI")

    rest = hubspot.get("/crm/v3/objects/companies", params={"after": cursor}).json()

    assert [c["id"] for c in rest["results"]] == ids[1:]
    assert "paging" not in rest
    made_up = hubspot.get("/crm/v3/objects/companies", params={"after": "not-a-cursor"})
    assert_hubspot_error(made_up, 400, "VALIDATION_ERROR")


def test_a_path_names_an_object_type_by_name_singular_or_type_id() -> None:
    # Without the contract check: the specs know each type by one name only.
    sandbox = HubSpotSandbox()
    company = sandbox.seed_object(BEISPIEL, "companies", {"name": "Beispiel GmbH"})
    with running(sandbox) as handle:
        hub = HubSpot(sandbox, handle.url, sandbox.issue_token(BEISPIEL))
        for spelling in ("companies", "company", "0-2"):
            assert hub.get(f"/crm/v3/objects/{spelling}/{company}").json()["id"] == company
        unknown = assert_hubspot_error(hub.get("/crm/v3/objects/tickets"), 400, "VALIDATION_ERROR")
        assert unknown["message"] == "Unable to infer object type from: tickets"
        # The credential is checked before the path's type.
        anonymous = requests.get(handle.url + "/crm/v3/objects/tickets", timeout=5)
        assert anonymous.status_code == 401
    sandbox.webhooks.stop()


def test_an_unknown_setting_is_refused() -> None:
    with pytest.raises(TypeError, match="rate_limit_maximum"):
        HubSpotSandbox(rate_limit_maximum=3)


def test_pipelines_carry_probability_as_strings(hubspot: HubSpot) -> None:
    pipelines = hubspot.get("/crm/v3/pipelines/deals").json()["results"]
    assert [p["id"] for p in pipelines] == ["default", "98765000"]
    probability = {s["id"]: s["metadata"]["probability"] for s in pipelines[0]["stages"]}
    assert probability["appointmentscheduled"] == "0.2"
    assert probability["closedwon"] == "1.0"
    assert probability["closedlost"] == "0.0"
    assert sum(1 for s in pipelines[1]["stages"] if s["metadata"]["probability"] == "1.0") == 2
    # Only deal pipelines are modelled.
    assert hubspot.get("/crm/v3/pipelines/tickets").status_code == 400


# -- limits and faults ----------------------------------------------------------------------


def test_rate_limit_answers_429_with_hubspot_headers() -> None:
    with start(rate_limit_max=3, rate_limit_interval=0.5) as hub:
        answers = [hub.get("/crm/v3/objects/contacts") for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert answers[0].headers["X-HubSpot-RateLimit-Max"] == "3"
        assert answers[0].headers["X-HubSpot-RateLimit-Remaining"] == "2"
        assert answers[0].headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "500"
        limited = answers[3]
        assert limited.headers["X-HubSpot-RateLimit-Remaining"] == "0"
        body = assert_hubspot_error(limited, 429, "RATE_LIMITS")
        assert body["errorType"] == "RATE_LIMIT"
        assert body["policyName"] == "TEN_SECONDLY_ROLLING"
        # Another portal has its own window.
        other = HubSpot(hub.sandbox, hub.url, hub.sandbox.issue_token(DEMO))
        assert other.get("/crm/v3/objects/contacts").status_code == 200
        time.sleep(0.55)
        assert hub.get("/crm/v3/objects/contacts").status_code == 200


def set_faults(hub: HubSpot, **faults: Any) -> None:
    assert requests.post(hub.url + "/_sandbox/faults", json=faults, timeout=5).status_code == 200


def test_fault_switches(hubspot: HubSpot) -> None:
    set_faults(hubspot, latency_ms=300)
    started = time.monotonic()
    assert hubspot.get("/crm/v3/pipelines/deals").status_code == 200
    assert time.monotonic() - started >= 0.3

    set_faults(hubspot, latency_ms=0, server_error_rate=1.0)
    assert_hubspot_error(hubspot.get("/crm/v3/objects/deals"), 500, "INTERNAL_ERROR")

    set_faults(hubspot, server_error_rate=0.0, drop_after_commit_rate=1.0)
    with pytest.raises(requests.ConnectionError):
        hubspot.post(
            "/crm/v3/objects/companies",
            {"properties": {"name": "Lost Answer AG"}, "associations": []},
        )
    set_faults(hubspot, drop_after_commit_rate=0.0)
    found = hubspot.post(
        "/crm/v3/objects/companies/search",
        search_body(
            filterGroups=[
                {"filters": [{"propertyName": "name", "operator": "EQ", "value": "Lost Answer AG"}]}
            ]
        ),
    ).json()
    assert found["total"] == 1  # committed although the client got no answer

    set_faults(hubspot, down_for_seconds=0.3)
    assert hubspot.get("/crm/v3/objects/deals").status_code == 503
    time.sleep(0.35)
    assert hubspot.get("/crm/v3/objects/deals").status_code == 200


# -- webhooks, board, inspection ------------------------------------------------------------


@dataclass
class Receiver:
    """A tiny webhook endpoint that fails the first `failures` requests with 500."""

    failures: int = 0
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                status = 500 if len(receiver.requests) <= receiver.failures else 204
                self.send_response(status)
                self.end_headers()
                if status == 204:
                    receiver.arrived.set()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hubspot/webhooks?source=test"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()


def verify_v1(headers: dict[str, str], body: bytes) -> bool:
    expected = hashlib.sha256(CLIENT_SECRET.encode() + body).hexdigest()
    return headers["X-HubSpot-Signature-Version"] == "v1" and hmac.compare_digest(
        expected, headers["X-HubSpot-Signature"]
    )


def verify_v3(headers: dict[str, str], body: bytes, url: str) -> bool:
    timestamp = headers["X-HubSpot-Request-Timestamp"]
    if abs(time.time() * 1000 - int(timestamp)) > 5 * 60 * 1000:
        return False
    message = f"POST{url}{body.decode()}{timestamp}".encode()
    expected = base64.b64encode(hmac.new(CLIENT_SECRET.encode(), message, hashlib.sha256).digest())
    return hmac.compare_digest(expected.decode(), headers["X-HubSpot-Signature-v3"])


def test_stage_move_on_the_board_sends_a_signed_batch_and_retries() -> None:
    receiver = Receiver(failures=1)
    with start(webhook_retry_base_delay=0.05, webhook_batch_window=0.05) as hub:
        configured = requests.post(
            hub.url + "/_sandbox/webhooks",
            json={"target_url": receiver.url, "subscriptions": ["deal.propertyChange"]},
            timeout=5,
        )
        assert configured.status_code == 200
        deal_id = seed_website_deal(hub.sandbox)
        moved = requests.post(
            hub.url + "/_sandbox/board/move",
            data={"portal": BEISPIEL, "deal_id": deal_id, "stage": "contractsent"},
            allow_redirects=False,
            timeout=5,
        )
        assert moved.status_code == 303
        assert receiver.arrived.wait(5)
        assert hub.sandbox.webhooks.wait_idle()

        (first_headers, first_body), (headers, body) = receiver.requests
        assert verify_v1(headers, body)
        assert verify_v3(headers, body, receiver.url)
        assert verify_v3(first_headers, first_body, receiver.url)
        events = json.loads(body)
        assert [e["attemptNumber"] for e in json.loads(first_body)] == [0]
        (event,) = events
        assert event["attemptNumber"] == 1
        assert event["subscriptionType"] == "deal.propertyChange"
        assert event["propertyName"] == "dealstage"
        assert event["propertyValue"] == "contractsent"
        assert event["objectId"] == int(deal_id)
        assert event["portalId"] == BEISPIEL
        assert event["appId"] == hub.sandbox.app_id
        assert event["changeSource"] == "CRM_UI"
        assert abs(event["occurredAt"] - time.time() * 1000) < 10_000

        # Changes within the batch window travel together.
        requests.patch(
            hub.url + f"/crm/v3/objects/deals/{deal_id}",
            json={"properties": {"dealname": "Relaunch 2.0", "amount": "5000"}},
            headers=hub.auth,
            timeout=5,
        )
        assert hub.sandbox.webhooks.wait_idle()
        batch = json.loads(receiver.requests[-1][1])
        assert {e["propertyName"] for e in batch} == {"dealname", "amount"}

        state = requests.get(hub.url + "/_sandbox/state", timeout=5).json()
        attempts = [a for a in state["webhook_attempts"] if a["delivery"] == 1]
        assert [(a["attemptNumber"], a["status"]) for a in attempts] == [(0, 500), (1, 204)]
        assert state["webhook_deliveries"][0]["state"] == "delivered"
    receiver.stop()


def test_board_creates_a_deal_and_the_inspection_page_lists_it(hubspot: HubSpot) -> None:
    created = requests.post(
        hubspot.url + "/_sandbox/board/deals",
        data={
            "portal": DEMO,
            "pipeline": "98765000",
            "dealname": "Jahreswartung",
            "amount": "2400",
            "stage": "98765001",
            "company_name": "Demo AG",
            "company_domain": "demo.ch",
            "company_address": "Bahnhofstrasse 1",
            "contact_firstname": "Eva",
            "contact_lastname": "Beispiel",
            "contact_email": "eva@demo.ch",
            "li_name": ["Wartung", ""],
            "li_quantity": ["12", ""],
            "li_price": ["200", ""],
            "li_sku": ["", ""],
            "li_discount": ["10", ""],
        },
        timeout=5,
    )
    assert created.status_code == 200  # followed the redirect back to the board
    assert "Jahreswartung" in created.text
    assert "Angebot verschickt" in created.text

    state = requests.get(hubspot.url + "/_sandbox/state", timeout=5).json()
    (line_item,) = state["line_items"]
    assert line_item["amount"] == "2160.00"
    assert line_item["hs_discount_percentage"] == "10"
    page = requests.get(hubspot.url + "/_sandbox/", timeout=5).text
    assert "Jahreswartung" in page
    assert "eva@demo.ch" in page


def test_api_creates_and_deletions_emit_creation_association_and_deletion_events() -> None:
    receiver = Receiver()
    subscriptions = [
        "contact.creation",
        "contact.deletion",
        {"eventType": "contact.associationChange"},
        {"eventType": "deal.propertyChange", "propertyName": "amount"},
    ]
    with start(
        webhook_target_url=receiver.url,
        webhook_subscriptions=subscriptions,
        webhook_batch_window=0.05,
    ) as hub:
        deal_id = hub.sandbox.seed_deal(BEISPIEL, name="Ohne Betrag")
        created = hub.post(
            "/crm/v3/objects/contacts",
            {
                "properties": {"email": "neu@beispiel.de"},
                "associations": [
                    {
                        "to": {"id": deal_id},
                        "types": [
                            {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 4}
                        ],
                    }
                ],
            },
        ).json()
        # dealname is not subscribed; amount is.
        hub.sandbox.update_object(BEISPIEL, "deals", deal_id, {"dealname": "Neu"}, "CRM_UI")
        hub.sandbox.update_object(BEISPIEL, "deals", deal_id, {"amount": "10"}, "CRM_UI")
        deleted = requests.delete(
            hub.url + f"/crm/v3/objects/contacts/{created['id']}", headers=hub.auth, timeout=5
        )
        assert deleted.status_code == 204
        assert hub.sandbox.webhooks.wait_idle()
        events = [event for _, body in receiver.requests for event in json.loads(body)]
        by_type = {event["subscriptionType"]: event for event in events}
        assert sorted(by_type) == [
            "contact.associationChange",
            "contact.creation",
            "contact.deletion",
            "deal.propertyChange",
        ]
        assert by_type["contact.creation"]["objectId"] == int(created["id"])
        assert by_type["contact.creation"]["changeFlag"] == "NEW"
        assert by_type["contact.deletion"]["changeFlag"] == "DELETED"
        association = by_type["contact.associationChange"]
        assert association["associationType"] == "CONTACT_TO_DEAL"
        assert association["toObjectId"] == int(deal_id)
        assert association["associationRemoved"] is False
        assert by_type["deal.propertyChange"]["propertyName"] == "amount"
        assert len({event["eventId"] for event in events}) == len(events)
        archived = hub.get(f"/crm/v3/objects/contacts/{created['id']}", params={"archived": "true"})
        assert archived.json()["archived"] is True
    receiver.stop()


def test_custom_deal_property_can_be_made_and_written(hubspot: HubSpot) -> None:
    deal_id = hubspot.sandbox.seed_deal(BEISPIEL, name="Zurückschreiben")
    write = {"properties": {"apiup_quote_number": "AN-1"}}
    path = f"/crm/v3/objects/deals/{deal_id}"
    before = requests.patch(hubspot.url + path, json=write, headers=hubspot.auth, timeout=5)
    assert assert_hubspot_error(before, 400, "VALIDATION_ERROR")["errors"][0]["code"] == (
        "PROPERTY_DOESNT_EXIST"
    )
    group = {"name": "apiup", "label": "APIUP", "displayOrder": -1}
    assert hubspot.post("/crm/v3/properties/deals/groups", group).status_code == 201
    assert_hubspot_error(
        hubspot.post("/crm/v3/properties/deals/groups", group), 409, "OBJECT_ALREADY_EXISTS"
    )
    definition = {
        "name": "apiup_quote_number",
        "label": "Quote number (APIUP)",
        "groupName": "apiup",
        "type": "string",
        "fieldType": "text",
        "formField": False,
    }
    created = hubspot.post("/crm/v3/properties/deals", definition)
    assert created.status_code == 201
    assert created.json()["hubspotDefined"] is False
    assert_hubspot_error(
        hubspot.post("/crm/v3/properties/deals", definition), 409, "OBJECT_ALREADY_EXISTS"
    )
    batch = {"archived": False, "dataSensitivity": "non_sensitive"}
    read = hubspot.post(
        "/crm/v3/properties/deals/batch/read",
        {**batch, "inputs": [{"name": "apiup_quote_number"}, {"name": "apiup_quote_url"}]},
    )
    assert read.status_code == 207
    assert [p["name"] for p in read.json()["results"]] == ["apiup_quote_number"]

    after = requests.patch(hubspot.url + path, json=write, headers=hubspot.auth, timeout=5)
    assert after.status_code == 200
    got = hubspot.get(path, params={"properties": "apiup_quote_number"}).json()
    assert got["properties"]["apiup_quote_number"] == "AN-1"
    # Another portal does not know the property.
    demo = HubSpot(hubspot.sandbox, hubspot.url, hubspot.sandbox.issue_token(DEMO))
    unknown = demo.post(
        "/crm/v3/properties/deals/batch/read", {**batch, "inputs": [{"name": "apiup_quote_number"}]}
    )
    assert unknown.status_code == 207
    assert unknown.json()["results"] == []


def test_webhook_batches_hold_at_most_100_events() -> None:
    receiver = Receiver()
    with start(
        webhook_target_url=receiver.url,
        webhook_subscriptions=["company.creation"],
        webhook_batch_window=1.0,
    ) as hub:
        for n in range(150):
            hub.sandbox.seed_object(BEISPIEL, "companies", {"name": f"Firma {n}"})
        assert hub.sandbox.webhooks.wait_idle()
        sizes = sorted(len(json.loads(body)) for _, body in receiver.requests)
        # Every event once, never more than 100 in one delivery (on a busy machine the
        # seeding may outlast the window and cut one more batch).
        assert sum(sizes) == 150
        assert max(sizes) == 100
    receiver.stop()


def test_the_spec_step_refuses_a_contact_before_the_handler(hubspot: HubSpot) -> None:
    def stored() -> int:
        return len(hubspot.sandbox.store.select("contacts", str(BEISPIEL)))

    before = stored()
    answer = hubspot.post(
        "/crm/v3/objects/contacts",
        {"properties": ["email", "spec@demo.ch"], "associations": []},
    )

    body = assert_hubspot_error(answer, 400, "VALIDATION_ERROR")
    assert body["message"].startswith("Invalid input: body properties:")
    assert body["errors"] == [
        {
            "message": "['email', 'spec@demo.ch'] is not of type 'object'",
            "in": "properties",
            "code": "INVALID_INPUT",
        }
    ]
    assert stored() == before
