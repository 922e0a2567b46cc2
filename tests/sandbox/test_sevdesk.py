"""The sevDesk stand-in over real HTTP: token auth, contacts with address, e-mail and custom
field, quotes through saveOrder, invoices, sevDesk's refusals, rate limit, faults, and that
the valid traffic matches sevDesk's (patched) OpenAPI file."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from sandbox.core import RunningSandbox, running
from sandbox.sevdesk.app import Account, SevdeskSandbox

TOKEN = "b7794de0085f5cd00560f160f290af38"  # the spec's own example token
OTHER_TOKEN = "0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f"

# Real sevDesk endpoints that the spec does not declare (the contract checker cannot know
# them), and the unknown path the 404 test asks for.
NOT_IN_SPEC = {"/api/v1/Unity", "/api/v1/SevUser", "/api/v1/StaticCountry", "/api/v1/Nonsense"}

AUTH_REQUIRED = {"error": {"message": "Authentication required", "code": None, "data": None}}


@pytest.fixture(scope="module")
def server() -> Iterator[RunningSandbox]:
    sandbox = SevdeskSandbox(contract=True, demo_token=None)
    sandbox.add_account(token=TOKEN, company_name="Muster GmbH")
    sandbox.add_account(token=OTHER_TOKEN, company_name="Andere AG")
    with running(sandbox) as handle:
        yield handle


def assert_refused_by_spec(answer: requests.Response, field: str, where: str = "body") -> None:
    """sevDesk's answer to a request its spec refuses: 400 with its error object, naming the
    field."""
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert set(error) == {"message", "code", "data"}
    assert error["code"] == 400
    assert f"{where} {field}:" in error["message"], error["message"]


@pytest.fixture
def sevdesk(server: RunningSandbox) -> Iterator[Api]:
    yield Api(server.url, TOKEN)
    requests.post(
        f"{server.url}/_sandbox/faults",
        json={
            "latency_ms": 0,
            "server_error_rate": 0,
            "drop_after_commit_rate": 0,
            "down_until": 0,
        },
        timeout=5,
    )


class Api:
    """A bare sevDesk client: the raw token in the Authorization header, no Bearer."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token

    def get(self, path: str, **params: Any) -> requests.Response:
        return requests.get(
            f"{self.url}/api/v1{path}",
            params=params,
            headers={"Authorization": self.token},
            timeout=5,
        )

    def post(self, path: str, body: Any) -> requests.Response:
        return requests.post(
            f"{self.url}/api/v1{path}",
            json=body,
            headers={"Authorization": self.token},
            timeout=5,
        )

    def put(self, path: str, body: Any) -> requests.Response:
        return requests.put(
            f"{self.url}/api/v1{path}",
            json=body,
            headers={"Authorization": self.token},
            timeout=5,
        )

    def company(self, name: str, **extra: Any) -> dict[str, Any]:
        response = self.post(
            "/Contact", {"name": name, "category": {"id": 3, "objectName": "Category"}, **extra}
        )
        assert response.status_code == 201, response.text
        contact: dict[str, Any] = response.json()["objects"][0]
        return contact

    def person(self, first: str, last: str, parent_id: str) -> dict[str, Any]:
        response = self.post(
            "/Contact",
            {
                "surename": first,
                "familyname": last,
                "parent": {"id": int(parent_id), "objectName": "Contact"},
                "category": {"id": 3, "objectName": "Category"},
            },
        )
        assert response.status_code == 201, response.text
        contact: dict[str, Any] = response.json()["objects"][0]
        return contact

    def sev_user_id(self) -> int:
        return int(self.get("/SevUser").json()["objects"][0]["id"])


