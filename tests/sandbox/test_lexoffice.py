"""The lexoffice stand-in over real HTTP: auth, contacts, quotations, invoices, both error
formats, the token bucket, the fault switches, the inspection page and the spec contract."""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from sandbox.core import running
from sandbox.lexoffice.app import LexofficeSandbox

FIXTURES = Path(__file__).parent / "fixtures" / "lexoffice"
KEY = "key-of-acme"
OTHER_KEY = "key-of-globex"
TIMEOUT = 5


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


@dataclass
class Api:
    """A client of one running sandbox, authenticated with one API key."""

    sandbox: LexofficeSandbox
    url: str
    key: str = KEY

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.key}", **kwargs.pop("headers", {})}
        return requests.request(method, self.url + path, headers=headers, timeout=TIMEOUT, **kwargs)

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.call("GET", path, params=params)

    def post(self, path: str, body: Any, **params: Any) -> requests.Response:
        return self.call("POST", path, json=body, params=params)

    def put(self, path: str, body: Any) -> requests.Response:
        return self.call("PUT", path, json=body)

    def as_key(self, key: str) -> Api:
        return Api(self.sandbox, self.url, key)

    def faults(self, **values: Any) -> None:
        requests.post(f"{self.url}/_sandbox/faults", json=values, timeout=TIMEOUT)


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    # A wide bucket: only test_token_bucket_* below exercise the real 2 requests per second.
    sandbox = LexofficeSandbox(
        api_keys={KEY: "Acme GmbH", OTHER_KEY: "Globex AG"},
        rate_per_second=1000,
        burst=1000,
        contract=True,
    )
    with running(sandbox) as handle:
        yield Api(sandbox, handle.url)


@pytest.fixture(scope="module")
def limited() -> Iterator[Api]:
    sandbox = LexofficeSandbox(api_keys={KEY: "Acme GmbH", OTHER_KEY: "Globex AG"}, contract=True)
    with running(sandbox) as handle:
        yield Api(sandbox, handle.url)


def tag() -> str:
    """Makes names unique, as every test shares one sandbox."""
    return uuid.uuid4().hex[:8]


def create_contact(api: Api, body: dict[str, Any]) -> str:
    response = api.post("/v1/contacts", body)
    assert response.status_code == 201, response.text
    contact_id: str = response.json()["id"]
    return contact_id


def company(name: str, *, email: str = "business@lexoffice.de") -> dict[str, Any]:
    body = fixture("contact-company")
    body["company"]["name"] = name
    body["emailAddresses"]["business"] = [email]
    return body


def quotation_for(contact_id: str) -> dict[str, Any]:
    body = fixture("quotation")
    body["address"] = {"contactId": contact_id}
    return body


def assert_regular_error(response: requests.Response, status: int, path: str) -> dict[str, Any]:
    assert response.status_code == status
    body: dict[str, Any] = response.json()
    assert set(body) == {"timestamp", "status", "error", "path", "traceId", "message", "details"}
    assert body["status"] == status
    assert body["path"] == path
    return body


def violated_fields(response: requests.Response) -> set[str]:
    return {detail["field"] for detail in response.json()["details"]}


# -- auth and profile ----------------------------------------------------------------------


def test_profile_describes_the_organization_of_the_key(api: Api) -> None:
    acme = api.get("/v1/profile")
    globex = api.as_key(OTHER_KEY).get("/v1/profile")

    assert acme.status_code == 200
    assert acme.json()["companyName"] == "Acme GmbH"
    assert globex.json()["companyName"] == "Globex AG"
    assert acme.json()["organizationId"] != globex.json()["organizationId"]
    assert uuid.UUID(acme.json()["connectionId"])


@pytest.mark.parametrize("authorization", ["Bearer wrong-key", f"Basic {KEY}", ""])
def test_a_key_lexoffice_does_not_know_is_unauthorized(api: Api, authorization: str) -> None:
    response = requests.get(
        f"{api.url}/v1/profile", headers={"Authorization": authorization}, timeout=TIMEOUT
    )

    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}


def test_a_key_added_later_gets_its_own_organization(api: Api) -> None:
    api.sandbox.add_api_key("key-of-initech", company_name="Initech KG")

    assert api.as_key("key-of-initech").get("/v1/profile").json()["companyName"] == "Initech KG"


# -- contacts ------------------------------------------------------------------------------


