"""The system data every sevDesk account answers with: units, countries, contact categories,
communication way keys and tax rules.

sevDesk's spec references these objects by `{id, objectName}` only; the ids a client must send
come from these lists, so the sandbox seeds them the way clients find them live.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Unity:
    id: int
    name: str
    translation_code: str


# Ids 1 (Stk) and 9 (Std) are what integrations hard-code; the flat-rate unit follows a
# community client. `GET /Unity` is real but not in the spec, so the list is not verified.
UNITIES: tuple[Unity, ...] = (
    Unity(1, "Stk", "UNITY_PIECE"),
    Unity(9, "Std", "UNITY_HOUR"),
    Unity(15, "pauschal", "UNITY_FLAT_RATE"),
)


@dataclass(frozen=True)
class StaticCountry:
    id: int
    code: str
    name: str
    name_en: str
    translation_code: str


# Germany is id 1 in live payloads (`addressCountry {id: 1}`); the other ids are the sandbox's.
STATIC_COUNTRIES: tuple[StaticCountry, ...] = (
    StaticCountry(1, "de", "Deutschland", "Germany", "COUNTRY_GERMANY"),
    StaticCountry(2, "ch", "Schweiz", "Switzerland", "COUNTRY_SWITZERLAND"),
    StaticCountry(3, "at", "Österreich", "Austria", "COUNTRY_AUSTRIA"),
    StaticCountry(4, "fr", "Frankreich", "France", "COUNTRY_FRANCE"),
)


@dataclass(frozen=True)
class Category:
    id: int
    name: str
    object_type: str


# Contact categories as sevDesk numbers them (the spec's example uses 3, the customer).
CATEGORIES: tuple[Category, ...] = (
    Category(2, "Lieferant", "Contact"),
    Category(3, "Kunde", "Contact"),
    Category(4, "Partner", "Contact"),
    Category(28, "Interessent", "Contact"),
    Category(43, "Rechnungsadresse", "ContactAddress"),
    Category(47, "Lieferadresse", "ContactAddress"),
)


@dataclass(frozen=True)
class CommunicationWayKey:
    id: int
    name: str  # one of the names the spec's `getCommunicationWayKeys` enum lists
    translation_code: str


COMMUNICATION_WAY_KEYS: tuple[CommunicationWayKey, ...] = (
    CommunicationWayKey(1, "Privat", "COMM_WAY_KEY_PRIVAT"),
    CommunicationWayKey(2, "Arbeit", "COMM_WAY_KEY_WORK"),
    CommunicationWayKey(3, "Fax", "COMM_WAY_KEY_FAX"),
    CommunicationWayKey(4, "Mobil", "COMM_WAY_KEY_MOBILE"),
    CommunicationWayKey(5, " ", "COMM_WAY_KEY_EMPTY"),
    CommunicationWayKey(6, "Autobox", "COMM_WAY_KEY_AUTOBOX"),
    CommunicationWayKey(7, "Newsletter", "COMM_WAY_KEY_NEWSLETTER"),
    CommunicationWayKey(8, "Rechnungsadresse", "COMM_WAY_KEY_INVOICING"),
)

# "Umsatzsteuerpflichtige Umsaetze (taxRate 0/7/19)": sevDesk answers 422 for any other
# position rate under rule 1. The other rules' allowed rates are not documented.
TAX_RATES_BY_RULE: dict[int, frozenset[float]] = {1: frozenset({0.0, 7.0, 19.0})}