def quote(contact_id: str, sev_user_id: int, number: str, **order: Any) -> dict[str, Any]:
    """A draft quote (Angebot) with three positions. The positions carry no `objectName`:
    live clients send "OrderPos", but the spec marks `Model_OrderPos.objectName` read-only."""
    return {
        "order": {
            "objectName": "Order",
            "mapAll": True,
            "contact": {"id": int(contact_id), "objectName": "Contact"},
            "contactPerson": {"id": sev_user_id, "objectName": "SevUser"},
            "orderNumber": number,
            "orderDate": "2026-01-15",
            "status": 100,
            "header": f"Angebot {number}",
            "orderType": "AN",
            "currency": "EUR",
            "taxRate": 19,
            "taxRule": {"id": "1", "objectName": "TaxRule"},
            "taxText": "Umsatzsteuer 19%",
            "taxType": "default",
            "addressCountry": {"id": 1, "objectName": "StaticCountry"},
            "version": 0,
            **order,
        },
        "orderPosSave": [
            {
                "quantity": 2,
                "price": 100,
                "name": "Beratung",
                "unity": {"id": 9, "objectName": "Unity"},
                "taxRate": 19,
            },
            {
                "quantity": 1,
                "price": 49.5,
                "name": "Lizenz",
                "unity": {"id": 1, "objectName": "Unity"},
                "taxRate": 19,
            },
            {
                "quantity": 3,
                "price": 10,
                "name": "Fachbuch",
                "unity": {"id": 1, "objectName": "Unity"},
                "taxRate": 7,
            },
        ],
    }


def invoice(contact_id: str, sev_user_id: int, **fields: Any) -> dict[str, Any]:
    """A draft invoice with one position; `Model_InvoicePos` requires objectName and mapAll."""
    return {
        "invoice": {
            "objectName": "Invoice",
            "mapAll": True,
            "contact": {"id": int(contact_id), "objectName": "Contact"},
            "contactPerson": {"id": sev_user_id, "objectName": "SevUser"},
            "invoiceDate": "01.02.2026",
            "discount": 0,
            "status": "100",
            "invoiceType": "RE",
            "currency": "EUR",
            "taxRate": 19,
            "taxRule": {"id": "1", "objectName": "TaxRule"},
            "taxText": "Umsatzsteuer 19%",
            "taxType": "default",
            "addressCountry": {"id": 1, "objectName": "StaticCountry"},
            **fields,
        },
        "invoicePosSave": [
            {
                "objectName": "InvoicePos",
                "mapAll": True,
                "quantity": 1,
                "price": 250,
                "name": "Projekt",
                "unity": {"id": 1, "objectName": "Unity"},
                "taxRate": 19,
            }
        ],
    }


# -- auth --------------------------------------------------------------------------------


def test_raw_token_is_accepted_and_bearer_refused(sevdesk: Api) -> None:
    assert sevdesk.get("/Contact").status_code == 200

    bearer = Api(sevdesk.url, f"Bearer {TOKEN}").get("/Contact")
    assert bearer.status_code == 401
    assert bearer.json() == AUTH_REQUIRED

    unknown = Api(sevdesk.url, "ffffffffffffffffffffffffffffffff").get("/Contact")
    assert unknown.status_code == 401
    assert unknown.json() == AUTH_REQUIRED

    # The removed `?token=` query parameter no longer authenticates.
    query = requests.get(f"{sevdesk.url}/api/v1/Contact", params={"token": TOKEN}, timeout=5)
    assert query.status_code == 401


# -- contacts ----------------------------------------------------------------------------