def test_company_contact_is_created_with_a_customer_number(api: Api) -> None:
    name = f"Testfirma {tag()}"
    response = api.post("/v1/contacts", company(name))

    assert response.status_code == 201
    result = response.json()
    assert set(result) == {"id", "resourceUri", "createdDate", "updatedDate", "version"}
    assert result["resourceUri"] == f"{api.url}/v1/contacts/{result['id']}"
    assert response.headers["Location"] == result["resourceUri"]
    assert result["version"] == 1
    contact = api.get(f"/v1/contacts/{result['id']}").json()
    assert contact["company"]["name"] == name
    assert contact["company"]["contactPersons"][0]["lastName"] == "Mustermann"
    assert contact["roles"]["customer"]["number"] >= 10001
    assert "vendor" not in contact["roles"]
    assert contact["addresses"]["billing"][0]["countryCode"] == "DE"
    assert contact["version"] == 1


def test_person_contact_gets_customer_and_vendor_numbers(api: Api) -> None:
    contact_id = create_contact(api, fixture("contact-person"))

    contact = api.get(f"/v1/contacts/{contact_id}").json()
    assert contact["person"] == {
        "salutation": "Frau",
        "firstName": "Inge",
        "lastName": "Musterfrau",
    }
    assert contact["roles"]["customer"]["number"] >= 10001
    assert contact["roles"]["vendor"]["number"] >= 70001
    assert "company" not in contact


def test_customer_numbers_count_up_per_organization(api: Api) -> None:
    first = create_contact(api, company(f"Erste {tag()}"))
    second = create_contact(api, company(f"Zweite {tag()}"))

    numbers = [
        api.get(f"/v1/contacts/{i}").json()["roles"]["customer"]["number"] for i in (first, second)
    ]
    assert numbers[1] == numbers[0] + 1
    assert api.get("/v1/contacts", number=numbers[1]).json()["content"][0]["id"] == second


def test_contacts_are_found_by_email_including_contact_persons(api: Api) -> None:
    marker = tag()
    contact_id = create_contact(api, company(f"Mailfirma {marker}", email=f"Info-{marker}@Acme.de"))

    by_email = api.get("/v1/contacts", email=f"info-{marker}@acme")
    assert [c["id"] for c in by_email.json()["content"]] == [contact_id]
    body = company(f"Personfirma {marker}")
    body["company"]["contactPersons"][0]["emailAddress"] = f"max-{marker}@kunde.de"
    person_match = create_contact(api, body)
    by_person = api.get("/v1/contacts", email=f"max-{marker}")
    assert [c["id"] for c in by_person.json()["content"]] == [person_match]


def test_contacts_are_found_by_a_case_insensitive_part_of_the_name(api: Api) -> None:
    marker = tag()
    company_id = create_contact(api, company(f"Brauerei {marker} GmbH"))
    person = fixture("contact-person")
    person["person"]["lastName"] = f"Musterfrau{marker}"
    person_id = create_contact(api, person)

    found = api.get("/v1/contacts", name=f"BRAUEREI {marker}").json()
    assert [c["id"] for c in found["content"]] == [company_id]
    assert found["totalElements"] == 1
    by_full_name = api.get("/v1/contacts", name=f"inge musterfrau{marker}").json()
    assert [c["id"] for c in by_full_name["content"]] == [person_id]


def test_name_and_email_filters_need_three_characters(api: Api) -> None:
    for query in ({"name": "ab"}, {"email": "a@"}):
        response = api.get("/v1/contacts", **query)

        assert response.status_code == 400
        issue = response.json()["IssueList"][0]
        assert issue["source"] == next(iter(query))
        assert issue["type"] == "validation_failure"


def test_underscore_and_percent_are_wildcards_unless_escaped(api: Api) -> None:
    marker = tag()
    underscore = create_contact(api, company(f"Bau_Meister {marker}"))
    letter = create_contact(api, company(f"BauXMeister {marker}"))
    percent = create_contact(api, company(f"Zu 100% Bio {marker}"))
    no_percent = create_contact(api, company(f"Zu 100 Bio {marker}"))

    def found(name: str) -> set[str]:
        return {c["id"] for c in api.get("/v1/contacts", name=name).json()["content"]}

    assert found(f"bau_meister {marker}") == {underscore, letter}
    assert found(f"bau\\_meister {marker}") == {underscore}
    assert found(f"zu 100% bio {marker}") == {percent, no_percent}
    assert found(f"zu 100\\% bio {marker}") == {percent}
    assert found(f"%meister {marker}") == {underscore, letter}


