"""What a HubSpot portal knows before anyone writes to it: its object types and their names in
a path, default properties, association types and deal pipelines (HubSpot's CRM docs and the
specs in vendor-specs/hubspot/prism-patched)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Response, request

from sandbox.core import Refusal


@dataclass(frozen=True)
class ObjectType:
    """A CRM object type: its names in a path, what a read naming no properties answers (beside
    createdate and hs_object_id) and HubSpot's own properties (a subset; any other is
    PROPERTY_DOESNT_EXIST)."""

    name: str
    singular: str  # a path's other name, and the one in event and association type names
    type_id: str  # the objectTypeId a path may name instead; the deals spec only knows "0-3"
    shown: str
    known: str
    modified: str = "hs_lastmodifieddate"  # the property every change stamps


OBJECT_TYPES = {t.name: t for t in (
    ObjectType("deals", "deal", "0-3",
               "amount closedate dealname dealstage hs_lastmodifieddate pipeline",
               "dealname amount dealstage pipeline closedate dealtype description hs_priority "
               "deal_currency_code hubspot_owner_id hs_deal_stage_probability hs_is_closed "
               "hs_is_closed_won"),
    ObjectType("contacts", "contact", "0-1", "email firstname lastmodifieddate lastname",
               "email firstname lastname phone mobilephone company jobtitle address city zip "
               "state country website lifecyclestage hubspot_owner_id salutation",
               modified="lastmodifieddate"),
    ObjectType("companies", "company", "0-2", "domain hs_lastmodifieddate name",
               "name domain address address2 city zip state country phone website industry "
               "description lifecyclestage hubspot_owner_id numberofemployees annualrevenue"),
    ObjectType("line_items", "line_item", "0-8", "hs_lastmodifieddate name price quantity",
               "name description quantity price amount hs_sku hs_product_id discount "
               "hs_discount_percentage hs_line_item_currency_code recurringbillingfrequency "
               "hs_recurring_billing_period hs_cost_of_goods_sold hs_position_on_quote"),
    ObjectType("products", "product", "0-7", "description hs_lastmodifieddate name price",
               "name description price hs_sku hs_cost_of_goods_sold recurringbillingfrequency "
               "hs_recurring_billing_period hs_product_type"),
)}  # fmt: skip
SINGULAR = {t.name: t.singular for t in OBJECT_TYPES.values()}
# The group HubSpot files its own properties of an object under.
DEFAULT_GROUPS = {t: f"{SINGULAR[t].replace('_', '')}information" for t in OBJECT_TYPES}
DEFAULT_PROPERTIES = {
    t.name: ("createdate", "hs_object_id", *t.shown.split()) for t in OBJECT_TYPES.values()
}
# The 15 names of a type a path may use: its name, singular or objectTypeId.
TYPE_ALIASES = {a: t.name for t in OBJECT_TYPES.values() for a in (t.name, t.singular, t.type_id)}
SYSTEM_PROPERTIES = {"hs_object_id", "createdate", "hs_lastmodifieddate", "lastmodifieddate"}

# (from, to) -> (unlabeled typeId, primary typeId), HUBSPOT_DEFINED (HubSpot's association docs).
ASSOCIATION_TYPES: dict[tuple[str, str], tuple[int, int | None]] = {
    ("deals", "companies"): (341, 5), ("companies", "deals"): (342, 6),
    ("deals", "contacts"): (3, None), ("contacts", "deals"): (4, None),
    ("deals", "line_items"): (19, None), ("line_items", "deals"): (20, None),
    ("contacts", "companies"): (279, 1), ("companies", "contacts"): (280, 2),
}  # fmt: skip
PRIMARY_TYPE_IDS = {primary for _, primary in ASSOCIATION_TYPES.values() if primary}
PAIR_OF_TYPE_ID = {i: pair for pair, ids in ASSOCIATION_TYPES.items() for i in ids if i}
# The v3 names: "deal_to_company" (primary), "deal_to_company_unlabeled" beside a primary.
TYPE_NAMES = {
    i: f"{SINGULAR[a]}_to_{SINGULAR[b]}" + ("_unlabeled" if primary and i != primary else "")
    for (a, b), (unlabeled, primary) in ASSOCIATION_TYPES.items()
    for i in (unlabeled, primary) if i
}  # fmt: skip

# (method, rule, endpoint name, view) for `HubSpotSandbox.register_routes`.
Route = tuple[str, str, str, Callable[..., Response]]


def request_body() -> dict[str, Any]:
    # The spec step has refused a body that is not the operation's object or lacks its
    # required fields; a lenient sandbox (require_spec_fields=False) reads what it got.
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def iso(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")
    return moment.replace("+00:00", "Z")


def typed(view: Callable[..., Response]) -> Callable[..., Response]:
    """The view given the object types its path names (`<kind>`, `<to_kind>`, each by name,
    singular or objectTypeId) by their names; an unknown one is refused when the view would
    run, so after the pipeline's checks."""

    def resolved(**values: Any) -> Response:
        for variable in [v for v in ("kind", "to_kind") if v in values]:
            name = values[variable]
            if name not in TYPE_ALIASES:
                raise Refusal(400, f"Unable to infer object type from: {name}")
            values[variable] = TYPE_ALIASES[name]
        return view(**values)

    return resolved


