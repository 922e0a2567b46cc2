"""Reference 000: names, placeholder company, title length."""

import pytest

from connectors.rules import Placeholder, customer_for_deal, fit_title
from connectors.shapes import Address, Company, CustomerKind, Note, Person

FULL_ADDRESS = Address("Hauptstraße", "5", "10115", "Berlin", "DE")


def test_a_company_with_only_a_domain_uses_the_domain_as_name() -> None:
    customer = customer_for_deal(
        company=Company(domain="beispiel.de", address=FULL_ADDRESS),
        contact=None,
        placeholder=Placeholder(),
        default_country="DE",
    )
    assert customer.kind is CustomerKind.COMPANY
    assert customer.company is not None
    assert customer.company.name == "beispiel.de"
    assert customer.notes == (Note("rules.company_name_from_domain", (("name", "beispiel.de"),)),)


def test_incomplete_company_data_falls_back_to_the_placeholder_and_says_so() -> None:
    customer = customer_for_deal(
        company=Company(name="", address=Address(city="Köln")),
        contact=None,
        placeholder=Placeholder(),
        default_country="DE",
    )
    assert customer.company is not None
    assert customer.company.name == "Musterfirma"
    assert customer.company.address.street == "Musterstraße"
    assert customer.company.address.city == "Köln"  # what is known is kept
    assert customer.company.address.country_code == "DE"
    assert len(customer.notes) == 2


def test_the_placeholder_is_configurable() -> None:
    customer = customer_for_deal(
        company=Company(),
        contact=None,
        placeholder=Placeholder(name="Platzhalter AG", street="Weg", city="Ort"),
        default_country="CH",
    )
    assert customer.company is not None
    assert (customer.company.name, customer.company.address.street) == ("Platzhalter AG", "Weg")
    assert customer.company.address.country_code == "CH"


@pytest.mark.parametrize(
    ("person", "last_name"),
    [
        (Person(first_name="Anna"), "Anna"),
        (Person(email="anna@beispiel.de"), "anna@beispiel.de"),
        (Person(first_name="Anna", last_name="Muster"), "Muster"),
    ],
)
def test_a_person_always_gets_a_last_name(person: Person, last_name: str) -> None:
    customer = customer_for_deal(
        company=None,
        contact=Person(
            first_name=person.first_name,
            last_name=person.last_name,
            email=person.email,
            address=FULL_ADDRESS,
        ),
        placeholder=Placeholder(),
        default_country="DE",
    )
    assert customer.kind is CustomerKind.PERSON
    assert customer.person is not None
    assert customer.person.last_name == last_name
    assert bool(customer.notes) == (person.last_name == "")


def test_the_contact_becomes_the_companys_contact_person() -> None:
    customer = customer_for_deal(
        company=Company(name="Beispiel GmbH", address=FULL_ADDRESS),
        contact=Person(first_name="Anna", last_name="Muster", email="anna@beispiel.de"),
        placeholder=Placeholder(),
        default_country="DE",
    )
    assert customer.company is not None
    assert customer.company.contact_person is not None
    assert customer.email == "anna@beispiel.de"
    assert customer.notes == ()


def test_a_deal_without_anyone_has_no_customer() -> None:
    with pytest.raises(ValueError, match="no customer"):
        customer_for_deal(
            company=None, contact=None, placeholder=Placeholder(), default_country="DE"
        )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Website Relaunch", ("Website Relaunch", False)),
        ("Wartungsvertrag Serverraum Standort Nord", ("Wartungsvertrag…", True)),
        ("Jahreslizenz Premium Plus 2027 inkl. Support", ("Jahreslizenz Premium…", True)),
        ("Donaudampfschifffahrtsgesellschaftskapitän", ("Donaudampfschifffahrtsge…", True)),
        ("  Mehrere   Leerzeichen  ", ("Mehrere Leerzeichen", False)),
    ],
)
def test_titles_are_cut_at_word_boundaries(name: str, expected: tuple[str, bool]) -> None:
    title, shortened = fit_title(name, 25)
    assert (title, shortened) == expected
    assert len(title) <= 25


def test_no_limit_keeps_the_whole_name() -> None:
    assert fit_title("x" * 300, None) == ("x" * 300, False)


def test_a_company_is_looked_up_by_its_own_address_only() -> None:
    customer = customer_for_deal(
        company=Company(name="Beispiel GmbH", address=FULL_ADDRESS),
        contact=Person(first_name="Anna", last_name="Muster", email="anna@beispiel.de"),
        placeholder=Placeholder(),
        default_country="DE",
    )
    # The contact person's address goes into the record, but does not identify the company.
    assert customer.email == "anna@beispiel.de"
    assert customer.lookup_email == ""
