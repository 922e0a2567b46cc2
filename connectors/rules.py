"""The rules customers expect when HubSpot data becomes an accounting customer or quote
(reference 000): vendor-neutral, parameterised by each vendor's declared capabilities."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from django.utils.translation import gettext_noop

from connectors.shapes import Address, Company, Customer, CustomerKind, Note, Person

# The notes these rules write, in English: the activity log translates them when it shows them.
NOTE_TEXTS = {
    "rules.last_name_from_first_name": gettext_noop(
        "The contact has no last name; the first name was used as the last name."
    ),
    "rules.last_name_from_email": gettext_noop(
        "The contact has no name; the e-mail address was used as the last name."
    ),
    "rules.company_placeholder_name": gettext_noop(
        "The company has neither a name nor a domain; “%(name)s” was used."
    ),
    "rules.company_name_from_domain": gettext_noop(
        "The company has no name; its domain “%(name)s” was used."
    ),
    "rules.company_placeholder_address": gettext_noop(
        "The company's address is incomplete; placeholder values (%(values)s) were used."
    ),
    "rules.contact_placeholder_address": gettext_noop(
        "The contact's address is incomplete; placeholder values (%(values)s) were used."
    ),
}


@dataclass(frozen=True, slots=True)
class Placeholder:
    """Stands in for incomplete company data; configurable per tenant."""

    name: str = "Musterfirma"
    street: str = "Musterstraße"
    city: str = "Musterstadt"
    postcode: str = "00000"


def company_name(company: Company) -> str:
    """A company needs a name; HubSpot allows a domain alone, which then serves as the name."""
    return company.name.strip() or company.domain.strip()


def person_with_last_name(person: Person) -> tuple[Person, Note | None]:
    """Accounting systems need a last name; HubSpot allows a first name or an e-mail alone,
    which then serves as the last name."""
    if person.last_name.strip():
        return person, None
    if person.first_name.strip():
        return replace(person, first_name="", last_name=person.first_name.strip()), Note(
            "rules.last_name_from_first_name"
        )
    if person.email.strip():
        return replace(person, last_name=person.email.strip()), Note("rules.last_name_from_email")
    return person, None


def complete_address(address: Address, placeholder: Placeholder, country: str) -> Address:
    return Address(
        street=address.street or placeholder.street,
        house_number=address.house_number if address.street else "",
        postcode=address.postcode or placeholder.postcode,
        city=address.city or placeholder.city,
        country_code=address.country_code or country,
    )


def customer_for_deal(
    *,
    company: Company | None,
    contact: Person | None,
    placeholder: Placeholder,
    default_country: str,
) -> Customer:
    """The deal's company (with the contact as contact person) or, without one, the contact."""
    notes: list[Note] = []
    if company is not None:
        name = company_name(company)
        if not name:
            name = placeholder.name
            notes.append(Note("rules.company_placeholder_name", (("name", name),)))
        elif not company.name.strip():
            notes.append(Note("rules.company_name_from_domain", (("name", name),)))
        address = company.address
        if not address.is_complete:
            address = complete_address(address, placeholder, default_country)
            values = f"{placeholder.name}, {placeholder.street}, {placeholder.city}"
            notes.append(Note("rules.company_placeholder_address", (("values", values),)))
        contact_person = None
        if contact is not None:
            contact_person, note = person_with_last_name(contact)
            if not contact_person.last_name:
                contact_person = None
            elif note:
                notes.append(note)
        return Customer(
            kind=CustomerKind.COMPANY,
            company=replace(company, name=name, address=address, contact_person=contact_person),
            notes=tuple(notes),
        )
    if contact is not None:
        person, note = person_with_last_name(contact)
        if note:
            notes.append(note)
        if not person.last_name:
            raise ValueError("A contact without name and e-mail cannot become a customer.")
        address = person.address
        if not address.is_complete:
            address = complete_address(address, placeholder, default_country)
            values = f"{placeholder.street}, {placeholder.city}"
            notes.append(Note("rules.contact_placeholder_address", (("values", values),)))
        return Customer(
            kind=CustomerKind.PERSON, person=replace(person, address=address), notes=tuple(notes)
        )
    raise ValueError("A deal without company and contact has no customer.")


def fit_title(name: str, max_length: int | None) -> tuple[str, bool]:
    """Shortens a deal name to the vendor's title limit at a word boundary where possible.
    Returns the title and whether it was shortened (the full name then goes into the
    introduction)."""
    name = re.sub(r"\s+", " ", name).strip()
    if max_length is None or len(name) <= max_length:
        return name, False
    ellipsis = "…"
    room = max_length - len(ellipsis)
    cut = name[: room + 1]
    boundary = cut.rfind(" ")
    # Keep whole words unless that would throw away more than half the room.
    shortened = cut[:boundary] if boundary >= room // 2 else name[:room]
    return shortened.rstrip(" ,;:-\u2013") + ellipsis, True