def test_html_encoded_ampersand_in_the_name_filter(api: Api) -> None:
    marker = tag()
    contact_id = create_contact(api, company(f"Schmidt & Söhne {marker}"))

    found = api.get("/v1/contacts", name=f"Schmidt &amp; Söhne {marker}").json()
    assert [c["id"] for c in found["content"]] == [contact_id]


def test_contacts_are_paged_and_filtered_by_role(api: Api) -> None:
    marker = tag()
    ids = [create_contact(api, company(f"Seite {marker} {n}")) for n in range(3)]
    vendor = company(f"Seite {marker} Lieferant")
    vendor["roles"] = {"vendor": {}}
    vendor_id = create_contact(api, vendor)

    second_page = api.get("/v1/contacts", name=f"seite {marker}", page=1, size=2).json()
    assert second_page["totalElements"] == 4
    assert second_page["totalPages"] == 2
    assert second_page["numberOfElements"] == 2
    assert (second_page["first"], second_page["last"], second_page["number"]) == (False, True, 1)
    vendors = api.get("/v1/contacts", name=f"seite {marker}", vendor="true", customer="false")
    assert [c["id"] for c in vendors.json()["content"]] == [vendor_id]
    customers = api.get("/v1/contacts", name=f"seite {marker}", customer="true").json()
    assert [c["id"] for c in customers["content"]] == ids
    assert api.get("/v1/contacts", size=251).status_code == 400


def test_update_needs_the_current_version(api: Api) -> None:
    contact_id = create_contact(api, company(f"Versionsfirma {tag()}"))
    current = api.get(f"/v1/contacts/{contact_id}").json()
    current["note"] = "Neue Notiz"
    current["roles"]["vendor"] = {}

    updated = api.put(f"/v1/contacts/{contact_id}", current)
    stale = api.put(f"/v1/contacts/{contact_id}", current)

    assert updated.status_code == 200
    assert updated.json()["version"] == 2
    after = api.get(f"/v1/contacts/{contact_id}").json()
    assert after["note"] == "Neue Notiz"
    assert after["roles"]["customer"] == current["roles"]["customer"]
    assert after["roles"]["vendor"]["number"] >= 70001
    assert stale.status_code == 409
    assert stale.json()["IssueList"][0]["source"] == "version"
    assert api.get(f"/v1/contacts/{contact_id}").json()["version"] == 2


def person_without(field: str) -> dict[str, Any]:
    body = fixture("contact-person")
    del body["person"][field]
    return body


def with_changes(base: str, **changes: Any) -> dict[str, Any]:
    body = fixture(base)
    body.update(copy.deepcopy(changes))
    return body


BILLING = {"street": "Hauptstr. 5", "countryCode": "DE"}
INVALID_CONTACTS = [
    pytest.param(person_without("lastName"), "missing_entity", "person.lastName", id="no-lastName"),
    pytest.param(
        with_changes(
            "contact-company", company={"name": "X", "contactPersons": [{"firstName": "Max"}]}
        ),
        "missing_entity",
        "company.contactPersons[0].lastName",
        id="contact-person-without-lastName",
    ),
    pytest.param(
        with_changes("contact-company", company={}),
        "missing_entity",
        "company.name",
        id="no-company-name",
    ),
    pytest.param(
        with_changes("contact-person", company={"name": "Beides GmbH"}),
        "invalid_value",
        "company",
        id="company-and-person",
    ),
    # The spec's `roles: minProperties: 1`: an empty roles object is a value, not a gap.
    pytest.param(with_changes("contact-person", roles={}), "invalid_value", "roles", id="no-role"),
    pytest.param(
        with_changes("contact-person", version=3), "invalid_value", "version", id="version-not-0"
    ),
    pytest.param(
        with_changes("contact-person", addresses={"billing": [BILLING, BILLING]}),
        "invalid_value",
        "addresses.billing",
        id="two-billing-addresses",
    ),
    pytest.param(
        with_changes("contact-person", addresses={"shipping": [{"city": "Köln"}]}),
        "missing_entity",
        "addresses.shipping[0].countryCode",
        id="no-countryCode",
    ),
    pytest.param(
        with_changes("contact-person", emailAddresses={"business": ["a@b.de", "c@d.de"]}),
        "invalid_value",
        "emailAddresses.business",
        id="two-emails",
    ),
    pytest.param(
        with_changes("contact-person", phoneNumbers={"mobile": ["0171 1", "0171 2"]}),
        "invalid_value",
        "phoneNumbers.mobile",
        id="two-phone-numbers",
    ),
    pytest.param(
        with_changes("contact-person", person={"lastName": "Lang", "salutation": "S" * 26}),
        "invalid_value",
        "person.salutation",
        id="salutation-26",
    ),
    pytest.param(
        with_changes("contact-person", note="n" * 1001), "invalid_value", "note", id="note-1001"
    ),
]


