"""Visma eAccounting's own behaviour in its sandbox (the generic store, routes and OAuth server
are tested elsewhere): the identity server's single-use refresh tokens, the limit per client
and endpoint, `$filter` and pages, the document conversions, payments, `modifiedSinceUtc`,
the 400 body of a request the spec refuses, one company per token, and the normalized spec."""

from __future__ import annotations

import importlib.util
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import yaml

from sandbox.contract import SPECS_DIR
from sandbox.core import running
from sandbox.eaccounting.app import DEMO_COMPANY, EAccountingSandbox
from sandbox.eaccounting.catalog import stable_id

CLIENT_ID, CLIENT_SECRET = "apiup-eaccounting", "s3cret"
OTHER_CLIENT = "another-app"
REDIRECT_URI = "http://localhost:8000/registration/accounting/callback/"
OTHER_COMPANY = "7d3e8f10-2b4c-4d5e-8f60-718293a4b5c6"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@dataclass
class Vendor:
    sandbox: EAccountingSandbox
    url: str
    token: str

    def call(self, method: str, path: str, *, token: str = "", **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return requests.request(
            method, f"{self.url}/v2{path}", headers=headers, timeout=5, **kwargs
        )

    def customer(self, name: str = "Bakkerij Jansen", **fields: Any) -> dict[str, Any]:
        body = {
            "Name": name,
            "InvoiceCity": "Utrecht",
            "InvoicePostalCode": "3511 AB",
            "IsActive": True,
            "IsPrivatePerson": False,
            "TermsOfPaymentId": stable_id(DEMO_COMPANY, "terms", "30 dagen"),
            **fields,
        }
        answer = self.call("POST", "/customers", json=body)
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    def article(self, number: str = "SKU-1", price: float = 100.0) -> dict[str, Any]:
        body = {
            "Number": number,
            "Name": "Brood",
            "IsActive": True,
            "NetPrice": price,
            "CodingId": stable_id(DEMO_COMPANY, "coding", "21"),
            "UnitId": stable_id(DEMO_COMPANY, "unit", "ST"),
        }
        answer = self.call("POST", "/articles", json=body)
        assert answer.status_code == 201, answer.text
        return dict(answer.json())


def _start(sandbox: EAccountingSandbox) -> Iterator[Vendor]:
    sandbox.add_company(OTHER_COMPANY, "Andere B.V.")
    sandbox.add_oauth_client(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uris=(REDIRECT_URI,)
    )
    with running(sandbox) as handle:
        yield Vendor(sandbox, handle.url, sandbox.token_for(DEMO_COMPANY, CLIENT_ID)[0])
    assert sandbox.contract is not None
    assert sandbox.contract.violations == []


@pytest.fixture
def vendor() -> Iterator[Vendor]:
    yield from _start(EAccountingSandbox(contract=True))


def test_the_code_flow_gives_tokens_whose_refresh_token_works_once(vendor: Vendor) -> None:
    params = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": "ea:api offline_access ea:sales",
        "state": "st-1",
    }
    page = requests.get(f"{vendor.url}/connect/authorize", params=params, timeout=5)
    assert page.status_code == 200
    assert "Andere B.V." in page.text
    consent = {**params, "company_id": OTHER_COMPANY, "decision": "approve"}
    answer = requests.post(
        f"{vendor.url}/connect/authorize", data=consent, allow_redirects=False, timeout=5
    )
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert query["state"] == ["st-1"]
    secret = (CLIENT_ID, CLIENT_SECRET)

    def token(**form: str) -> requests.Response:
        url = f"{vendor.url}/connect/token"
        return requests.post(url, data=form, auth=secret, timeout=5)

    exchange = {"code": query["code"][0], "redirect_uri": REDIRECT_URI}
    # Token requests are form-encoded; the same fields as JSON are not read.
    as_json = requests.post(
        f"{vendor.url}/connect/token",
        auth=secret,
        timeout=5,
        json={"grant_type": "authorization_code", **exchange},
    )
    assert as_json.status_code == 400
    first = token(grant_type="authorization_code", **exchange).json()
    assert vendor.call("GET", "/customers", token=first["access_token"]).json()["Data"] == []

    second = token(grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert second.status_code == 200
    assert second.json()["refresh_token"] != first["refresh_token"]
    again = token(grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")
    third = token(grant_type="refresh_token", refresh_token=second.json()["refresh_token"])
    assert third.status_code == 200

    # Without `ea:api` a token opens no endpoint.
    narrow = vendor.sandbox.token_for(DEMO_COMPANY, CLIENT_ID, scope="ea:sales")[0]
    refused = vendor.call("GET", "/customers", token=narrow)
    assert (refused.status_code, refused.json()["ErrorCode"]) == (401, 4005)

    # A reset forgets tokens, not the apps registered in Visma's developer portal.
    assert requests.post(f"{vendor.url}/_sandbox/reset", timeout=5).status_code == 200
    assert vendor.call("GET", "/customers", token=first["access_token"]).status_code == 401
    assert requests.get(f"{vendor.url}/connect/authorize", params=params, timeout=5).ok


def test_the_limit_counts_per_client_and_endpoint() -> None:
    for vendor in _start(EAccountingSandbox(contract=True, limit=3)):
        for _ in range(3):
            assert vendor.call("GET", "/customers").status_code == 200
        limited = vendor.call("GET", "/customers")
        assert limited.status_code == 429
        body = limited.json()
        assert body["ErrorCode"] == 4010
        assert UUID.match(body["ErrorId"])
        assert re.fullmatch(r".*Try again in \d+ seconds\.", body["DeveloperErrorMessage"])
        assert vendor.call("GET", "/articles").status_code == 200
        other = vendor.sandbox.token_for(DEMO_COMPANY, OTHER_CLIENT)[0]
        assert vendor.call("GET", "/customers", token=other).status_code == 200


def test_lists_take_odata_filters_and_pages(vendor: Vendor) -> None:
    for name in ("Alfa", "Beta", "Gamma"):
        vendor.customer(name, EmailAddress=f"{name.lower()}@example.nl")
    found = vendor.call(
        "GET", "/customers", params={"$filter": "EmailAddress eq 'beta@example.nl'"}
    )
    assert [c["Name"] for c in found.json()["Data"]] == ["Beta"]
    both = "Name eq 'Gamma' and IsActive eq true"
    assert len(vendor.call("GET", "/customers", params={"$filter": both}).json()["Data"]) == 1
    page = vendor.call("GET", "/customers", params={"$page": 2, "$pagesize": 2}).json()
    assert [c["Name"] for c in page["Data"]] == ["Gamma"]
    assert {k: v for k, v in page["Meta"].items() if k != "ServerTimeUtc"} == {
        "CurrentPage": 2,
        "PageSize": 2,
        "TotalNumberOfPages": 2,
        "TotalNumberOfResults": 3,
    }
    bad = vendor.call("GET", "/customers", params={"$filter": "Name gt"})
    assert (bad.status_code, bad.json()["ErrorCode"]) == (400, 2000)


def test_a_quote_becomes_an_order_and_the_order_an_invoice(vendor: Vendor) -> None:
    fortnight = stable_id(DEMO_COMPANY, "terms", "14 dagen")
    customer, article = vendor.customer(TermsOfPaymentId=fortnight), vendor.article(price=50.0)
    quote = vendor.call(
        "POST",
        "/quotes",
        json={"CustomerId": customer["Id"], "Rows": [{"ArticleId": article["Id"], "Quantity": 3}]},
    ).json()
    assert (quote["Number"], quote["TotalAmount"], quote["VatAmount"]) == (1, 181.5, 31.5)
    order = vendor.call("POST", f"/quotes/{quote['Id']}/converttoorder", json={}).json()
    assert (order["Status"], order["CreatedFromQuoteId"], order["Amount"]) == (1, quote["Id"], 150)
    assert vendor.call("GET", f"/quotes/{quote['Id']}").json()["Status"] == 4  # OrderCreated
    converted = vendor.call("POST", f"/orders/{order['Id']}/convert", json={})
    invoice = converted.json()
    assert (invoice["CreatedFromOrderId"], invoice["InvoiceNumber"]) == (order["Id"], 1)
    assert invoice["Rows"][0]["ArticleNumber"] == "SKU-1"
    assert (invoice["PaymentStatus"], invoice["RemainingAmount"]) == (1, 181.5)
    # Due after the customer's terms of payment, not when the quote ran out.
    issued = datetime.fromisoformat(invoice["InvoiceDate"])
    assert datetime.fromisoformat(invoice["DueDate"]) - issued == timedelta(days=14)
    assert vendor.call("GET", f"/orders/{order['Id']}").json()["Status"] == 4  # Invoiced
    twice = vendor.call("POST", f"/orders/{order['Id']}/convert", json={})
    assert twice.status_code == 400


def test_a_draft_becomes_an_invoice(vendor: Vendor) -> None:
    customer, article = vendor.customer(), vendor.article()
    row = {
        "ArticleId": article["Id"],
        "Quantity": 1,
        "IsTextRow": False,
        "ReversedConstructionServicesVatFree": False,
    }
    draft = vendor.call(
        "POST",
        "/customerinvoicedrafts",
        json={
            "CustomerId": customer["Id"],
            "EuThirdParty": False,
            "RotReducedInvoicingType": 0,
            "Rows": [row],
        },
    ).json()
    converted = vendor.call("POST", f"/customerinvoicedrafts/{draft['Id']}/convert", json={})
    assert converted.status_code == 201
    assert converted.json()["CreatedFromDraftId"] == draft["Id"]
    assert converted.json()["TotalAmount"] == 121.0
    assert vendor.call("GET", f"/customerinvoicedrafts/{draft['Id']}").status_code == 404


def test_payments_lower_the_remaining_amount_and_show_in_modified_since(vendor: Vendor) -> None:
    customer, article = vendor.customer(), vendor.article()
    # OrderRowApi requires these four of every row.
    rows = [
        {
            "ArticleId": article["Id"],
            "Quantity": 2,
            "LineNumber": 1,
            "IsTextRow": False,
            "IsWorkCost": False,
            "EligibleForReverseChargeOnVat": False,
        }
    ]
    first, second = (
        vendor.call("POST", f"/orders/{order['Id']}/convert", json={}).json()
        for order in (
            vendor.call(
                "POST",
                "/orders",
                json={
                    "CustomerId": customer["Id"],
                    "CurrencyCode": "EUR",
                    "Status": 2,
                    "EuThirdParty": False,
                    "ReverseChargeOnConstructionServices": False,
                    "RotReducedInvoicingType": 0,
                    "Rows": rows,
                },
            ).json()
            for _ in range(2)
        )
    )
    time.sleep(0.01)
    since = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    bank = vendor.call("GET", "/bankaccounts").json()["Data"][0]["Id"]

    def pay(amount: float) -> requests.Response:
        return vendor.call(
            "POST",
            f"/customerinvoices/{first['Id']}/payments",
            json={
                "CompanyBankAccountId": bank,
                "PaymentAmount": amount,
                "PaymentCurrency": "EUR",
                "PaymentType": 1,
            },
        )

    assert pay(42.0).status_code == 201
    partly = vendor.call("GET", f"/customerinvoices/{first['Id']}").json()
    assert (partly["RemainingAmount"], partly["PaymentStatus"]) == (200.0, 1)
    assert pay(500.0).status_code == 400  # more than is left
    assert pay(200.0).status_code == 201
    paid = vendor.call("GET", f"/customerinvoices/{first['Id']}").json()
    assert (paid["PaymentStatus"], paid["RemainingAmount"]) == (0, 0)
    assert paid["RemainingAmountInvoiceCurrency"] == 0
    changed = vendor.call("GET", "/customerinvoices", params={"modifiedSinceUtc": since}).json()
    assert [i["Id"] for i in changed["Data"]] == [first["Id"]]

    # A payment booked in eAccounting itself, through the sandbox's status hook.
    hook = requests.post(
        f"{vendor.url}/_sandbox/documents/status",
        timeout=5,
        json={"kind": "invoice", "id": second["Id"], "status": "paid"},
    )
    assert (hook.json()["PaymentStatus"], hook.json()["RemainingAmount"]) == (0, 0)


def test_a_request_the_spec_refuses_gets_the_common_bad_request_body(vendor: Vendor) -> None:
    answer = vendor.call("POST", "/customers", json={"Name": "Ohne Adresse", "IsActive": "yes"})
    assert answer.status_code == 400
    body = answer.json()
    assert set(body) == {"ErrorCode", "ErrorId", "DeveloperErrorMessage", "Errors"}
    assert body["ErrorCode"] == 2000
    assert UUID.match(body["ErrorId"])
    fields = {error["Field"] for error in body["Errors"]}
    assert {"IsActive", "InvoiceCity", "TermsOfPaymentId"} <= fields
    # What the spec allows and the company's data does not: a customer number taken.
    vendor.customer(CustomerNumber="K-7")
    taken = vendor.call("POST", "/customers", json={**vendor.customer(), "CustomerNumber": "K-7"})
    assert (taken.status_code, taken.json()["ErrorCode"]) == (400, 4000)  # Conflict


def test_a_token_sees_only_its_companys_records(vendor: Vendor) -> None:
    customer = vendor.customer()
    other = vendor.sandbox.token_for(OTHER_COMPANY, CLIENT_ID)[0]
    assert vendor.call("GET", f"/customers/{customer['Id']}", token=other).status_code == 404
    assert vendor.call("GET", "/customers", token=other).json()["Data"] == []
    # Nor can it name the other company's customer in a document.
    foreign = vendor.call("POST", "/quotes", token=other, json={"CustomerId": customer["Id"]})
    assert (foreign.status_code, foreign.json()["ErrorCode"]) == (400, 3000)  # ResourceNotFound
    # Each company numbers its own customers.
    assert vendor.call("GET", "/companysettings", token=other).json()["NextCustomerNumber"] == 1


def test_seeded_articles_are_found_by_number(vendor: Vendor) -> None:
    vendor.sandbox.seed_articles(DEMO_COMPANY, 500)
    page = vendor.call("GET", "/articles", params={"$pagesize": 1000}).json()
    assert page["Meta"]["TotalNumberOfResults"] == 500
    one = vendor.call("GET", "/articles", params={"$filter": "Number eq 'SKU-00500'"}).json()
    assert [(a["Name"], a["NetPrice"]) for a in one["Data"]] == [("Artikel 00500", 510.0)]


def test_the_normalized_spec_differs_from_vismas_only_in_the_two_path_keys() -> None:
    from openapi_spec_validator import validate

    folder = SPECS_DIR / "eaccounting"
    text = (folder / "eaccounting-openapi.yaml").read_text(encoding="utf-8")
    published = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    normalized = json.loads(
        (folder / "eaccounting-openapi.normalized.json").read_text(encoding="utf-8")
    )
    validate(normalized)
    assert {k: v for k, v in normalized.items() if k != "paths"} == {
        k: v for k, v in published.items() if k != "paths"
    }
    renamed = {
        "/articlelabels/{articlelabelid}": "/articlelabels/{articleLabelId}",
        "/customerlabels/{customerlabelid}": "/customerlabels/{customerLabelId}",
    }
    operations = {
        (renamed.get(path, path), method): operation
        for path, item in published["paths"].items()
        for method, operation in item.items()
    }
    assert operations == {
        (path, method): operation
        for path, item in normalized["paths"].items()
        for method, operation in item.items()
    }
    assert set(normalized["paths"]) == {renamed.get(p, p) for p in published["paths"]}
    # The script in the folder writes exactly this file.
    script = importlib.util.spec_from_file_location("normalize", folder / "normalize.py")
    assert script is not None
    assert script.loader is not None
    module = importlib.util.module_from_spec(script)
    script.loader.exec_module(module)
    assert module.normalized(published) == normalized
    assert Path(module.NORMALIZED).name == "eaccounting-openapi.normalized.json"
