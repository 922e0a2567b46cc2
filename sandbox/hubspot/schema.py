"""What a portal says about its objects: deal pipelines and their stages, properties and
property groups (crm-pipelines-v3 and crm-properties-v3)."""

from __future__ import annotations

import re
import time
from typing import Any

from flask import Response, g

from sandbox.core import VendorSandbox
from sandbox.hubspot.catalog import (
    DEFAULT_GROUPS,
    OBJECT_TYPES,
    SINGULAR,
    SYSTEM_PROPERTIES,
    HubSpotValidationError,
    Route,
    batch_answer,
    batch_error,
    default_pipelines,
    iso,
    request_body,
    resolve_type,
)

Definitions = dict[tuple[int, str], dict[str, dict[str, Any]]]
# What a property's creator may set beside name, label and group.
GIVEN_FIELDS = ("description", "type", "fieldType", "options", "displayOrder", "hidden",
                "formField", "hasUniqueValue")  # fmt: skip


def definition(
    *,
    name: str,
    label: str,
    group: str,
    hubspot_defined: bool,
    calculated: bool,
    at: str,
    **given: Any,
) -> dict[str, Any]:
    """A property in the spec's `Property` shape."""
    return {
        "name": name, "label": label, "description": "", "groupName": group, "type": "string",
        "fieldType": "text", "options": [], "displayOrder": -1, "calculated": calculated,
        "externalOptions": False, "hasUniqueValue": name == "hs_object_id", "hidden": False,
        "hubspotDefined": hubspot_defined, "formField": False, "archived": False,
        "createdAt": at, "updatedAt": at,
        "modificationMetadata": {
            "archivable": not hubspot_defined,
            "readOnlyDefinition": hubspot_defined,
            "readOnlyValue": calculated,
        },
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
            # Definitions made through the properties API, per portal and object type.
            self.custom_properties: Definitions = {}
            self.property_groups: Definitions = {
                (pid, t): {DEFAULT_GROUPS[t]: {
                    "name": DEFAULT_GROUPS[t],
                    "label": f"{SINGULAR[t].replace('_', ' ').title()} information",
                    "displayOrder": 0,
                    "archived": False,
                }}
                for pid in self.portals
                for t in OBJECT_TYPES
            }  # fmt: skip

    def schema_routes(self) -> list[Route]:
        pipelines, properties = (
            "/crm/v3/pipelines/<object_type>",
            "/crm/v3/properties/<object_type>",
        )
        return [
            (pipelines, "pipelines", self._pipelines, "GET"),
            (f"{pipelines}/<pipeline_id>", "pipeline", self._pipeline_get, "GET"),
            (f"{pipelines}/<pipeline_id>/stages", "pipeline_stages", self._stages, "GET"),
            (f"{pipelines}/<pipeline_id>/stages/<stage_id>", "pipeline_stage", self._stage, "GET"),
            (properties, "properties_list", self._properties_list, "GET"),
            (properties, "properties_create", self._property_create, "POST"),
            (f"{properties}/batch/read", "properties_batch_read", self._properties_read, "POST"),
            (f"{properties}/groups", "property_groups", self._property_groups, "GET"),
            (f"{properties}/groups", "property_group_create", self._group_create, "POST"),
            (f"{properties}/<name>", "property_get", self._property_get, "GET"),
        ]

    # -- pipelines -------------------------------------------------------------------------

    def pipeline(self, portal_id: int, pipeline_id: str) -> dict[str, Any] | None:
        return next((p for p in self.pipelines[portal_id] if p["id"] == pipeline_id), None)

    def _pipeline_or_404(self, name: str, pipeline_id: str) -> dict[str, Any]:
        # Only deal pipelines are modelled.
        found = self.pipeline(g.portal_id, pipeline_id) if resolve_type(name) == "deals" else None
        if found is None:
            raise HubSpotValidationError(f"Unable to find pipeline {pipeline_id}", 404)
        return found

    def _pipelines(self, object_type: str) -> Response:
        deals = resolve_type(object_type) == "deals"
        return self.json({"results": self.pipelines[g.portal_id] if deals else []})

    def _pipeline_get(self, object_type: str, pipeline_id: str) -> Response:
        return self.json(self._pipeline_or_404(object_type, pipeline_id))

    def _stages(self, object_type: str, pipeline_id: str) -> Response:
        return self.json({"results": self._pipeline_or_404(object_type, pipeline_id)["stages"]})

    def _stage(self, object_type: str, pipeline_id: str, stage_id: str) -> Response:
        stages = self._pipeline_or_404(object_type, pipeline_id)["stages"]
        stage = next((s for s in stages if s["id"] == stage_id), None)
        if stage is None:
            raise HubSpotValidationError(f"Unable to find stage {stage_id}", 404)
        return self.json(stage)

    # -- properties ------------------------------------------------------------------------

    def property_names(self, portal_id: int, object_type: str) -> set[str]:
        with self.lock:
            custom = set(self.custom_properties.get((portal_id, object_type), {}))
        return self.known_properties[object_type] | SYSTEM_PROPERTIES | custom

    def _definitions(self, name: str) -> dict[str, dict[str, Any]]:
        """HubSpot's own properties (described loosely: a text field each) and the custom ones."""
        kind = resolve_type(name)
        defined = {
            prop: definition(
                name=prop,
                label=prop,
                group=DEFAULT_GROUPS[kind],
                hubspot_defined=True,
                calculated=prop in SYSTEM_PROPERTIES,
                at=iso(0),
            )
            for prop in sorted(self.known_properties[kind] | SYSTEM_PROPERTIES)
        }
        with self.lock:
            defined.update(self.custom_properties.get((g.portal_id, kind), {}))
        return defined

    def _properties_list(self, object_type: str) -> Response:
        return self.json({"results": list(self._definitions(object_type).values())})

    def _property_get(self, object_type: str, name: str) -> Response:
        found = self._definitions(object_type).get(name)
        if found is None:
            raise HubSpotValidationError(f"Unable to find property {name}", 404)
        return self.json(found)

    def _properties_read(self, object_type: str) -> Response:
        started = time.time()
        defined = self._definitions(object_type)
        names = [str((item or {}).get("name", "")) for item in request_body().get("inputs") or []]
        errors = [
            batch_error(f"Unable to find property {name}", {"properties": [name]})
            for name in names
            if name not in defined
        ]
        return self.json(
            *batch_answer(started, [defined[n] for n in names if n in defined], errors)
        )

    def _property_create(self, object_type: str) -> Response:
        key = (g.portal_id, resolve_type(object_type))
        body = request_body()
        name, group = str(body["name"]), str(body["groupName"])
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise HubSpotValidationError(
                f"Property name {name} is invalid: use lower case letters, digits and _"
            )
        # The spec step has checked the types of what the body gives.
        given = {field: body[field] for field in GIVEN_FIELDS if field in body}
        with self.lock:
            if name in self.property_names(*key):
                raise _exists(f"Property named '{name}' already exists.")
            if group not in self.property_groups.get(key, {}):
                raise HubSpotValidationError(f"group {group} does not exist")
            created = definition(name=name, label=str(body["label"]), group=group,
                                 hubspot_defined=False, calculated=False, at=iso(time.time()),
                                 **given)  # fmt: skip
            self.custom_properties.setdefault(key, {})[name] = created
        return self.json(created, 201)

    def _property_groups(self, object_type: str) -> Response:
        key = (g.portal_id, resolve_type(object_type))
        with self.lock:
            return self.json({"results": list(self.property_groups.get(key, {}).values())})

    def _group_create(self, object_type: str) -> Response:
        key = (g.portal_id, resolve_type(object_type))
        body = request_body()
        name = str(body["name"])
        group = {"name": name, "label": str(body["label"]),
                 "displayOrder": int(body.get("displayOrder", -1)), "archived": False}  # fmt: skip
        with self.lock:
            groups = self.property_groups.setdefault(key, {})
            if name in groups:
                raise _exists(f"A property group named '{name}' already exists.")
            groups[name] = group
        return self.json(group, 201)


def _exists(message: str) -> HubSpotValidationError:
    return HubSpotValidationError(message, 409, category="OBJECT_ALREADY_EXISTS")