@pytest.mark.parametrize(("body", "i18n_key", "source"), INVALID_CONTACTS)
def test_invalid_contact_is_refused_with_an_issue_list(
    api: Api, body: dict[str, Any], i18n_key: str, source: str
) -> None:
    before = len(api.sandbox.contacts)
    response = api.post("/v1/contacts", body)

    assert response.status_code == 406
    assert {
        "i18nKey": i18n_key,
        "source": source,
        "type": "validation_failure",
        "additionalData": None,
        "args": None,
    } in response.json()["IssueList"]
    assert len(api.sandbox.contacts) == before


def test_limits_are_inclusive(api: Api) -> None:
    body = with_changes("contact-person", note="n" * 1000)
    body["person"]["salutation"] = "S" * 25

    assert api.post("/v1/contacts", body).status_code == 201


def test_an_unknown_contact_is_answered_in_the_legacy_issue_list(api: Api) -> None:
    response = api.get(f"/v1/contacts/{uuid.uuid4()}")

    assert response.status_code == 404
    assert response.json() == {
        "IssueList": [
            {
                "i18nKey": "missing_entity",
                "source": "id",
                "type": "not_found",
                "additionalData": None,
                "args": None,
            }
        ]
    }


def test_contacts_cannot_be_deleted() -> None:
    # Own sandbox without contract checking: DELETE is, rightly, not in the vendor's spec.
    sandbox = LexofficeSandbox(api_keys={KEY: "Acme GmbH"}, rate_per_second=100, burst=100)
    with running(sandbox) as handle:
        api = Api(sandbox, handle.url)
        contact_id = create_contact(api, fixture("contact-person"))

        response = api.call("DELETE", f"/v1/contacts/{contact_id}")

        body = assert_regular_error_without_details(response, 405)
        assert body["error"] == "Method Not Allowed"
        assert "DELETE" not in response.headers["Allow"]
        assert api.get(f"/v1/contacts/{contact_id}").status_code == 200
        assert api.call("GET", "/v1/no-such-thing").status_code == 404


def assert_regular_error_without_details(
    response: requests.Response, status: int
) -> dict[str, Any]:
    assert response.status_code == status
    body: dict[str, Any] = response.json()
    assert set(body) == {"timestamp", "status", "error", "path", "traceId", "message"}
    return body


# -- quotations ----------------------------------------------------------------------------


def test_quotation_with_three_positions_is_a_draft_with_computed_totals(api: Api) -> None:
    contact_id = create_contact(api, company(f"Angebotskunde {tag()}"))

    response = api.post("/v1/quotations", quotation_for(contact_id))

    assert response.status_code == 201
    result = response.json()
    assert result["resourceUri"].endswith(f"/v1/quotations/{result['id']}")
    quotation = api.get(f"/v1/quotations/{result['id']}").json()
    assert quotation["voucherStatus"] == "draft"
    assert "voucherNumber" not in quotation
    assert quotation["address"]["contactId"] == contact_id
    assert quotation["address"]["name"].startswith("Angebotskunde")
    assert [line["lineItemAmount"] for line in quotation["lineItems"]] == [270.0, 149.97, 39.9]
    assert quotation["lineItems"][0]["unitPrice"]["grossAmount"] == 142.8
    assert quotation["totalPrice"] == {
        "currency": "EUR",
        "totalNetAmount": 459.87,
        "totalGrossAmount": 542.45,
        "totalTaxAmount": 82.58,
    }
    assert quotation["taxAmounts"] == [
        {"taxRatePercentage": 7.0, "taxAmount": 2.79, "netAmount": 39.9},
        {"taxRatePercentage": 19.0, "taxAmount": 79.79, "netAmount": 419.97},
    ]
    assert quotation["title"] == "Angebot"
    assert quotation["expirationDate"] == "2026-12-23T10:00:00.000+01:00"


