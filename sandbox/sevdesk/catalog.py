"""The system data every sevDesk account answers with: units, countries, contact categories,
communication way keys and tax rules.

sevDesk's spec references these objects by `{id, objectName}` only; the ids a client must send
come from these lists, so the sandbox seeds them the way clients find them live.
"""

from __future__ import annotations

from typing import Any

from sandbox.sevdesk.payloads import SevdeskError

Record = dict[str, Any]


def _records(object_name: str, fields: str, *rows: tuple[Any, ...]) -> tuple[Record, ...]:
    names = fields.split()
    return tuple(
        {"id": str(row[0]), "objectName": object_name, **dict(zip(names, row[1:], strict=True))}
        for row in rows
    )


# Ids 1 (Stk) and 9 (Std) are what integrations hard-code; the flat-rate unit follows a
# community client. The patched spec describes `GET /Unity` but lists no units: unverified.
UNITIES = _records(
    "Unity",
    "name translationCode",
    (1, "Stk", "UNITY_PIECE"),
    (9, "Std", "UNITY_HOUR"),
    (15, "pauschal", "UNITY_FLAT_RATE"),
)
# Germany is id 1 in live payloads (`addressCountry {id: 1}`); the other ids are the sandbox's.
STATIC_COUNTRIES = _records(
    "StaticCountry",
    "code name nameEn translationCode",
    (1, "de", "Deutschland", "Germany", "COUNTRY_GERMANY"),
    (2, "ch", "Schweiz", "Switzerland", "COUNTRY_SWITZERLAND"),
    (3, "at", "Österreich", "Austria", "COUNTRY_AUSTRIA"),
    (4, "fr", "Frankreich", "France", "COUNTRY_FRANCE"),
)
# Contact categories as sevDesk numbers them (the spec's example uses 3, the customer).
CATEGORIES = _records(
    "Category",
    "name objectType",
    (2, "Lieferant", "Contact"),
    (3, "Kunde", "Contact"),
    (4, "Partner", "Contact"),
    (28, "Interessent", "Contact"),
    (43, "Rechnungsadresse", "ContactAddress"),
    (47, "Lieferadresse", "ContactAddress"),
)
# The names are those the spec's `getCommunicationWayKeys` enum lists.
COMMUNICATION_WAY_KEYS = _records(
    "CommunicationWayKey",
    "name translationCode",
    (1, "Privat", "COMM_WAY_KEY_PRIVAT"),
    (2, "Arbeit", "COMM_WAY_KEY_WORK"),
    (3, "Fax", "COMM_WAY_KEY_FAX"),
    (4, "Mobil", "COMM_WAY_KEY_MOBILE"),
    (5, " ", "COMM_WAY_KEY_EMPTY"),
    (6, "Autobox", "COMM_WAY_KEY_AUTOBOX"),
    (7, "Newsletter", "COMM_WAY_KEY_NEWSLETTER"),
    (8, "Rechnungsadresse", "COMM_WAY_KEY_INVOICING"),
)
# "Umsatzsteuerpflichtige Umsaetze (taxRate 0/7/19)": sevDesk answers 422 for any other
# position rate under rule 1. The other rules' allowed rates are not documented.
TAX_RATES_BY_RULE: dict[int, frozenset[float]] = {1: frozenset({0.0, 7.0, 19.0})}


def find(records: tuple[Record, ...], object_id: int) -> Record | None:
    return next((r for r in records if r["id"] == str(object_id)), None)


def known(records: tuple[Record, ...], object_id: int, **where: str) -> int:
    """The id, when the list has it (and it fits `where`); sevDesk refuses others with 400."""
    found = find(records, object_id)
    if found is None or any(found[key] != value for key, value in where.items()):
        raise SevdeskError(400, f"{records[0]['objectName']} {object_id} does not exist")
    return object_id
