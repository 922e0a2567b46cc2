"""The contacts endpoint's read model and filter; what a contact body must hold is the spec
step's (`ContactWrite`)."""

from __future__ import annotations

import re
from typing import Any

ROLES = ("customer", "vendor")
EMAIL_KINDS = ("business", "office", "private", "other")
PHONE_KINDS = ("business", "office", "mobile", "private", "fax", "other")
ADDRESS_KINDS = ("billing", "shipping")
ADDRESS_FIELDS = ("supplement", "street", "zip", "city", "countryCode")
COMPANY_FIELDS = ("name", "taxNumber", "vatRegistrationId", "allowTaxFreeInvoices")
PERSON_FIELDS = ("salutation", "firstName", "lastName")
CONTACT_PERSON_FIELDS = (
    "salutation",
    "firstName",
    "lastName",
    "primary",
    "emailAddress",
    "phoneNumber",
)
X_RECHNUNG_FIELDS = ("buyerReference", "vendorNumberAtCustomer")
FILTER_MIN_LENGTH = 3


def contact_content(body: dict[str, Any]) -> dict[str, Any]:
    """The writable part of a contact, as stored (unknown keys and nulls are not kept)."""
    content: dict[str, Any] = {}
    if isinstance(body.get("company"), dict):
        company = _pick(body["company"], COMPANY_FIELDS)
        persons = body["company"].get("contactPersons")
        if isinstance(persons, list):
            company["contactPersons"] = [_pick(p, CONTACT_PERSON_FIELDS) for p in persons]
        content["company"] = company
    if isinstance(body.get("person"), dict):
        content["person"] = _pick(body["person"], PERSON_FIELDS)
    addresses = body.get("addresses") or {}
    content["addresses"] = {
        kind: [_pick(a, ADDRESS_FIELDS) for a in addresses[kind]]
        for kind in ADDRESS_KINDS
        if addresses.get(kind)
    }
    if isinstance(body.get("xRechnung"), dict):
        content["xRechnung"] = _pick(
            body["xRechnung"], ("buyerReference", "vendorNumberAtCustomer")
        )
    emails = body.get("emailAddresses") or {}
    content["emailAddresses"] = {k: list(emails[k]) for k in EMAIL_KINDS if emails.get(k)}
    phones = body.get("phoneNumbers") or {}
    content["phoneNumbers"] = {k: list(phones[k]) for k in PHONE_KINDS if phones.get(k)}
    if isinstance(body.get("note"), str):
        content["note"] = body["note"]
    return content


def _pick(source: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {key: source[key] for key in fields if source.get(key) is not None}


def display_name(contact: dict[str, Any]) -> str:
    """The name lexoffice shows and matches `name=` against: company name or person's name."""
    if "company" in contact:
        return str(contact["company"].get("name", ""))
    person = contact.get("person", {})
    return " ".join(p for p in (person.get("firstName"), person.get("lastName")) if p)


def email_addresses(contact: dict[str, Any]) -> list[str]:
    """The contact's addresses plus its contact persons', which the email filter also searches."""
    emails = [e for entries in contact.get("emailAddresses", {}).values() for e in entries]
    for contact_person in contact.get("company", {}).get("contactPersons", []):
        if contact_person.get("emailAddress"):
            emails.append(contact_person["emailAddress"])
    return emails


def filter_pattern(value: str) -> re.Pattern[str]:
    """lexoffice's filter syntax: case-insensitive substring, `%` any run of characters, `_` one
    character, a backslash makes the next character literal (`\\_`, `\\%`)."""
    parts: list[str] = []
    characters = iter(value)
    for character in characters:
        if character == "\\":
            parts.append(re.escape(next(characters, "\\")))
        elif character == "%":
            parts.append(".*")
        elif character == "_":
            parts.append(".")
        else:
            parts.append(re.escape(character))
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def unescape_name(value: str) -> str:
    # The docs ask clients to HTML-encode &, < and > in `name` (and then URL-encode it).
    return value.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
