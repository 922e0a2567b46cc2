"""The contacts endpoint's read model and filters; what a contact body must hold is the spec
step's (`ContactWrite`)."""

from __future__ import annotations

import re
from typing import Any

from sandbox.store import Filter, Record

ROLES = ("customer", "vendor")
EMAIL_KINDS = ("business", "office", "private", "other")
PHONE_KINDS = ("business", "office", "mobile", "private", "fax", "other")
ADDRESS_KINDS = ("billing", "shipping")
ADDRESS_FIELDS = ("supplement", "street", "zip", "city", "countryCode")
COMPANY_FIELDS = ("name", "taxNumber", "vatRegistrationId", "allowTaxFreeInvoices")
PERSON_FIELDS = ("salutation", "firstName", "lastName")
CONTACT_PERSON_FIELDS = (*PERSON_FIELDS, "primary", "emailAddress", "phoneNumber")
X_RECHNUNG_FIELDS = ("buyerReference", "vendorNumberAtCustomer")
FILTER_MIN_LENGTH = 3


def content(body: dict[str, Any]) -> dict[str, Any]:
    """The writable part of a contact, as stored (unknown keys and nulls are not kept)."""
    kept: dict[str, Any] = {}
    if isinstance(body.get("company"), dict):
        company = _pick(body["company"], COMPANY_FIELDS)
        persons = body["company"].get("contactPersons")
        if isinstance(persons, list):
            company["contactPersons"] = [_pick(p, CONTACT_PERSON_FIELDS) for p in persons]
        kept["company"] = company
    if isinstance(body.get("person"), dict):
        kept["person"] = _pick(body["person"], PERSON_FIELDS)
    addresses = body.get("addresses") or {}
    kept["addresses"] = {
        kind: [_pick(a, ADDRESS_FIELDS) for a in addresses[kind]]
        for kind in ADDRESS_KINDS
        if addresses.get(kind)
    }
    if isinstance(body.get("xRechnung"), dict):
        kept["xRechnung"] = _pick(body["xRechnung"], X_RECHNUNG_FIELDS)
    emails = body.get("emailAddresses") or {}
    kept["emailAddresses"] = {k: list(emails[k]) for k in EMAIL_KINDS if emails.get(k)}
    phones = body.get("phoneNumbers") or {}
    kept["phoneNumbers"] = {k: list(phones[k]) for k in PHONE_KINDS if phones.get(k)}
    if isinstance(body.get("note"), str):
        kept["note"] = body["note"]
    return kept


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


def _role(role: str) -> Filter:
    def matches(contact: Record, value: str) -> bool:
        return (role in contact["roles"]) == (value.lower() == "true")

    return matches


# The query parameters of `GET /v1/contacts`; the spec step has checked their types and the
# length of `email` (`name` is checked by the handler, after unescaping).
FILTERS: dict[str, Filter] = {
    "name": lambda c, v: bool(filter_pattern(unescape_name(v)).search(display_name(c))),
    "email": lambda c, v: any(filter_pattern(v).search(e) for e in email_addresses(c)),
    "number": lambda c, v: int(v) in [r.get("number") for r in c["roles"].values()],
    "customer": _role("customer"),
    "vendor": _role("vendor"),
}


def view(contact: Record) -> Record:
    """A contact as GET shows it (the create/update stamps are kept for the inspection page)."""
    return {k: v for k, v in contact.items() if k not in ("createdDate", "updatedDate")}
