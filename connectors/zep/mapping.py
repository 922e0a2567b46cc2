"""HubSpot's companies, contacts and deals as ZEP's JSON (REST) and SOAP structures, and back.

Pure functions. Field names and limits follow `zep/zep-derived-openapi.yaml` (REST) and
`zep/zep-soap-v7-derived.wsdl` (SOAP). Assumptions where both are silent are named
ASSUMPTION here and in client.py, and nowhere else.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests

from connectors.http import first_text
from connectors.shapes import Address, Company, Person

# REST limits (CustomerUpdate, ProjectUpdate) and SOAP limits (String32/64/120 of the WSDL).
NAME_MAX = 120
PHONE_MAX = 32
WEBSITE_MAX = 120
EMAIL_MAX = 320
NUMBER_MAX = 32
PROJECT_NAME_MAX = 64
PROJECT_DESCRIPTION_MAX = 255
SOAP_TEXT_MAX = {"vorname": 120, "name": 120, "telefon": 32, "email": 120}
SOAP_ADDRESS_MAX = {"adressZeile1": 120, "plz": 16, "ort": 32, "land": 64}


@dataclass(frozen=True, slots=True)
class ZepCustomer:
    """A ZEP customer as the product links it: the internal id (what projects name, and what
    the link keeps) and the customer number (what the routes name; a ZEP user may change it)."""

    customer_id: int | None  # None where ZEP's answers never showed it (a lost create)
    number: str
    name: str = ""
    department_id: int | None = None


@dataclass(frozen=True, slots=True)
class ZepProject:
    project_id: int
    name: str  # ZEP's "Kurzform": the HubSpot deal id unless changed in ZEP
    description: str = ""
    customer_id: int | None = None


def read_error(response: requests.Response) -> str:
    """Laravel's bodies (fact sheet "Errors", inferred): `{message, errors: {field: [...]}}`;
    the field messages say more than the summary."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if not isinstance(body, Mapping):
        return ""
    problems = body.get("errors")
    if isinstance(problems, Mapping) and problems:
        return " ".join(str(m) for messages in problems.values() for m in _listed(messages))
    return first_text(body, "message")


def _listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _cut(text: str, limit: int) -> str:
    return text.strip()[:limit]


def website(domain: str) -> str:
    domain = domain.strip()
    if not domain or "://" in domain:
        return _cut(domain, WEBSITE_MAX)
    return _cut(f"https://{domain}", WEBSITE_MAX)


def customer_fields(company: Company, *, note: str = "") -> dict[str, Any]:
    """The fields HubSpot leads (reference 002): name, phone, website, e-mail, note. Empty
    values are left out, so a field emptied in HubSpot is not cleared in ZEP."""
    fields = {
        "name": _cut(company.name, NAME_MAX),
        "phone": _cut(company.phone, PHONE_MAX),
        "website": website(company.domain),
        "email": _cut(company.email, EMAIL_MAX),
        "comments": note.strip(),
    }
    return {key: value for key, value in fields.items() if value}


def customer_create_body(company: Company, *, number: str, note: str = "") -> dict[str, Any]:
    return {"customer_number": _cut(number, NUMBER_MAX), **customer_fields(company, note=note)}


def to_customer(data: Mapping[str, Any], *, customer_id: int | None) -> ZepCustomer:
    department = data.get("department_id")
    return ZepCustomer(
        customer_id=customer_id,
        number=str(data.get("customer_number") or ""),
        name=str(data.get("name") or ""),
        department_id=department if isinstance(department, int) else None,
    )