def test_finalized_quotation_is_open_and_numbered(api: Api) -> None:
    contact_id = create_contact(api, company(f"Sofortkunde {tag()}"))

    first = api.post("/v1/quotations", quotation_for(contact_id), finalize="true").json()
    second = api.post("/v1/quotations", quotation_for(contact_id), finalize="true").json()

    quotations = [api.get(f"/v1/quotations/{q['id']}").json() for q in (first, second)]
    assert [q["voucherStatus"] for q in quotations] == ["open", "open"]
    numbers = [int(q["voucherNumber"].removeprefix("AG")) for q in quotations]
    assert numbers[1] == numbers[0] + 1


def test_gross_quotation_leaves_optional_and_alternative_items_out(api: Api) -> None:
    # The lexoffice docs' sample: 23.90 + 27.95 gross at 19 %, an optional 4.90 and an
    # alternative sub item do not count.
    def line(name: str, gross: float, **flags: Any) -> dict[str, Any]:
        price = {"currency": "EUR", "grossAmount": gross, "taxRatePercentage": 19}
        return {
            "type": "custom",
            "name": name,
            "quantity": 1,
            "unitName": "Stück",
            "unitPrice": price,
            **flags,
        }

    body = fixture("quotation")
    body["address"] = {"name": "Berliner Kindl GmbH", "countryCode": "DE"}
    body["taxConditions"] = {"taxType": "gross"}
    body["lineItems"] = [
        line("Rahmenschloss", 23.9, subItems=[line("Kabelschloss", 15.95, alternative=True)]),
        line("Montage", 4.9, optional=True),
        line("Reifen", 27.95),
    ]

    created = api.post("/v1/quotations", body)

    assert created.status_code == 201
    quotation = api.get(f"/v1/quotations/{created.json()['id']}").json()
    assert quotation["totalPrice"]["totalGrossAmount"] == 51.85
    assert quotation["totalPrice"]["totalNetAmount"] == 43.57
    assert quotation["totalPrice"]["totalTaxAmount"] == 8.28
    assert quotation["address"] == {"name": "Berliner Kindl GmbH", "countryCode": "DE"}


def test_quotation_title_of_26_characters_is_not_acceptable(api: Api) -> None:
    contact_id = create_contact(api, company(f"Titelkunde {tag()}"))
    body = quotation_for(contact_id)
    body["title"] = "A" * 26

    response = api.post("/v1/quotations", body)

    error = assert_regular_error(response, 406, "/v1/quotations")
    assert error["error"] == "Not Acceptable"
    assert error["details"] == [
        {"violation": "SIZE", "field": "title", "message": "Größe muss zwischen 0 und 25 sein"}
    ]
    body["title"] = "A" * 25
    assert api.post("/v1/quotations", body).status_code == 201


def test_quotation_in_swiss_francs_is_not_acceptable(api: Api) -> None:
    contact_id = create_contact(api, company(f"Schweizer {tag()}"))
    body = quotation_for(contact_id)
    body["totalPrice"]["currency"] = "CHF"
    body["lineItems"][1]["unitPrice"]["currency"] = "CHF"

    response = api.post("/v1/quotations", body)

    assert_regular_error(response, 406, "/v1/quotations")
    assert violated_fields(response) == {"totalPrice.currency", "lineItems[1].unitPrice.currency"}


@pytest.mark.parametrize(
    "voucher_date",
    [
        "2026-11-23T10:00:00+01:00",  # no milliseconds
        "2026-11-23T10:00:00.000+0100",  # offset without colon
        "2026-11-23",
        "23.11.2026",
        "2026-11-23T10:00:00.0000+01:00",
    ],
)
def test_quotation_date_not_in_lexoffice_format_is_not_acceptable(
    api: Api, voucher_date: str
) -> None:
    contact_id = create_contact(api, company(f"Datumskunde {tag()}"))
    body = quotation_for(contact_id)
    body["voucherDate"] = voucher_date

    response = api.post("/v1/quotations", body)

    error = assert_regular_error(response, 406, "/v1/quotations")
    assert [d["field"] for d in error["details"]] == ["voucherDate"]
    assert error["details"][0]["violation"] == "PATTERN"


