"""HubSpot stand-in: OAuth, CRM v3 objects, v4 associations, deal pipelines, rate limits and
webhooks, following the saved specs in vendor-specs/hubspot/prism-patched and the fact sheet."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from flask import Flask, Request, Response, g, redirect, request

from connectors.hubspot.provider import PROVIDER
from sandbox.contract import ContractChecker, SpecProblem, _SpecRequest
from sandbox.core import DropConnection, SlidingWindow, VendorSandbox
from sandbox.hubspot import account_info, pages
from sandbox.hubspot.webhooks import WebhookDispatcher

if TYPE_CHECKING:
    from sandbox.demo import DemoSetup

OBJECT_TYPES = ("deals", "contacts", "companies", "line_items", "products")

# Names and objectTypeIds HubSpot accepts in a path; the deals spec itself only knows "0-3".
TYPE_ALIASES = {
    "deals": "deals", "deal": "deals", "0-3": "deals",
    "contacts": "contacts", "contact": "contacts", "0-1": "contacts",
    "companies": "companies", "company": "companies", "0-2": "companies",
    "line_items": "line_items", "line_item": "line_items", "0-8": "line_items",
    "products": "products", "product": "products", "0-7": "products",
}  # fmt: skip
SINGULAR = {
    "deals": "deal",
    "contacts": "contact",
    "companies": "company",
    "line_items": "line_item",
    "products": "product",
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
DEFAULT_GROUPS = {t: f"{SINGULAR[t].replace('_', '')}information" for t in SINGULAR}
SYSTEM_PROPERTIES = {"hs_object_id", "createdate", "hs_lastmodifieddate", "lastmodifieddate"}

# (from, to) -> (unlabeled typeId, primary typeId), HUBSPOT_DEFINED (HubSpot's association docs).
ASSOCIATION_TYPES: dict[tuple[str, str], tuple[int, int | None]] = {
    ("deals", "companies"): (341, 5),
    ("companies", "deals"): (342, 6),
    ("deals", "contacts"): (3, None),
    ("contacts", "deals"): (4, None),
    ("deals", "line_items"): (19, None),
    ("line_items", "deals"): (20, None),
    ("contacts", "companies"): (279, 1),
    ("companies", "contacts"): (280, 2),
}
TYPE_NAMES = {
    1: "contact_to_company", 2: "company_to_contact", 3: "deal_to_contact",
    4: "contact_to_deal", 5: "deal_to_company", 6: "company_to_deal", 19: "deal_to_line_item",
    20: "line_item_to_deal", 279: "contact_to_company_unlabeled",
    280: "company_to_contact_unlabeled", 341: "deal_to_company_unlabeled",
    342: "company_to_deal_unlabeled",
}  # fmt: skip
PRIMARY_TYPE_IDS = {1, 2, 5, 6}
PAIR_OF_TYPE_ID = {
    type_id: pair
    for pair, ids in ASSOCIATION_TYPES.items()
    for type_id in ids
    if type_id is not None
}

AUTH_NOT_FOUND = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and "
    "you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)


def iso(epoch: float) -> str:
    return (
        datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def default_pipelines() -> list[dict[str, Any]]:
    """The portal's deal pipelines; metadata values are strings as the live API sends them."""

    def stage(stage_id: str, label: str, order: int, probability: str) -> dict[str, Any]:
        closed = probability in ("1.0", "0.0")
        return {
            "id": stage_id,
            "label": label,
            "displayOrder": order,
            "metadata": {"isClosed": "true" if closed else "false", "probability": probability},
            "createdAt": iso(0),  # HubSpot: "stages on default pipelines have createdAt = 0"
            "updatedAt": iso(0),
            "archived": False,
            "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
        }

    sales = [
        ("appointmentscheduled", "Appointment Scheduled", "0.2"),
        ("qualifiedtobuy", "Qualified To Buy", "0.4"),
        ("presentationscheduled", "Presentation Scheduled", "0.6"),
        ("decisionmakerboughtin", "Decision Maker Bought-In", "0.8"),
        ("contractsent", "Contract Sent", "0.9"),
        ("closedwon", "Closed Won", "1.0"),
        ("closedlost", "Closed Lost", "0.0"),
    ]
    # A customer's own pipeline: two won stages, so "won" cannot mean one fixed stage id.
    projects = [
        ("98765001", "Angebot verschickt", "0.5"),
        ("98765002", "Auftrag erteilt", "1.0"),
        ("98765003", "Bezahlt", "1.0"),
        ("98765004", "Verloren", "0.0"),
    ]
    return [
        {
            "id": "default",
            "label": "Sales Pipeline",
            "displayOrder": 0,
            "stages": [stage(s, label, i, p) for i, (s, label, p) in enumerate(sales)],
            "createdAt": iso(0),
            "updatedAt": iso(0),
            "archived": False,
        },
        {
            "id": "98765000",
            "label": "Projektgeschäft",
            "displayOrder": 1,
            "stages": [stage(s, label, i, p) for i, (s, label, p) in enumerate(projects)],
            "createdAt": "2024-03-01T09:00:00.000Z",
            "updatedAt": "2024-03-01T09:00:00.000Z",
            "archived": False,
        },
    ]


@dataclass
class CrmObject:
    id: str
    object_type: str
    properties: dict[str, str]
    created_at: float
    updated_at: float
    history: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    archived: bool = False
    archived_at: float | None = None


@dataclass
class AccessToken:
    token: str
    portal_id: int
    scopes: list[str]
    expires_at: float
    user: str
    user_id: int
    private_app: bool = False


@dataclass
class RefreshToken:
    token: str
    portal_id: int
    scopes: list[str]
    user: str
    user_id: int
    client_id: str


@dataclass
class AuthorizationCode:
    code: str
    portal_id: int
    redirect_uri: str
    scopes: list[str]
    code_challenge: str
    expires_at: float