def test_company_and_person_with_address_and_email(sevdesk: Api) -> None:
    countries = {c["code"]: c["id"] for c in sevdesk.get("/StaticCountry").json()["objects"]}
    assert {"de", "ch", "fr", "at"} <= countries.keys()
    keys = {k["name"]: k["id"] for k in sevdesk.get("/CommunicationWayKey").json()["objects"]}

    company = sevdesk.company("Beispiel GmbH", vatNumber="DE123456789")
    person = sevdesk.person("Erika", "Mustermann", company["id"])
    assert company["customerNumber"]
    assert person["customerNumber"]
    assert company["customerNumber"] != person["customerNumber"]
    assert person["parent"] == {"id": company["id"], "objectName": "Contact"}
    assert company["category"] == {"id": "3", "objectName": "Category"}

    address = sevdesk.post(
        "/ContactAddress",
        {
            "contact": {"id": int(company["id"]), "objectName": "Contact"},
            "street": "Hauptstraße 1",
            "zip": "10115",
            "city": "Berlin",
            "country": {"id": int(countries["de"]), "objectName": "StaticCountry"},
        },
    )
    assert address.status_code == 201, address.text
    assert address.json()["objects"][0]["contact"]["id"] == int(company["id"])
    listed = sevdesk.get("/ContactAddress", **{"contact[id]": company["id"]}).json()
    assert [a["city"] for a in listed["objects"]] == ["Berlin"]

    email = sevdesk.post(
        "/CommunicationWay",
        {
            "contact": {"id": int(person["id"]), "objectName": "Contact"},
            "type": "EMAIL",
            "value": "erika@beispiel.de",
            "key": {"id": int(keys["Arbeit"]), "objectName": "CommunicationWayKey"},
            "main": True,
        },
    )
    assert email.status_code == 201, email.text
    found = sevdesk.get(
        "/CommunicationWay",
        **{"contact[id]": person["id"], "contact[objectName]": "Contact", "type": "EMAIL"},
    ).json()["objects"]
    assert [(w["value"], w["main"]) for w in found] == [("erika@beispiel.de", "1")]
    assert (
        sevdesk.get("/CommunicationWay", **{"contact[id]": person["id"], "type": "PHONE"}).json()[
            "objects"
        ]
        == []
    )


def test_lookup_by_customer_number_needs_depth_for_persons(sevdesk: Api) -> None:
    company = sevdesk.company("Tiefe AG", customerNumber="K-4711")
    person = sevdesk.person("Max", "Tiefe", company["id"])

    by_number = sevdesk.get("/Contact", customerNumber="K-4711").json()["objects"]
    assert [c["id"] for c in by_number] == [company["id"]]

    # depth 0 (the default) returns organisations only.
    assert sevdesk.get("/Contact", customerNumber=person["customerNumber"]).json()["objects"] == []
    with_persons = sevdesk.get("/Contact", customerNumber=person["customerNumber"], depth="1")
    assert [c["id"] for c in with_persons.json()["objects"]] == [person["id"]]

    embedded = sevdesk.get(f"/Contact/{person['id']}", embed="parent").json()["objects"][0]
    assert embedded["parent"]["name"] == "Tiefe AG"

    missing = sevdesk.get("/Contact/999999999")
    assert missing.status_code == 400
    assert missing.json()["error"]["message"] == "Contact was not found"


def test_contact_update_changes_the_name(sevdesk: Api) -> None:
    company = sevdesk.company("Alt GmbH")
    updated = sevdesk.put(f"/Contact/{company['id']}", {"name": "Neu GmbH"})
    assert updated.status_code == 200, updated.text
    assert sevdesk.get(f"/Contact/{company['id']}").json()["objects"][0]["name"] == "Neu GmbH"


def test_contact_refusals(sevdesk: Api) -> None:
    no_category = sevdesk.post("/Contact", {"name": "Ohne Kategorie"})
    assert_refused_by_spec(no_category, "category")

    flat_category = sevdesk.post("/Contact", {"name": "X", "category": 3})
    assert_refused_by_spec(flat_category, "category")

    nameless = sevdesk.post("/Contact", {"category": {"id": 3, "objectName": "Category"}})
    assert nameless.status_code == 400

    no_country = sevdesk.post(
        "/ContactAddress",
        {"contact": {"id": int(sevdesk.company("Adresslos")["id"]), "objectName": "Contact"}},
    )
    assert_refused_by_spec(no_country, "country")

    no_key = sevdesk.post("/CommunicationWay", {"type": "EMAIL", "value": "a@b.de"})
    assert_refused_by_spec(no_key, "key")

    too_many = sevdesk.get("/Contact", limit="1001")
    assert too_many.status_code == 400


# -- quotes and invoices -----------------------------------------------------------------


