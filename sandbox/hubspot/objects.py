"""The CRM objects API (crm-*-v3: list, read, create, update, archive, batch read, search) and
the associations v4 list, with HubSpot's checks of property values and links that its spec
files cannot state."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from typing import Any

from flask import Response, g, request

from sandbox.core import Refusal
from sandbox.hubspot.catalog import (
    PAIR_OF_TYPE_ID,
    PRIMARY_TYPE_IDS,
    SINGULAR,
    Route,
    batch_answer,
    batch_error,
    iso,
    request_body,
)
from sandbox.hubspot.records import CrmRecords
from sandbox.store import CursorPaging, Record

# A list's `after` is the id of the last object seen; search and associations count positions.
LIST_PAGING = CursorPaging(default_limit=10, max_limit=100, cursor_kind="id")
ASSOCIATION_PAGING = CursorPaging(default_limit=500, max_limit=500)
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
MAX_FILTER_GROUPS = 6  # "Up to 6 groups": prose in the search spec, not its schema


def _list_arg(name: str) -> list[str]:
    return [item for value in request.args.getlist(name) for item in value.split(",") if item]


def _archived() -> bool:
    return request.args.get("archived", "false") == "true"


def _next(cursor: str | None, body: dict[str, Any], *, link: bool = False) -> dict[str, Any]:
    """The answer with the next page's cursor when there is one (and its link, in a list)."""
    if not cursor:
        return body
    after = {"after": cursor, "link": f"?after={cursor}"} if link else {"after": cursor}
    return {**body, "paging": {"next": after}}


