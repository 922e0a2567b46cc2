"""sevDesk's master data as it stores it from a create: contacts and what hangs on them
(addresses, communication ways), and parts (`Part`, the article catalogue), with the checks
the spec leaves to its descriptions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sandbox.sevdesk import catalog
from sandbox.sevdesk.payloads import (
    BERLIN,
    SevdeskError,
    amount,
    flag,
    int_ref,
    optional_number,
    optional_reference,
    ref,
    reference,
    texts,
    timestamp,
)
from sandbox.store import Filter, Record, contains

# (resource, id, message when the account has no such record) → the account's record.
One = Callable[[str, Any, str], Record]

# fmt: off
# sevDesk contact fields the client writes as text and reads back unchanged.
TEXT_FIELDS = (
    "name", "surename", "familyname", "titel", "description", "academicTitle", "gender", "name2",
    "birthday", "vatNumber", "bankAccount", "bankNumber", "taxNumber", "taxOffice",
    "buyerReference", "taxType",
)
# Written as numbers or booleans, answered as strings (`Model_ContactResponse`).
NUMBER_FIELDS = (
    "status", "defaultCashbackTime", "defaultCashbackPercent", "defaultTimeToPay",
    "defaultDiscountAmount",
)
# fmt: on
FLAG_FIELDS = ("exemptVat", "defaultDiscountPercentage", "governmentAgency")


def reference_id(field: str) -> Filter:
    """`contact[id]=7`: sevDesk filters a list by the id of a reference."""

    def matches(record: Record, value: str) -> bool:
        return str((record.get(field) or {}).get("id")) == value

    return matches


def is_person(contact: Record) -> bool:
    return bool(contact.get("surename") or contact.get("familyname"))


def contact(body: Record, one: One, sev_client: int) -> Record:
    """A new contact; the caller numbers it when the body brings no `customerNumber`."""
    category_id = reference(body, "category", "Category")
    catalog.known(catalog.CATEGORIES, category_id, objectType="Contact")
    # The spec makes every name optional; its `Model_Contact` descriptions make `name`
    # an organisation's and `surename` / `familyname` a person's, so one is needed.
    if not body.get("name") and not is_person(body):
        raise SevdeskError(400, "Name or surename/familyname is required.")
    return {
        "objectName": "Contact",
        "status": "1000",
        "customerNumber": body.get("customerNumber"),
        "category": ref(category_id, "Category"),
        "sevClient": int_ref(sev_client, "SevClient"),
        **contact_fields(body, one),
    }


def contact_changes(body: Record, one: One) -> Record:
    changes: Record = {}
    category_id = optional_reference(body, "category", "Category")
    if category_id is not None:
        catalog.known(catalog.CATEGORIES, category_id, objectType="Contact")
        changes["category"] = ref(category_id, "Category")
    if body.get("customerNumber"):
        changes["customerNumber"] = str(body["customerNumber"])
    return {**changes, **contact_fields(body, one)}


def contact_fields(body: Record, one: One) -> Record:
    fields: Record = texts(body, *TEXT_FIELDS)
    for field in NUMBER_FIELDS:
        value = optional_number(body, field)
        if value is not None:
            fields[field] = amount(value)
    for field in FLAG_FIELDS:
        if body.get(field) is not None:
            fields[field] = "1" if flag(body, field) else "0"
    parent_id = optional_reference(body, "parent", "Contact")
    if parent_id is not None:
        if is_person(one("contacts", parent_id, "Parent contact does not exist")):
            raise SevdeskError(400, "Parent must be an organisation")
        fields["parent"] = ref(parent_id, "Contact")
    tax_set_id = optional_reference(body, "taxSet", "TaxSet")
    if tax_set_id is not None:
        fields["taxSet"] = ref(tax_set_id, "TaxSet")
    return fields


def _contact_id(body: Record, one: One) -> int | None:
    contact_id = optional_reference(body, "contact", "Contact")
    if contact_id is not None:
        one("contacts", contact_id, "Contact does not exist")
    return contact_id


def address(body: Record, one: One, sev_client: int) -> Record:
    contact_id = _contact_id(body, one)
    assert contact_id is not None  # the spec requires it
    # `Model_ContactAddress.country`: "For all countries, send a GET to /StaticCountry".
    country_id = reference(body, "country", "StaticCountry")
    catalog.known(catalog.STATIC_COUNTRIES, country_id)
    # `Model_ContactAddressResponse` types its ids as integers, unlike other models.
    record: Record = {
        "objectName": "ContactAddress",
        "contact": int_ref(contact_id, "Contact"),
        "country": int_ref(country_id, "StaticCountry"),
        "sevClient": int_ref(sev_client, "SevClient"),
        **texts(body, "street", "zip", "city", "name", "name2", "name3", "name4"),
    }
    category_id = optional_reference(body, "category", "Category")
    if category_id is not None:
        catalog.known(catalog.CATEGORIES, category_id, objectType="ContactAddress")
        record["category"] = int_ref(category_id, "Category")
    return record


def communication_way(body: Record, one: One, sev_client: int) -> Record:
    key_id = reference(body, "key", "CommunicationWayKey")
    catalog.known(catalog.COMMUNICATION_WAY_KEYS, key_id)
    record: Record = {
        "objectName": "CommunicationWay",
        "type": body["type"],
        "value": body["value"],
        "key": ref(key_id, "CommunicationWayKey"),
        "main": "1" if flag(body, "main") else "0",
        "sevClient": ref(sev_client, "SevClient"),
    }
    contact_id = _contact_id(body, one)
    if contact_id is not None:
        record["contact"] = ref(contact_id, "Contact")
    return record


# -- parts ------------------------------------------------------------------------------------
# `Model_Part` / `Model_PartUpdate` type their numbers and their references' ids as numbers,
# unlike most sevDesk models, so they are answered that way. The spec's filters `partNumber`
# and `name` do not say whether they match exactly: the sandbox takes the loose reading (a
# case-insensitive part of the value), so a client that relies on exact matches fails here
# first. Nothing makes a part number unique.

PART_FILTERS = {"partNumber": contains("partNumber"), "name": contains("name")}
# Fields stored as sent: the spec step has checked their types (texts, numbers, the status
# enum 50 inactive / 100 active, the stock flag). `category` is not modelled: the sandbox has
# no part categories (`GET /Category?objectType=Part`).
PLAIN_PART_FIELDS = (
    "name", "partNumber", "text", "internalComment", "stock", "stockEnabled", "price",
    "priceNet", "priceGross", "pricePurchase", "taxRate", "status",
)  # fmt: skip
STATUS_ACTIVE = 100


def part(body: Record, _one: Any, sev_client: int) -> Record:
    """A new part; active and without stock keeping unless the body says otherwise."""
    return {
        "objectName": "Part",
        "sevClient": int_ref(sev_client, "SevClient"),
        "status": STATUS_ACTIVE,
        "stockEnabled": False,
        **part_changes(body),
    }


def part_changes(body: Record) -> Record:
    """The fields the body sends (`PUT` changes only those), the unit checked against the
    account's units."""
    changes: Record = {field: body[field] for field in PLAIN_PART_FIELDS if field in body}
    unity_id = optional_reference(body, "unity", "Unity")
    if unity_id is not None:
        changes["unity"] = int_ref(catalog.known(catalog.UNITIES, unity_id), "Unity")
    return changes


def seeded_parts(count: int, *, prefix: str, sev_client: int, age: int) -> list[Record]:
    """`count` active parts numbered `prefix`00001.., in pieces at 19 %, stamped `age`
    seconds ago."""
    stamp = timestamp(datetime.now(BERLIN) - timedelta(seconds=age))
    bodies = (
        {
            "partNumber": f"{prefix}{n:05d}",
            "name": f"Artikel {n}",
            "text": f"Beschreibung {n}",
            "stock": 0,
            "taxRate": 19,
            "unity": {"id": 1, "objectName": "Unity"},
            "price": n,
            "priceNet": n,
            "priceGross": round(n * 1.19, 2),
        }
        for n in range(1, count + 1)
    )
    return [{**part(body, None, sev_client), "create": stamp, "update": stamp} for body in bodies]


Builder = Callable[[Record, One, int], Record]
BUILDERS: dict[str, Builder] = {
    "contacts": contact,
    "addresses": address,
    "communication_ways": communication_way,
    "parts": part,
}
