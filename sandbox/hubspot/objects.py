"""The CRM objects API (crm-*-v3: list, read, create, update, archive, batch read, search) and
the associations v4 reads, with HubSpot's validation of property values and links."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from typing import Any

from flask import Response, g, request

from sandbox.hubspot import search
from sandbox.hubspot.catalog import (
    PAIR_OF_TYPE_ID,
    PRIMARY_TYPE_IDS,
    SINGULAR,
    HubSpotValidationError,
    Route,
    batch_answer,
    batch_error,
    request_body,
    resolve_type,
)
from sandbox.hubspot.records import CrmRecords
from sandbox.store import BadPaging, CursorPaging, Record

# A list's `after` is the id of the last object seen; search and associations count positions.
LIST_PAGING = CursorPaging(default_limit=10, max_limit=100, cursor_kind="id")
ASSOCIATION_PAGING = CursorPaging(default_limit=500, max_limit=500)
# The 1,000-id limit is in HubSpot's associations v4 guide, not in the spec.
ASSOCIATION_BATCH_LIMIT = 1000
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _list_arg(name: str) -> list[str]:
    return [item for value in request.args.getlist(name) for item in value.split(",") if item]


def _archived() -> bool:
    return request.args.get("archived", "false") == "true"


def _stringify(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return "" if value is None else str(value)


class CrmObjects(CrmRecords):
    # HubSpot's batch limit (100 inputs) is in its usage guidelines, "up to 200 objects" a
    # search answers is prose in the spec's description.
    batch_limit = 100
    search_page_limit = 200

    def object_routes(self) -> list[Route]:
        objects = "/crm/v3/objects/<object_type>"
        return [
            (objects, "crm_list", self._list, "GET"),
            (objects, "crm_create", self._create, "POST"),
            (f"{objects}/batch/read", "crm_batch_read", self._batch_read, "POST"),
            (f"{objects}/search", "crm_search", self._search, "POST"),
            (f"{objects}/<object_id>", "crm_get", self._get, "GET"),
            (f"{objects}/<object_id>", "crm_update", self._update, "PATCH"),
            (f"{objects}/<object_id>", "crm_archive", self._archive, "DELETE"),
            ("/crm/v4/objects/<object_type>/<object_id>/associations/<to_type>",
             "associations_list", self._associations_list, "GET"),
            ("/crm/v4/associations/<object_type>/<to_type>/batch/read",
             "associations_batch_read", self._associations_batch_read, "POST"),
        ]  # fmt: skip

    def _render_asked(self, object_type: str, record: Record) -> dict[str, Any]:
        return self.render_object(
            object_type,
            record,
            _list_arg("properties"),
            history=_list_arg("propertiesWithHistory"),
            associations=_list_arg("associations"),
        )

    def _list(self, object_type: str) -> Response:
        kind, archived = resolve_type(object_type), _archived()
        after = request.args.get("after", "")
        if not after.isdigit() and after:
            raise BadPaging("after is not a cursor this list handed out")
        rows = self.store.select(
            kind,
            self.owner(),
            where=lambda r: r["archived"] == archived and int(r["id"]) > int(after or 0),
        )
        page = LIST_PAGING.cut(rows, {"limit": request.args.get("limit", "")})
        body: dict[str, Any] = {"results": [self._render_asked(kind, r) for r in page.items]}
        if page.next_cursor:
            body["paging"] = {
                "next": {"after": page.next_cursor, "link": f"?after={page.next_cursor}"}
            }
        return self.json(body)

    def _get(self, object_type: str, object_id: str) -> Response:
        kind = resolve_type(object_type)
        record = self.find(kind, object_id, request.args.get("idProperty", ""))
        if record["archived"] != _archived():
            raise HubSpotValidationError("resource not found", 404)
        return self.json(self._render_asked(kind, record))

    def _create(self, object_type: str) -> Response:
        kind = resolve_type(object_type)
        body = request_body()
        properties = self._valid_properties(kind, body.get("properties") or {})
        links = self._valid_links(kind, body.get("associations") or [])
        email = properties.get("email") if kind == "contacts" else None
        existing = self.lookup(kind, email, "email") if email else None
        if existing:
            raise HubSpotValidationError(
                f"Contact already exists. Existing ID: {existing['id']}", 409
            )
        record = self.create_object(g.portal_id, kind, properties, "INTEGRATION")
        for to_type, to_id, type_id in links:
            primary = type_id in PRIMARY_TYPE_IDS
            self.associate(g.portal_id, kind, record["id"], to_type, to_id, primary,
                           change_source="INTEGRATION")  # fmt: skip
        self.after_commit()
        return self.json(self.render_object(kind, record), 201)

    def _update(self, object_type: str, object_id: str) -> Response:
        kind = resolve_type(object_type)
        record = self.find(kind, object_id, request.args.get("idProperty", ""))
        if record["archived"]:
            raise HubSpotValidationError("resource not found", 404)
        raw = request_body().get("properties") or {}
        properties = self._valid_properties(kind, raw, record["properties"])
        updated = self.update_object(g.portal_id, kind, record["id"], properties, "INTEGRATION")
        return self.json(self.render_object(kind, updated))

    def _archive(self, object_type: str, object_id: str) -> Response:
        kind = resolve_type(object_type)
        if not self.find(kind, object_id)["archived"]:
            self.archive_object(g.portal_id, kind, object_id, "INTEGRATION")
        return Response(status=204)

    def _batch_read(self, object_type: str) -> Response:
        kind, started = resolve_type(object_type), time.time()
        body = request_body()
        inputs = body.get("inputs") or []
        if len(inputs) > self.batch_limit:
            raise HubSpotValidationError(
                f"Batch input must be an array of at most {self.batch_limit} inputs"
            )
        results, missing = [], []
        for item in inputs:
            object_id = str(item.get("id", "")) if isinstance(item, dict) else ""
            record = self.lookup(kind, object_id, body.get("idProperty", ""))
            if record is None or record["archived"] != _archived():
                missing.append(object_id)
                continue
            history = body.get("propertiesWithHistory") or []
            results.append(
                self.render_object(kind, record, body.get("properties") or [], history=history)
            )
        errors = [
            batch_error(
                f"Could not get some {SINGULAR[kind].upper()} objects, they may be deleted or "
                "not exist. Check that ids are valid.",
                {"ids": missing},
            )
        ]
        return self.json(*batch_answer(started, results, errors if missing else []))

    def _search(self, object_type: str) -> Response:
        kind, body = resolve_type(object_type), request_body()
        paging = CursorPaging(default_limit=10, max_limit=self.search_page_limit)
        live = self.store.select(kind, self.owner(), where=lambda r: not r["archived"])
        hits = search.found(live, body)
        args = {"limit": str(body.get("limit", "")), "after": str(body.get("after") or "")}
        page = paging.cut(hits, args)
        answer: dict[str, Any] = {
            "total": len(hits),
            "results": [
                self.render_object(kind, r, body.get("properties") or []) for r in page.items
            ],
        }
        if page.next_cursor:
            answer["paging"] = {"next": {"after": page.next_cursor}}
        return self.json(answer)

    # -- validation ----------------------------------------------------------------------

    def _valid_properties(
        self, kind: str, raw: Mapping[str, Any], current: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        properties = {k: _stringify(v) for k, v in raw.items()}
        known = self.property_names(g.portal_id, kind)
        problems = []
        for name, value in properties.items():
            if name not in known:
                problems.append(
                    (name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
                )
            elif name == "email" and value and not EMAIL.fullmatch(value):
                problems.append((name, "INVALID_EMAIL", f"Email address {value} is invalid"))
        if kind == "deals":
            problems += self._deal_stage_problems(properties, current or {})
        if problems:
            detail = [
                {"isValid": False, "message": message, "error": code, "name": name}
                for name, code, message in problems
            ]
            raise HubSpotValidationError(
                f"Property values were not valid: {json.dumps(detail, separators=(',', ':'))}",
                errors=[
                    {"message": message, "code": code, "context": {"propertyName": [name]}}
                    for name, code, message in problems
                ],
            )
        return properties

    def _deal_stage_problems(
        self, properties: Mapping[str, str], current: Mapping[str, str]
    ) -> list[tuple[str, str, str]]:
        pipeline_id = properties.get("pipeline") or current.get("pipeline") or "default"
        pipeline = self.pipeline(g.portal_id, pipeline_id)
        if pipeline is None:
            message = f"{pipeline_id} was not one of the allowed options"
            return [("pipeline", "INVALID_OPTION", message)]
        stage = properties.get("dealstage")
        stage_ids = [s["id"] for s in pipeline["stages"]]
        if stage is not None and stage not in stage_ids:
            allowed = ", ".join(stage_ids)
            message = f"{stage} was not one of the allowed options: [{allowed}]"
            return [("dealstage", "INVALID_OPTION", message)]
        return []

    def _valid_links(self, kind: str, raw: Any) -> list[tuple[str, str, int]]:
        links = []
        for item in raw:  # the spec step has checked to.id and each type's fields
            to_id = str(item["to"]["id"])
            for link in item["types"]:
                category, type_id = link["associationCategory"], int(link["associationTypeId"])
                # Which type ids join which objects is HubSpot's association type table
                # (developers.hubspot.com/docs/api/crm/associations), not the spec's.
                pair = PAIR_OF_TYPE_ID.get(type_id)
                if category != "HUBSPOT_DEFINED" or pair is None or pair[0] != kind:
                    raise HubSpotValidationError(
                        f"{category} {type_id} is not a valid association type between "
                        f"{kind} and the target object"
                    )
                if self.store.find(pair[1], self.owner(), to_id) is None:
                    raise HubSpotValidationError(
                        f"One or more associations are invalid: {pair[1]} {to_id} does not exist"
                    )
                links.append((pair[1], to_id, type_id))
        return links

    # -- associations v4 -----------------------------------------------------------------

    @staticmethod
    def _labelled(to_id: str, type_ids: list[int]) -> dict[str, Any]:
        return {
            "toObjectId": to_id,  # the spec's type; the live API is said to send a number
            "associationTypes": [
                {"category": "HUBSPOT_DEFINED", "typeId": t, "label": "Primary"}
                if t in PRIMARY_TYPE_IDS
                else {"category": "HUBSPOT_DEFINED", "typeId": t}  # label null live; omitted
                for t in type_ids
            ],
        }

    def _associations_list(self, object_type: str, object_id: str, to_type: str) -> Response:
        links = self.linked(
            g.portal_id, resolve_type(object_type), object_id, resolve_type(to_type)
        )
        rows = [self._labelled(to_id, types) for to_id, types in links.items()]
        page = ASSOCIATION_PAGING.cut(rows, request.args)
        body: dict[str, Any] = {"results": page.items}
        if page.next_cursor:
            body["paging"] = {"next": {"after": page.next_cursor}}
        return self.json(body)

    def _associations_batch_read(self, object_type: str, to_type: str) -> Response:
        kind, target, started = resolve_type(object_type), resolve_type(to_type), time.time()
        inputs = request_body().get("inputs") or []
        if len(inputs) > ASSOCIATION_BATCH_LIMIT:
            raise HubSpotValidationError(
                f"inputs must be an array of at most {ASSOCIATION_BATCH_LIMIT} ids"
            )
        results, errors = [], []
        for item in inputs:
            object_id = str((item or {}).get("id", ""))
            links = self.linked(g.portal_id, kind, object_id, target)
            if links:
                to = [self._labelled(to_id, types) for to_id, types in links.items()]
                results.append({"from": {"id": object_id}, "to": to})
                continue
            message = f"No {SINGULAR[target]} is associated with {SINGULAR[kind]} {object_id}."
            errors.append(batch_error(message, {"fromObjectId": [object_id]}))
        return self.json(*batch_answer(started, results, errors))