def test_quotation_rules_on_positions_and_address(api: Api) -> None:
    vendor = company(f"Nur Lieferant {tag()}")
    vendor["roles"] = {"vendor": {}}
    vendor_id = create_contact(api, vendor)
    body = quotation_for(vendor_id)
    del body["expirationDate"]
    body["lineItems"][1]["name"] = "N" * 256
    body["lineItems"].append(
        {"type": "service", "name": "Ohne Artikel", "quantity": 1, "unitName": "Stück"}
    )
    body["introduction"] = "i" * 2001

    # What the spec declares (required, maxLength) is refused by the spec step, all at once.
    off_spec = api.post("/v1/quotations", body)

    assert_regular_error(off_spec, 406, "/v1/quotations")
    assert violated_fields(off_spec) == {
        "expirationDate",
        "lineItems[1].name",
        "lineItems[3].unitPrice",
        "introduction",
    }
    body = quotation_for(vendor_id)
    body["lineItems"][0]["quantity"] = 1.23456
    body["lineItems"][2]["unitPrice"]["taxRatePercentage"] = 16
    body["lineItems"].append(
        {
            "type": "service",
            "name": "Ohne Artikel",
            "quantity": 1,
            "unitName": "Stück",
            "unitPrice": {"currency": "EUR", "netAmount": 5, "taxRatePercentage": 19},
        }
    )

    # What only the docs' text says is refused by the handler.
    off_docs = api.post("/v1/quotations", body)

    assert_regular_error(off_docs, 406, "/v1/quotations")
    assert violated_fields(off_docs) == {
        "address.contactId",
        "lineItems[0].quantity",
        "lineItems[2].unitPrice.taxRatePercentage",
        "lineItems[3].id",
    }


@pytest.mark.parametrize(
    ("tax_type", "rate", "field"),
    [
        ("brutto", 19, "taxConditions.taxType"),
        ("vatfree", 19, "lineItems[0].unitPrice.taxRatePercentage"),
        ("intraCommunitySupply", 7, "lineItems[0].unitPrice.taxRatePercentage"),
    ],
)
def test_tax_rate_must_fit_the_tax_type(api: Api, tax_type: str, rate: int, field: str) -> None:
    body = fixture("invoice")
    body["taxConditions"] = {"taxType": tax_type}
    body["lineItems"] = body["lineItems"][:1]
    body["lineItems"][0]["unitPrice"]["taxRatePercentage"] = rate

    assert violated_fields(api.post("/v1/invoices", body)) == {field}
    body["taxConditions"] = {"taxType": "vatfree"}
    body["lineItems"][0]["unitPrice"]["taxRatePercentage"] = 0
    assert api.post("/v1/invoices", body).status_code == 201


def test_quotation_with_more_than_300_positions_is_not_acceptable(api: Api) -> None:
    body = fixture("quotation")
    body["address"] = {"name": "Großkunde", "countryCode": "DE"}
    body["lineItems"] = [{"type": "text", "name": f"Zeile {n}"} for n in range(301)]

    response = api.post("/v1/quotations", body)

    assert violated_fields(response) == {"lineItems"}


def test_unknown_quotation_is_not_found(api: Api) -> None:
    response = api.get(f"/v1/quotations/{uuid.uuid4()}")

    assert_regular_error_without_details(response, 404)


# -- invoices ------------------------------------------------------------------------------


def test_invoice_is_created_with_computed_totals(api: Api) -> None:
    response = api.post("/v1/invoices", fixture("invoice"), finalize="true")

    assert response.status_code == 201
    invoice = api.sandbox.invoices[response.json()["id"]]
    assert invoice["voucherStatus"] == "open"
    assert invoice["voucherNumber"].startswith("RE")
    assert invoice["totalPrice"]["totalNetAmount"] == 21.72
    assert invoice["totalPrice"]["totalTaxAmount"] == 3.13
    assert invoice["totalPrice"]["totalGrossAmount"] == 24.85
    assert invoice["shippingConditions"]["shippingType"] == "delivery"


