"""HubSpot's CRM search semantics (`POST /crm/v3/objects/{type}/search`): filter groups ORed,
their filters ANDed, a free-text `query`, and sorts (HubSpot's "Search the CRM" guide)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from sandbox.hubspot.catalog import HubSpotValidationError
from sandbox.store import Record

MAX_FILTER_GROUPS = 6  # "Up to 6 groups": prose in the spec, not its schema


def found(records: list[Record], body: Mapping[str, Any]) -> list[Record]:
    """The records a search body selects, in its order (oldest first unless sorted)."""
    groups = body.get("filterGroups") or []
    if len(groups) > MAX_FILTER_GROUPS:
        raise HubSpotValidationError(
            f"filterGroups: at most {MAX_FILTER_GROUPS} groups are allowed"
        )
    query = str(body.get("query") or "").lower()
    hits = [
        record
        for record in records
        if (not groups or any(_matches_group(record, group) for group in groups))
        and (not query or any(query in v.lower() for v in record["properties"].values()))
    ]
    for sort in reversed(body.get("sorts") or []):
        # The spec types a sort as a string ("-createdate" = descending); the live API
        # documents {"propertyName", "direction"}. Both are understood.
        if isinstance(sort, dict):
            name, descending = (
                str(sort.get("propertyName", "")),
                sort.get("direction") == "DESCENDING",
            )
        else:
            name, descending = str(sort).lstrip("-"), str(sort).startswith("-")
        hits.sort(key=_by_property(name), reverse=descending)
    return hits


def _by_property(name: str) -> Callable[[Record], tuple[int, float, str]]:
    return lambda record: _sort_key(record["properties"].get(name))


def _sort_key(value: str | None) -> tuple[int, float, str]:
    # Numbers compare as numbers, text case-insensitively; records without the property last.
    if value is None:
        return (1, 0.0, "")
    try:
        return (0, float(value), "")
    except ValueError:
        return (0, 0.0, value.lower())


def _matches_group(record: Record, group: Mapping[str, Any]) -> bool:
    return all(_matches(record, f) for f in group.get("filters") or [])


def _contains_token(actual: str, value: str) -> bool:
    # A token is a word of the value; `*` is a wildcard ("*@beispiel.de").
    pattern = re.escape(value.lower()).replace(r"\*", ".*")
    tokens = [actual, *re.split(r"[\s@.,]+", actual)]
    return any(re.fullmatch(pattern, token) for token in tokens)


def _matches(record: Record, flt: Mapping[str, Any]) -> bool:
    operator, name = flt["operator"], flt["propertyName"]
    actual = record["id"] if name == "hs_object_id" else record["properties"].get(name)
    if operator in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
        return bool(actual) == (operator == "HAS_PROPERTY")
    if actual is None:
        return operator in ("NEQ", "NOT_IN", "NOT_CONTAINS_TOKEN")
    actual = actual.lower()  # HubSpot compares strings case-insensitively
    value = str(flt.get("value", ""))
    values = [str(v).lower() for v in flt.get("values") or []]
    left, right = _sort_key(actual), _sort_key(value)
    outcomes = {
        "EQ": lambda: actual == value.lower(),
        "NEQ": lambda: actual != value.lower(),
        "IN": lambda: actual in values,
        "NOT_IN": lambda: actual not in values,
        "CONTAINS_TOKEN": lambda: _contains_token(actual, value),
        "NOT_CONTAINS_TOKEN": lambda: not _contains_token(actual, value),
        "BETWEEN": lambda: right <= left <= _sort_key(str(flt.get("highValue", ""))),
        "GT": lambda: left > right,
        "GTE": lambda: left >= right,
        "LT": lambda: left < right,
        "LTE": lambda: left <= right,
    }
    return outcomes[operator]()