class CrmObjects(CrmRecords):
    # HubSpot's batch limit (100 inputs) is in its usage guidelines, "up to 200 objects" a
    # search answers is prose in the spec's description.
    batch_limit = 100
    search_page_limit = 200
    # HubSpot's search guide: a new or changed record "may take a few moments" to appear in
    # search results. 0: at once (most tests); a few seconds to test code that must cope.
    search_lag_seconds = 0.0

    def object_routes(self) -> list[Route]:
        objects, one = "/crm/v3/objects/<kind>", "/crm/v3/objects/<kind>/<object_id>"
        return [
            ("GET", objects, "crm_list", self._list),
            ("POST", objects, "crm_create", self._create),
            ("POST", f"{objects}/batch/read", "crm_batch_read", self._batch_read),
            ("POST", f"{objects}/batch/create", "crm_batch_create", self._batch_create),
            ("POST", f"{objects}/search", "crm_search", self._search),
            ("GET", one, "crm_get", self._get),
            ("PATCH", one, "crm_update", self._update),
            ("DELETE", one, "crm_archive", self._archive),
            ("GET", "/crm/v4/objects/<kind>/<object_id>/associations/<to_kind>",
             "associations_list", self._associations_list),
        ]  # fmt: skip

    def _rendered(self, kind: str, record: Record) -> dict[str, Any]:
        properties, associations = _list_arg("properties"), _list_arg("associations")
        return self.render_object(kind, record, properties, associations)

    def _list(self, kind: str) -> Response:
        archived = _archived()
        after = request.args.get("after", "")
        if after and not after.isdigit():
            raise Refusal(400, "after is not a cursor this list handed out")
        # Ids grow, so the cursor stays good when its object has been archived meanwhile.
        rows = self.store.select(kind, self.owner(), where=lambda r: r["archived"] == archived
                                 and int(r["id"]) > int(after or 0))  # fmt: skip
        page = LIST_PAGING.cut(rows, {"limit": request.args.get("limit", "")})
        results = [self._rendered(kind, r) for r in page.items]
        return self.json(_next(page.next_cursor, {"results": results}, link=True))

    def _get(self, kind: str, object_id: str) -> Response:
        record = self.find(kind, object_id, request.args.get("idProperty", ""), _archived())
        return self.json(self._rendered(kind, record))

    def _create(self, kind: str) -> Response:
        body = request_body()
        properties = self._valid_properties(kind, body.get("properties") or {})
        links = self._valid_links(kind, body.get("associations") or [])
        email = properties.get("email") if kind == "contacts" else None
        existing = self.lookup(kind, email, "email") if email else None
        if existing:
            message = f"Contact already exists. Existing ID: {existing['id']}"
            raise Refusal(409, message)
        record = self.create_object(g.portal_id, kind, properties, "INTEGRATION")
        for to_type, to_id, type_id in links:
            self.associate(g.portal_id, kind, record["id"], to_type, to_id,
                           type_id in PRIMARY_TYPE_IDS, change_source="INTEGRATION")  # fmt: skip
        self.after_commit()
        return self.json(self.render_object(kind, record), 201)

    def _update(self, kind: str, object_id: str) -> Response:
        record = self.find(kind, object_id, request.args.get("idProperty", ""))
        raw = request_body().get("properties") or {}
        properties = self._valid_properties(kind, raw, record["properties"])
        updated = self.update_object(g.portal_id, kind, record["id"], properties, "INTEGRATION")
        return self.json(self.render_object(kind, updated))

    def _archive(self, kind: str, object_id: str) -> Response:
        if not self.find(kind, object_id, archived=None)["archived"]:
            self.archive_object(g.portal_id, kind, object_id, "INTEGRATION")
        return Response(status=204)

    def _batch_read(self, kind: str) -> Response:
        started, body = time.time(), request_body()
        results, missing = [], []
        for item in self._batch_inputs(body):
            object_id = str(item.get("id", "")) if isinstance(item, dict) else ""
            record = self.lookup(kind, object_id, body.get("idProperty", ""))
            if record is None or record["archived"] != _archived():
                missing.append(object_id)
            else:
                results.append(self.render_object(kind, record, body.get("properties") or []))
        message = (f"Could not get some {SINGULAR[kind].upper()} objects, they may be deleted or "
                   "not exist. Check that ids are valid.")  # fmt: skip
        errors = [batch_error(message, {"ids": missing})] if missing else []
        return self.json(*batch_answer(started, results, errors))

    def _batch_create(self, kind: str) -> Response:
        """Every input is checked before any is created (a bad input fails the batch)."""
        started, body = time.time(), request_body()
        checked = [(self._valid_properties(kind, item.get("properties") or {}), item)
                   for item in self._batch_inputs(body)]  # fmt: skip
        results = []
        for properties, item in checked:
            record = self.create_object(g.portal_id, kind, properties, "INTEGRATION")
            rendered = self.render_object(kind, record)
            if item.get("objectWriteTraceId"):
                rendered["objectWriteTraceId"] = item["objectWriteTraceId"]
            results.append(rendered)
        self.after_commit()
        return self.json(batch_answer(started, results, [])[0], 201)

    def _batch_inputs(self, body: Mapping[str, Any]) -> list[Any]:
        inputs = body.get("inputs") or []
        if len(inputs) > self.batch_limit:
            message = f"Batch input must be an array of at most {self.batch_limit} inputs"
            raise Refusal(400, message)
        return inputs

    # -- search (HubSpot's "Search the CRM" guide) ----------------------------------------

    def _search(self, kind: str) -> Response:
        """Filter groups ORed, their filters ANDed, a free-text `query`, and sorts."""
        body = request_body()
        groups = body.get("filterGroups") or []
        if len(groups) > MAX_FILTER_GROUPS:
            message = f"filterGroups: at most {MAX_FILTER_GROUPS} groups are allowed"
            raise Refusal(400, message)
        query = str(body.get("query") or "").lower()
        # ISO stamps of one format compare as text: later than this is not indexed yet.
        indexed_until = iso(time.time() - self.search_lag_seconds)
        hits = [
            record
            for record in self.store.select(kind, self.owner(), where=lambda r: not r["archived"])
            if record["updatedAt"] <= indexed_until
            and (not groups or any(all(_matches(record, f) for f in group.get("filters") or [])
                                  for group in groups))
            and (not query or any(query in v.lower() for v in record["properties"].values()))
        ]  # fmt: skip
        for sort in reversed(body.get("sorts") or []):
            # The spec types a sort as a string ("-createdate" = descending); the live API
            # documents {"propertyName", "direction"}. Both are understood.
            if isinstance(sort, dict):
                descending = sort.get("direction") == "DESCENDING"
                sort = ("-" if descending else "") + str(sort.get("propertyName", ""))
            name = str(sort).lstrip("-")
            hits.sort(key=lambda r, n=name: _sort_key(r["properties"].get(n)),  # type: ignore[misc]
                      reverse=str(sort).startswith("-"))  # fmt: skip
        paging = CursorPaging(default_limit=10, max_limit=self.search_page_limit)
        args = {"limit": str(body.get("limit", "")), "after": str(body.get("after") or "")}
        page = paging.cut(hits, args)
        results = [self.render_object(kind, r, body.get("properties") or []) for r in page.items]
        return self.json(_next(page.next_cursor, {"total": len(hits), "results": results}))

    # -- HubSpot's checks beyond the spec ------------------------------------------------

    def _valid_properties(
        self, kind: str, raw: Mapping[str, Any], current: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        def text(value: Any) -> str:
            if isinstance(value, bool):
                return str(value).lower()
            return "" if value is None else str(value)

        properties = {k: text(v) for k, v in raw.items()}
        known = self.property_names(g.portal_id, kind)
        problems = [(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
                    for name in properties if name not in known]  # fmt: skip
        email = properties.get("email")
        if "email" in known and email and not EMAIL.fullmatch(email):
            problems.append(("email", "INVALID_EMAIL", f"Email address {email} is invalid"))
        if kind == "deals":
            problems += self._deal_stage_problems(properties, current or {})
        if problems:
            detail = [{"isValid": False, "message": message, "error": code, "name": name}
                      for name, code, message in problems]  # fmt: skip
            raise Refusal(
                400,
                f"Property values were not valid: {json.dumps(detail, separators=(',', ':'))}",
                errors=[{"message": message, "code": code, "context": {"propertyName": [name]}}
                        for name, code, message in problems],
            )  # fmt: skip
        return properties

    def _deal_stage_problems(
        self, properties: Mapping[str, str], current: Mapping[str, str]
    ) -> list[tuple[str, str, str]]:
        pipeline_id = properties.get("pipeline") or current.get("pipeline") or "default"
        pipeline = self.pipeline(g.portal_id, pipeline_id)
        if pipeline is None:
            message = f"{pipeline_id} was not one of the allowed options"
            return [("pipeline", "INVALID_OPTION", message)]
        stage, stage_ids = properties.get("dealstage"), [s["id"] for s in pipeline["stages"]]
        if stage is not None and stage not in stage_ids:
            message = f"{stage} was not one of the allowed options: [{', '.join(stage_ids)}]"
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
                    raise Refusal(
                        400,
                        f"{category} {type_id} is not a valid association type between {kind} "
                        "and the target object",
                    )
                if self.store.find(pair[1], self.owner(), to_id) is None:
                    raise Refusal(
                        400,
                        f"One or more associations are invalid: {pair[1]} {to_id} does not exist",
                    )
                links.append((pair[1], to_id, type_id))
        return links

    def _associations_list(self, kind: str, object_id: str, to_kind: str) -> Response:
        links = self.linked(g.portal_id, kind, object_id, to_kind)
        rows = [
            # toObjectId: the spec's type (a string); the live API is said to send a number.
            # A label is null live for unlabeled types, so it is left out.
            {"toObjectId": to_id, "associationTypes": [
                {"category": "HUBSPOT_DEFINED", "typeId": t,
                 **({"label": "Primary"} if t in PRIMARY_TYPE_IDS else {})} for t in types]}
            for to_id, types in links.items()
        ]  # fmt: skip
        page = ASSOCIATION_PAGING.cut(rows, request.args)
        return self.json(_next(page.next_cursor, {"results": page.items}))


def _sort_key(value: str | None) -> tuple[int, float, str]:
    # Numbers compare as numbers, text case-insensitively; records without the property last.
    if value is None:
        return (1, 0.0, "")
    try:
        return (0, float(value), "")
    except ValueError:
        return (0, 0.0, value.lower())


def _contains_token(actual: str, value: str) -> bool:
    # A token is a word of the value; `*` is a wildcard ("*@beispiel.de").
    pattern = re.escape(value.lower()).replace(r"\*", ".*")
    return any(re.fullmatch(pattern, token) for token in [actual, *re.split(r"[\s@.,]+", actual)])


def _matches(record: Record, flt: Mapping[str, Any]) -> bool:
    operator, name = flt["operator"], flt["propertyName"]
    actual = record["id"] if name == "hs_object_id" else record["properties"].get(name)
    if operator in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
        return bool(actual) == (operator == "HAS_PROPERTY")
    if actual is None:
        return operator in ("NEQ", "NOT_IN", "NOT_CONTAINS_TOKEN")
    actual, value = actual.lower(), str(flt.get("value", "")).lower()  # HubSpot ignores case
    left, right = _sort_key(actual), _sort_key(value)
    values = [str(v).lower() for v in flt.get("values") or []]
    outcomes = {
        "EQ": lambda: actual == value, "IN": lambda: actual in values,
        "CONTAINS_TOKEN": lambda: _contains_token(actual, value),
        "BETWEEN": lambda: right <= left <= _sort_key(str(flt.get("highValue", ""))),
        "GT": lambda: left > right, "GTE": lambda: left >= right,
        "LT": lambda: left < right, "LTE": lambda: left <= right,
    }  # fmt: skip
    negated = {"NEQ": "EQ", "NOT_IN": "IN", "NOT_CONTAINS_TOKEN": "CONTAINS_TOKEN"}
    return not outcomes[negated[operator]]() if operator in negated else outcomes[operator]()