def test_invoice_needs_shipping_conditions(api: Api) -> None:
    without = fixture("invoice")
    del without["shippingConditions"]
    no_date = fixture("invoice")
    del no_date["shippingConditions"]["shippingDate"]
    period = fixture("invoice")
    period["shippingConditions"]["shippingType"] = "serviceperiod"
    nothing_shipped = fixture("invoice")
    nothing_shipped["shippingConditions"] = {"shippingType": "none"}

    assert violated_fields(api.post("/v1/invoices", without)) == {"shippingConditions"}
    assert violated_fields(api.post("/v1/invoices", no_date)) == {"shippingConditions.shippingDate"}
    assert violated_fields(api.post("/v1/invoices", period)) == {
        "shippingConditions.shippingEndDate"
    }
    assert api.post("/v1/invoices", nothing_shipped).status_code == 201


def test_token_bucket_refuses_a_burst_beyond_two_per_second(limited: Api) -> None:
    statuses = [limited.get("/v1/profile") for _ in range(6)]

    refused = [r for r in statuses if r.status_code == 429]
    assert [r.status_code for r in statuses[:2]] == [200, 200]
    assert len(refused) >= 3
    assert refused[0].json() == {"message": "Too Many Requests"}
    assert refused[0].headers["Retry-After"] == "1"
    # The bucket is per key: another organization's client is not slowed down.
    assert limited.as_key(OTHER_KEY).get("/v1/profile").status_code == 200


def test_token_bucket_lets_a_client_paced_at_two_per_second_through(limited: Api) -> None:
    time.sleep(1.1)  # refill after the burst above
    statuses = []
    for _ in range(6):
        started = time.monotonic()
        statuses.append(limited.get("/v1/profile").status_code)
        time.sleep(max(0.0, 0.5 - (time.monotonic() - started)))

    assert statuses == [200] * 6


# -- faults --------------------------------------------------------------------------------


@pytest.fixture
def faults(api: Api) -> Iterator[Api]:
    yield api
    api.faults(
        latency_ms=0,
        server_error_rate=0,
        rate_limit_rate=0,
        drop_after_commit_rate=0,
        down_until=0,
    )


def test_latency_fault_slows_every_answer(faults: Api) -> None:
    faults.faults(latency_ms=300)

    started = time.monotonic()
    response = faults.get("/v1/profile")

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3


def test_server_error_fault_answers_500_in_the_regular_format(faults: Api) -> None:
    faults.faults(server_error_rate=1)

    response = faults.get("/v1/profile")

    assert_regular_error_without_details(response, 500)


def test_rate_limit_fault_answers_429(faults: Api) -> None:
    faults.faults(rate_limit_rate=1)

    response = faults.get("/v1/profile")

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"


def test_down_fault_answers_503_until_it_is_over(faults: Api) -> None:
    faults.faults(down_for_seconds=0.6)

    assert faults.get("/v1/profile").status_code == 503
    time.sleep(0.7)
    assert faults.get("/v1/profile").status_code == 200


def test_dropped_create_still_stored_the_contact(faults: Api) -> None:
    name = f"Verlorene Antwort {tag()}"
    faults.faults(drop_after_commit_rate=1)

    with pytest.raises(requests.ConnectionError):
        faults.post("/v1/contacts", company(name))

    faults.faults(drop_after_commit_rate=0)
    found = faults.get("/v1/contacts", name=name).json()["content"]
    assert [c["company"]["name"] for c in found] == [name]


def test_dropped_quotation_create_still_stored_the_quotation(faults: Api) -> None:
    contact_id = create_contact(faults, company(f"Kunde ohne Antwort {tag()}"))
    body = quotation_for(contact_id)
    body["title"] = f"Angebot {tag()}"
    faults.faults(drop_after_commit_rate=1)

    with pytest.raises(requests.ConnectionError):
        faults.post("/v1/quotations", body)

    assert [q for q in faults.sandbox.quotations.values() if q.get("title") == body["title"]]


# -- inspection and contract ---------------------------------------------------------------


def test_inspection_page_lists_what_was_created(api: Api) -> None:
    name = f"Sichtbar {tag()}"
    contact_id = create_contact(api, company(name))
    body = quotation_for(contact_id)
    body["title"] = f"Seite {tag()}"
    api.post("/v1/quotations", body)
    api.post("/v1/invoices", fixture("invoice"))

    page = requests.get(f"{api.url}/_sandbox/", timeout=TIMEOUT).text
    state = requests.get(f"{api.url}/_sandbox/state", timeout=TIMEOUT).json()

    assert name in page
    assert body["title"] in page
    assert "Bike &amp; Ride GmbH &amp; Co. KG" in page
    assert {"contacts", "quotations", "invoices"} <= set(state)
    assert contact_id in {row["id"] for row in state["contacts"]}


