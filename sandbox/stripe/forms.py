"""Stripe's form encoding: nested parameters travel as bracket keys
(`line_items[0][price]`, `metadata[tenant]`, `expand[]`)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

_PART = re.compile(r"\[([^\[\]]*)\]")


def decode_form(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Bracket keys to nested dicts; a dict whose keys are all indexes becomes a list."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        head, _, rest = key.partition("[")
        parts = [head, *_PART.findall("[" + rest)] if rest else [head]
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part or str(len(node)), {})
            if not isinstance(node, dict):  # `a=1&a[b]=2`: the later nested form wins
                node = {}
        last = parts[-1]
        node[last or str(len(node))] = value
    result = _listify(root)
    assert isinstance(result, dict)
    return result


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    values = {key: _listify(value) for key, value in node.items()}
    if values and all(key.isdigit() for key in values):
        return [values[key] for key in sorted(values, key=int)]
    return values


def coerce(value: Any, schema: dict[str, Any]) -> Any:
    """Form values are strings; turn them into the types the schema expects where they parse."""
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        return {
            key: coerce(item, properties.get(key, extra if isinstance(extra, dict) else {}))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [coerce(item, schema.get("items", {})) for item in value]
    kind = schema.get("type")
    if kind == "object" and value == "":
        # Stripe's reference: posting an empty value to `metadata` unsets all its keys.
        return {}
    if kind == "integer" and isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        return int(value)
    if kind == "boolean" and value in ("true", "false"):
        return value == "true"
    return value
