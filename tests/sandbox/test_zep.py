"""ZEP's quirks in its sandbox (the generic store and routes are tested in test_store.py):
instances in the path, customers keyed by their number, Laravel pages and error bodies, the
block after 1,000 calls in 5 minutes, and the SOAP operations on the same records."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
import zeep
from zeep.helpers import serialize_object

from sandbox.core import RunningSandbox, running
from sandbox.zep.app import ZepSandbox
from sandbox.zep.soap import WSDL

TOKENS = {"acme": ("rest-acme", "soap-acme"), "other": ("rest-other", "soap-other")}
BEARER = {"Authorization": "Bearer rest-acme", "Accept": "application/json"}


@pytest.fixture
def vendor() -> Iterator[RunningSandbox]:
    sandbox = ZepSandbox(instances=TOKENS, contract=True)
    with running(sandbox) as handle:
        yield handle
    assert sandbox.contract is not None
    assert sandbox.contract.violations == []


def _api(vendor: RunningSandbox, instance: str = "acme") -> str:
    return f"{vendor.url}/{instance}/next/api/v1"


def _soap(vendor: RunningSandbox, instance: str = "acme") -> Any:
    client = zeep.Client(str(WSDL))
    return client.create_service(
        "{http://zep.provantis.de}ZepSOAP", f"{vendor.url}/{instance}/sync/soap.php?v=7"
    )


def _create(vendor: RunningSandbox, number: str, name: str = "Muster GmbH") -> requests.Response:
    body = {"customer_number": number, "name": name}
    return requests.post(f"{_api(vendor)}/customers", json=body, headers=BEARER, timeout=5)


def test_a_token_sees_only_its_own_instance(vendor: RunningSandbox) -> None:
    assert _create(vendor, "1").status_code == 201
    other = requests.get(f"{_api(vendor, 'other')}/customers", headers=BEARER, timeout=5)
    assert (other.status_code, other.json()) == (401, {"message": "Unauthenticated."})
    own = {"Authorization": "Bearer rest-other"}
    listed = requests.get(f"{_api(vendor, 'other')}/customers", headers=own, timeout=5)
    assert listed.json()["data"] == []


def test_customers_are_keyed_by_number_and_show_their_id_only_when_created(
    vendor: RunningSandbox,
) -> None:
    created = _create(vendor, "K-1").json()["data"]
    assert created["id"] == 501
    detail = requests.get(f"{_api(vendor)}/customers/K-1", headers=BEARER, timeout=5).json()
    assert "id" not in detail["data"]
    assert detail["data"]["addresses"] == []
    taken = _create(vendor, "K-1")
    assert taken.status_code == 422
    assert taken.json()["errors"] == {
        "customer_number": ["The customer number has already been taken."]
    }

    vendor.sandbox.renumber_customer("acme", "K-1", "K-2")  # type: ignore[attr-defined]
    gone = requests.get(f"{_api(vendor)}/customers/K-1", headers=BEARER, timeout=5)
    assert gone.status_code == 404
    # The internal id stays: projects still name the customer by it.
    project = {"name": "P-1", "customer_id": 501, "start_date": "2026-01-01"}
    answer = requests.post(f"{_api(vendor)}/projects", json=project, headers=BEARER, timeout=5)
    assert answer.json()["data"]["start_date"] == "2026-01-01T00:00:00.000000Z"


def test_lists_are_laravel_pages(vendor: RunningSandbox) -> None:
    for number in range(17):
        _create(vendor, f"N-{number:02}")
    first = requests.get(f"{_api(vendor)}/customers", headers=BEARER, timeout=5).json()
    assert (len(first["data"]), first["meta"]["per_page"], first["meta"]["last_page"]) == (
        15,
        15,
        2,
    )
    assert first["links"]["prev"] is None
    second = requests.get(first["links"]["next"], headers=BEARER, timeout=5).json()
    assert [c["customer_number"] for c in second["data"]] == ["N-15", "N-16"]
    assert (second["meta"]["from"], second["meta"]["to"], second["links"]["next"]) == (16, 17, None)


def test_a_request_off_the_spec_gets_laravels_validation_body(vendor: RunningSandbox) -> None:
    too_big = requests.get(f"{_api(vendor)}/customers?limit=500", headers=BEARER, timeout=5)
    assert too_big.status_code == 422
    assert too_big.json()["errors"] == {"limit": ["500 is greater than the maximum of 100"]}
    nameless = requests.post(
        f"{_api(vendor)}/customers", json={"customer_number": "1"}, headers=BEARER, timeout=5
    )
    assert nameless.status_code == 422
    assert list(nameless.json()["errors"]) == ["name"]
    vendor.sandbox.contract.violations.clear()  # type: ignore[union-attr]


def test_an_unknown_route_is_answered_as_zep_does(vendor: RunningSandbox) -> None:
    answer = requests.get(f"{_api(vendor)}/tickets", headers=BEARER, timeout=5)
    assert answer.json() == {"message": "The route acme/next/api/v1/tickets could not be found."}
    vendor.sandbox.contract.violations.clear()  # type: ignore[union-attr]


def test_after_the_limit_every_call_of_the_instance_is_blocked() -> None:
    sandbox = ZepSandbox(instances=TOKENS, limit=2, block_seconds=60)
    with running(sandbox) as vendor:
        assert _create(vendor, "1").status_code == 201
        # SOAP counts on the same limit.
        _soap(vendor).readKunde(
            requestHeader={"authorizationToken": "soap-acme"}, readKundenSearchCriteria={}
        )
        blocked = _create(vendor, "2")
        assert (blocked.status_code, blocked.headers["Retry-After"]) == (429, "60")
        still = requests.get(f"{_api(vendor)}/customers", headers=BEARER, timeout=5)
        assert still.status_code == 429
        other = requests.get(
            f"{_api(vendor, 'other')}/customers",
            headers={"Authorization": "Bearer rest-other"},
            timeout=5,
        )
        assert other.status_code == 200


def test_soap_writes_addresses_and_contact_persons_as_lists_by_id(vendor: RunningSandbox) -> None:
    _create(vendor, "K-1")
    soap, header = _soap(vendor), {"authorizationToken": "soap-acme"}
    person = {"vorname": "Anna", "name": "Muster", "email": "anna@example.org"}
    soap.updateKunde(
        requestHeader=header,
        kunde={"kundenNr": "K-1", "ansprechpartnerListe": {"ansprechpartner": [person]}},
    )
    read = serialize_object(
        soap.readKunde(requestHeader=header, readKundenSearchCriteria={"kundenNr": "K-1"}), dict
    )
    (stored,) = read["kundeListe"]["kunde"][0]["ansprechpartnerListe"]["ansprechpartner"]
    soap.updateKunde(
        requestHeader=header,
        kunde={
            "kundenNr": "K-1",
            "ansprechpartnerListe": {"ansprechpartner": [{"id": stored["id"], "action": "delete"}]},
        },
    )
    contacts = requests.get(f"{_api(vendor)}/customers/K-1/contacts", headers=BEARER, timeout=5)
    assert contacts.json()["data"] == []

    unknown = soap.updateKunde(requestHeader=header, kunde={"kundenNr": "K-9", "name": "x"})
    assert unknown.returnCode != "0"
    assert "nicht gefunden" in unknown.message


def test_soap_refuses_a_bad_token_and_a_body_off_the_wsdl_with_a_fault(
    vendor: RunningSandbox,
) -> None:
    soap = _soap(vendor)
    with pytest.raises(zeep.exceptions.Fault, match="authorizationToken"):
        soap.readKunde(
            requestHeader={"authorizationToken": "soap-other"}, readKundenSearchCriteria={}
        )
    with pytest.raises(zeep.exceptions.Fault, match="maxLength"):
        soap.createKunde(
            requestHeader={"authorizationToken": "soap-acme"},
            kunde={"kundenNr": "K" * 40, "name": "Too long a number"},
        )
