"""What a HubSpot portal knows before anyone writes to it: its object types and their names in
a path, default properties, association types and deal pipelines (HubSpot's CRM docs and the
specs in vendor-specs/hubspot/prism-patched)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Response, request

OBJECT_TYPES = ("deals", "contacts", "companies", "line_items", "products")
SINGULAR = {
    "deals": "deal", "contacts": "contact", "companies": "company",
    "line_items": "line_item", "products": "product",
}  # fmt: skip
# Names and objectTypeIds HubSpot accepts in a path; the deals spec itself only knows "0-3".
TYPE_IDS = {"deals": "0-3", "contacts": "0-1", "companies": "0-2", "line_items": "0-8",
            "products": "0-7"}  # fmt: skip
TYPE_ALIASES = {
    alias: object_type
    for object_type in OBJECT_TYPES
    for alias in (object_type, SINGULAR[object_type], TYPE_IDS[object_type])
}

# What HubSpot answers when a read names no `properties`.
DEFAULT_PROPERTIES = {
    "deals": ("amount", "closedate", "createdate", "dealname", "dealstage",
              "hs_lastmodifieddate", "hs_object_id", "pipeline"),
    "contacts": ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate",
                 "lastname"),
    "companies": ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    "line_items": ("createdate", "hs_lastmodifieddate", "hs_object_id", "name", "price",
                   "quantity"),
    "products": ("createdate", "description", "hs_lastmodifieddate", "hs_object_id", "name",
                 "price"),
}  # fmt: skip

# HubSpot default properties per object (a subset); anything else is PROPERTY_DOESNT_EXIST.
KNOWN_PROPERTIES = {
    "deals": {"dealname", "amount", "dealstage", "pipeline", "closedate", "dealtype",
              "description", "deal_currency_code", "hubspot_owner_id", "hs_priority",
              "hs_deal_stage_probability", "hs_is_closed", "hs_is_closed_won"},
    "contacts": {"email", "firstname", "lastname", "phone", "mobilephone", "company",
                 "jobtitle", "address", "city", "zip", "state", "country", "website",
                 "lifecyclestage", "hubspot_owner_id", "salutation"},
    "companies": {"name", "domain", "address", "address2", "city", "zip", "state", "country",
                  "phone", "website", "industry", "description", "lifecyclestage",
                  "hubspot_owner_id", "numberofemployees", "annualrevenue"},
    "line_items": {"name", "description", "quantity", "price", "amount", "hs_sku",
                   "hs_product_id", "discount", "hs_discount_percentage",
                   "hs_line_item_currency_code", "recurringbillingfrequency",
                   "hs_recurring_billing_period", "hs_cost_of_goods_sold", "hs_position_on_quote"},
    "products": {"name", "description", "price", "hs_sku", "hs_cost_of_goods_sold",
                 "recurringbillingfrequency", "hs_recurring_billing_period", "hs_product_type"},
}  # fmt: skip
# The group HubSpot files its own properties of an object under.
DEFAULT_GROUPS = {t: f"{SINGULAR[t].replace('_', '')}information" for t in OBJECT_TYPES}
SYSTEM_PROPERTIES = {"hs_object_id", "createdate", "hs_lastmodifieddate", "lastmodifieddate"}

# (from, to) -> (unlabeled typeId, primary typeId), HUBSPOT_DEFINED (HubSpot's association docs).
ASSOCIATION_TYPES: dict[tuple[str, str], tuple[int, int | None]] = {
    ("deals", "companies"): (341, 5), ("companies", "deals"): (342, 6),
    ("deals", "contacts"): (3, None), ("contacts", "deals"): (4, None),
    ("deals", "line_items"): (19, None), ("line_items", "deals"): (20, None),
    ("contacts", "companies"): (279, 1), ("companies", "contacts"): (280, 2),
}  # fmt: skip
TYPE_NAMES = {
    1: "contact_to_company", 2: "company_to_contact", 3: "deal_to_contact",
    4: "contact_to_deal", 5: "deal_to_company", 6: "company_to_deal", 19: "deal_to_line_item",
    20: "line_item_to_deal", 279: "contact_to_company_unlabeled",
    280: "company_to_contact_unlabeled", 341: "deal_to_company_unlabeled",
    342: "company_to_deal_unlabeled",
}  # fmt: skip
PRIMARY_TYPE_IDS = {1, 2, 5, 6}
PAIR_OF_TYPE_ID = {
    type_id: pair for pair, ids in ASSOCIATION_TYPES.items() for type_id in ids if type_id
}


# (rule, endpoint name, view, method) for `HubSpotSandbox.register_routes`.
Route = tuple[str, str, Callable[..., Response], str]


def request_body() -> dict[str, Any]:
    # The spec step has refused a body that is not the operation's object or lacks its
    # required fields; a lenient sandbox (require_spec_fields=False) reads what it got.
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


class HubSpotValidationError(Exception):
    """Answered in HubSpot's error format (`HubSpotSandbox.error_response`)."""

    def __init__(self, message: str, status: int = 400, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.extra = extra


def iso(epoch: float) -> str:
    return (
        datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def resolve_type(name: str) -> str:
    """The object type a path names, by name, singular or objectTypeId."""
    if name not in TYPE_ALIASES:
        raise HubSpotValidationError(f"Unable to infer object type from: {name}")
    return TYPE_ALIASES[name]


# The portal's deal pipelines: (id, label, stages as (id, label, probability)).
_SALES = (
    ("appointmentscheduled", "Appointment Scheduled", "0.2"),
    ("qualifiedtobuy", "Qualified To Buy", "0.4"),
    ("presentationscheduled", "Presentation Scheduled", "0.6"),
    ("decisionmakerboughtin", "Decision Maker Bought-In", "0.8"),
    ("contractsent", "Contract Sent", "0.9"),
    ("closedwon", "Closed Won", "1.0"),
    ("closedlost", "Closed Lost", "0.0"),
)
# A customer's own pipeline: two won stages, so "won" cannot mean one fixed stage id.
_PROJECTS = (
    ("98765001", "Angebot verschickt", "0.5"),
    ("98765002", "Auftrag erteilt", "1.0"),
    ("98765003", "Bezahlt", "1.0"),
    ("98765004", "Verloren", "0.0"),
)


def _stage(stage_id: str, label: str, order: int, probability: str) -> dict[str, Any]:
    closed = probability in ("1.0", "0.0")
    return {
        "id": stage_id,
        "label": label,
        "displayOrder": order,
        # Metadata values are strings, as the live API sends them.
        "metadata": {"isClosed": "true" if closed else "false", "probability": probability},
        "createdAt": iso(0),  # HubSpot: "stages on default pipelines have createdAt = 0"
        "updatedAt": iso(0),
        "archived": False,
        "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
    }


def default_pipelines() -> list[dict[str, Any]]:
    pipelines = []
    for order, (pipeline_id, label, stages, created) in enumerate(
        (
            ("default", "Sales Pipeline", _SALES, iso(0)),
            ("98765000", "Projektgeschäft", _PROJECTS, "2024-03-01T09:00:00.000Z"),
        )
    ):
        pipelines.append(
            {
                "id": pipeline_id,
                "label": label,
                "displayOrder": order,
                "stages": [_stage(s, name, i, p) for i, (s, name, p) in enumerate(stages)],
                "createdAt": created,
                "updatedAt": created,
                "archived": False,
            }
        )
    return pipelines


def batch_error(message: str, context: dict[str, list[str]]) -> dict[str, Any]:
    return {
        "status": "error",
        "category": "OBJECT_NOT_FOUND",
        "message": message,
        "context": context,
        "errors": [],
        "links": {},
    }


def batch_answer(
    started: float, results: list[Any], errors: list[dict[str, Any]]
) -> tuple[dict[str, Any], int]:
    """A batch endpoint's answer: 200 when every input was found, else 207 with the errors."""
    answer: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": iso(started),
        "completedAt": iso(time.time()),
    }
    if not errors:
        return answer, 200
    return {**answer, "numErrors": len(errors), "errors": errors}, 207
