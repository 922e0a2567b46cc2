"""The words the product itself writes into a customer's document (quote or invoice), in the
customer's language: German, English or French.

A document is read by the tenant's customer, not by the user who is signed in, so these texts
follow the customer's country and not the interface language; and they must be right in
French before any translator has seen them, so they are an explicit table here rather than
gettext messages. A tenant overrides the introduction and the remark per language in its
transfer settings (sync), the rest is fixed."""

from __future__ import annotations

from typing import Final

GERMAN, ENGLISH, FRENCH = "de", "en", "fr"
LANGUAGES: Final = (GERMAN, ENGLISH, FRENCH)
# A country without a language of its own here reads English.
DEFAULT_LANGUAGE: Final = ENGLISH
# What a document without a language (built before documents had one) was written in.
LEGACY_LANGUAGE: Final = GERMAN

_BY_COUNTRY: Final = {
    "DE": GERMAN,
    "AT": GERMAN,
    "LI": GERMAN,
    "FR": FRENCH,
    "BE": FRENCH,
    "LU": FRENCH,
    "MC": FRENCH,
}
# Switzerland has no single language: the French-speaking west (Geneva, Vaud, Neuchâtel,
# Jura, most of Fribourg and lower Valais) has postcodes from 1000 to 2999.
_SWISS_FRENCH_POSTCODES: Final = range(1000, 3000)

TEXTS: Final[dict[str, dict[str, str]]] = {
    # Our mark on the document; `find_quote` looks for it, so it is stored with the transfer
    # and a document is always searched for in the words it was written with.
    "reference": {
        GERMAN: "HubSpot-Deal {number}",
        ENGLISH: "HubSpot deal {number}",
        FRENCH: "Affaire HubSpot {number}",
    },
    "reference_label": {GERMAN: "Referenz", ENGLISH: "Reference", FRENCH: "Référence"},
    "quote": {GERMAN: "Angebot", ENGLISH: "Quote", FRENCH: "Devis"},
    "invoice": {GERMAN: "Rechnung", ENGLISH: "Invoice", FRENCH: "Facture"},
    # Terms for vendors that require some (Qonto) when the tenant has set no remark.
    "terms": {
        GERMAN: (
            "Dieses Angebot ist bis zum angegebenen Ablaufdatum gültig. Alle Preise verstehen "
            "sich netto zuzüglich der gesetzlichen Umsatzsteuer."
        ),
        ENGLISH: (
            "This quote is valid until the expiry date shown. All prices are net, plus VAT "
            "at the statutory rate."
        ),
        FRENCH: (
            "Ce devis est valable jusqu'à la date d'expiration indiquée. Tous les prix sont "
            "hors taxes, TVA en sus au taux légal."
        ),
    },
}

# Units the product knows by meaning: a HubSpot unit in any of these words is written in the
# document's language; any other unit is written as HubSpot has it.
PIECE, HOUR, DAY, MONTH = "piece", "hour", "day", "month"
UNIT_NAMES: Final[dict[str, dict[str, str]]] = {
    PIECE: {GERMAN: "Stück", ENGLISH: "piece", FRENCH: "pièce"},
    HOUR: {GERMAN: "Stunde", ENGLISH: "hour", FRENCH: "heure"},
    DAY: {GERMAN: "Tag", ENGLISH: "day", FRENCH: "jour"},
    MONTH: {GERMAN: "Monat", ENGLISH: "month", FRENCH: "mois"},
}
_UNIT_ALIASES: Final[dict[str, tuple[str, ...]]] = {
    PIECE: ("stück", "stueck", "stk", "stk.", "piece", "pieces", "pcs", "pc", "pièce",
            "pièces", "pce", "unit", "units", "unité", "unités"),
    HOUR: ("stunde", "stunden", "std", "std.", "h", "hour", "hours", "hr", "hrs", "heure",
           "heures"),
    DAY: ("tag", "tage", "day", "days", "jour", "jours"),
    MONTH: ("monat", "monate", "month", "months", "mois"),
}  # fmt: skip
_UNIT_OF_ALIAS: Final = {
    alias: unit for unit, aliases in _UNIT_ALIASES.items() for alias in aliases
}


def language_for(country_code: str, postcode: str = "", *, forced: str = "") -> str:
    """The document language for a customer in `country_code` (ISO 3166-1 alpha-2); `forced`
    (a tenant's fixed choice) wins when it is one of LANGUAGES."""
    if forced in LANGUAGES:
        return forced
    country = country_code.strip().upper()
    if country == "CH":
        digits = postcode.strip()[:4]
        if digits.isdigit() and int(digits) in _SWISS_FRENCH_POSTCODES:
            return FRENCH
        return GERMAN
    return _BY_COUNTRY.get(country, DEFAULT_LANGUAGE)


def text(language: str, key: str) -> str:
    """The product's text `key` in `language` (German for a document without a language)."""
    texts = TEXTS[key]
    return texts.get(language) or texts[LEGACY_LANGUAGE]


def reference(language: str, number: str) -> str:
    return text(language, "reference").format(number=number)


def unit_meaning(unit: str) -> str:
    """PIECE, HOUR, DAY or MONTH for a unit written in any of the three languages; "" for a
    unit the product does not know."""
    return _UNIT_OF_ALIAS.get(unit.strip().casefold(), "")


def unit_name(unit: str, language: str) -> str:
    """The unit as the document shows it: a known unit in the document's language, another
    as it is, none as "piece"."""
    meaning = unit_meaning(unit) if unit.strip() else PIECE
    if not meaning:
        return unit.strip()
    names = UNIT_NAMES[meaning]
    return names.get(language) or names[LEGACY_LANGUAGE]
