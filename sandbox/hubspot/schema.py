"""What a portal says about its objects: deal pipelines and their stages, properties and
property groups (crm-pipelines-v3 and crm-properties-v3)."""

from __future__ import annotations

import re
import time
from typing import Any

from flask import Response, g

from sandbox.core import Refusal, VendorSandbox
from sandbox.hubspot.catalog import (
    DEFAULT_GROUPS,
    SYSTEM_PROPERTIES,
    Route,
    batch_answer,
    batch_error,
    default_pipelines,
    iso,
    request_body,
)

# What a property's creator may set beside name, label and group.
GIVEN_FIELDS = ("description", "type", "fieldType", "options", "displayOrder", "hidden",
                "formField", "hasUniqueValue")  # fmt: skip


def definition(*, name: str, label: str, group: str, hubspot_defined: bool, at: str,
               **given: Any) -> dict[str, Any]:  # fmt: skip
    """A property in the spec's `Property` shape."""
    calculated = name in SYSTEM_PROPERTIES
    return {
        "name": name, "label": label, "description": "", "groupName": group, "type": "string",
        "fieldType": "text", "options": [], "displayOrder": -1, "calculated": calculated,
        "externalOptions": False, "hasUniqueValue": name == "hs_object_id", "hidden": False,
        "hubspotDefined": hubspot_defined, "formField": False, "archived": False,
        "createdAt": at, "updatedAt": at,
        "modificationMetadata": {"archivable": not hubspot_defined,
                                 "readOnlyDefinition": hubspot_defined,
                                 "readOnlyValue": calculated},
        **given,
    }  # fmt: skip


class CrmSchema(VendorSandbox):
    """Pipelines, properties and property groups per portal."""

    portals: dict[int, str]
    known_properties: dict[str, set[str]]

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.pipelines = {pid: default_pipelines() for pid in self.portals}
            # Definitions and groups made through the properties API, per portal and type
            # (HubSpot's own group of each type, DEFAULT_GROUPS, always exists).
            self.custom_properties: dict[tuple[int, str], dict[str, dict[str, Any]]] = {}
            self.property_groups: dict[tuple[int, str], set[str]] = {}

    def schema_routes(self) -> list[Route]:
        properties = "/crm/v3/properties/<kind>"
        return [
            ("GET", "/crm/v3/pipelines/<kind>", "pipelines", self._pipelines),
            ("GET", properties, "properties_list", self._properties_list),
            ("POST", properties, "properties_create", self._property_create),
            ("POST", f"{properties}/batch/read", "properties_batch_read", self._properties_read),
            ("POST", f"{properties}/groups", "property_group_create", self._group_create),
        ]

    def pipeline(self, portal_id: int, pipeline_id: str) -> dict[str, Any] | None:
        return next((p for p in self.pipelines[portal_id] if p["id"] == pipeline_id), None)

    def _pipelines(self, kind: str) -> Response:
        # Only deal pipelines are modelled.
        return self.json({"results": self.pipelines[g.portal_id] if kind == "deals" else []})

    def property_names(self, portal_id: int, object_type: str) -> set[str]:
        with self.lock:
            custom = set(self.custom_properties.get((portal_id, object_type), {}))
        return self.known_properties[object_type] | SYSTEM_PROPERTIES | custom

    def _definitions(self, kind: str) -> dict[str, dict[str, Any]]:
        """HubSpot's own properties (described loosely: a text field each) and the custom ones."""
        defined = {
            name: definition(name=name, label=name, group=DEFAULT_GROUPS[kind],
                             hubspot_defined=True, at=iso(0))
            for name in sorted(self.known_properties[kind] | SYSTEM_PROPERTIES)
        }  # fmt: skip
        with self.lock:
            defined.update(self.custom_properties.get((g.portal_id, kind), {}))
        return defined

    def _properties_list(self, kind: str) -> Response:
        return self.json({"results": list(self._definitions(kind).values())})

    def _properties_read(self, kind: str) -> Response:
        started, defined = time.time(), self._definitions(kind)
        names = [str((item or {}).get("name", "")) for item in request_body().get("inputs") or []]
        found = [defined[name] for name in names if name in defined]
        errors = [
            batch_error(f"Unable to find property {name}", {"properties": [name]})
            for name in names
            if name not in defined
        ]
        return self.json(*batch_answer(started, found, errors))

    def _property_create(self, kind: str) -> Response:
        key, body = (g.portal_id, kind), request_body()
        name, group = str(body["name"]), str(body["groupName"])
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise Refusal(
                400, f"Property name {name} is invalid: use lower case letters, digits and _"
            )
        # The spec step has checked the types of what the body gives.
        given = {field: body[field] for field in GIVEN_FIELDS if field in body}
        with self.lock:
            if name in self.property_names(*key):
                raise _exists(f"Property named '{name}' already exists.")
            if group != DEFAULT_GROUPS[kind] and group not in self.property_groups.get(key, ()):
                raise Refusal(400, f"group {group} does not exist")
            created = definition(name=name, label=str(body["label"]), group=group,
                                 hubspot_defined=False, at=iso(time.time()), **given)  # fmt: skip
            self.custom_properties.setdefault(key, {})[name] = created
        return self.json(created, 201)

    def _group_create(self, kind: str) -> Response:
        key, body = (g.portal_id, kind), request_body()
        name = str(body["name"])
        group = {"name": name, "label": str(body["label"]),
                 "displayOrder": int(body.get("displayOrder", -1)), "archived": False}  # fmt: skip
        with self.lock:
            groups = self.property_groups.setdefault(key, {DEFAULT_GROUPS[kind]})
            if name in groups:
                raise _exists(f"A property group named '{name}' already exists.")
            groups.add(name)
        return self.json(group, 201)


def _exists(message: str) -> Refusal:
    return Refusal(409, message, category="OBJECT_ALREADY_EXISTS")
