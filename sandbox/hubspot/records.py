"""CRM objects on the generic store and their associations, and every change to them: what
HubSpot derives (deal stage flags, line item amounts, modification dates) and the webhook
events each change emits. Tests, the board and the API all change objects through here."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Mapping
from typing import Any

from flask import g

from sandbox.core import Refusal
from sandbox.hubspot.catalog import (
    ASSOCIATION_TYPES,
    DEFAULT_PROPERTIES,
    OBJECT_TYPES,
    SINGULAR,
    TYPE_ALIASES,
    TYPE_NAMES,
    iso,
)
from sandbox.hubspot.schema import CrmSchema
from sandbox.hubspot.webhooks import WebhookDispatcher
from sandbox.store import Record, Resource

Links = dict[str, list[int]]  # to id -> association typeIds


class CrmRecords(CrmSchema):
    # Objects are kept per portal (the owner), with ids the sandbox hands out (`_ids`).
    resources = tuple(Resource(object_type) for object_type in OBJECT_TYPES)
    webhooks: WebhookDispatcher

    def owner(self) -> str:
        return str(g.get("portal_id", ""))

    def reset(self) -> None:
        super().reset()
        with self.lock:
            # One counter for every type and portal: an id names one object, in the sandbox
            # and in the product's records alike.
            self._ids = itertools.count(10_000_001)
            self.associations: dict[tuple[int, str, str, str], Links] = {}

    def _emit(self, portal: int, kind: str, event: str, object_id: str, source: str,
              **fields: Any) -> None:  # fmt: skip
        self.webhooks.emit(
            portal, f"{SINGULAR[kind]}.{event}", object_id=object_id, change_source=source, **fields
        )

    # -- changes -------------------------------------------------------------------------

    def create_object(
        self, portal_id: int, object_type: str, properties: Mapping[str, str], change_source: str
    ) -> Record:
        now = time.time()
        with self.lock:
            object_id = str(next(self._ids))
            record: Record = {"id": object_id, "properties": {}, "archived": False,
                              "createdAt": iso(now), "updatedAt": iso(now)}  # fmt: skip
            calculated = {"hs_object_id": object_id, "createdate": iso(now)}
            self._set(portal_id, object_type, record, {**properties, **calculated}, now)
            stored = self.store.create(object_type, str(portal_id), record)
        self._emit(portal_id, object_type, "creation", object_id, change_source, change_flag="NEW")
        return stored

    def update_object(self, portal_id: int, object_type: str, object_id: str,
                      properties: Mapping[str, str], change_source: str) -> Record:  # fmt: skip
        now = time.time()
        with self.lock:
            record = self.store.get(object_type, str(portal_id), object_id)
            changed = {k: v for k, v in properties.items() if record["properties"].get(k) != v}
            self._set(portal_id, object_type, record, properties, now)
            record["updatedAt"] = iso(now)
            stored = self.store.update(object_type, str(portal_id), object_id, record)
        for name, value in changed.items():
            self._emit(portal_id, object_type, "propertyChange", object_id, change_source,
                       property_name=name, property_value=value)  # fmt: skip
        return stored

    def archive_object(
        self, portal_id: int, object_type: str, object_id: str, change_source: str
    ) -> None:
        now = iso(time.time())
        archived = {"archived": True, "archivedAt": now, "updatedAt": now}
        self.store.update(object_type, str(portal_id), object_id, archived)
        self._emit(portal_id, object_type, "deletion", object_id, change_source,
                   change_flag="DELETED")  # fmt: skip

    def associate(self, portal_id: int, from_type: str, from_id: str, to_type: str, to_id: str,
                  primary: bool = False, *, change_source: str = "CRM_UI") -> None:  # fmt: skip
        """Links two objects both ways; a primary link replaces the former primary one."""
        primary = primary and ASSOCIATION_TYPES[(from_type, to_type)][1] is not None
        ends = ((from_type, from_id), (to_type, to_id))
        with self.lock:
            if primary:
                former = self.linked(portal_id, from_type, from_id, to_type)
                for other_id in former:
                    self._link(portal_id, ((from_type, from_id), (to_type, other_id)), drop=True)
            self._link(portal_id, ends, primary=primary)
        for (kind, object_id), (other_kind, other_id) in (ends, ends[::-1]):
            self._emit(portal_id, kind, "associationChange", object_id, change_source, extra={
                "associationType": f"{SINGULAR[kind]}_TO_{SINGULAR[other_kind]}".upper(),
                "fromObjectId": int(object_id), "toObjectId": int(other_id),
                "associationRemoved": False, "isPrimaryAssociation": primary,
            })  # fmt: skip

    def _link(self, portal_id: int, ends: tuple[tuple[str, str], ...], *, primary: bool = False,
              drop: bool = False) -> None:  # fmt: skip
        """Adds the unlabeled (and primary) types both ways, or drops the primary ones."""
        for (kind, object_id), (to_kind, to_id) in (ends, ends[::-1]):
            unlabeled, primary_id = ASSOCIATION_TYPES[(kind, to_kind)]
            links = self.associations.setdefault((portal_id, kind, object_id, to_kind), {})
            types = links.setdefault(to_id, [])
            wanted = [] if drop else [t for t in (primary_id if primary else None, unlabeled) if t]
            links[to_id] = [t for t in types if not drop or t != primary_id]
            links[to_id] += [t for t in wanted if t not in types]

    def _set(self, portal_id: int, kind: str, record: Record, values: Mapping[str, str],
             now: float) -> None:  # fmt: skip
        current: dict[str, str] = record["properties"]
        values = dict(values)
        if kind == "deals":
            values.update(self._deal_stage_properties(portal_id, current, values, now))
        if kind == "line_items" and {"price", "quantity"} & values.keys():
            merged = {**current, **values}
            try:
                amount = float(merged.get("price", "0")) * float(merged.get("quantity", "1"))
                amount *= 1 - float(merged.get("hs_discount_percentage", "0")) / 100
                values["amount"] = f"{amount:.2f}"
            except ValueError:
                pass
        current.update(values, **{OBJECT_TYPES[kind].modified: iso(now)})

    def _deal_stage_properties(
        self, portal_id: int, current: Mapping[str, str], values: Mapping[str, str], now: float
    ) -> dict[str, str]:
        """What HubSpot derives from `dealstage`: probability, closed flags, close date."""
        pipeline_id = values.get("pipeline") or current.get("pipeline") or "default"
        pipeline = self.pipeline(portal_id, pipeline_id)
        if pipeline is None:
            return {}
        stage_id, stages = values.get("dealstage") or current.get("dealstage"), pipeline["stages"]
        stage = next((s for s in stages if s["id"] == stage_id), stages[0])
        closed, probability = stage["metadata"]["isClosed"], stage["metadata"]["probability"]
        derived = {
            "pipeline": pipeline_id, "dealstage": stage["id"],
            "hs_deal_stage_probability": probability, "hs_is_closed": closed,
            "hs_is_closed_won": str(closed == "true" and probability == "1.0").lower(),
        }  # fmt: skip
        if closed == "true" and not current.get("closedate"):
            derived["closedate"] = values.get("closedate") or iso(now)
        return {k: v for k, v in derived.items() if current.get(k) != v or k in values}

    # -- seed helpers (tests, benchmarks, demo) --------------------------------------------

    def seed_object(self, portal_id: int, object_type: str, properties: Mapping[str, str], *,
                    change_source: str = "CRM_UI") -> str:  # fmt: skip
        return str(self.create_object(portal_id, object_type, properties, change_source)["id"])

    def seed_deal(
        self,
        portal_id: int,
        *,
        name: str,
        amount: str | float | None = None,
        pipeline: str = "default",
        stage: str | None = None,
        company: Mapping[str, str] | None = None,
        contact: Mapping[str, str] | None = None,
        line_items: Iterable[Mapping[str, Any]] = (),
        properties: Mapping[str, str] | None = None,
        change_source: str = "CRM_UI",
    ) -> str:
        """Creates a deal with its primary company, contact and line items; returns its id."""
        values = {"dealname": name, "pipeline": pipeline, "amount": amount, "dealstage": stage}

        def make(kind: str, values: Mapping[str, Any]) -> str:
            as_text = {k: str(v) for k, v in values.items() if v is not None}
            return self.seed_object(portal_id, kind, as_text, change_source=change_source)

        deal_id = make("deals", {**values, **(properties or {})})
        company_id = make("companies", company) if company else None
        if company_id:
            self.associate(portal_id, "deals", deal_id, "companies", company_id, primary=True)
        if contact:
            contact_id = make("contacts", contact)
            self.associate(portal_id, "deals", deal_id, "contacts", contact_id)
            if company_id:
                self.associate(portal_id, "contacts", contact_id, "companies", company_id, True)
        for item in line_items:
            self.associate(portal_id, "deals", deal_id, "line_items", make("line_items", item))
        return deal_id

    def move_deal(
        self, portal_id: int, deal_id: str, stage_id: str, *, change_source: str = "CRM_UI"
    ) -> None:
        """Moves a deal to a stage of its pipeline; emits the dealstage propertyChange."""
        self.update_object(portal_id, "deals", deal_id, {"dealstage": stage_id}, change_source)

    # -- reads ---------------------------------------------------------------------------

    def lookup(self, object_type: str, object_id: str, id_property: str = "") -> Record | None:
        """The current portal's object by id or by a unique property (`idProperty`)."""
        if id_property in ("", "hs_object_id"):
            return self.store.find(object_type, self.owner(), object_id)

        # HubSpot compares e-mail addresses case-insensitively, other values exactly.
        fold = str.lower if id_property == "email" else str

        def matches(record: Record) -> bool:
            found = record["properties"].get(id_property, "")
            return not record["archived"] and fold(found) == fold(object_id)

        return next(iter(self.store.select(object_type, self.owner(), where=matches)), None)

    def find(self, object_type: str, object_id: str, id_property: str = "",
             archived: bool | None = False) -> Record:  # fmt: skip
        """The object as `lookup` finds it, archived or not as asked (None: either way)."""
        found = self.lookup(object_type, object_id, id_property)
        if found is None or archived not in (None, found["archived"]):
            raise Refusal(404, "resource not found")
        return found

    def linked(self, portal_id: int, from_type: str, object_id: str, to_type: str) -> Links:
        with self.lock:
            links = self.associations.get((portal_id, from_type, object_id, to_type), {})
            return {to_id: list(types) for to_id, types in links.items() if types}

    def render_object(self, object_type: str, record: Record, properties: Iterable[str] = (),
                      associations: Iterable[str] = ()) -> dict[str, Any]:  # fmt: skip
        names = list(properties)
        if names:
            names += ["hs_object_id", "createdate", OBJECT_TYPES[object_type].modified]
        values = record["properties"]
        # Live HubSpot answers a requested but empty property as null; the spec's schema only
        # allows strings, so an empty property is left out here.
        shown = {n: values[n] for n in names or DEFAULT_PROPERTIES[object_type] if n in values}
        keys = ("createdAt", "updatedAt", "archived", "archivedAt")
        rendered = {"id": record["id"], "properties": shown}
        rendered |= {k: record[k] for k in keys if k in record}
        linked = {}
        # The spec: unknown associations "will be ignored".
        for to_type in filter(None, map(TYPE_ALIASES.get, associations)):
            links = self.linked(g.portal_id, object_type, record["id"], to_type)
            results = [{"id": i, "type": TYPE_NAMES[t]} for i, ts in links.items() for t in ts]
            if results:
                linked[to_type] = {"results": results}
        return {**rendered, "associations": linked} if linked else rendered