def address_entry(address: Address, *, existing_id: int | None) -> dict[str, Any] | None:
    """The company's address as ZEP's default and billing address (SOAP AdresseType); None
    when HubSpot has none. ASSUMPTION: `land` takes the ISO country code (the WSDL says
    String64, not which form)."""
    if not (address.street_line or address.postcode or address.city):
        return None
    entry: dict[str, Any] = {
        "adressZeile1": address.street_line,
        "plz": address.postcode,
        "ort": address.city,
        "land": address.country_code,
    }
    entry = {k: v[: SOAP_ADDRESS_MAX[k]] for k, v in entry.items() if v}
    entry.update(istStandard=True, alsRechnungsadresse=True)
    if existing_id is not None:
        entry["id"] = existing_id
    return entry


def _same_person(person: Person, stored: Mapping[str, Any]) -> bool:
    email = person.email.strip().casefold()
    if email and email == str(stored.get("email") or "").strip().casefold():
        return True
    full = (person.first_name.strip().casefold(), person.last_name.strip().casefold())
    return full == (
        str(stored.get("vorname") or "").strip().casefold(),
        str(stored.get("name") or "").strip().casefold(),
    )


def contact_entries(
    persons: Sequence[Person], stored: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """HubSpot's contacts of a company as ZEP contact persons (SOAP AnsprechpartnerType): one
    that is there already (same e-mail, else same name) is changed through its id, a new one
    added. ZEP requires first and last name on create: a missing one is taken from the other
    or the e-mail. Contact persons HubSpot no longer lists are left in ZEP."""
    entries = []
    for person in persons:
        first, last = person.first_name.strip(), person.last_name.strip()
        fallback = person.email.split("@")[0] if person.email else ""
        entry: dict[str, Any] = {
            "vorname": first or last or fallback,
            "name": last or first or fallback,
            "email": person.email.strip(),
            "telefon": person.phone.strip(),
        }
        entry = {k: v[: SOAP_TEXT_MAX[k]] for k, v in entry.items() if v}
        if not entry.get("vorname"):
            continue  # nothing to name the contact person by
        match = next((s for s in stored if _same_person(person, s)), None)
        if match is not None and match.get("id") is not None:
            entry["id"] = int(match["id"])
        entries.append(entry)
    return entries


def project_create_body(
    *, deal_id: str, deal_name: str, customer_id: int, start: dt.date, department_id: int | None
) -> dict[str, Any]:
    """Reference 002: Kurzform = the deal id, Bezeichnung = the deal name, Kunde = the deal's
    company. The English docs also require department_id and start_date: the project starts
    the day it is created, in its customer's department (ASSUMPTION: ZEP offers no other
    default; left out where the customer names none)."""
    body: dict[str, Any] = {
        "name": _cut(deal_id, PROJECT_NAME_MAX),
        "description": _cut(deal_name, PROJECT_DESCRIPTION_MAX),
        "customer_id": customer_id,
        "start_date": start.isoformat(),
    }
    if department_id is not None:
        body["department_id"] = department_id
    return body


def project_update_body(*, deal_name: str, customer_id: int | None) -> dict[str, Any]:
    """What HubSpot leads on a linked project; its Kurzform is left as ZEP has it, and its
    customer where ZEP's answers never showed the customer's id."""
    body: dict[str, Any] = {"description": _cut(deal_name, PROJECT_DESCRIPTION_MAX)}
    if customer_id is not None:
        body["customer_id"] = customer_id
    return body


def projekt_entry(
    *, deal_id: str, deal_name: str, customer_number: str, start: dt.date
) -> dict[str, Any]:
    """The project over SOAP (ProjektType), for a customer whose internal id is unknown:
    SOAP names the customer by its number."""
    return {
        "projektNr": _cut(deal_id, PROJECT_NAME_MAX),
        "kundenNr": customer_number,
        "bezeichnung": _cut(deal_name, PROJECT_DESCRIPTION_MAX),
        "startDatum": start.isoformat(),
    }


def to_project(data: Mapping[str, Any]) -> ZepProject:
    customer = data.get("customer_id")
    return ZepProject(
        project_id=int(data["id"]),
        name=str(data.get("name") or ""),
        description=str(data.get("description") or ""),
        customer_id=customer if isinstance(customer, int) else None,
    )
