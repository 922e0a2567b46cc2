"""The Visma eAccounting connector against the eAccounting sandbox over real HTTP, with every
request and response checked against Visma's spec (its normalized copy)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from connectors import errors, oauth
from connectors.eaccounting.client import EAccountingConnector
from connectors.eaccounting.provider import PROVIDER
from connectors.models import Connection
from connectors.shapes import (
    Address,
    Article,
    ArticleField,
    Company,
    Customer,
    CustomerKind,
    DocumentKind,
    DocumentLink,
    DocumentStatus,
    Person,
    Quote,
    QuotePosition,
)
from sandbox.core import RunningSandbox, running
from sandbox.eaccounting.app import DEMO_COMPANY, EAccountingSandbox
from tests.factories import ConnectionFactory

REFERENCE = "HubSpot-Deal 123-4711"


@pytest.fixture(scope="module")
def server() -> Iterator[RunningSandbox]:
    # One server for the module: the spec takes seconds to load.
    with running(EAccountingSandbox(contract=True)) as handle:
        yield handle


@pytest.fixture
def sandbox(server: RunningSandbox) -> Iterator[EAccountingSandbox]:
    vendor = server.sandbox
    assert isinstance(vendor, EAccountingSandbox)
    vendor.reset()
    client_id, client_secret = oauth.client_credentials(PROVIDER)
    vendor.add_oauth_client(client_id=client_id, client_secret=client_secret)
    assert vendor.contract is not None
    vendor.contract.violations.clear()
    yield vendor
    # Every request the connector sent, and every answer, must match Visma's spec.
    assert vendor.contract.violations == []


def _connection(sandbox: EAccountingSandbox, **credentials: Any) -> Connection:
    access, refresh = sandbox.token_for(DEMO_COMPANY, oauth.client_credentials(PROVIDER)[0])
    connection = ConnectionFactory(
        system="eaccounting",
        credentials={
            "access_token": access,
            "refresh_token": refresh,
            "expires_at": time.time() + 3600,
            **credentials,
        },
    )
    assert isinstance(connection, Connection)
    return connection


@pytest.fixture
def connector(server: RunningSandbox, sandbox: EAccountingSandbox) -> EAccountingConnector:
    return _connector(server, _connection(sandbox))


def _connector(server: RunningSandbox, connection: Connection) -> EAccountingConnector:
    url = server.url
    return EAccountingConnector(connection=connection, base_url=f"{url}/v2", oauth_url=url)


def _company(email: str = "einkauf@jansen.example") -> Customer:
    address = Address(street="Damrak", house_number="1", postcode="1012 LG", city="Amsterdam",
                      country_code="NL")  # fmt: skip
    contact = Person(first_name="Anna", last_name="Jansen", email="anna@jansen.example")
    company = Company(name="Bakkerij Jansen B.V.", email=email, vat_id="NL123456789B01",
                      address=address, contact_person=contact)  # fmt: skip
    return Customer(kind=CustomerKind.COMPANY, company=company)


def _person(email: str = "einkauf@jansen.example") -> Customer:
    address = Address(street="Dorpsstraat", postcode="1234 AB", city="Utrecht", country_code="NL")
    person = Person(first_name="Piet", last_name="de Vries", email=email, address=address)
    return Customer(kind=CustomerKind.PERSON, person=person)


def _quote(customer_id: str, *, article: Article | None = None, days: int | None = None) -> Quote:
    positions = [
        QuotePosition(
            name="Beratung",
            quantity=Decimal(2),
            unit_net_price=Decimal("150.00"),
            tax_rate=Decimal(21),
        )
    ]
    if article is not None:
        positions.append(
            QuotePosition(name=article.name, quantity=Decimal(4), unit_net_price=Decimal("50.00"),
                          tax_rate=Decimal(21), discount_percent=Decimal(10), article=article)
        )  # fmt: skip
    return Quote(title="Deal", introduction="", positions=tuple(positions), currency="EUR",
                 valid_from=dt.date(2026, 12, 1), valid_until=dt.date(2026, 12, 31),
                 reference=REFERENCE, customer_id=customer_id, payment_term_days=days)  # fmt: skip


def _records(sandbox: EAccountingSandbox, resource: str) -> list[dict[str, Any]]:
    return [record for _, record in sandbox.store.everything(resource)]


@pytest.mark.django_db
def test_verify_names_the_company(connector: EAccountingConnector) -> None:
    info = connector.verify()

    assert info.name == "Demo Handelsonderneming B.V."
    assert info.account_id == DEMO_COMPANY


@pytest.mark.django_db
def test_a_customer_is_created_with_the_company_terms_and_matched_by_email_and_kind(
    connector: EAccountingConnector, sandbox: EAccountingSandbox
) -> None:
    assert connector.find_customer_by_email(_company()) is None

    ref = connector.create_customer(_company())

    stored = _records(sandbox, "customers")
    assert [c["Id"] for c in stored] == [ref.vendor_id]
    assert stored[0]["IsPrivatePerson"] is False
    assert stored[0]["ContactPersonName"] == "Anna Jansen"
    assert stored[0]["TermsOfPaymentId"] == sandbox.companies[DEMO_COMPANY]["TermsOfPaymentId"]
    assert connector.find_customer_by_email(_company()) == ref
    # A person with the same address is not the company.
    assert connector.find_customer_by_email(_person()) is None
    assert connector.find_customer_by_name(_company()) == ref
    assert connector.get_customer(ref.vendor_id) == ref

    person = connector.create_customer(_person("piet@example.nl"))
    assert connector.find_customer_by_email(_person("piet@example.nl")) == person
    assert _records(sandbox, "customers")[1]["IsPrivatePerson"] is True


@pytest.mark.django_db
def test_an_update_lets_hubspot_lead_and_keeps_the_customer_terms(
    connector: EAccountingConnector, sandbox: EAccountingSandbox
) -> None:
    ref = connector.create_customer(_company())
    other_terms = _records(sandbox, "termsofpayments")[0]["Id"]
    sandbox.store.update("customers", DEMO_COMPANY, ref.vendor_id,
                         {"TermsOfPaymentId": other_terms, "DeliveryCity": "Zaandam"})  # fmt: skip
    renamed = Customer(kind=CustomerKind.COMPANY,
                       company=Company(name="Jansen Brood B.V.", email="einkauf@jansen.example",
                                       address=_company().address))  # fmt: skip

    updated = connector.update_customer(ref, renamed)

    stored = sandbox.store.get("customers", DEMO_COMPANY, ref.vendor_id)
    assert updated.vendor_id == ref.vendor_id
    assert stored["Name"] == "Jansen Brood B.V."
    assert stored["TermsOfPaymentId"] == other_terms
    assert stored["DeliveryCity"] == "Zaandam"  # what HubSpot does not map stays
    assert stored["CustomerNumber"] == ref.number


@pytest.mark.django_db
def test_a_quote_has_an_article_row_with_its_discount_and_is_found_by_reference(
    connector: EAccountingConnector, sandbox: EAccountingSandbox
) -> None:
    customer = connector.create_customer(_company())
    article = connector.create_article(
        Article(sku="BROT-1", name="Brood", unit_price=Decimal(50), tax_rate=Decimal(21), unit="st")
    )

    ref = connector.create_document(DocumentKind.QUOTE, _quote(customer.vendor_id, article=article))

    quote = sandbox.store.get("quotes", DEMO_COMPANY, ref.vendor_id)
    free_row, article_row = quote["Rows"]
    # The position without an article stands on the generic article of its tax rate.
    generic = connector.find_article("HUBSPOT-21")
    assert generic is not None
    assert generic.tax_rate == Decimal(21)
    assert (free_row["Text"], free_row["ArticleId"]) == ("Beratung", generic.vendor_id)
    assert free_row["UnitPrice"] == 150.0
    assert free_row["VatRate"] == pytest.approx(0.21)
    assert article_row["ArticleId"] == article.vendor_id
    assert article_row["DiscountPercentage"] == pytest.approx(0.1)
    assert article_row["Amount"] == pytest.approx(180.0)  # 4 times 50, less 10 %
    assert quote["CompanyReference"] == REFERENCE
    assert connector.find_document(DocumentKind.QUOTE, REFERENCE) == ref
    assert connector.find_document(DocumentKind.QUOTE, "HubSpot-Deal 999") is None
    state = connector.document_state(DocumentKind.QUOTE, ref.vendor_id)
    assert state.status is DocumentStatus.OPEN
    assert state.number == ref.number


@pytest.mark.django_db
def test_a_quote_becomes_an_order_and_the_order_an_invoice_found_by_their_origin(
    connector: EAccountingConnector, sandbox: EAccountingSandbox
) -> None:
    customer = connector.create_customer(_company())
    quote = connector.create_document(DocumentKind.QUOTE, _quote(customer.vendor_id))

    order = connector.create_document(
        DocumentKind.ORDER, _quote(customer.vendor_id),
        preceding=DocumentLink(DocumentKind.QUOTE, quote.vendor_id),
    )  # fmt: skip
    invoice = connector.create_document(
        DocumentKind.INVOICE, _quote(customer.vendor_id),
        preceding=DocumentLink(DocumentKind.ORDER, order.vendor_id), finalize=True,
    )  # fmt: skip

    assert connector.find_document(DocumentKind.ORDER, REFERENCE) == order
    assert connector.find_document(DocumentKind.INVOICE, REFERENCE) == invoice
    assert connector.document_state(DocumentKind.QUOTE, quote.vendor_id).status is (
        DocumentStatus.ACCEPTED
    )
    state = connector.document_state(DocumentKind.INVOICE, invoice.vendor_id)
    assert state.status is DocumentStatus.OPEN
    assert state.total == Decimal("363.00")  # 300 net and 21 % VAT
    assert state.number == invoice.number != ""


@pytest.mark.django_db
def test_an_order_of_its_own_has_the_required_row_fields_and_the_mapped_terms(
    connector: EAccountingConnector, sandbox: EAccountingSandbox
) -> None:
    customer = connector.create_customer(_company())

    order = connector.create_document(DocumentKind.ORDER, _quote(customer.vendor_id, days=14))

    stored = sandbox.store.get("orders", DEMO_COMPANY, order.vendor_id)
    fourteen_days = next(t for t in _records(sandbox, "termsofpayments") if t["NumberOfDays"] == 14)
    assert stored["TermsOfPaymentId"] == fourteen_days["Id"]
    assert stored["OurReference"] == REFERENCE
    assert stored["Rows"][0]["IsTextRow"] is False
    state = connector.document_state(DocumentKind.ORDER, order.vendor_id)
    assert state.status is DocumentStatus.OPEN
    assert state.total == Decimal("363.00")  # 300 net and 21 % VAT


@pytest.mark.django_db
def test_an_invoice_draft_is_finalized_by_converting_it_and_its_payment_polled_back(
    connector: EAccountingConnector, sandbox: EAccountingSandbox
) -> None:
    customer = connector.create_customer(_company())
    article = connector.create_article(Article(sku="A-1", name="Brood", unit_price=Decimal(100),
                                               tax_rate=Decimal(21)))  # fmt: skip
    draft = connector.create_document(DocumentKind.INVOICE, _quote(customer.vendor_id,
                                                                   article=article))  # fmt: skip
    assert connector.document_state(DocumentKind.INVOICE, draft.vendor_id).status is (
        DocumentStatus.DRAFT
    )
    # A draft is no finished invoice: not found, but taken over by the next create (after
    # its answer was lost) and finalized by converting it, without a second draft.
    assert connector.find_document(DocumentKind.INVOICE, REFERENCE) is None

    cursor = connector.document_changes("").cursor
    final = connector.create_document(DocumentKind.INVOICE, _quote(customer.vendor_id),
                                      finalize=True)  # fmt: skip
    assert _records(sandbox, "customerinvoicedrafts") == []
    invoice = sandbox.store.get("customerinvoices", DEMO_COMPANY, final.vendor_id)
    assert invoice["CreatedFromDraftId"] == draft.vendor_id
    assert connector.find_document(DocumentKind.INVOICE, REFERENCE) == final
    sandbox.document_status_set(kind="invoice", document_id=final.vendor_id,
                                status="partially_paid", amount="100")  # fmt: skip
    partly = connector.document_state(DocumentKind.INVOICE, final.vendor_id)
    assert partly.status is DocumentStatus.PARTIALLY_PAID
    assert partly.open_amount == Decimal("480.80")  # 300 + 4 x 50 less 10 %, 21 % VAT, - 100
    sandbox.document_status_set(kind="invoice", document_id=final.vendor_id, status="paid")

    changes = connector.document_changes(cursor)

    assert final.vendor_id in {c.vendor_id for c in changes.changes}
    paid = connector.document_state(DocumentKind.INVOICE, final.vendor_id)
    assert paid.status is DocumentStatus.PAID
    assert paid.open_amount == Decimal("0.00")
    assert paid.paid_date == dt.datetime.now(dt.UTC).date()


@pytest.mark.django_db
def test_an_accepted_quote_is_polled_back(
    connector: EAccountingConnector, sandbox: EAccountingSandbox
) -> None:
    customer = connector.create_customer(_company())
    quote = connector.create_document(DocumentKind.QUOTE, _quote(customer.vendor_id))
    cursor = connector.document_changes("").cursor
    assert connector.document_changes(cursor).changes == ()

    sandbox.document_status_set(kind="quote", document_id=quote.vendor_id, status="accepted")

    changes = connector.document_changes(cursor).changes
    assert [(c.kind, c.vendor_id) for c in changes] == [(DocumentKind.QUOTE, quote.vendor_id)]


@pytest.mark.django_db
def test_articles_are_imported_page_by_page_and_their_changes_polled(
    connector: EAccountingConnector, sandbox: EAccountingSandbox
) -> None:
    sandbox.seed_articles(DEMO_COMPANY, 120)

    first = connector.articles_page("")
    second = connector.articles_page(first.next_cursor)

    assert len(first.articles) == 100
    assert first.next_cursor == "2"
    assert len(second.articles) == 20
    assert second.next_cursor == ""
    assert first.articles[0].tax_rate == Decimal(21)
    found = connector.find_article("SKU-00007")
    assert found is not None
    assert found.unit_price == Decimal("17.00")
    cursor = connector.article_changes("")[1]

    updated = connector.update_article(
        found.vendor_id, Article(sku="SKU-00007", name="Neu", unit_price=Decimal(99)),
        overwrite=frozenset({ArticleField.PRICE}),
    )  # fmt: skip

    assert updated.name == "Artikel 00007"
    assert updated.unit_price == Decimal("99.00")
    changed, _ = connector.article_changes(cursor)
    assert "SKU-00007" in {a.sku for a in changed}
    connector.archive_article(found.vendor_id)
    assert connector.find_article("SKU-00007") is None


@pytest.mark.django_db
def test_an_expired_token_is_refreshed_and_the_new_single_use_refresh_token_stored(
    server: RunningSandbox, sandbox: EAccountingSandbox
) -> None:
    connection = _connection(sandbox, expires_at=time.time() - 10)
    first_refresh = connection.credentials["refresh_token"]

    _connector(server, connection).verify()

    stored = Connection.objects.get(pk=connection.pk).credentials
    assert stored["refresh_token"] not in ("", first_refresh)
    assert first_refresh not in sandbox.refresh_tokens  # spent by its one use
    assert stored["refresh_token"] in sandbox.refresh_tokens
    # A second connector with the spent token cannot refresh: the connection must reconnect.
    spent = _connection(sandbox, expires_at=time.time() - 10, refresh_token=first_refresh)
    with pytest.raises(errors.ReconnectRequired):
        _connector(server, spent).verify()


@pytest.mark.django_db
def test_a_429_is_waited_out_and_the_call_repeated(sandbox: EAccountingSandbox) -> None:
    limited = EAccountingSandbox(contract=True, limit=2, window_seconds=1)
    client_id, client_secret = oauth.client_credentials(PROVIDER)
    limited.add_oauth_client(client_id=client_id, client_secret=client_secret)
    with running(limited) as handle:
        connector = _connector(handle, _connection(limited))
        for _ in range(3):
            connector.get_customer("4c1c6d8e-6f0b-4a53-9a39-0d6c1f9e0999")

        refused = [c for c in limited.api_calls(path_prefix="/v2/") if c.status == 429]
        assert refused, "the third call in a second met the limit"
        assert limited.api_calls(path_prefix="/v2/")[-1].status == 404
    assert limited.contract is not None
    assert limited.contract.violations == []


def test_the_data_mapper_offers_the_fields_eaccounting_has() -> None:
    from sync.mapping import targets

    customer = {t.target.key: t.spec for t in targets.targets_for("eaccounting", "customer")}
    quote = [t.target.key for t in targets.targets_for("eaccounting", "quote")]

    assert customer[targets.CUSTOMER_NAME].max_length == 50
    assert customer[targets.CUSTOMER_NAME].type == "string"
    assert customer[targets.CUSTOMER_VAT_ID].type == "string"  # ["string", "null"] in 3.1
    # No title or texts on its documents; the payment term picks the terms of payment, and a
    # shipping cost becomes a row of its own.
    assert quote == [targets.PAYMENT_TERM, targets.SHIPPING_COST]
    assert targets.revenue_account_spec("eaccounting") is None  # rows take their coding's
