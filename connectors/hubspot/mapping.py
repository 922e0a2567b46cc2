"""HubSpot's JSON: pure functions from its CRM records (deals, companies, contacts, line
items, pipelines, associations) to the neutral shapes, the deal properties the product writes
back, and how its error bodies read."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from django_countries import countries

from connectors.http import error_reader, first_text
from connectors.shapes import Address, Article, ArticleField, Company, Deal, LineItem, Person

BATCH_LIMIT = 100  # records per batch read
PAGE_LIMIT = 100  # records per page of a list
# Pages one read follows before it gives up: a server that never says "last page" must not
# get thousands of requests. 20 pages of 500 associations is far beyond any real deal; an
# import reads at most 10 million records before its slice stores the cursor.
ASSOCIATION_PAGES_MAX = 20
LIST_PAGES_MAX = 100_000

DEAL_PROPERTIES = ("dealname", "pipeline", "dealstage", "amount", "closedate", "deal_currency_code")
COMPANY_PROPERTIES = ("name", "domain", "phone", "address", "address2", "zip", "city", "country")
CONTACT_PROPERTIES = (
    "firstname",
    "lastname",
    "email",
    "phone",
    "address",
    "zip",
    "city",
    "country",
)
LINE_ITEM_PROPERTIES = (
    "name",
    "description",
    "quantity",
    "price",
    "hs_sku",
    "hs_discount_percentage",
    "discount",
    "hs_position_on_quote",
)
# HubSpot-defined association type of a deal's primary company (associations v4).
PRIMARY_COMPANY_TYPE_ID = 5

DEFAULT_EXCLUSION_PROPERTY = "not_to_accounting"  # checkbox "Not to accounting"
CHECKED_VALUES = frozenset({"true", "yes", "ja", "1", "on"})

# Deal properties the product writes back; HubSpot refuses unknown properties.
QUOTE_NUMBER_PROPERTY = "apiup_quote_number"
QUOTE_URL_PROPERTY = "apiup_quote_url"
PROPERTY_GROUP = {"name": "apiup", "label": "APIUP", "displayOrder": -1}
# The documents' labels in German and English: HubSpot shows a property in one language,
# and a portal's users may read either.
_DOCUMENT_LABELS = {
    "quote": ("Angebot", "Quote"),
    "order": ("Auftragsbestätigung", "Order confirmation"),
    "invoice": ("Rechnung", "Invoice"),
}
# The statuses of connectors.shapes.DocumentStatus, as the deal shows them.
DOCUMENT_STATUS_LABELS = {
    "draft": ("Entwurf", "Draft"),
    "open": ("Offen", "Open"),
    "sent": ("Versendet", "Sent"),
    "accepted": ("Angenommen", "Accepted"),
    "rejected": ("Abgelehnt", "Rejected"),
    "partially_paid": ("Teilweise bezahlt", "Partially paid"),
    "paid": ("Bezahlt", "Paid"),
    "voided": ("Storniert", "Voided"),
}


def document_property(kind: str, field: str) -> str:
    """The deal property the product writes a document's `field` to: number, url, status,
    open_amount, paid_date (the quote's number and link keep their first names)."""
    return f"apiup_{kind}_{field}"


def _property(name: str, label: str, **kind: object) -> dict[str, object]:
    return {
        "name": name,
        "label": f"{label} (APIUP)",
        "groupName": PROPERTY_GROUP["name"],
        "formField": False,
        **({"type": "string", "fieldType": "text"} | kind),
    }


def _document_properties() -> tuple[dict[str, object], ...]:
    options = [
        {"label": f"{de} / {en}", "value": value, "displayOrder": order, "hidden": False}
        for order, (value, (de, en)) in enumerate(DOCUMENT_STATUS_LABELS.items())
    ]
    made = []
    for kind, (de, en) in _DOCUMENT_LABELS.items():
        made += [
            _property(document_property(kind, "number"), f"{de}snummer / {en} number"),
            _property(document_property(kind, "url"), f"{de} (Link) / {en} link"),
            _property(
                document_property(kind, "status"),
                f"{de}: Status / {en} status",
                type="enumeration",
                fieldType="select",
                options=options,
            ),
        ]
    made += [
        _property(
            document_property("invoice", "open_amount"),
            "Offener Betrag / Open amount",
            type="number",
            fieldType="number",
        ),
        _property(
            document_property("invoice", "paid_date"),
            "Bezahlt am / Paid on",
            type="date",
            fieldType="date",
        ),
    ]
    return tuple(made)


DOCUMENT_PROPERTIES = _document_properties()

# Names HubSpot users type into the free-text country field that django-countries does not
# know in English or German.
COUNTRY_ALIASES = {
    "brd": "DE",
    "suisse": "CH",
    "svizzera": "CH",
    "svizra": "CH",
    "helvetia": "CH",
    "osterreich": "AT",
    "oesterreich": "AT",
    "uk": "GB",
    "great britain": "GB",
    "england": "GB",
    "usa": "US",
    "united states of america": "US",
    "italia": "IT",
    "espana": "ES",
    "españa": "ES",
    "nederland": "NL",
    "holland": "NL",
    "belgique": "BE",
    "belgie": "BE",
    "belgië": "BE",
    "polska": "PL",
    "danmark": "DK",
    "sverige": "SE",
    "norge": "NO",
}


def error_words(body: Mapping[str, Any]) -> str:
    """HubSpot's error body: `message` (human words) and `category`; the OAuth endpoints
    answer `status` + `message`, newer ones `error` + `error_description`."""
    return first_text(body, "message", "error_description", "status", "category", "error")


read_error = error_reader(error_words)


# -- values ------------------------------------------------------------------------------


def country_code(value: str | None) -> str:
    """ISO 3166-1 alpha-2 for HubSpot's free-text country ("Deutschland", "CH", "Austria"),
    or "" when it cannot be told."""
    text = re.sub(r"\s+", " ", (value or "").replace(".", "")).strip()
    if not text:
        return ""
    if len(text) <= 3 and text.isalpha():
        code = countries.alpha2(text)
        if code:
            return str(code)
    for language in ("en", "de"):
        found = countries.by_name(text, language=language)
        if isinstance(found, str) and found:
            return found
    return COUNTRY_ALIASES.get(text.casefold(), "")


def text(properties: Mapping[str, Any], name: str) -> str:
    value = properties.get(name)
    return "" if value is None else str(value).strip()


def decimal(value: Any) -> Decimal | None:
    if value is None or str(value).strip() == "":
        return None
    try:
        return Decimal(str(value).strip())
    except InvalidOperation:
        return None


def date(value: Any) -> dt.date | None:
    """HubSpot dates come as ISO date-times ("2026-11-30T00:00:00Z"), dates, or epoch ms."""
    raw = "" if value is None else str(value).strip()
    if not raw:
        return None
    if raw.isdigit():
        return dt.datetime.fromtimestamp(int(raw) / 1000, dt.UTC).date()
    try:
        return dt.datetime.fromisoformat(raw.replace("Z", "+00:00")).astimezone(dt.UTC).date()
    except ValueError:
        pass
    try:
        return dt.date.fromisoformat(raw[:10])
    except ValueError:
        return None


def excluded(record: Mapping[str, Any], exclusion_property: str) -> bool:
    """Whether the record's exclusion checkbox ("Not to accounting") is ticked."""
    value = (record.get("properties") or {}).get(exclusion_property)
    return str(value or "").strip().casefold() in CHECKED_VALUES


# -- records -----------------------------------------------------------------------------


def _address(properties: Mapping[str, Any], *, second_line: str = "") -> Address:
    street = text(properties, "address")
    extra = text(properties, second_line) if second_line else ""
    return Address(
        street=", ".join(part for part in (street, extra) if part),
        postcode=text(properties, "zip"),
        city=text(properties, "city"),
        country_code=country_code(text(properties, "country")),
    )


def company_from(record: Mapping[str, Any]) -> Company:
    properties = record.get("properties") or {}
    return Company(
        name=text(properties, "name"),
        domain=text(properties, "domain"),
        phone=text(properties, "phone"),
        address=_address(properties, second_line="address2"),
        hubspot_id=str(record["id"]),
    )


def person_from(record: Mapping[str, Any]) -> Person:
    properties = record.get("properties") or {}
    return Person(
        first_name=text(properties, "firstname"),
        last_name=text(properties, "lastname"),
        email=text(properties, "email"),
        phone=text(properties, "phone"),
        address=_address(properties),
        hubspot_id=str(record["id"]),
    )


def line_item_from(record: Mapping[str, Any]) -> LineItem:
    properties = record.get("properties") or {}
    quantity = decimal(properties.get("quantity"))
    unit_price = decimal(properties.get("price")) or Decimal(0)
    return LineItem(
        name=text(properties, "name"),
        quantity=Decimal(1) if quantity is None else quantity,
        unit_price=unit_price,
        description=text(properties, "description"),
        sku=text(properties, "hs_sku"),
        # HubSpot's line items name a tax rate group by id only (hs_tax_rate_group_id), which
        # is in none of the saved specs: the tenant's default rate applies.
        tax_rate=None,
        discount_percent=_discount_percent(properties, unit_price),
        hubspot_id=str(record["id"]),
    )


def _discount_percent(properties: Mapping[str, Any], unit_price: Decimal) -> Decimal:
    """The line item's discount in percent: `hs_discount_percentage`, else its `discount`
    (HubSpot's unit discount, an amount off each unit) as a share of the unit price, since
    the accounting systems' positions take a percentage."""
    percent = decimal(properties.get("hs_discount_percentage"))
    if percent:
        return percent
    unit_discount = decimal(properties.get("discount"))
    if unit_discount and unit_price:
        return (unit_discount / unit_price * 100).quantize(Decimal("0.0001")).normalize()
    return Decimal(0)


def _position(index: int, record: Mapping[str, Any]) -> tuple[float, int]:
    position = decimal((record.get("properties") or {}).get("hs_position_on_quote"))
    return (float(position) if position is not None else float("inf"), index)


def in_quote_order(records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Line items in the order of the quote in HubSpot; association order where it is not
    set."""
    return [r for _, r in sorted(enumerate(records), key=lambda p: _position(*p))]


def deal_from(
    record: Mapping[str, Any],
    *,
    portal_id: str,
    company: Company | None,
    contact: Person | None,
    line_items: Sequence[Mapping[str, Any]],
) -> Deal:
    properties = record.get("properties") or {}
    return Deal(
        hubspot_id=str(record["id"]),
        portal_id=portal_id,
        name=text(properties, "dealname"),
        pipeline_id=text(properties, "pipeline"),
        stage_id=text(properties, "dealstage"),
        # Empty: the deal is in the portal's company currency, which this read does not
        # know; the transfer applies its default.
        currency=text(properties, "deal_currency_code").upper(),
        amount=decimal(properties.get("amount")),
        close_date=date(properties.get("closedate")),
        company=company,
        contact=contact,
        line_items=tuple(line_item_from(item) for item in line_items),
    )


# -- associations, pipelines and pages ---------------------------------------------------


def associated(record: Mapping[str, Any], to_type: str) -> tuple[list[str], bool]:
    """Ids associated with the deal as its read carries them, in HubSpot's order, and
    whether there are more than it carries."""
    associations = record.get("associations") or {}
    # Live answers have been seen to key line items as "line items".
    group = associations.get(to_type) or associations.get(to_type.replace("_", " ")) or {}
    ids = [str(item["id"]) for item in group.get("results") or []]
    return ids, bool((group.get("paging") or {}).get("next"))


def association_links(body: Mapping[str, Any]) -> list[tuple[str, list[int]]]:
    """(id, HUBSPOT_DEFINED typeIds) of each record on a page of associations v4."""
    return [
        (
            str(item["toObjectId"]),
            [
                int(kind["typeId"])
                for kind in item.get("associationTypes") or []
                if kind.get("category") == "HUBSPOT_DEFINED"
            ],
        )
        for item in body.get("results") or []
    ]


def next_after(body: Mapping[str, Any]) -> str | None:
    """The cursor of the next page, None on the last."""
    return ((body.get("paging") or {}).get("next") or {}).get("after") or None


def probability(value: Any) -> Decimal | None:
    """`metadata.probability` is a string in live answers ("1.0") and a number in the spec's
    example (1.0); both mean the same."""
    return decimal(value)


def pipelines_from(body: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """{pipeline id: {stage id: probability as a decimal string ("" when none)}}."""
    pipelines: dict[str, dict[str, str]] = {}
    for pipeline in body.get("results") or []:
        stages = {}
        for stage in pipeline.get("stages") or []:
            found = probability((stage.get("metadata") or {}).get("probability"))
            stages[str(stage["id"])] = "" if found is None else str(found)
        pipelines[str(pipeline["id"])] = stages
    return pipelines


def is_won(stage_probability: str) -> bool:
    """A probability of 100 % ("closed won")."""
    return bool(stage_probability) and Decimal(stage_probability) == 1


# -- properties and search ---------------------------------------------------------------


def properties_from(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A portal's property definitions as the data mapping offers them, sorted by label;
    archived and hidden ones are left out."""
    found = []
    for item in body.get("results") or []:
        if not isinstance(item, Mapping) or item.get("archived") or item.get("hidden"):
            continue
        name = str(item.get("name") or "")
        if not name:
            continue
        options = [
            {"label": str(o.get("label") or ""), "value": str(o.get("value") or "")}
            for o in item.get("options") or []
            if isinstance(o, Mapping) and not o.get("hidden")
        ]
        found.append(
            {
                "name": name,
                "label": str(item.get("label") or name),
                "type": str(item.get("type") or ""),
                "field_type": str(item.get("fieldType") or ""),
                "custom": not item.get("hubspotDefined"),
                "options": options,
            }
        )
    return sorted(found, key=lambda p: (str(p["label"]).casefold(), p["name"]))


def search_results(body: Mapping[str, Any], shown: Sequence[str]) -> list[tuple[str, str]]:
    """(id, label) of a search's results; the label joins the shown properties."""
    results = []
    for record in body.get("results") or []:
        if not isinstance(record, Mapping) or "id" not in record:
            continue
        properties = record.get("properties") or {}
        label = " ".join(text(properties, name) for name in shown if text(properties, name))
        results.append((str(record["id"]), label or str(record["id"])))
    return results


# -- products by SKU ------------------------------------------------------------------------

PRODUCT_PROPERTIES = (
    "name", "hs_sku", "description", "price", "hs_product_type", "hs_lastmodifieddate",
)  # fmt: skip


def product_of(record: Mapping[str, Any]) -> Article:
    """A HubSpot product; its price is net (HubSpot keeps no tax on a product)."""
    values = record.get("properties") or {}
    price = values.get("price")
    return Article(
        sku=str(values.get("hs_sku") or ""),
        name=str(values.get("name") or ""),
        description=str(values.get("description") or ""),
        unit_price=Decimal(str(price)) if price not in (None, "") else None,
        service=values.get("hs_product_type") == "service",
        vendor_id=str(record.get("id") or ""),
        marker=str(values.get("hs_lastmodifieddate") or record.get("updatedAt") or ""),
    )


def product_properties(article: Article, groups: frozenset[ArticleField]) -> dict[str, str]:
    """The properties of `article` in the field groups written. HubSpot has one description:
    the short text, else the long one; a gross price is written net (HubSpot's price is net)."""
    values = {"hs_sku": article.sku}
    if ArticleField.NAME in groups:
        values["name"] = article.name
    if ArticleField.DESCRIPTIONS in groups:
        values["description"] = article.description or article.long_description
    if ArticleField.PRICE in groups and article.unit_price is not None:
        net = article.unit_price
        if article.price_is_gross and article.tax_rate:
            net = (net / (1 + article.tax_rate / 100)).quantize(Decimal("0.01"))
        values["price"] = str(net)
    return values