class HubSpotValidationError(Exception):
    def __init__(self, message: str, status: int = 400, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.extra = extra


class _HubSpotContract(ContractChecker):
    """Checks `/crm/v3/objects/deals` as the spec's `/crm/v3/objects/0-3` (the live API serves
    both; the deals spec names only the type id)."""

    def spec_request(self, req: Request) -> _SpecRequest:
        spec_request = super().spec_request(req)
        if req.path.startswith("/crm/v3/objects/deals"):
            spec_request.path = "/crm/v3/objects/0-3" + req.path[len("/crm/v3/objects/deals") :]
            spec_request.full_url_pattern = spec_request.host_url + spec_request.path
        return spec_request

    def check(self, req: Request, response: Response, *, documented: bool = True) -> None:
        if g.get("connection_dropped"):
            return  # the client got no answer, so there is none to check
        super().check(req, response, documented=documented)
        if response.status_code == 204 and not response.get_data():
            # The specs declare 204 answers as `content: {}`, which openapi-core reads as
            # "a body is required"; an empty 204 is what the spec means.
            with self._lock:
                self.violations = [
                    v
                    for v in self.violations
                    if not (v.path == req.path and v.status == 204 and v.where == "response")
                ]


class HubSpotSandbox(VendorSandbox):
    name = "hubspot"
    title = "HubSpot"

    @classmethod
    def for_demo(cls, demo: DemoSetup) -> VendorSandbox:
        client_id, client_secret = demo.oauth_client("hubspot")
        return cls(
            client_id=client_id,
            client_secret=client_secret,
            webhook_target_url=demo.url("/webhooks/hubspot"),
            webhook_subscriptions=[
                "deal.creation",
                "deal.propertyChange",
                "contact.creation",
                "contact.propertyChange",
                "contact.deletion",
                "company.creation",
                "company.propertyChange",
                "company.deletion",
            ],
            webhook_retry_base_delay=5.0,
        )

    spec_files = PROVIDER.spec_files
    spec_server_url = "https://api.hubapi.com"
    # The consent screen lives on app.hubspot.com in real life; it is in no API spec, only in
    # the specs' securitySchemes (authorizationUrl https://app.hubspot.com/oauth/authorize).
    undocumented_endpoints = frozenset({"oauth_authorize", "oauth_decide"})
    public_endpoints = frozenset(
        {
            "oauth_authorize",
            "oauth_decide",
            "oauth_token",
            "oauth_access_token_info",
            "oauth_refresh_token_info",
            "oauth_refresh_token_delete",
        }
    )

    def __init__(
        self,
        *,
        contract: bool = False,
        public_url: str = "",
        portals: Mapping[int, str] | None = None,
        client_id: str = "sandbox-client-id",
        client_secret: str = "sandbox-client-secret",  # noqa: S107 - a sandbox default
        app_id: int = 1160452,
        app_name: str = "APIUP",
        redirect_uris: Iterable[str] = (),
        private_app_tokens: Mapping[str, int] | None = None,
        access_token_lifetime: float = 1800.0,
        user: str = "admin@example.com",
        user_id: int = 2002001,
        rate_limit_max: int = 110,
        rate_limit_interval: float = 10.0,
        search_rate_per_second: int = 5,
        batch_limit: int = 100,
        search_page_limit: int = 200,
        require_spec_fields: bool = True,
        extra_properties: Mapping[str, Iterable[str]] | None = None,
        webhook_target_url: str = "",
        webhook_subscriptions: Iterable[str | dict[str, Any]] = (),
        webhook_batch_window: float = 0.1,
        webhook_max_concurrent_requests: int = 10,
        webhook_timeout: float = 5.0,
        webhook_max_retries: int = 10,
        webhook_retry_base_delay: float = 60.0,
    ) -> None:
        self.portals = dict(portals or {4711: "Beispiel GmbH", 4712: "Demo AG"})
        self.client_id = client_id
        self.client_secret = client_secret
        self.app_id = app_id
        self.app_name = app_name
        self.redirect_uris = set(redirect_uris)  # empty: any redirect URI is accepted
        self.configured_private_app_tokens = dict(
            private_app_tokens or {f"pat-na1-sandbox-{pid}": pid for pid in self.portals}
        )
        self.access_token_lifetime = access_token_lifetime
        self.user = user
        self.user_id = user_id
        self.rate_limit_max = rate_limit_max
        self.rate_limit_interval = rate_limit_interval
        self.search_rate_per_second = search_rate_per_second
        self.batch_limit = batch_limit
        self.search_page_limit = search_page_limit
        self.require_spec_fields = require_spec_fields
        if not require_spec_fields:
            # A lenient stand-in (for tests of the contract check itself) lets requests the
            # spec refuses reach their handlers.
            self.refuse_off_spec = False
        self.known_properties = {t: set(p) for t, p in KNOWN_PROPERTIES.items()}
        for object_type, names in (extra_properties or {}).items():
            self.known_properties[object_type].update(names)
        self.webhooks = WebhookDispatcher(
            app_id=app_id,
            client_secret=client_secret,
            target_url=webhook_target_url,
            subscriptions=webhook_subscriptions,
            batch_window=webhook_batch_window,
            max_concurrent_requests=webhook_max_concurrent_requests,
            timeout=webhook_timeout,
            max_retries=webhook_max_retries,
            retry_base_delay=webhook_retry_base_delay,
        )
        super().__init__(contract=contract, public_url=public_url)

    def spec_checker(self) -> ContractChecker:
        return _HubSpotContract(self.spec_files, self.spec_server_url)

    # -- state ---------------------------------------------------------------------------

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self._ids = itertools.count(10_000_001)
            self.objects: dict[int, dict[str, dict[str, CrmObject]]] = {
                pid: {t: {} for t in OBJECT_TYPES} for pid in self.portals
            }
            # (portal, from type, from id, to type) -> {to id: [typeIds]}
            self.associations: dict[tuple[int, str, str, str], dict[str, list[int]]] = {}
            self.pipelines = {pid: default_pipelines() for pid in self.portals}
            # Definitions made through the properties API, per portal and object type.
            self.custom_properties: dict[tuple[int, str], dict[str, dict[str, Any]]] = {}
            self.property_groups: dict[tuple[int, str], dict[str, dict[str, Any]]] = {
                (pid, t): {DEFAULT_GROUPS[t]: {
                    "name": DEFAULT_GROUPS[t],
                    "label": f"{SINGULAR[t].replace('_', ' ').title()} information",
                    "displayOrder": 0,
                    "archived": False,
                }}
                for pid in self.portals
                for t in OBJECT_TYPES
            }  # fmt: skip
            self.codes: dict[str, AuthorizationCode] = {}
            self.access_tokens: dict[str, AccessToken] = {
                token: AccessToken(token, pid, [], float("inf"), self.user, self.user_id, True)
                for token, pid in self.configured_private_app_tokens.items()
            }
            self.refresh_tokens: dict[str, RefreshToken] = {}
            self.limiter = SlidingWindow(limit=self.rate_limit_max, window=self.rate_limit_interval)
            self.search_limiter = SlidingWindow(limit=self.search_rate_per_second, window=1.0)
        self.webhooks.reset()

    # -- seed helpers (tests, benchmarks, demo) --------------------------------------------

    def issue_token(
        self, portal_id: int, *, scopes: Iterable[str] = (), expires_in: float | None = None
    ) -> str:
        """An OAuth access token for the portal, as if the code flow had run."""
        lifetime = self.access_token_lifetime if expires_in is None else expires_in
        token = "CJ" + secrets.token_urlsafe(32)
        with self.lock:
            self.access_tokens[token] = AccessToken(
                token, portal_id, list(scopes), time.time() + lifetime, self.user, self.user_id
            )
        return token

    def seed_object(
        self,
        portal_id: int,
        object_type: str,
        properties: Mapping[str, str],
        *,
        change_source: str = "CRM_UI",
    ) -> str:
        return self.create_object(portal_id, object_type, dict(properties), change_source).id

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
        deal_properties = {"dealname": name, "pipeline": pipeline, **(properties or {})}
        if amount is not None:
            deal_properties["amount"] = str(amount)
        if stage is not None:
            deal_properties["dealstage"] = stage
        deal = self.create_object(portal_id, "deals", deal_properties, change_source)
        company_id = contact_id = None
        if company:
            company_id = self.create_object(portal_id, "companies", dict(company), change_source).id
            self.associate(portal_id, "deals", deal.id, "companies", company_id, primary=True)
        if contact:
            contact_id = self.create_object(portal_id, "contacts", dict(contact), change_source).id
            self.associate(portal_id, "deals", deal.id, "contacts", contact_id)
            if company_id:
                self.associate(portal_id, "contacts", contact_id, "companies", company_id, True)
        for item in line_items:
            item_properties = {k: str(v) for k, v in item.items()}
            line_item = self.create_object(portal_id, "line_items", item_properties, change_source)
            self.associate(portal_id, "deals", deal.id, "line_items", line_item.id)
        return deal.id

    def move_deal(
        self, portal_id: int, deal_id: str, stage_id: str, *, change_source: str = "CRM_UI"
    ) -> None:
        """Moves a deal to a stage of its pipeline; emits the dealstage propertyChange."""
        self.update_object(portal_id, "deals", deal_id, {"dealstage": stage_id}, change_source)

    def after_commit(self) -> None:
        try:
            super().after_commit()
        except DropConnection:
            g.connection_dropped = True
            raise

    # -- actions: every change goes through here and emits its webhooks ------------------

    def create_object(
        self, portal_id: int, object_type: str, properties: dict[str, str], change_source: str
    ) -> CrmObject:
        now = time.time()
        with self.lock:
            object_id = str(next(self._ids))
            obj = CrmObject(object_id, object_type, {}, now, now)
            self._set_properties(portal_id, obj, properties, change_source, now)
            self._set_properties(
                portal_id, obj, {"hs_object_id": object_id, "createdate": iso(now)}, "", now
            )
            self.objects[portal_id][object_type][object_id] = obj
        self.webhooks.emit(
            portal_id,
            f"{SINGULAR[object_type]}.creation",
            object_id=object_id,
            change_source=change_source,
            change_flag="NEW",
        )
        return obj

    def update_object(
        self,
        portal_id: int,
        object_type: str,
        object_id: str,
        properties: dict[str, str],
        change_source: str,
    ) -> CrmObject:
        now = time.time()
        with self.lock:
            obj = self.objects[portal_id][object_type][object_id]
            changed = {k: v for k, v in properties.items() if obj.properties.get(k) != v}
            self._set_properties(portal_id, obj, properties, change_source, now)
            obj.updated_at = now
        for name, value in changed.items():
            self.webhooks.emit(
                portal_id,
                f"{SINGULAR[object_type]}.propertyChange",
                object_id=object_id,
                change_source=change_source,
                property_name=name,
                property_value=value,
            )
        return obj

    def archive_object(
        self, portal_id: int, object_type: str, object_id: str, change_source: str
    ) -> None:
        now = time.time()
        with self.lock:
            obj = self.objects[portal_id][object_type][object_id]
            obj.archived, obj.archived_at, obj.updated_at = True, now, now
        self.webhooks.emit(
            portal_id,
            f"{SINGULAR[object_type]}.deletion",
            object_id=object_id,
            change_source=change_source,
            change_flag="DELETED",
        )

    def associate(
        self,
        portal_id: int,
        from_type: str,
        from_id: str,
        to_type: str,
        to_id: str,
        primary: bool = False,
        *,
        change_source: str = "CRM_UI",
    ) -> None:
        """Links two objects both ways; a primary link replaces the former primary one."""
        unlabeled, primary_id = ASSOCIATION_TYPES[(from_type, to_type)]
        reverse_unlabeled, reverse_primary = ASSOCIATION_TYPES[(to_type, from_type)]
        with self.lock:
            forward = self.associations.setdefault((portal_id, from_type, from_id, to_type), {})
            if primary and primary_id is not None:
                for other_id, type_ids in forward.items():
                    if primary_id in type_ids:
                        type_ids.remove(primary_id)
                        back = self.associations[(portal_id, to_type, other_id, from_type)]
                        back[from_id] = [t for t in back[from_id] if t != reverse_primary]
            ids = forward.setdefault(to_id, [])
            back_ids = self.associations.setdefault(
                (portal_id, to_type, to_id, from_type), {}
            ).setdefault(from_id, [])
            for type_list, wanted in (
                (ids, [primary_id if primary else None, unlabeled]),
                (back_ids, [reverse_primary if primary else None, reverse_unlabeled]),
            ):
                for type_id in wanted:
                    if type_id is not None and type_id not in type_list:
                        type_list.append(type_id)
        for object_type, object_id, other_type, other_id in (
            (from_type, from_id, to_type, to_id),
            (to_type, to_id, from_type, from_id),
        ):
            self.webhooks.emit(
                portal_id,
                f"{SINGULAR[object_type]}.associationChange",
                object_id=object_id,
                change_source=change_source,
                extra={
                    "associationType": f"{SINGULAR[object_type]}_TO_{SINGULAR[other_type]}".upper(),
                    "fromObjectId": int(object_id),
                    "toObjectId": int(other_id),
                    "associationRemoved": False,
                    "isPrimaryAssociation": primary and primary_id is not None,
                },
            )

    def _set_properties(
        self,
        portal_id: int,
        obj: CrmObject,
        properties: Mapping[str, str],
        source: str,
        now: float,
    ) -> None:
        values = dict(properties)
        if obj.object_type == "deals":
            values.update(self._deal_stage_properties(portal_id, obj, values, now))
        if obj.object_type == "line_items" and {"price", "quantity"} & values.keys():
            merged = {**obj.properties, **values}
            try:
                amount = float(merged.get("price", "0")) * float(merged.get("quantity", "1"))
                amount *= 1 - float(merged.get("hs_discount_percentage", "0")) / 100
                values["amount"] = f"{amount:.2f}"
            except ValueError:
                pass
        values["lastmodifieddate" if obj.object_type == "contacts" else "hs_lastmodifieddate"] = (
            iso(now)
        )
        for name, value in values.items():
            obj.properties[name] = value
            obj.history.setdefault(name, []).insert(
                0, {"value": value, "timestamp": iso(now), "sourceType": source or "CALCULATED"}
            )

    def _deal_stage_properties(
        self, portal_id: int, deal: CrmObject, values: Mapping[str, str], now: float
    ) -> dict[str, str]:
        """What HubSpot derives from `dealstage`: probability, closed flags, close date."""
        pipeline_id = values.get("pipeline") or deal.properties.get("pipeline") or "default"
        pipeline = self._pipeline(portal_id, pipeline_id)
        if pipeline is None:
            return {}
        stage_id = values.get("dealstage") or deal.properties.get("dealstage")
        stage = next((s for s in pipeline["stages"] if s["id"] == stage_id), None)
        if stage is None:
            stage = pipeline["stages"][0]
        derived = {
            "pipeline": pipeline_id,
            "dealstage": stage["id"],
            "hs_deal_stage_probability": stage["metadata"]["probability"],
            "hs_is_closed": stage["metadata"]["isClosed"],
            "hs_is_closed_won": str(
                stage["metadata"]["isClosed"] == "true"
                and stage["metadata"]["probability"] == "1.0"
            ).lower(),
        }
        if derived["hs_is_closed"] == "true" and not deal.properties.get("closedate"):
            derived["closedate"] = values.get("closedate") or iso(now)
        return {k: v for k, v in derived.items() if deal.properties.get(k) != v or k in values}

    def _pipeline(self, portal_id: int, pipeline_id: str) -> dict[str, Any] | None:
        return next((p for p in self.pipelines[portal_id] if p["id"] == pipeline_id), None)

    # -- pipeline hooks --------------------------------------------------------------------

    def credential_of(self, req: Request) -> str | None:
        header = req.headers.get("Authorization", "")
        if not header.lower().startswith("bearer "):
            g.auth_problem = ("INVALID_AUTHENTICATION", AUTH_NOT_FOUND, {})
            return None
        token = header[7:].strip()
        with self.lock:
            access = self.access_tokens.get(token)
        if access is None:
            g.auth_problem = ("INVALID_AUTHENTICATION", AUTH_NOT_FOUND, {})
            return None
        if access.expires_at <= time.time():
            ago = int(time.time() - access.expires_at)
            g.auth_problem = (
                "EXPIRED_AUTHENTICATION",
                f"The OAuth token used to make this call expired {ago} second(s) ago.",
                {"context": {"expire time": [iso(access.expires_at)]}},
            )
            return None
        g.portal_id = access.portal_id
        return token

    def rate_limit(self, credential: str) -> Response | None:
        portal_id = g.portal_id
        wait, remaining = self.limiter.take(str(portal_id))
        g.rate_remaining = remaining
        if wait:
            return self.error_response(429, "rate limit")
        if request.method == "POST" and request.path.endswith("/search"):
            wait, _ = self.search_limiter.take(str(portal_id))
            if wait:
                return self.error_response(429, "search rate limit", policyName="SECONDLY")
        return None

    def spec_violation_response(self, problems: list[SpecProblem]) -> Response:
        # The specs' Error schema: VALIDATION_ERROR with one ErrorDetail per field.
        return self.error_response(
            400,
            f"Invalid input: {'; '.join(map(str, problems))}",
            errors=[
                {"message": p.message, "in": p.field or p.location, "code": "INVALID_INPUT"}
                for p in problems
            ],
        )

    def error_response(self, status: int, message: str, **extra: Any) -> Response:
        """HubSpot's error body: the spec's Error schema plus `status: "error"`."""
        body: dict[str, Any] = {"status": "error", "message": message}
        category = {
            400: "VALIDATION_ERROR",
            401: "INVALID_AUTHENTICATION",
            403: "MISSING_SCOPES",
            404: "OBJECT_NOT_FOUND",
            409: "CONFLICT",
            429: "RATE_LIMITS",
        }.get(status, "INTERNAL_ERROR")  # 5xx categories are not documented; a guess
        if status == 401 and message == "Unauthorized":  # the base pipeline's words: say why
            category, body["message"], more = g.get(
                "auth_problem", ("INVALID_AUTHENTICATION", AUTH_NOT_FOUND, {})
            )
            extra.update(more)
        if status == 429:
            policy = extra.pop("policyName", "TEN_SECONDLY_ROLLING")
            # The live 429 body has errorType and policyName; `category` is required by the
            # spec's Error schema, so it is sent as well.
            body = {
                "status": "error",
                "message": f"You have reached your {policy.lower()} limit.",
                "errorType": "RATE_LIMIT",
                "policyName": policy,
            }
        body["correlationId"] = str(uuid.uuid4())
        body["category"] = extra.pop("category", category)
        for key in ("errors", "context", "links", "subCategory"):
            if key in extra:
                body[key] = extra[key]
        return self.json(body, status)

    def _rate_headers(self, response: Response) -> Response:
        remaining = g.get("rate_remaining")
        if remaining is not None:
            response.headers["X-HubSpot-RateLimit-Max"] = str(self.rate_limit_max)
            response.headers["X-HubSpot-RateLimit-Remaining"] = str(remaining)
            response.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = str(
                int(self.rate_limit_interval * 1000)
            )
        return response

    # -- inspection ------------------------------------------------------------------------

    def inspect(self) -> dict[str, list[dict[str, Any]]]:
        with self.lock:
            tables: dict[str, list[dict[str, Any]]] = {
                "portals": [
                    {"portalId": pid, "name": name, "private_app_token": next(
                        (t for t, p in self.configured_private_app_tokens.items() if p == pid), ""
                    )}
                    for pid, name in self.portals.items()
                ]
            }  # fmt: skip
            for object_type in OBJECT_TYPES:
                tables[object_type] = [
                    {
                        "portalId": pid,
                        "id": obj.id,
                        "archived": obj.archived,
                        **{k: v for k, v in obj.properties.items() if k not in SYSTEM_PROPERTIES},
                        "associations": {
                            to: list(self.associations.get((pid, object_type, obj.id, to), {}))
                            for to in OBJECT_TYPES
                            if self.associations.get((pid, object_type, obj.id, to))
                        },
                    }
                    for pid, kinds in self.objects.items()
                    for obj in kinds[object_type].values()
                ]
        deliveries = self.webhooks.snapshot()
        tables["webhook_deliveries"] = [
            {
                "delivery": d.id,
                "portalId": d.portal_id,
                "state": d.state,
                "events": len(d.events),
                "types": sorted({e["subscriptionType"] for e in d.events}),
                "objectIds": sorted({e["objectId"] for e in d.events}),
                "attempts": len(d.attempts),
                "last_status": d.attempts[-1].status if d.attempts else None,
            }
            for d in deliveries
        ]
        tables["webhook_attempts"] = [
            {
                "delivery": d.id,
                "attemptNumber": a.attempt_number,
                "at": iso(a.at),
                "status": a.status,
                "error": a.error,
                "duration_ms": a.duration_ms,
            }
            for d in deliveries
            for a in d.attempts
        ]
        return tables

    # -- routes ----------------------------------------------------------------------------

    def register_routes(self, app: Flask) -> None:
        app.after_request(self._rate_headers)
        app.register_error_handler(HubSpotValidationError, self._validation_error)
        rule = app.add_url_rule
        rule("/oauth/authorize", "oauth_authorize", self._authorize, methods=["GET"])
        rule("/oauth/authorize", "oauth_decide", self._decide, methods=["POST"])
        rule("/oauth/v1/token", "oauth_token", self._token, methods=["POST"])
        rule(
            "/oauth/v1/access-tokens/<token>",
            "oauth_access_token_info",
            self._access_token_info,
            methods=["GET"],
        )
        rule(
            "/oauth/v1/refresh-tokens/<token>",
            "oauth_refresh_token_info",
            self._refresh_token_info,
            methods=["GET"],
        )
        rule(
            "/oauth/v1/refresh-tokens/<token>",
            "oauth_refresh_token_delete",
            self._refresh_token_delete,
            methods=["DELETE"],
        )
        base = "/crm/v3/objects/<object_type>"
        rule(base, "crm_list", self._list, methods=["GET"])
        rule(base, "crm_create", self._create, methods=["POST"])
        rule(f"{base}/batch/read", "crm_batch_read", self._batch_read, methods=["POST"])
        rule(f"{base}/search", "crm_search", self._search, methods=["POST"])
        rule(f"{base}/<object_id>", "crm_get", self._get, methods=["GET"])
        rule(f"{base}/<object_id>", "crm_update", self._update, methods=["PATCH"])
        rule(f"{base}/<object_id>", "crm_archive", self._archive, methods=["DELETE"])
        rule(
            "/crm/v4/objects/<object_type>/<object_id>/associations/<to_type>",
            "associations_list",
            self._associations_list,
            methods=["GET"],
        )
        rule(
            "/crm/v4/associations/<object_type>/<to_type>/batch/read",
            "associations_batch_read",
            self._associations_batch_read,
            methods=["POST"],
        )
        rule("/crm/v3/pipelines/<object_type>", "pipelines", self._pipelines)
        rule("/crm/v3/pipelines/<object_type>/<pipeline_id>", "pipeline", self._pipeline_get)
        rule(
            "/crm/v3/pipelines/<object_type>/<pipeline_id>/stages",
            "pipeline_stages",
            self._stages,
        )
        rule(
            "/crm/v3/pipelines/<object_type>/<pipeline_id>/stages/<stage_id>",
            "pipeline_stage",
            self._stage,
        )
        properties = "/crm/v3/properties/<object_type>"
        rule(properties, "properties_list", self._properties_list, methods=["GET"])
        rule(properties, "properties_create", self._property_create, methods=["POST"])
        rule(f"{properties}/batch/read", "properties_batch_read", self._properties_batch_read,
             methods=["POST"])  # fmt: skip
        rule(f"{properties}/groups", "property_groups", self._property_groups, methods=["GET"])
        rule(f"{properties}/groups", "property_group_create", self._property_group_create,
             methods=["POST"])  # fmt: skip
        rule(f"{properties}/<name>", "property_get", self._property_get, methods=["GET"])
        rule(
            "/_sandbox/webhooks",
            "sandbox_webhooks",
            self._webhook_settings,
            methods=["GET", "POST"],
        )
        account_info.register(self, app)
        rule("/_sandbox/board", "sandbox_board", self._board, methods=["GET"])
        rule("/_sandbox/board/deals", "sandbox_board_create", self._board_create, methods=["POST"])
        rule("/_sandbox/board/move", "sandbox_board_move", self._board_move, methods=["POST"])

    def _validation_error(self, exc: HubSpotValidationError) -> Response:
        return self.error_response(exc.status, exc.message, **exc.extra)

    # -- OAuth -----------------------------------------------------------------------------

    def _authorize(self) -> Response:
        params = dict(request.args.items())
        problem = self._authorize_problem(params)
        if problem:
            return Response(pages.error_page(problem), 400, mimetype="text/html")
        page = pages.consent_page(
            app_name=self.app_name,
            portals=self.portals,
            params=params,
            scopes=params["scope"].split(),
        )
        return Response(page, mimetype="text/html")

    def _authorize_problem(self, params: Mapping[str, str]) -> str:
        if params.get("client_id") != self.client_id:
            return "Unknown client_id."
        redirect_uri = params.get("redirect_uri", "")
        if not redirect_uri or (self.redirect_uris and redirect_uri not in self.redirect_uris):
            return "The redirect_uri does not match the app's redirect URLs."
        if not params.get("scope", "").split():
            return "The scope parameter is required."
        method = params.get("code_challenge_method")
        if params.get("code_challenge") and method not in (None, "S256"):
            return "Only code_challenge_method=S256 is supported."
        return ""

    def _decide(self) -> Response:
        form = request.form
        problem = self._authorize_problem(form)
        if problem:
            return Response(pages.error_page(problem), 400, mimetype="text/html")
        redirect_uri = form["redirect_uri"]
        answer: dict[str, str] = {}
        if form.get("decision") == "approve" and int(form.get("portal_id", 0)) in self.portals:
            code = str(uuid.uuid4())
            with self.lock:
                self.codes[code] = AuthorizationCode(
                    code,
                    int(form["portal_id"]),
                    redirect_uri,
                    form["scope"].split(),
                    form.get("code_challenge", ""),
                    time.time() + 600,
                )
            answer["code"] = code
        else:
            answer["error"] = "access_denied"
        if "state" in form:
            answer["state"] = form["state"]
        separator = "&" if "?" in redirect_uri else "?"
        return redirect(redirect_uri + separator + urlencode(answer), 302)  # type: ignore[return-value]

    def _oauth_error(self, status: str, message: str, http_status: int = 400) -> Response:
        # The token endpoint answers with its own `status` codes (BAD_AUTH_CODE, ...);
        # `category` is added because the spec's Error schema requires it.
        return self.json(
            {
                "status": status,
                "message": message,
                "correlationId": str(uuid.uuid4()),
                "category": "VALIDATION_ERROR" if http_status == 400 else "OBJECT_NOT_FOUND",
            },
            http_status,
        )

    def _token(self) -> Response:
        form = request.form
        grant_type = form.get("grant_type", "")
        if grant_type not in ("authorization_code", "refresh_token"):
            return self._oauth_error("BAD_GRANT_TYPE", "missing or unsupported grant_type")
        if form.get("client_id") != self.client_id:
            return self._oauth_error("BAD_CLIENT_ID", "missing or unknown client id")
        if form.get("client_secret") != self.client_secret:
            return self._oauth_error("BAD_CLIENT_SECRET", "missing or invalid client secret")
        now = time.time()
        with self.lock:
            if grant_type == "authorization_code":
                code = self.codes.pop(form.get("code", ""), None)
                if code is None or code.expires_at < now:
                    return self._oauth_error("BAD_AUTH_CODE", "missing or unknown auth code")
                if form.get("redirect_uri") != code.redirect_uri:
                    return self._oauth_error(
                        "BAD_REDIRECT_URI", "redirect URI does not match initial auth code URL"
                    )
                if code.code_challenge:
                    verifier = form.get("code_verifier", "").encode()
                    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest())
                    if expected.rstrip(b"=").decode() != code.code_challenge:
                        return self._oauth_error("BAD_AUTH_CODE", "code_verifier does not match")
                refresh = RefreshToken(
                    str(uuid.uuid4()),
                    code.portal_id,
                    code.scopes,
                    self.user,
                    self.user_id,
                    self.client_id,
                )
                self.refresh_tokens[refresh.token] = refresh
            else:
                found = self.refresh_tokens.get(form.get("refresh_token", ""))
                if found is None:
                    return self._oauth_error(
                        "BAD_REFRESH_TOKEN", "missing or unknown refresh token"
                    )
                refresh = found
        access = self.issue_token(refresh.portal_id, scopes=refresh.scopes)
        # HubSpot keeps the refresh token: the same one comes back on every refresh.
        return self.json(
            {
                "token_type": "bearer",
                "refresh_token": refresh.token,
                "access_token": access,
                "expires_in": int(self.access_token_lifetime),
                "token_use": "access_token",
                "hub_id": refresh.portal_id,
                "user_id": refresh.user_id,
                "scopes": refresh.scopes,
            }
        )

    def _access_token_info(self, token: str) -> Response:
        with self.lock:
            access = self.access_tokens.get(token)
        if access is None or access.private_app or access.expires_at <= time.time():
            return self._oauth_error("NOT_FOUND", "Token not found", 404)
        return self.json(
            {
                "token": token,
                "user": access.user,
                "hub_domain": self._hub_domain(access.portal_id),
                "scopes": access.scopes,
                "hub_id": access.portal_id,
                "app_id": self.app_id,
                "expires_in": int(access.expires_at - time.time()),
                "user_id": access.user_id,
                "token_type": "access",
            }
        )

    def _refresh_token_info(self, token: str) -> Response:
        with self.lock:
            refresh = self.refresh_tokens.get(token)
        if refresh is None:
            return self._oauth_error("NOT_FOUND", "Token not found", 404)
        return self.json(
            {
                "token": token,
                "user": refresh.user,
                "hub_domain": self._hub_domain(refresh.portal_id),
                "scopes": refresh.scopes,
                "hub_id": refresh.portal_id,
                "client_id": refresh.client_id,
                "user_id": refresh.user_id,
                "token_type": "refresh",
            }
        )

    def _refresh_token_delete(self, token: str) -> Response:
        with self.lock:
            if self.refresh_tokens.pop(token, None) is None:
                return self._oauth_error("NOT_FOUND", "Token not found", 404)
        return Response(status=204)

    def _hub_domain(self, portal_id: int) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.portals[portal_id].lower()).strip("-")
        return f"{slug}.example"

    # -- CRM objects -----------------------------------------------------------------------

    def _object_type(self, name: str) -> str:
        object_type = TYPE_ALIASES.get(name)
        if object_type is None:
            raise HubSpotValidationError(f"Unable to infer object type from: {name}")
        return object_type

    @staticmethod
    def _body() -> dict[str, Any]:
        # The spec step has refused a body that is not the operation's object or lacks its
        # required fields; a lenient sandbox (require_spec_fields=False) reads what it got.
        body = request.get_json(silent=True)
        return body if isinstance(body, dict) else {}

    def _find(self, object_type: str, object_id: str, id_property: str = "") -> CrmObject:
        portal_id = g.portal_id
        with self.lock:
            pool = self.objects[portal_id][object_type]
            if id_property and id_property != "hs_object_id":
                wanted = object_id.lower() if id_property == "email" else object_id
                found = next(
                    (
                        o
                        for o in pool.values()
                        if not o.archived
                        and (o.properties.get(id_property, "").lower()
                             if id_property == "email" else o.properties.get(id_property))
                        == wanted
                    ),
                    None,
                )  # fmt: skip
            else:
                found = pool.get(object_id)
        if found is None:
            raise HubSpotValidationError("resource not found", 404)
        return found

    def _render(
        self,
        obj: CrmObject,
        properties: list[str] | None,
        *,
        history: Iterable[str] = (),
        associations: Iterable[str] = (),
    ) -> dict[str, Any]:
        names = (
            list(DEFAULT_PROPERTIES[obj.object_type])
            if not properties
            else [*properties, "hs_object_id", "createdate",
                  "lastmodifieddate" if obj.object_type == "contacts" else "hs_lastmodifieddate"]
        )  # fmt: skip
        # Live HubSpot answers a requested but empty property as null; the spec's schema only
        # allows strings, so an empty property is left out here.
        rendered: dict[str, Any] = {
            "id": obj.id,
            "properties": {n: obj.properties[n] for n in names if n in obj.properties},
            "createdAt": iso(obj.created_at),
            "updatedAt": iso(obj.updated_at),
            "archived": obj.archived,
        }
        if obj.archived_at is not None:
            rendered["archivedAt"] = iso(obj.archived_at)
        wanted_history = [n for n in history if n in obj.history]
        if wanted_history:
            rendered["propertiesWithHistory"] = {n: obj.history[n] for n in wanted_history}
        linked = {}
        for name in associations:
            to_type = TYPE_ALIASES.get(name)
            if to_type is None:
                continue  # the spec: unknown associations "will be ignored"
            with self.lock:
                targets = self.associations.get((g.portal_id, obj.object_type, obj.id, to_type), {})
                results = [
                    {"id": to_id, "type": TYPE_NAMES[type_id]}
                    for to_id, type_ids in targets.items()
                    for type_id in type_ids
                ]
            if results:
                linked[to_type] = {"results": results}
        if linked:
            rendered["associations"] = linked
        return rendered

    @staticmethod
    def _list_arg(name: str) -> list[str]:
        return [item for value in request.args.getlist(name) for item in value.split(",") if item]

    def _list(self, object_type: str) -> Response:
        object_type = self._object_type(object_type)
        limit = self._int_arg("limit", 10, 100)
        after = request.args.get("after", "")
        archived = request.args.get("archived", "false") == "true"
        with self.lock:
            pool = [
                o
                for o in self.objects[g.portal_id][object_type].values()
                if o.archived == archived and (not after or int(o.id) > int(after))
            ]
        page = sorted(pool, key=lambda o: int(o.id))[:limit]
        body: dict[str, Any] = {
            "results": [
                self._render(
                    o,
                    self._list_arg("properties"),
                    history=self._list_arg("propertiesWithHistory"),
                    associations=self._list_arg("associations"),
                )
                for o in page
            ]
        }
        if len(pool) > limit:
            next_after = page[-1].id
            body["paging"] = {"next": {"after": next_after, "link": f"?after={next_after}"}}
        return self.json(body)

    def _int_arg(self, name: str, default: int, maximum: int) -> int:
        raw = request.args.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError as exc:
            raise HubSpotValidationError(f"Unable to parse {name}: {raw}") from exc
        if not 0 < value <= maximum:
            raise HubSpotValidationError(f"{name} must be between 1 and {maximum}")
        return value

    def _get(self, object_type: str, object_id: str) -> Response:
        object_type = self._object_type(object_type)
        obj = self._find(object_type, object_id, request.args.get("idProperty", ""))
        archived = request.args.get("archived", "false") == "true"
        if obj.archived != archived:
            raise HubSpotValidationError("resource not found", 404)
        return self.json(
            self._render(
                obj,
                self._list_arg("properties"),
                history=self._list_arg("propertiesWithHistory"),
                associations=self._list_arg("associations"),
            )
        )

    def _validated_properties(
        self, object_type: str, raw: Any, existing: CrmObject | None = None
    ) -> dict[str, str]:
        properties = {k: v if isinstance(v, str) else _stringify(v) for k, v in raw.items()}
        problems = []
        for name, value in properties.items():
            if name not in self._property_names(g.portal_id, object_type):
                problems.append((name, value, "PROPERTY_DOESNT_EXIST",
                                 f'Property "{name}" does not exist'))  # fmt: skip
            elif name == "email" and value and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
                problems.append((name, value, "INVALID_EMAIL", f"Email address {value} is invalid"))
        if object_type == "deals":
            problems += self._deal_stage_problems(properties, existing)
        if problems:
            detail = json.dumps(
                [
                    {"isValid": False, "message": message, "error": code, "name": name}
                    for name, _, code, message in problems
                ],
                separators=(",", ":"),
            )
            raise HubSpotValidationError(
                f"Property values were not valid: {detail}",
                errors=[
                    {"message": message, "code": code, "context": {"propertyName": [name]}}
                    for name, _, code, message in problems
                ],
            )
        return properties

    def _deal_stage_problems(
        self, properties: Mapping[str, str], existing: CrmObject | None
    ) -> list[tuple[str, str, str, str]]:
        current = existing.properties if existing else {}
        pipeline_id = properties.get("pipeline") or current.get("pipeline") or "default"
        pipeline = self._pipeline(g.portal_id, pipeline_id)
        if pipeline is None:
            return [("pipeline", pipeline_id, "INVALID_OPTION",
                     f"{pipeline_id} was not one of the allowed options")]  # fmt: skip
        stage = properties.get("dealstage")
        stage_ids = [s["id"] for s in pipeline["stages"]]
        if stage is not None and stage not in stage_ids:
            allowed = ", ".join(stage_ids)
            return [("dealstage", stage, "INVALID_OPTION",
                     f"{stage} was not one of the allowed options: [{allowed}]")]  # fmt: skip
        return []

    def _create(self, object_type: str) -> Response:
        object_type = self._object_type(object_type)
        body = self._body()
        properties = self._validated_properties(object_type, body.get("properties") or {})
        links = self._validated_associations(object_type, body.get("associations") or [])
        if object_type == "contacts" and properties.get("email"):
            with self.lock:
                duplicate = next(
                    (
                        o
                        for o in self.objects[g.portal_id]["contacts"].values()
                        if not o.archived
                        and o.properties.get("email", "").lower() == properties["email"].lower()
                    ),
                    None,
                )
            if duplicate is not None:
                raise HubSpotValidationError(
                    f"Contact already exists. Existing ID: {duplicate.id}", 409
                )
        obj = self.create_object(g.portal_id, object_type, properties, "INTEGRATION")
        for to_type, to_id, type_id in links:
            self.associate(
                g.portal_id,
                object_type,
                obj.id,
                to_type,
                to_id,
                primary=type_id in PRIMARY_TYPE_IDS,
                change_source="INTEGRATION",
            )
        self.after_commit()
        return self.json(self._render(obj, None), 201)

    def _validated_associations(self, object_type: str, raw: Any) -> list[tuple[str, str, int]]:
        links = []
        for item in raw:  # the spec step has checked to.id and each type's fields
            to_id = str(item["to"]["id"])
            for category, type_id in (
                (t["associationCategory"], int(t["associationTypeId"])) for t in item["types"]
            ):
                # Which type ids join which objects is HubSpot's association type table
                # (developers.hubspot.com/docs/api/crm/associations), not the spec's.
                pair = PAIR_OF_TYPE_ID.get(type_id)
                if category != "HUBSPOT_DEFINED" or pair is None or pair[0] != object_type:
                    raise HubSpotValidationError(
                        f"{category} {type_id} is not a valid association type between "
                        f"{object_type} and the target object"
                    )
                with self.lock:
                    exists = to_id in self.objects[g.portal_id][pair[1]]
                if not exists:
                    raise HubSpotValidationError(
                        f"One or more associations are invalid: {pair[1]} {to_id} does not exist"
                    )
                links.append((pair[1], to_id, type_id))
        return links

    def _update(self, object_type: str, object_id: str) -> Response:
        object_type = self._object_type(object_type)
        obj = self._find(object_type, object_id, request.args.get("idProperty", ""))
        if obj.archived:
            raise HubSpotValidationError("resource not found", 404)
        body = self._body()
        properties = self._validated_properties(object_type, body.get("properties") or {}, obj)
        self.update_object(g.portal_id, object_type, obj.id, properties, "INTEGRATION")
        return self.json(self._render(obj, None))

    def _archive(self, object_type: str, object_id: str) -> Response:
        object_type = self._object_type(object_type)
        obj = self._find(object_type, object_id)
        if not obj.archived:
            self.archive_object(g.portal_id, object_type, obj.id, "INTEGRATION")
        return Response(status=204)

    def _batch_read(self, object_type: str) -> Response:
        object_type = self._object_type(object_type)
        started = time.time()
        body = self._body()
        inputs = body.get("inputs") or []
        # HubSpot's batch limit (100 inputs) is in its usage guidelines, not in the spec.
        if len(inputs) > self.batch_limit:
            raise HubSpotValidationError(
                f"Batch input must be an array of at most {self.batch_limit} inputs"
            )
        archived = request.args.get("archived", "false") == "true"
        results, missing = [], []
        for item in inputs:
            object_id = str(item.get("id", "")) if isinstance(item, dict) else ""
            try:
                obj = self._find(object_type, object_id, body.get("idProperty", ""))
            except HubSpotValidationError:
                missing.append(object_id)
                continue
            if obj.archived != archived:
                missing.append(object_id)
                continue
            results.append(
                self._render(
                    obj,
                    list(body.get("properties") or []),
                    history=body.get("propertiesWithHistory") or [],
                )
            )
        answer: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": iso(started),
            "completedAt": iso(time.time()),
        }
        if not missing:
            return self.json(answer)
        answer["numErrors"] = 1
        answer["errors"] = [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": f"Could not get some {SINGULAR[object_type].upper()} objects, they may "
                "be deleted or not exist. Check that ids are valid.",
                "context": {"ids": missing},
                "errors": [],
                "links": {},
            }
        ]
        return self.json(answer, 207)

    def _search(self, object_type: str) -> Response:
        object_type = self._object_type(object_type)
        body = self._body()
        groups = body.get("filterGroups") or []
        # "Up to 6 groups" and "up to 200 objects" are prose in the spec's descriptions; the
        # spec step has checked each filter's propertyName and operator.
        if len(groups) > 6:
            raise HubSpotValidationError("filterGroups: at most 6 groups are allowed")
        limit = body.get("limit", 10)
        if not 0 <= limit <= self.search_page_limit:
            raise HubSpotValidationError(f"limit must be at most {self.search_page_limit}")
        offset = int(body.get("after") or 0)
        query = str(body.get("query") or "").lower()
        with self.lock:
            pool = [o for o in self.objects[g.portal_id][object_type].values() if not o.archived]
        hits = [
            o
            for o in pool
            if (not groups or any(_matches_group(o, group) for group in groups))
            and (not query or any(query in v.lower() for v in o.properties.values()))
        ]
        hits.sort(key=lambda o: int(o.id))
        for sort in reversed(body.get("sorts") or []):
            # The spec types a sort as a string ("-createdate" = descending); the live API
            # documents {"propertyName", "direction"}. Both are understood.
            if isinstance(sort, dict):
                name = str(sort.get("propertyName", ""))
                descending = sort.get("direction") == "DESCENDING"
            else:
                name, descending = str(sort).lstrip("-"), str(sort).startswith("-")
            hits.sort(key=_by_property(name), reverse=descending)
        page = hits[offset : offset + limit]
        answer: dict[str, Any] = {
            "total": len(hits),
            "results": [self._render(o, list(body.get("properties") or [])) for o in page],
        }
        if offset + limit < len(hits):
            answer["paging"] = {"next": {"after": str(offset + limit)}}
        return self.json(answer)

    # -- associations v4 -----------------------------------------------------------------

    def _labelled(self, to_id: str, type_ids: list[int]) -> dict[str, Any]:
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
        from_type, target = self._object_type(object_type), self._object_type(to_type)
        limit = self._int_arg("limit", 500, 500)
        after = int(request.args.get("after") or 0)
        with self.lock:
            targets = dict(self.associations.get((g.portal_id, from_type, object_id, target), {}))
        items = [(i, t) for i, t in targets.items() if t]
        body: dict[str, Any] = {
            "results": [self._labelled(i, t) for i, t in items[after : after + limit]]
        }
        if after + limit < len(items):
            body["paging"] = {"next": {"after": str(after + limit)}}
        return self.json(body)

    def _associations_batch_read(self, object_type: str, to_type: str) -> Response:
        from_type, target = self._object_type(object_type), self._object_type(to_type)
        started = time.time()
        body = self._body()
        inputs = body.get("inputs") or []
        # The 1,000-id limit is in HubSpot's associations v4 guide, not in the spec.
        if len(inputs) > 1000:
            raise HubSpotValidationError("inputs must be an array of at most 1000 ids")
        results, errors = [], []
        for item in inputs:
            object_id = str((item or {}).get("id", ""))
            with self.lock:
                targets = self.associations.get((g.portal_id, from_type, object_id, target), {})
                linked = [self._labelled(i, t) for i, t in targets.items() if t]
            if linked:
                results.append({"from": {"id": object_id}, "to": linked})
            else:
                errors.append(
                    {
                        "status": "error",
                        "category": "OBJECT_NOT_FOUND",
                        "message": f"No {SINGULAR[target]} is associated with "
                        f"{SINGULAR[from_type]} {object_id}.",
                        "context": {"fromObjectId": [object_id]},
                        "errors": [],
                        "links": {},
                    }
                )
        answer: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": iso(started),
            "completedAt": iso(time.time()),
        }
        if errors:
            answer["numErrors"] = len(errors)
            answer["errors"] = errors
            return self.json(answer, 207)
        return self.json(answer)

    # -- pipelines -------------------------------------------------------------------------

    def _deal_pipelines(self, object_type: str) -> list[dict[str, Any]]:
        if self._object_type(object_type) != "deals":
            return []  # only deal pipelines are modelled
        return self.pipelines[g.portal_id]

    def _pipelines(self, object_type: str) -> Response:
        return self.json({"results": self._deal_pipelines(object_type)})

    def _pipeline_or_404(self, object_type: str, pipeline_id: str) -> dict[str, Any]:
        pipeline = next(
            (p for p in self._deal_pipelines(object_type) if p["id"] == pipeline_id), None
        )
        if pipeline is None:
            raise HubSpotValidationError(f"Unable to find pipeline {pipeline_id}", 404)
        return pipeline

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

    def _property_names(self, portal_id: int, object_type: str) -> set[str]:
        with self.lock:
            custom = set(self.custom_properties.get((portal_id, object_type), {}))
        return self.known_properties[object_type] | SYSTEM_PROPERTIES | custom

    def _property_definitions(self, object_type: str) -> dict[str, dict[str, Any]]:
        """HubSpot's own properties (described loosely: a text field each) and the custom ones."""
        defined = {
            name: _definition(
                name=name,
                label=name,
                group=DEFAULT_GROUPS[object_type],
                hubspot_defined=True,
                calculated=name in SYSTEM_PROPERTIES,
                created_at=iso(0),
            )
            for name in sorted(self.known_properties[object_type] | SYSTEM_PROPERTIES)
        }
        with self.lock:
            defined.update(self.custom_properties.get((g.portal_id, object_type), {}))
        return defined

    def _properties_list(self, object_type: str) -> Response:
        definitions = self._property_definitions(self._object_type(object_type))
        return self.json({"results": list(definitions.values())})

    def _property_get(self, object_type: str, name: str) -> Response:
        definition = self._property_definitions(self._object_type(object_type)).get(name)
        if definition is None:
            raise HubSpotValidationError(f"Unable to find property {name}", 404)
        return self.json(definition)

    def _properties_batch_read(self, object_type: str) -> Response:
        object_type = self._object_type(object_type)
        started = time.time()
        body = self._body()
        definitions = self._property_definitions(object_type)
        names = [str((item or {}).get("name", "")) for item in body.get("inputs") or []]
        answer: dict[str, Any] = {
            "status": "COMPLETE",
            "results": [definitions[n] for n in names if n in definitions],
            "startedAt": iso(started),
            "completedAt": iso(time.time()),
        }
        missing = [n for n in names if n not in definitions]
        if not missing:
            return self.json(answer)
        answer["numErrors"] = len(missing)
        answer["errors"] = [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": f"Unable to find property {name}",
                "context": {"properties": [name]},
                "errors": [],
                "links": {},
            }
            for name in missing
        ]
        return self.json(answer, 207)

    def _property_create(self, object_type: str) -> Response:
        object_type = self._object_type(object_type)
        body = self._body()
        name = str(body["name"])
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise HubSpotValidationError(
                f"Property name {name} is invalid: use lower case letters, digits and _"
            )
        key = (g.portal_id, object_type)
        with self.lock:
            if name in self._property_names(g.portal_id, object_type):
                raise HubSpotValidationError(
                    f"Property named '{name}' already exists.",
                    409,
                    category="OBJECT_ALREADY_EXISTS",
                )
            if body["groupName"] not in self.property_groups.get(key, {}):
                raise HubSpotValidationError(f"group {body['groupName']} does not exist")
            definition = _definition(
                name=name,
                label=str(body["label"]),
                group=str(body["groupName"]),
                hubspot_defined=False,
                calculated=False,
                created_at=iso(time.time()),
                description=str(body.get("description", "")),
                type=str(body["type"]),
                fieldType=str(body["fieldType"]),
                options=list(body.get("options") or []),
                displayOrder=int(body.get("displayOrder", -1)),
                hidden=bool(body.get("hidden", False)),
                formField=bool(body.get("formField", False)),
                hasUniqueValue=bool(body.get("hasUniqueValue", False)),
            )
            self.custom_properties.setdefault(key, {})[name] = definition
        return self.json(definition, 201)

    def _property_groups(self, object_type: str) -> Response:
        key = (g.portal_id, self._object_type(object_type))
        with self.lock:
            return self.json({"results": list(self.property_groups.get(key, {}).values())})

    def _property_group_create(self, object_type: str) -> Response:
        key = (g.portal_id, self._object_type(object_type))
        body = self._body()
        name = str(body["name"])
        group = {
            "name": name,
            "label": str(body["label"]),
            "displayOrder": int(body.get("displayOrder", -1)),
            "archived": False,
        }
        with self.lock:
            groups = self.property_groups.setdefault(key, {})
            if name in groups:
                raise HubSpotValidationError(
                    f"A property group named '{name}' already exists.",
                    409,
                    category="OBJECT_ALREADY_EXISTS",
                )
            groups[name] = group
        return self.json(group, 201)

    # -- sandbox admin and board -----------------------------------------------------------

    def _webhook_settings(self) -> Response:
        if request.method == "POST":
            body = request.get_json(force=True, silent=True) or {}
            self.webhooks.configure(
                target_url=body.get("target_url"), subscriptions=body.get("subscriptions")
            )
        settings = self.webhooks.settings()
        settings["deliveries"] = self.inspect()["webhook_deliveries"]
        return self.json(settings)

    def _board(self) -> Response:
        portal_id = int(request.args.get("portal") or next(iter(self.portals)))
        if portal_id not in self.portals:
            return Response("unknown portal", 404)
        pipeline_id = request.args.get("pipeline") or "default"
        if self._pipeline(portal_id, pipeline_id) is None:
            return Response("unknown pipeline", 404)
        with self.lock:
            deals = []
            for deal in self.objects[portal_id]["deals"].values():
                if deal.archived or deal.properties.get("pipeline") != pipeline_id:
                    continue
                companies = self.associations.get((portal_id, "deals", deal.id, "companies"), {})
                primary = next((c for c, t in companies.items() if 5 in t), None)
                name = (
                    self.objects[portal_id]["companies"][primary].properties.get("name", "")
                    if primary
                    else ""
                )
                deals.append({"id": deal.id, "properties": dict(deal.properties), "company": name})
        page = pages.board_page(
            portals=self.portals,
            portal_id=portal_id,
            pipelines=self.pipelines[portal_id],
            pipeline_id=pipeline_id,
            deals=deals,
        )
        return Response(page, mimetype="text/html")

    def _board_create(self) -> Response:
        form = request.form
        portal_id = int(form["portal"])
        pipeline_id = form.get("pipeline", "default")

        def filled(pairs: Mapping[str, str]) -> dict[str, str]:
            return {k: form.get(v, "").strip() for k, v in pairs.items() if form.get(v, "").strip()}

        company = filled({"name": "company_name", "domain": "company_domain",
                          "address": "company_address", "zip": "company_zip",
                          "city": "company_city", "country": "company_country"})  # fmt: skip
        contact = filled({"firstname": "contact_firstname", "lastname": "contact_lastname",
                          "email": "contact_email"})  # fmt: skip
        line_items = []
        for name, quantity, price, sku, discount in zip(
            form.getlist("li_name"),
            form.getlist("li_quantity"),
            form.getlist("li_price"),
            form.getlist("li_sku"),
            form.getlist("li_discount"),
            strict=False,
        ):
            if not name.strip():
                continue
            item = {"name": name.strip(), "quantity": quantity or "1", "price": price or "0"}
            if sku:
                item["hs_sku"] = sku
            if discount:
                item["hs_discount_percentage"] = discount
            line_items.append(item)
        self.seed_deal(
            portal_id,
            name=form.get("dealname") or "Deal",
            amount=form.get("amount") or None,
            pipeline=pipeline_id,
            stage=form.get("stage") or None,
            company=company or None,
            contact=contact or None,
            line_items=line_items,
        )
        return redirect(
            f"/_sandbox/board?{urlencode({'portal': portal_id, 'pipeline': pipeline_id})}", 303
        )  # type: ignore[return-value]

    def _board_move(self) -> Response:
        form = request.form
        portal_id = int(form["portal"])
        self.move_deal(portal_id, form["deal_id"], form["stage"])
        pipeline_id = form.get("pipeline", "default")
        return redirect(
            f"/_sandbox/board?{urlencode({'portal': portal_id, 'pipeline': pipeline_id})}", 303
        )  # type: ignore[return-value]