# The portal's deal pipelines: (id, label, created, stages as "id:probability:label").
# The second is a customer's own: two won stages, so "won" cannot mean one fixed stage id.
PIPELINES = (
    ("default", "Sales Pipeline", iso(0), (
        "appointmentscheduled:0.2:Appointment Scheduled", "qualifiedtobuy:0.4:Qualified To Buy",
        "presentationscheduled:0.6:Presentation Scheduled",
        "decisionmakerboughtin:0.8:Decision Maker Bought-In", "contractsent:0.9:Contract Sent",
        "closedwon:1.0:Closed Won", "closedlost:0.0:Closed Lost")),
    ("98765000", "Projektgeschäft", "2024-03-01T09:00:00.000Z", (
        "98765001:0.5:Angebot verschickt", "98765002:1.0:Auftrag erteilt",
        "98765003:1.0:Bezahlt", "98765004:0.0:Verloren")),
)  # fmt: skip


def default_pipelines() -> list[dict[str, Any]]:
    def stage(order: int, text: str) -> dict[str, Any]:
        stage_id, probability, label = text.split(":", 2)
        closed = "true" if probability in ("1.0", "0.0") else "false"
        # Metadata values are strings, as the live API sends them; "stages on default
        # pipelines have createdAt = 0" (HubSpot's pipelines guide).
        return {"id": stage_id, "label": label, "displayOrder": order,
                "metadata": {"isClosed": closed, "probability": probability},
                "createdAt": iso(0), "updatedAt": iso(0), "archived": False,
                "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT"}  # fmt: skip

    return [
        {"id": pid, "label": label, "displayOrder": order,
         "stages": [stage(i, s) for i, s in enumerate(stages)],
         "createdAt": created, "updatedAt": created, "archived": False}
        for order, (pid, label, created, stages) in enumerate(PIPELINES)
    ]  # fmt: skip


def batch_error(message: str, context: dict[str, list[str]]) -> dict[str, Any]:
    return {"status": "error", "category": "OBJECT_NOT_FOUND", "message": message,
            "context": context, "errors": [], "links": {}}  # fmt: skip


def batch_answer(
    started: float, results: list[Any], errors: list[dict[str, Any]]
) -> tuple[dict[str, Any], int]:
    """A batch endpoint's answer: 200 when every input was found, else 207 with the errors."""
    answer = {"status": "COMPLETE", "results": results, "startedAt": iso(started),
              "completedAt": iso(time.time())}  # fmt: skip
    if not errors:
        return answer, 200
    return {**answer, "numErrors": len(errors), "errors": errors}, 207