def test_all_traffic_kept_to_the_vendor_spec(api: Api, limited: Api) -> None:
    # Last in this module: everything above went through the contract checker.
    for sandbox in (api.sandbox, limited.sandbox):
        assert sandbox.contract is not None
        assert sandbox.contract.checked > 0
        assert sandbox.contract.violations == [], "\n".join(map(str, sandbox.contract.violations))


def test_voucherlist_lists_a_contacts_quotations_newest_first(api: Api) -> None:
    contact = create_contact(api, company(f"Voucherlist {tag()} GmbH"))
    first = api.post("/v1/quotations", quotation_for(contact)).json()["id"]
    second = api.post("/v1/quotations", quotation_for(contact)).json()["id"]
    listed = api.get(
        "/v1/voucherlist", voucherType="quotation", voucherStatus="draft", contactId=contact
    )
    assert listed.status_code == 200
    assert [entry["id"] for entry in listed.json()["content"]] == [second, first]
    assert listed.json()["content"][0]["voucherType"] == "quotation"
    assert api.get("/v1/voucherlist", voucherType="quotation").status_code == 400
    assert api.sandbox.contract is not None
    # The derived spec documents the voucher list: both calls were checked against it.
    assert api.sandbox.contract.undocumented == 0
    assert api.sandbox.contract.violations == []


def test_the_spec_step_refuses_a_quotation_in_francs_before_the_handler(api: Api) -> None:
    contact_id = create_contact(api, company(f"Franken {tag()}"))
    body = quotation_for(contact_id)
    body["totalPrice"]["currency"] = "CHF"
    stored = len(api.sandbox.quotations)

    response = api.post("/v1/quotations", body)

    assert api.sandbox.refuse_off_spec
    assert_regular_error(response, 406, "/v1/quotations")
    assert violated_fields(response) == {"totalPrice.currency"}
    assert len(api.sandbox.quotations) == stored


@pytest.mark.parametrize(
    ("member", "value", "field"),
    [
        (["voucherDate"], None, "voucherDate"),
        (["address"], None, "address"),
        (["lineItems"], [], "lineItems"),
        (["lineItems", 0, "type"], "bogus", "lineItems[0].type"),
        (["lineItems", 0, "name"], None, "lineItems[0].name"),
        (["lineItems", 0, "description"], "d" * 2001, "lineItems[0].description"),
        (["lineItems", 0, "quantity"], None, "lineItems[0].quantity"),
        (["lineItems", 0, "unitName"], None, "lineItems[0].unitName"),
        (
            ["lineItems", 0, "unitPrice", "taxRatePercentage"],
            "19",
            "lineItems[0].unitPrice.taxRatePercentage",
        ),
        (["totalPrice", "currency"], None, "totalPrice.currency"),
        (["taxConditions", "taxType"], None, "taxConditions.taxType"),
        (["remark"], "r" * 2001, "remark"),
        (["language"], "fr", "language"),
    ],
)
def test_the_spec_step_refuses_what_the_spec_declares(
    api: Api, member: list[Any], value: Any, field: str
) -> None:
    # The handler's VoucherCheck no longer restates these rules: the spec step answers them.
    body = fixture("quotation")
    body["address"] = {"name": "Spec", "countryCode": "DE"}
    parent = body
    for step in member[:-1]:
        parent = parent[step]
    if value is None:
        del parent[member[-1]]
    else:
        parent[member[-1]] = value
    stored = len(api.sandbox.quotations)

    response = api.post("/v1/quotations", body)

    assert_regular_error(response, 406, "/v1/quotations")
    assert field in violated_fields(response)
    assert len(api.sandbox.quotations) == stored


def test_the_spec_step_refuses_an_invoice_of_unknown_shipping_type(api: Api) -> None:
    body = fixture("invoice")
    body["shippingConditions"]["shippingType"] = "post"
    stored = len(api.sandbox.invoices)

    response = api.post("/v1/invoices", body)

    assert_regular_error(response, 406, "/v1/invoices")
    assert violated_fields(response) == {"shippingConditions.shippingType"}
    assert len(api.sandbox.invoices) == stored