def _definition(
    *,
    name: str,
    label: str,
    group: str,
    hubspot_defined: bool,
    calculated: bool,
    created_at: str,
    **given: Any,
) -> dict[str, Any]:
    """A property in the spec's `Property` shape."""
    return {
        "name": name,
        "label": label,
        "description": "",
        "groupName": group,
        "type": "string",
        "fieldType": "text",
        "options": [],
        "displayOrder": -1,
        "calculated": calculated,
        "externalOptions": False,
        "hasUniqueValue": name == "hs_object_id",
        "hidden": False,
        "hubspotDefined": hubspot_defined,
        "formField": False,
        "archived": False,
        "createdAt": created_at,
        "updatedAt": created_at,
        "modificationMetadata": {
            "archivable": not hubspot_defined,
            "readOnlyDefinition": hubspot_defined,
            "readOnlyValue": calculated,
        },
        **given,
    }


def _stringify(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return "" if value is None else str(value)


def _sort_key(value: str | None) -> tuple[int, float, str]:
    if value is None:
        return (1, 0.0, "")
    try:
        return (0, float(value), "")
    except ValueError:
        return (0, 0.0, value.lower())


def _by_property(name: str) -> Callable[[CrmObject], tuple[int, float, str]]:
    def key(obj: CrmObject) -> tuple[int, float, str]:
        return _sort_key(obj.properties.get(name))

    return key


def _matches_group(obj: CrmObject, group: Mapping[str, Any]) -> bool:
    return all(_matches(obj, f) for f in group.get("filters") or [])


def _matches(obj: CrmObject, flt: Mapping[str, Any]) -> bool:
    operator = flt["operator"]
    actual = obj.properties.get(flt["propertyName"])
    if flt["propertyName"] == "hs_object_id":
        actual = obj.id
    if operator == "HAS_PROPERTY":
        return bool(actual)
    if operator == "NOT_HAS_PROPERTY":
        return not actual
    if actual is None:
        return operator in ("NEQ", "NOT_IN", "NOT_CONTAINS_TOKEN")
    value = str(flt.get("value", ""))
    values = [str(v).lower() for v in flt.get("values") or []]
    if operator == "EQ":
        return actual.lower() == value.lower()  # HubSpot compares strings case-insensitively
    if operator == "NEQ":
        return actual.lower() != value.lower()
    if operator == "IN":
        return actual.lower() in values
    if operator == "NOT_IN":
        return actual.lower() not in values
    if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        pattern = re.escape(value.lower()).replace(r"\*", ".*")
        found = any(re.fullmatch(pattern, token) for token in re.split(r"[\s@.,]+", actual.lower()))
        found = found or re.fullmatch(pattern, actual.lower()) is not None
        return found if operator == "CONTAINS_TOKEN" else not found
    left = _sort_key(actual)
    if operator == "BETWEEN":
        return _sort_key(value) <= left <= _sort_key(str(flt.get("highValue", "")))
    right = _sort_key(value)
    return {
        "GT": left > right,
        "GTE": left >= right,
        "LT": left < right,
        "LTE": left <= right,
    }[operator]
