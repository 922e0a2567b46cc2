"""What a vendor's spec says about one field of a request body: its type, maximum length,
allowed values and whether it is required. Read from the project's copy of the vendor's
OpenAPI file (`vendor-specs/`, the files each provider declares) with openapi-core, the
loader the sandboxes validate with, so a limit is never copied by hand."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings


@dataclass(frozen=True)
class FieldSpec:
    type: str = ""  # "string", "integer", ...
    max_length: int | None = None
    enum: tuple[str, ...] = ()
    required: bool = False


@dataclass(frozen=True)
class SpecField:
    """Where a vendor's spec describes a field: the operation and the dotted path of the
    field in its JSON request body (`order.headText`)."""

    spec_file: str  # under vendor-specs/
    path: str
    method: str
    pointer: str


def specs_dir() -> Path:
    return Path(getattr(settings, "VENDOR_SPECS_DIR", "") or settings.BASE_DIR / "vendor-specs")


@cache
def _spec(spec_file: str) -> Any:
    from openapi_core import OpenAPI

    return OpenAPI.from_file_path(str(specs_dir() / spec_file)).spec


def _properties_of(schema: Any) -> list[Any]:
    """The schema and the parts of its `allOf`, `oneOf` and `anyOf` ($refs resolved by the
    spec path)."""
    if "items" in schema:  # an array's fields are its items' (a quote's positions)
        schema = schema / "items"
    parts = [schema]
    for combined in ("allOf", "oneOf", "anyOf"):
        if combined in schema:
            for part in schema / combined:
                parts += _properties_of(part)
    return parts


def _required(schema: Any) -> list[str]:
    if "required" not in schema:
        return []
    with (schema / "required").open() as names:
        return [str(n) for n in names]


@cache
def field_spec(field: SpecField) -> FieldSpec | None:
    """The field's limits, or None where the spec has no such field."""
    operation = _spec(field.spec_file) / "paths" / field.path / field.method
    if "requestBody" not in operation:
        return None
    content = operation / "requestBody" / "content"
    if "application/json" not in content:
        return None
    schema = content / "application/json" / "schema"
    required = False
    for name in field.pointer.split("."):
        found = None
        for part in _properties_of(schema):
            if "properties" in part and name in part / "properties":
                found = part / "properties" / name
                required = name in _required(part)
                break
        if found is None:
            return None
        schema = found
    with schema.open() as raw:
        data = dict(raw)
    kind = data.get("type") or ""
    if isinstance(kind, list):  # OpenAPI 3.1: ["string", "null"] is a nullable string
        kind = next((t for t in kind if t != "null"), "")
    return FieldSpec(
        type=str(kind),
        max_length=int(data["maxLength"]) if "maxLength" in data else None,
        enum=tuple(str(v) for v in data.get("enum") or ()),
        required=required,
    )