def test_quote_with_three_positions_is_saved_and_read_back(sevdesk: Api) -> None:
    unities = {u["name"]: u["id"] for u in sevdesk.get("/Unity").json()["objects"]}
    assert unities["Stk"] == "1"
    assert unities["Std"] == "9"
    company = sevdesk.company("Angebot GmbH")

    saved = sevdesk.post(
        "/Order/Factory/saveOrder", quote(company["id"], sevdesk.sev_user_id(), "AN-1001")
    )
    assert saved.status_code == 201, saved.text
    order = saved.json()["objects"]["order"]
    assert len(saved.json()["objects"]["orderPos"]) == 3
    assert order["orderType"] == "AN"
    assert order["status"] == "100"
    # 2 x 100 + 49.50 at 19 %, 3 x 10 at 7 %
    assert (order["sumNet"], order["sumTax"], order["sumGross"]) == ("279.5", "49.51", "329.01")
    assert order["orderDate"].startswith("2026-01-15T00:00:00")
    assert order["taxRule"] == {"id": "1", "objectName": "TaxRule"}

    by_id = sevdesk.get(f"/Order/{order['id']}").json()["objects"]
    assert [o["orderNumber"] for o in by_id] == ["AN-1001"]
    # After an unknown outcome the product finds its quote by number.
    by_number = sevdesk.get("/Order", orderNumber="AN-1001").json()["objects"]
    assert [o["id"] for o in by_number] == [order["id"]]
    by_contact = sevdesk.get("/Order", **{"contact[id]": company["id"], "status": "100"})
    assert [o["id"] for o in by_contact.json()["objects"]] == [order["id"]]
    assert sevdesk.get("/Order", status="draft").status_code == 400
    positions = sevdesk.get(f"/Order/{order['id']}/getPositions").json()["objects"]
    assert [(p["name"], p["quantity"], p["unity"]["id"]) for p in positions] == [
        ("Beratung", "2", "9"),
        ("Lizenz", "1", "1"),
        ("Fachbuch", "3", "1"),
    ]

    german_date = sevdesk.post(
        "/Order/Factory/saveOrder",
        quote(company["id"], sevdesk.sev_user_id(), "AN-1002", orderDate="15.01.2026"),
    )
    assert german_date.status_code == 201, german_date.text


def test_invalid_quotes_are_refused_and_not_stored(sevdesk: Api, server: RunningSandbox) -> None:
    company = sevdesk.company("Fehler GmbH")
    user = sevdesk.sev_user_id()
    sandbox = server.sandbox
    assert isinstance(sandbox, SevdeskSandbox)
    stored = len(sandbox.orders)

    no_contact = quote(company["id"], user, "AN-2001")
    del no_contact["order"]["contact"]
    assert_refused_by_spec(sevdesk.post("/Order/Factory/saveOrder", no_contact), "order.contact")

    single = quote(company["id"], user, "AN-2002")
    single["orderPosSave"] = single["orderPosSave"][0]
    assert_refused_by_spec(sevdesk.post("/Order/Factory/saveOrder", single), "orderPosSave")

    no_unity = quote(company["id"], user, "AN-2003")
    del no_unity["orderPosSave"][1]["unity"]
    assert sevdesk.post("/Order/Factory/saveOrder", no_unity).status_code == 400

    no_currency = quote(company["id"], user, "AN-2004")
    del no_currency["order"]["currency"]
    assert_refused_by_spec(sevdesk.post("/Order/Factory/saveOrder", no_currency), "order.currency")

    bad_date = quote(company["id"], user, "AN-2005", orderDate="next tuesday")
    assert sevdesk.post("/Order/Factory/saveOrder", bad_date).status_code == 400

    wrong_rate = quote(company["id"], user, "AN-2006")
    wrong_rate["orderPosSave"][0]["taxRate"] = 16
    assert sevdesk.post("/Order/Factory/saveOrder", wrong_rate).status_code == 422

    foreign_contact = Api(sevdesk.url, OTHER_TOKEN).post(
        "/Order/Factory/saveOrder", quote(company["id"], user, "AN-2007")
    )
    assert foreign_contact.status_code == 400

    assert len(sandbox.orders) == stored


