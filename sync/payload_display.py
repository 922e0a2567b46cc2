"""What came from HubSpot and what was sent, as the activity detail shows them: labelled
rows and one table per list (line items, positions) instead of a data dump. The raw JSON
stays beside them for support.

The payloads are the vendor-neutral shapes of connectors.shapes as plain JSON
(sync.services.runs.plain); a key without a label here is shown as it is spelt.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils import formats
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

# The activity log explains notes in words already (Transfer.note_texts).
_LEFT_OUT = frozenset({"notes"})
# Between the labels of a nested field ("Company / Address / City"), a single angle quote.
SEPARATOR = " \u203a "
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")

LABELS: dict[str, Promise] = {
    "address": gettext_lazy("Address"),
    "amount": gettext_lazy("Amount"),
    "city": gettext_lazy("City"),
    "close_date": gettext_lazy("Close date"),
    "company": gettext_lazy("Company"),
    "contact": gettext_lazy("Contact"),
    "contact_person": gettext_lazy("Contact person"),
    "country_code": gettext_lazy("Country"),
    "currency": gettext_lazy("Currency"),
    "customer_id": gettext_lazy("Customer id"),
    "description": gettext_lazy("Description"),
    "discount_percent": gettext_lazy("Discount (%)"),
    "domain": gettext_lazy("Domain"),
    "email": gettext_lazy("E-mail"),
    "first_name": gettext_lazy("First name"),
    "house_number": gettext_lazy("House number"),
    "hubspot_id": gettext_lazy("HubSpot id"),
    "introduction": gettext_lazy("Introduction"),
    "kind": gettext_lazy("Kind"),
    "last_name": gettext_lazy("Last name"),
    "line_items": gettext_lazy("Line items"),
    "name": gettext_lazy("Name"),
    "person": gettext_lazy("Person"),
    "phone": gettext_lazy("Phone"),
    "pipeline_id": gettext_lazy("Pipeline"),
    "portal_id": gettext_lazy("HubSpot portal"),
    "positions": gettext_lazy("Positions"),
    "postcode": gettext_lazy("Postcode"),
    "quantity": gettext_lazy("Quantity"),
    "reference": gettext_lazy("Reference"),
    "sku": gettext_lazy("Article number"),
    "stage_id": gettext_lazy("Deal stage"),
    "street": gettext_lazy("Street"),
    "tax_rate": gettext_lazy("Tax rate (%)"),
    "title": gettext_lazy("Title"),
    "unit": gettext_lazy("Unit"),
    "unit_net_price": gettext_lazy("Unit price (net)"),
    "unit_price": gettext_lazy("Unit price (net)"),
    "valid_from": gettext_lazy("Valid from"),
    "valid_until": gettext_lazy("Valid until"),
    "vat_id": gettext_lazy("VAT id"),
}


@dataclass
class Table:
    label: str
    columns: list[str]
    rows: list[list[str]]


@dataclass
class Readable:
    rows: list[tuple[str, str]] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    raw: str = ""


def readable(payload: Any) -> Readable | None:
    """None when nothing is stored (never sent, or deleted after the retention period)."""
    if payload is None:
        return None
    shown = Readable(raw=json.dumps(payload, indent=2, ensure_ascii=False, sort_keys=True))
    if isinstance(payload, Mapping):
        _collect(payload, (), shown)
    else:
        shown.rows.append(("", _value(payload)))
    return shown


def _label(key: str) -> str:
    return str(LABELS.get(key, key.replace("_", " ").capitalize()))


def _path(labels: tuple[str, ...]) -> str:
    return SEPARATOR.join(labels)


def _collect(mapping: Mapping[str, Any], prefix: tuple[str, ...], shown: Readable) -> None:
    for key, value in mapping.items():
        if key in _LEFT_OUT or _empty(value):
            continue
        labels = (*prefix, _label(key))
        if isinstance(value, Mapping):
            _collect(value, labels, shown)
        elif isinstance(value, list) and any(isinstance(item, Mapping) for item in value):
            shown.tables.append(_table(_path(labels), value))
        else:
            shown.rows.append((_path(labels), _value(value)))


def _table(label: str, items: list[Any]) -> Table:
    flat = [_flatten(item) if isinstance(item, Mapping) else {"": _value(item)} for item in items]
    columns: list[str] = []
    for row in flat:
        columns += [name for name in row if name not in columns]
    return Table(
        label=label,
        columns=columns,
        rows=[[row.get(name, "") for name in columns] for row in flat],
    )


def _flatten(mapping: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> dict[str, str]:
    cells: dict[str, str] = {}
    for key, value in mapping.items():
        if key in _LEFT_OUT or _empty(value):
            continue
        labels = (*prefix, _label(key))
        if isinstance(value, Mapping):
            cells.update(_flatten(value, labels))
        else:
            cells[_path(labels)] = _value(value)
    return cells


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, list):
        return ", ".join(_value(item) for item in value if not _empty(item))
    if isinstance(value, Mapping):
        return ", ".join(f"{_label(k)}: {_value(v)}" for k, v in value.items() if not _empty(v))
    text = str(value)
    # Dates in the customer's format, as everywhere else on the site.
    if _ISO_DATE.match(text):
        try:
            return formats.date_format(dt.date.fromisoformat(text), "SHORT_DATE_FORMAT")
        except ValueError:
            return text
    if _ISO_DATETIME.match(text):
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            return text
        return formats.date_format(moment, "SHORT_DATETIME_FORMAT")
    return text
