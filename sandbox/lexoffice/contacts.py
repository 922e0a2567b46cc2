"""The contacts endpoint's rules (create/update validation, the read model, the filter)."""

from __future__ import annotations

import re
from typing import Any

from sandbox.lexoffice.errors import Issue, invalid, missing

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
SALUTATION_MAX = 25
NOTE_MAX = 1000
FILTER_MIN_LENGTH = 3


def _blank(value: Any) -> bool:
    return not isinstance(value, str) or not value.strip()


def _too_long(value: Any, limit: int) -> bool:
    return isinstance(value, str) and len(value) > limit


def contact_issues(body: dict[str, Any]) -> list[Issue]:
    """What lexoffice refuses in a contact on create and update (version checked by the caller)."""
    issues: list[Issue] = []
    roles = body.get("roles")
    if not isinstance(roles, dict) or not any(isinstance(roles.get(r), dict) for r in ROLES):
        issues.append(missing("roles"))
    company, person = body.get("company"), body.get("person")
    if company is None and person is None:
        issues.append(missing("company"))
    elif company is not None and person is not None:
        # Exactly one of the two: a contact is either a company or a private person.
        issues.append(invalid("company"))
    if company is not None:
        issues += _company_issues(company)
    if person is not None:
        issues += _person_issues(person, "person")
    issues += _address_issues(body.get("addresses"))
    issues += _list_issues(body.get("emailAddresses"), "emailAddresses", EMAIL_KINDS)
    issues += _list_issues(body.get("phoneNumbers"), "phoneNumbers", PHONE_KINDS)
    note = body.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > NOTE_MAX):
        issues.append(invalid("note"))
    return issues


def _company_issues(company: Any) -> list[Issue]:
    if not isinstance(company, dict):
        return [invalid("company")]
    issues = [missing("company.name")] if _blank(company.get("name")) else []
    persons = company.get("contactPersons")
    if persons is None:
        return issues
    if not isinstance(persons, list):
        return [*issues, invalid("company.contactPersons")]
    if len(persons) > 1:
        # The API writes at most one contact person; more exist only through the web app.
        issues.append(invalid("company.contactPersons"))
    for index, contact_person in enumerate(persons):
        issues += _person_issues(contact_person, f"company.contactPersons[{index}]")
    return issues


def _person_issues(person: Any, source: str) -> list[Issue]:
    if not isinstance(person, dict):
        return [invalid(source)]
    issues = [missing(f"{source}.lastName")] if _blank(person.get("lastName")) else []
    if _too_long(person.get("salutation"), SALUTATION_MAX):
        issues.append(invalid(f"{source}.salutation"))
    return issues


def _address_issues(addresses: Any) -> list[Issue]:
    if addresses is None:
        return []
    if not isinstance(addresses, dict):
        return [invalid("addresses")]
    issues: list[Issue] = []
    for kind in ADDRESS_KINDS:
        entries = addresses.get(kind)
        if entries is None:
            continue
        if not isinstance(entries, list) or len(entries) > 1:
            issues.append(invalid(f"addresses.{kind}"))
            continue
        for index, address in enumerate(entries):
            if not isinstance(address, dict) or _blank(address.get("countryCode")):
                issues.append(missing(f"addresses.{kind}[{index}].countryCode"))
    return issues


def _list_issues(lists: Any, source: str, kinds: tuple[str, ...]) -> list[Issue]:
    if lists is None:
        return []
    if not isinstance(lists, dict):
        return [invalid(source)]
    issues: list[Issue] = []
    for kind in kinds:
        entries = lists.get(kind)
        if entries is None:
            continue
        # One entry per list: the API cannot write a second address of the same kind.
        if not isinstance(entries, list) or len(entries) > 1 or any(map(_blank, entries)):
            issues.append(invalid(f"{source}.{kind}"))
    return issues


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