def test_invoice_is_saved_and_read_back(sevdesk: Api) -> None:
    company = sevdesk.company("Rechnung GmbH")
    body = invoice(company["id"], sevdesk.sev_user_id())
    saved = sevdesk.post("/Invoice/Factory/saveInvoice", body)
    assert saved.status_code == 201, saved.text
    document = saved.json()["objects"]["invoice"]
    assert (document["sumNet"], document["sumGross"]) == ("250", "297.5")
    assert [i["id"] for i in sevdesk.get(f"/Invoice/{document['id']}").json()["objects"]] == [
        document["id"]
    ]
    listed = sevdesk.get("/Invoice", **{"contact[id]": company["id"]}).json()["objects"]
    assert [i["id"] for i in listed] == [document["id"]]

    del body["invoice"]["contact"]
    assert_refused_by_spec(sevdesk.post("/Invoice/Factory/saveInvoice", body), "invoice.contact")


# -- rate limit and faults ---------------------------------------------------------------


def test_rate_limit_is_off_by_default_and_answers_429_when_on(sevdesk: Api) -> None:
    assert all(sevdesk.get("/Unity").status_code == 200 for _ in range(15))

    limited = SevdeskSandbox(rate_per_second=0.5, rate_burst=2, demo_token=None)
    account: Account = limited.add_account(token=TOKEN)
    with running(limited) as handle:
        api = Api(handle.url, account.token)
        statuses = [api.get("/Contact").status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        refused = api.get("/Contact")
        assert refused.headers["Retry-After"] == "2"
        assert refused.json()["error"]["message"] == "Too Many Requests"


def set_faults(api: Api, **faults: Any) -> None:
    assert requests.post(f"{api.url}/_sandbox/faults", json=faults, timeout=5).ok


def test_latency(sevdesk: Api) -> None:
    set_faults(sevdesk, latency_ms=300)
    started = time.monotonic()
    assert sevdesk.get("/Unity").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_server_errors(sevdesk: Api) -> None:
    set_faults(sevdesk, server_error_rate=1)
    answer = sevdesk.get("/Contact")
    assert answer.status_code == 500
    assert answer.json()["error"]["message"] == "Internal Server Error"


def test_drop_after_commit_keeps_the_contact(sevdesk: Api) -> None:
    set_faults(sevdesk, drop_after_commit_rate=1)
    with pytest.raises(requests.ConnectionError):
        sevdesk.post(
            "/Contact",
            {
                "name": "Verloren GmbH",
                "customerNumber": "K-DROP",
                "category": {"id": 3, "objectName": "Category"},
            },
        )
    set_faults(sevdesk, drop_after_commit_rate=0)
    found = sevdesk.get("/Contact", customerNumber="K-DROP").json()["objects"]
    assert [c["name"] for c in found] == ["Verloren GmbH"]


def test_down(sevdesk: Api) -> None:
    set_faults(sevdesk, down_for_seconds=30)
    answer = sevdesk.get("/Contact")
    assert answer.status_code == 503
    assert answer.json()["error"]["message"] == "Service Unavailable"


# -- parts (articles) ------------------------------------------------------------------------

PART = {
    "name": "Beratung",
    "partNumber": "BER-1",
    "stock": 0,
    "taxRate": 19,
    "unity": {"id": 9, "objectName": "Unity"},
    "priceNet": 100,
    "priceGross": 119,
}


def test_a_part_is_created_found_loosely_by_number_and_updated_field_by_field(
    sevdesk: Api,
) -> None:
    created = sevdesk.post("/Part", PART)
    assert created.status_code == 201, created.text
    part = created.json()["objects"][0]
    assert isinstance(part["id"], int)  # Model_Part types its id as a number
    assert (part["status"], part["unity"], part["priceGross"]) == (
        100,
        {"id": 9, "objectName": "Unity"},
        119,
    )
    longer = sevdesk.post("/Part", {**PART, "partNumber": "BER-10"}).json()["objects"][0]

    # The filter's exactness is unstated: the sandbox matches a part of the number.
    found = sevdesk.get("/Part", partNumber="ber-1").json()["objects"]
    assert [p["id"] for p in found] == [part["id"], longer["id"]]

    changed = sevdesk.put(f"/Part/{part['id']}", {"priceNet": 120, "status": 50})
    assert changed.status_code == 200, changed.text
    read = sevdesk.get(f"/Part/{part['id']}").json()["objects"][0]
    assert (read["name"], read["priceNet"], read["status"]) == ("Beratung", 120, 50)
    assert read["update"] >= part["update"]


def test_part_refusals(sevdesk: Api) -> None:
    missing = {key: value for key, value in PART.items() if key != "stock"}
    assert_refused_by_spec(sevdesk.post("/Part", missing), "stock")
    assert_refused_by_spec(sevdesk.put("/Part/1", {"status": 70}), "status")
    for answer, message in [
        (sevdesk.post("/Part", {**PART, "unity": {"id": 4, "objectName": "Unity"}}), "Unity 4"),
        (sevdesk.put("/Part/999999", {"status": 50}), "Part was not found"),
        (sevdesk.get("/Part/999999"), "Part was not found"),
    ]:
        assert answer.status_code == 400, answer.text
        assert message in answer.json()["error"]["message"]


def test_seeded_parts_are_the_accounts_own(server: RunningSandbox, sevdesk: Api) -> None:
    sandbox = server.sandbox
    assert isinstance(sandbox, SevdeskSandbox)
    sandbox.seed_articles(OTHER_TOKEN, 3, prefix="SEED-")
    assert sevdesk.get("/Part", partNumber="SEED-").json()["objects"] == []
    other = Api(server.url, OTHER_TOKEN).get("/Part", partNumber="SEED-").json()["objects"]
    assert [p["partNumber"] for p in other] == ["SEED-00001", "SEED-00002", "SEED-00003"]


# -- inspection and contract ---------------------------------------------------------------


def test_inspection_page_lists_what_was_created(sevdesk: Api) -> None:
    company = sevdesk.company("Sichtbar GmbH")
    saved = sevdesk.post(
        "/Order/Factory/saveOrder", quote(company["id"], sevdesk.sev_user_id(), "AN-SEEN")
    )
    assert saved.status_code == 201
    page = requests.get(f"{sevdesk.url}/_sandbox/", timeout=5).text
    assert "Sichtbar GmbH" in page
    assert "AN-SEEN" in page
    state = requests.get(f"{sevdesk.url}/_sandbox/state", timeout=5).json()
    assert {
        "contacts",
        "addresses",
        "communication ways",
        "orders (quotes, confirmations)",
        "invoices",
    } <= set(state)


def test_reset_forgets_the_data_but_keeps_the_accounts() -> None:
    sandbox = SevdeskSandbox(demo_token=None)
    sandbox.add_account(token=TOKEN)
    with running(sandbox) as handle:
        api = Api(handle.url, TOKEN)
        api.company("Vergessen GmbH")
        assert requests.post(f"{handle.url}/_sandbox/reset", timeout=5).ok
        answer = api.get("/Contact")
        assert answer.status_code == 200
        assert answer.json() == {"objects": []}


def test_unknown_path_answers_in_sevdesk_shape(sevdesk: Api) -> None:
    answer = sevdesk.get("/Nonsense")
    assert answer.status_code == 404
    assert set(answer.json()["error"]) == {"message", "code", "data"}


def test_valid_traffic_matches_the_spec(server: RunningSandbox) -> None:
    # Runs last: everything above went through the contract checker.
    contract = server.sandbox.contract
    assert contract is not None
    assert contract.checked > 20
    documented = [v for v in contract.violations if v.path not in NOT_IN_SPEC]
    assert documented == [], "\n".join(
        f"{v.method} {v.path} {v.status} {v.where}: {v.error}" for v in documented
    )
    assert {v.error for v in contract.violations} <= {"operation not in the vendor's spec"}


def test_the_spec_step_refuses_a_quote_before_the_handler(
    sevdesk: Api, server: RunningSandbox
) -> None:
    company = sevdesk.company("Spec GmbH")
    sandbox = server.sandbox
    assert isinstance(sandbox, SevdeskSandbox)
    body = quote(company["id"], sevdesk.sev_user_id(), "AN-3001")
    del body["order"]["contact"]
    stored = len(sandbox.orders)
    assert sandbox.refuse_off_spec  # on by default for every vendor
    answer = sevdesk.post("/Order/Factory/saveOrder", body)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == 400
    assert "order.contact" in error["message"]
    assert len(sandbox.orders) == stored


# -- what only the spec step checks ------------------------------------------------------
# The handlers do not restate these rules of the spec file: each case shows the spec step
# refusing the request, naming the field, before anything is stored.

ORDER_REQUIRED = (
    "addressCountry",
    "contact",
    "contactPerson",
    "currency",
    "header",
    "mapAll",
    "orderDate",
    "orderNumber",
    "status",
    "taxRate",
    "taxText",
    "taxType",
    "version",
)
INVOICE_REQUIRED = (
    "addressCountry",
    "contact",
    "contactPerson",
    "currency",
    "discount",
    "invoiceDate",
    "invoiceType",
    "mapAll",
    "status",
    "taxRate",
    "taxText",
    "taxType",
)
Change = Callable[[dict[str, Any]], object]


def drop(*path: str | int) -> Change:
    def change(body: dict[str, Any]) -> None:
        target: Any = body
        for step in path[:-1]:
            target = target[step]
        del target[path[-1]]

    return change


def put(*path: str | int, value: Any) -> Change:
    def change(body: dict[str, Any]) -> None:
        target: Any = body
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return change


SAVE_ORDER = "/Order/Factory/saveOrder"
SAVE_INVOICE = "/Invoice/Factory/saveInvoice"

# (endpoint, change to a valid body, field the answer names)
SPEC_CASES: list[tuple[str, Change, str]] = [
    *[("saveOrder", drop("order", f), f"order.{f}") for f in ORDER_REQUIRED],
    ("saveOrder", put("order", value="AN-1"), "order"),
    ("saveOrder", put("order", "orderType", value="XX"), "order.orderType"),
    ("saveOrder", put("order", "status", value=150), "order.status"),
    ("saveOrder", put("order", "sendType", value="FAX"), "order.sendType"),
    ("saveOrder", put("order", "taxRule", "id", value="99"), "order.taxRule.id"),
    ("saveOrder", put("order", "contact", value=7), "order.contact"),
    ("saveOrder", drop("order", "contact", "objectName"), "order.contact.objectName"),
    ("saveOrder", put("order", "contact", "id", value="seven"), "order.contact.id"),
    ("saveOrder", put("order", "version", value="v1"), "order.version"),
    ("saveOrder", put("order", "mapAll", value="yes"), "order.mapAll"),
    ("saveOrder", put("orderPosSave", value={"quantity": 1}), "orderPosSave"),
    ("saveOrder", put("orderPosSave", 0, value="Beratung"), "orderPosSave.0"),
    *[
        ("saveOrder", drop("orderPosSave", 0, f), f"orderPosSave.0.{f}")
        for f in ("quantity", "taxRate", "unity")
    ],
    ("saveOrder", put("orderPosSave", 0, "quantity", value="two"), "orderPosSave.0.quantity"),
    ("saveOrder", put("orderPosSave", 0, "price", value="100 EUR"), "orderPosSave.0.price"),
    ("saveOrder", put("orderPosSave", 0, "unity", value=9), "orderPosSave.0.unity"),
    *[("saveInvoice", drop("invoice", f), f"invoice.{f}") for f in INVOICE_REQUIRED],
    ("saveInvoice", put("invoice", value=[]), "invoice"),
    ("saveInvoice", put("invoice", "invoiceType", value="XX"), "invoice.invoiceType"),
    ("saveInvoice", put("invoice", "taxType", value="ss"), "invoice.taxType"),
    ("saveInvoice", put("invoice", "status", value="150"), "invoice.status"),
    ("saveInvoice", put("invoice", "discount", value="none"), "invoice.discount"),
    *[
        ("saveInvoice", drop("invoicePosSave", 0, f), f"invoicePosSave.0.{f}")
        for f in ("objectName", "mapAll")
    ],
    ("contact", drop("category"), "category"),
    ("contact", put("category", value=3), "category"),
    ("contact", put("parent", value={"id": 1}), "parent.objectName"),
    ("contact", put("taxSet", value="1"), "taxSet"),
    ("contact", put("status", value="active"), "status"),
    ("address", drop("contact"), "contact"),
    ("address", drop("country"), "country"),
    ("address", put("country", value="DE"), "country"),
    ("communicationWay", drop("key"), "key"),
    ("communicationWay", drop("type"), "type"),
    ("communicationWay", drop("value"), "value"),
    ("communicationWay", put("type", value="FAX"), "type"),
    ("communicationWay", put("main", value="sometimes"), "main"),
]


@pytest.mark.parametrize(("endpoint", "change", "field"), SPEC_CASES)
def test_the_spec_step_refuses_before_the_handler(
    sevdesk: Api, server: RunningSandbox, endpoint: str, change: Change, field: str
) -> None:
    sandbox = server.sandbox
    assert isinstance(sandbox, SevdeskSandbox)
    company = sevdesk.company("Vertrag GmbH")
    contact = {"id": int(company["id"]), "objectName": "Contact"}
    path, body = {
        "saveOrder": (SAVE_ORDER, quote(company["id"], sevdesk.sev_user_id(), "AN-4001")),
        "saveInvoice": (SAVE_INVOICE, invoice(company["id"], sevdesk.sev_user_id())),
        "contact": ("/Contact", {"name": "Neu", "category": {"id": 3, "objectName": "Category"}}),
        "address": (
            "/ContactAddress",
            {"contact": contact, "country": {"id": 1, "objectName": "StaticCountry"}},
        ),
        "communicationWay": (
            "/CommunicationWay",
            {
                "contact": contact,
                "key": {"id": 2, "objectName": "CommunicationWayKey"},
                "type": "EMAIL",
                "value": "info@vertrag.de",
            },
        ),
    }[endpoint]
    change(body)
    before = state_size(sandbox)
    assert_refused_by_spec(sevdesk.post(path, body), field)
    assert state_size(sandbox) == before


def test_the_spec_step_refuses_bad_query_parameters(sevdesk: Api) -> None:
    assert_refused_by_spec(sevdesk.get("/Order", status="draft"), "status", where="query")
    assert_refused_by_spec(sevdesk.get("/Invoice", status="50"), "status", where="query")


def state_size(sandbox: SevdeskSandbox) -> int:
    return sum(len(sandbox.store.everything(resource)) for resource in sandbox.store.resources)


def test_the_handler_refuses_what_the_spec_lets_through(
    sevdesk: Api, server: RunningSandbox
) -> None:
    sandbox = server.sandbox
    assert isinstance(sandbox, SevdeskSandbox)
    company = sevdesk.company("Prosa GmbH")
    user = sevdesk.sev_user_id()
    before = state_size(sandbox)
    for order, message in [
        ({"currency": "eur"}, "currency must be an ISO 4217 code"),
        ({"orderDate": "31.02.2026"}, "orderDate: invalid date"),
        ({"contact": {"id": int(company["id"]), "objectName": "Invoice"}}, "of type Contact"),
        ({"addressCountry": {"id": 999, "objectName": "StaticCountry"}}, "does not exist"),
    ]:
        answer = sevdesk.post(SAVE_ORDER, quote(company["id"], user, "AN-5001", **order))
        assert answer.status_code == 400, answer.text
        assert message in answer.json()["error"]["message"]
        assert answer.json()["error"]["code"] is None  # the handler's answer, not the spec's
    assert state_size(sandbox) == before
