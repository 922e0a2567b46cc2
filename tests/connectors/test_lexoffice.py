"""The lexware office connector against the lexoffice sandbox over real HTTP, with every
request and response checked against the vendor's spec."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from connectors import errors
from connectors.lexoffice import mapping
from connectors.lexoffice.client import LexofficeConnector
from connectors.lexoffice.mapping import read_error
from connectors.models import Connection
from connectors.rules import fit_title
from connectors.shapes import (
    Address,
    Article,
    ArticleField,
    Company,
    Customer,
    CustomerKind,
    Person,
    Quote,
    QuotePosition,
)
from sandbox.core import RunningSandbox, running
from sandbox.lexoffice.app import LexofficeSandbox

FIXTURES = Path(__file__).parent / "fixtures" / "lexoffice"
COMPANY_NAME = "Testfirma Buchhaltung GmbH"
LEXOFFICE_DATE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{2}:\d{2}")


def _fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture
def api_key(request: pytest.FixtureRequest) -> str:
    # One key (and so one client-side bucket) per test, so tests do not wait for each other.
    return f"lx-test-{request.node.name}"[:120]


@pytest.fixture
def vendor(api_key: str) -> Iterator[RunningSandbox]:
    sandbox = LexofficeSandbox(api_keys={api_key: COMPANY_NAME}, contract=True)
    with running(sandbox) as handle:
        yield handle
    assert sandbox.contract is not None
    assert sandbox.contract.violations == []
    # Every call was checked against the spec, except the voucher list (documented only in
    # Lexware's Postman collection) and calls whose connection was dropped on purpose.
    dropped = sum(1 for call in sandbox.api_calls() if call.status == 0)
    checked = sandbox.contract.checked + sandbox.contract.undocumented
    assert checked + dropped == len(sandbox.api_calls())


@pytest.fixture
def sandbox(vendor: RunningSandbox) -> LexofficeSandbox:
    assert isinstance(vendor.sandbox, LexofficeSandbox)
    return vendor.sandbox


@pytest.fixture
def lexoffice(vendor: RunningSandbox, api_key: str) -> LexofficeConnector:
    connection = Connection(system="lexoffice", credentials={"api_key": api_key})
    return LexofficeConnector(connection=connection, base_url=vendor.url)


def _company() -> Customer:
    return Customer(
        kind=CustomerKind.COMPANY,
        company=Company(
            name="Müller_&_Söhne <Bau> GmbH",
            email="info@mueller-bau.example",
            phone="+49 30 1234567",
            vat_id="DE123456789",
            address=Address("Hauptstraße", "5", "10115", "Berlin", "DE"),
            contact_person=Person(
                first_name="Anna", last_name="Müller", email="anna.mueller@mueller-bau.example"
            ),
        ),
    )


def _person(first_name: str = "Jonas", last_name: str = "Schmidt") -> Customer:
    return Customer(
        kind=CustomerKind.PERSON,
        person=Person(
            first_name=first_name,
            last_name=last_name,
            email=f"{first_name}.{last_name}@example.org".lower(),
            address=Address("Lindenweg", "2", "80331", "München", "DE"),
        ),
    )


def _company_by_email(email: str) -> Customer:
    """A company look-up: a company customer whose own address is `email`."""
    return Customer(kind=CustomerKind.COMPANY, company=Company(name="Beispiel GmbH", email=email))


def _person_by_email(email: str) -> Customer:
    """A person look-up: a person customer whose own address is `email`."""
    return Customer(
        kind=CustomerKind.PERSON, person=Person(first_name="Anna", last_name="Muster", email=email)
    )


def _quote(customer_id: str, **changes: Any) -> Quote:
    values: dict[str, Any] = {
        "title": "Digitalisierung der Lagerlogistik Phase 2",
        "introduction": "Vielen Dank für Ihr Interesse.",
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
                "Lizenz Jahresabo",
                Decimal("1.33333"),
                Decimal("999.12345"),
                Decimal(19),
                unit="Jahr",
                discount_percent=Decimal(10),
            ),
        ),
        "currency": "EUR",
        "valid_from": dt.date(2026, 7, 1),
        "valid_until": dt.date(2026, 7, 31),
        "reference": "hubspot-deal-4711-123",
        "customer_id": customer_id,
    }
    return Quote(**{**values, **changes})


def test_verify_reads_the_company_name_of_the_profile(
    lexoffice: LexofficeConnector, sandbox: LexofficeSandbox
) -> None:
    account = lexoffice.verify()
    assert account.name == COMPANY_NAME
    assert (
        account.account_id
        == sandbox.organizations[next(iter(sandbox.organizations))].organization_id
    )
    assert lexoffice.client.calls == 1


def test_the_rate_bucket_is_not_named_after_the_api_key(
    lexoffice: LexofficeConnector, api_key: str
) -> None:
    assert api_key not in lexoffice.client.limiter_key
    assert len(lexoffice.client.limiter_key) == 32


def test_a_company_customer_is_created_and_found_by_email_and_exact_name(
    lexoffice: LexofficeConnector, sandbox: LexofficeSandbox
) -> None:
    customer = _company()
    created = lexoffice.create_customer(customer)

    sent = sandbox.api_calls(path_prefix="/v1/contacts")[-1].request_body
    assert sent == {
        "version": 0,
        "roles": {"customer": {}},
        "company": {
            "name": "Müller_&_Söhne <Bau> GmbH",
            "vatRegistrationId": "DE123456789",
            "contactPersons": [
                {
                    "firstName": "Anna",
                    "lastName": "Müller",
                    "emailAddress": "anna.mueller@mueller-bau.example",
                    "primary": True,
                }
            ],
        },
        "addresses": {
            "billing": [
                {"street": "Hauptstraße 5", "zip": "10115", "city": "Berlin", "countryCode": "DE"}
            ]
        },
        "emailAddresses": {"business": ["info@mueller-bau.example"]},
        "phoneNumbers": {"business": ["+49 30 1234567"]},
    }
    # A longer name that contains the same text, and one that only matches when `_` and `%`
    # are wildcards: substring hits that are not the customer.
    lexoffice.create_customer(
        Customer(
            kind=CustomerKind.COMPANY,
            company=Company(name="Müller_&_Söhne <Bau> GmbH & Co. KG", email="x@mueller.example"),
        )
    )
    lexoffice.create_customer(
        Customer(kind=CustomerKind.COMPANY, company=Company(name="MüllerX&XSöhne <Bau> GmbH"))
    )

    urls: list[str] = []
    lexoffice.client.session.hooks["response"].append(lambda r, *a, **k: urls.append(r.url))

    by_email = lexoffice.find_customer_by_email(_company_by_email("INFO@mueller-bau.example"))
    # The filter also finds a company by its contact person's address: a company look-up
    # takes it, a person look-up does not (Anna is no person customer of her own).
    contact_person_address = "anna.mueller@mueller-bau.example"
    by_contact_person = lexoffice.find_customer_by_email(_company_by_email(contact_person_address))
    person_by_contact_person = lexoffice.find_customer_by_email(
        _person_by_email(contact_person_address)
    )
    by_name = lexoffice.find_customer_by_name(customer)

    assert by_email is not None
    assert by_email.vendor_id == created.vendor_id
    assert by_email.number == "10001"
    assert by_contact_person is not None
    assert by_contact_person.vendor_id == created.vendor_id
    assert person_by_contact_person is None
    assert by_name is not None
    assert by_name.vendor_id == created.vendor_id
    # Wildcards escaped, then &, < and > HTML-encoded, then URL-encoded.
    query = parse_qs(urlsplit(urls[-1]).query)
    assert query["name"] == ["Müller\\_&amp;\\_Söhne &lt;Bau&gt; GmbH"]
    assert query["customer"] == ["true"]
    name_query = sandbox.api_calls(path_prefix="/v1/contacts")[-1]
    assert name_query.response_body["totalElements"] == 2  # not the wildcard look-alike
    assert lexoffice.find_customer_by_email(_company_by_email("nobody@mueller-bau.example")) is None


def test_a_person_customer_is_found_by_first_and_last_name(
    lexoffice: LexofficeConnector, sandbox: LexofficeSandbox
) -> None:
    jonas = lexoffice.create_customer(_person("Jonas", "Schmidt"))
    lexoffice.create_customer(_person("Jana", "Schmidt"))

    sent = sandbox.api_calls(path_prefix="/v1/contacts")[0].request_body
    assert sent["person"] == {"firstName": "Jonas", "lastName": "Schmidt"}
    assert "company" not in sent
    assert sent["emailAddresses"] == {"business": ["jonas.schmidt@example.org"]}

    found = lexoffice.find_customer_by_name(_person("jonas", "SCHMIDT"))
    assert found is not None
    assert found.vendor_id == jonas.vendor_id
    assert lexoffice.find_customer_by_name(_person("Jan", "Schmidt")) is None
    by_email = lexoffice.find_customer_by_email(_person("Jonas", "Schmidt"))
    assert by_email is not None
    assert by_email.vendor_id == jonas.vendor_id
    assert lexoffice.get_customer(jonas.vendor_id) == by_email
    assert lexoffice.get_customer("6f1c1c36-0000-4000-8000-000000000000") is None


def test_filters_shorter_than_three_characters_are_not_sent(
    lexoffice: LexofficeConnector,
) -> None:
    assert lexoffice.find_customer_by_email(_person_by_email("a@")) is None
    short = Customer(kind=CustomerKind.COMPANY, company=Company(name="HP"))
    assert lexoffice.find_customer_by_name(short) is None
    assert lexoffice.client.calls == 0


def test_an_update_keeps_what_the_customer_added_in_lexware_office(
    lexoffice: LexofficeConnector, sandbox: LexofficeSandbox
) -> None:
    created = lexoffice.create_customer(_company())
    stored = sandbox.contacts[created.vendor_id]
    # Entered by the customer in the web app since: not APIUP's to overwrite.
    stored["addresses"]["shipping"] = [
        {"street": "Lagerweg 1", "city": "Hamburg", "countryCode": "DE"}
    ]
    stored["note"] = "Zahlt immer pünktlich"
    sandbox.store.update("contacts", stored["organizationId"], stored["id"], stored)
    renamed = Customer(
        kind=CustomerKind.COMPANY,
        company=Company(
            name="Müller & Söhne Bau GmbH",
            email="info@mueller-bau.example",
            address=Address("Neue Straße", "1", "10117", "Berlin", "DE"),
        ),
    )
    calls_before = lexoffice.client.calls

    updated = lexoffice.update_customer(created, renamed)

    assert lexoffice.client.calls - calls_before == 2  # read, then write
    contact = sandbox.contacts[created.vendor_id]
    assert contact["company"]["name"] == "Müller & Söhne Bau GmbH"
    assert contact["addresses"]["billing"] == [
        {"street": "Neue Straße 1", "zip": "10117", "city": "Berlin", "countryCode": "DE"}
    ]
    assert contact["addresses"]["shipping"][0]["city"] == "Hamburg"
    assert contact["note"] == "Zahlt immer pünktlich"
    assert contact["company"]["contactPersons"][0]["lastName"] == "Müller"
    assert updated.version == contact["version"] == 2
    assert updated.number == "10001"


def test_an_update_that_meets_a_concurrent_change_reads_again_and_retries_once(
    lexoffice: LexofficeConnector, sandbox: LexofficeSandbox
) -> None:
    created = lexoffice.create_customer(_person())
    reads: list[int] = []

    def someone_else_edits(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if response.request.method == "GET" and not reads:
            reads.append(1)
            contact = sandbox.contacts[created.vendor_id]
            changes = {"version": contact["version"] + 1}
            sandbox.store.update("contacts", contact["organizationId"], contact["id"], changes)

    lexoffice.client.session.hooks["response"].append(someone_else_edits)
    updated = lexoffice.update_customer(created, _person("Jonas", "Schmidt-Weber"))

    statuses = [(c.method, c.status) for c in sandbox.api_calls()[1:]]
    assert statuses == [("GET", 200), ("PUT", 409), ("GET", 200), ("PUT", 200)]
    assert sandbox.contacts[created.vendor_id]["person"]["lastName"] == "Schmidt-Weber"
    assert updated.version == 3


def test_an_article_update_that_meets_a_concurrent_change_keeps_it(
    lexoffice: LexofficeConnector, sandbox: LexofficeSandbox
) -> None:
    created = lexoffice.create_article(
        Article(sku="SKU-1", name="Beratung", description="Kurz", unit_price=Decimal("100"),
                tax_rate=Decimal("19"))
    )  # fmt: skip
    reads: list[int] = []

    def someone_else_edits(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if response.request.method == "GET" and not reads:
            reads.append(1)
            owner, record = next(iter(sandbox.store.everything("articles")))
            changes = {"version": record["version"] + 1, "description": "Angereichert"}
            sandbox.store.update("articles", owner, record["id"], changes)

    lexoffice.client.session.hooks["response"].append(someone_else_edits)
    lexoffice.update_article(
        created.vendor_id,
        Article(sku="SKU-1", name="Beratung", description="Kurz", unit_price=Decimal("120"),
                tax_rate=Decimal("19")),
        overwrite=frozenset({ArticleField.PRICE}),
    )  # fmt: skip

    statuses = [(c.method, c.status) for c in sandbox.api_calls()[1:]]
    assert statuses == [("GET", 200), ("PUT", 409), ("GET", 200), ("PUT", 200)]
    _, stored = next(iter(sandbox.store.everything("articles")))
    assert stored["price"]["netPrice"] == 120
    assert stored["description"] == "Angereichert"  # their change, read again and kept


def test_a_quote_with_three_positions_is_a_draft_with_a_shortened_title(
    lexoffice: LexofficeConnector, sandbox: LexofficeSandbox
) -> None:
    customer = lexoffice.create_customer(_company())
    quote = _quote(customer.vendor_id)

    ref = lexoffice.create_quote(quote)

    expected = _fixture("quotation-three-positions.request.json")
    expected["address"]["contactId"] = customer.vendor_id
    sent = sandbox.api_calls(path_prefix="/v1/quotations")[-1].request_body
    assert sent == expected
    stored = sandbox.quotations[ref.vendor_id]
    assert stored["voucherStatus"] == "draft"
    assert stored["title"] == fit_title(quote.title, 25)[0]
    assert len(stored["title"]) <= 25
    assert stored["introduction"].startswith("Digitalisierung der Lagerlogistik Phase 2\n")
    assert "hubspot-deal-4711-123" in stored["introduction"]
    assert LEXOFFICE_DATE.fullmatch(stored["voucherDate"])
    assert LEXOFFICE_DATE.fullmatch(stored["expirationDate"])
    assert [line["lineItemAmount"] for line in stored["lineItems"]] == [1500.0, 119.7, 1198.92]
    assert ref.url.endswith(f"/permalink/quotations/edit/{ref.vendor_id}")
    assert lexoffice.client.calls == 2


def test_a_short_title_stays_and_the_introduction_holds_only_the_reference(
    lexoffice: LexofficeConnector, sandbox: LexofficeSandbox
) -> None:
    customer = lexoffice.create_customer(_person())
    ref = lexoffice.create_quote(_quote(customer.vendor_id, title="Webshop", introduction=""))
    stored = sandbox.quotations[ref.vendor_id]
    assert stored["title"] == "Webshop"
    assert stored["introduction"] == "Referenz: hubspot-deal-4711-123"


def test_a_quote_in_chf_is_refused_before_any_call(
    lexoffice: LexofficeConnector, sandbox: LexofficeSandbox
) -> None:
    with pytest.raises(errors.UnsupportedByVendor) as caught:
        lexoffice.create_quote(_quote("6f1c1c36-0000-4000-8000-000000000000", currency="CHF"))
    assert "CHF" in str(caught.value)
    assert lexoffice.client.calls == 0
    assert sandbox.api_calls() == []


def test_a_refused_quote_is_permanent_and_carries_the_vendors_message(
    lexoffice: LexofficeConnector, sandbox: LexofficeSandbox
) -> None:
    customer = lexoffice.create_customer(_person())
    # 16 % is no German VAT rate (any more).
    wrong_rate = (QuotePosition("Beratung", Decimal(1), Decimal(100), Decimal(16)),)

    with pytest.raises(errors.PermanentError) as caught:
        lexoffice.create_quote(_quote(customer.vendor_id, positions=wrong_rate))

    assert caught.value.status == 406
    assert (
        caught.value.vendor_message == "lineItems[0].unitPrice.taxRatePercentage: invalid tax rate"
    )
    assert [c.status for c in sandbox.api_calls(path_prefix="/v1/quotations")] == [406]  # once
    assert sandbox.quotations == {}


def test_a_refused_contact_carries_the_issue_list(
    lexoffice: LexofficeConnector, sandbox: LexofficeSandbox
) -> None:
    nameless = Customer(kind=CustomerKind.PERSON, person=Person(email="no.name@example.org"))
    with pytest.raises(errors.PermanentError) as caught:
        lexoffice.create_customer(nameless)
    assert caught.value.status == 406
    assert caught.value.vendor_message == "person.lastName: missing_entity"
    assert sandbox.contacts == {}


def test_find_quote_looks_past_quotes_created_for_the_customer_since(
    lexoffice: LexofficeConnector, sandbox: LexofficeSandbox
) -> None:
    # A busy tenant creates more quotes for the same customer before the lost one is looked
    # up; the lost one is then not among the newest few.
    customer = lexoffice.create_customer(_person())
    sandbox.faults.update({"drop_after_commit_rate": 1.0})
    with pytest.raises(errors.UnknownOutcome):
        lexoffice.create_quote(_quote(customer.vendor_id, reference="HubSpot-Deal 4711-1"))
    sandbox.faults.update({"drop_after_commit_rate": 0.0})
    for number in range(2, 14):
        lexoffice.create_quote(_quote(customer.vendor_id, reference=f"HubSpot-Deal 4711-{number}"))

    found = lexoffice.find_quote("HubSpot-Deal 4711-1", customer_id=customer.vendor_id)

    assert found is not None
    assert "HubSpot-Deal 4711-1" in sandbox.quotations[found.vendor_id]["introduction"]


def test_an_invoice_is_created_as_a_draft(
    lexoffice: LexofficeConnector, sandbox: LexofficeSandbox
) -> None:
    customer = lexoffice.create_customer(_person())
    ref = lexoffice.create_invoice(_quote(customer.vendor_id))
    stored = sandbox.invoices[ref.vendor_id]
    assert stored["voucherStatus"] == "draft"
    assert stored["shippingConditions"] == {
        "shippingType": "service",
        "shippingDate": "2026-07-01T00:00:00.000+02:00",
    }
    assert "expirationDate" not in stored


def test_contacts_cannot_be_deleted(
    lexoffice: LexofficeConnector, sandbox: LexofficeSandbox
) -> None:
    customer = lexoffice.create_customer(_person())
    with pytest.raises(errors.UnsupportedByVendor):
        lexoffice.delete_customer(customer)
    assert lexoffice.client.calls == 1


@pytest.mark.parametrize(
    ("fixture", "status", "message"),
    [
        (
            "regular-406.json",
            406,
            "lineItems[0].unitPrice.taxRatePercentage: darf nicht null sein; "
            "title: Größe muss zwischen 0 und 25 sein",
        ),
        (
            "legacy-406.json",
            406,
            "company.name: missing_entity; emailAddresses.business: invalid_value",
        ),
        ("unauthorized-401.json", 401, "Unauthorized"),
    ],
)
def test_both_error_formats_read_as_the_vendors_words(
    fixture: str, status: int, message: str
) -> None:
    response = requests.Response()
    response.status_code = status
    response._content = (FIXTURES / fixture).read_bytes()
    assert read_error(response) == message


# -- the shared rate limit ---------------------------------------------------------------

WORKERS = 4
CALLS_PER_WORKER = 25


def _worker(url: str, api_key: str) -> None:
    connection = Connection(system="lexoffice", credentials={"api_key": api_key})
    lexoffice = LexofficeConnector(connection=connection, base_url=url)
    for _ in range(CALLS_PER_WORKER):
        lexoffice.verify()


def test_four_worker_processes_sharing_a_key_stay_under_two_calls_per_second(
    vendor: RunningSandbox, sandbox: LexofficeSandbox, api_key: str
) -> None:
    # The bucket lives in Redis with REDIS_URL and in a locked file under var/ without: both
    # are shared by processes, which is what this test needs.
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_worker, args=(vendor.url, api_key)) for _ in range(WORKERS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [w.exitcode for w in workers] == [0] * WORKERS

    calls = sandbox.api_calls(path_prefix="/v1/profile")
    assert len(calls) == WORKERS * CALLS_PER_WORKER
    assert {c.status for c in calls} == {200}  # not a single 429
    moments = sorted(c.at for c in calls)
    rate = (len(moments) - 1) / (moments[-1] - moments[0])
    assert 1.8 <= rate <= 2.02
    # Evenly spaced, not in bursts: no two-second stretch holds more than 2/s allows.
    assert max(sum(1 for t in moments if start <= t < start + 2) for start in moments) <= 5


def test_the_quotation_body_is_mapped_from_the_quote_alone() -> None:
    # The mapping is a pure function: the same body as sent in the test above, no call.
    body = mapping.voucher_body(_quote("c-1"))
    body["expirationDate"] = mapping.lexoffice_datetime(_quote("c-1").valid_until)
    expected = _fixture("quotation-three-positions.request.json")
    expected["address"]["contactId"] = "c-1"
    assert body == expected
