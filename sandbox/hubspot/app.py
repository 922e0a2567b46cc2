"""HubSpot stand-in: OAuth, CRM v3 objects, v4 associations, deal pipelines, properties,
rate limits and webhooks, following the saved specs in vendor-specs/hubspot/prism-patched and
the fact sheet.

The parts live beside this module: `oauth` (the authorization server), `schema` (pipelines,
properties), `records` (objects on the store and every change to them), `objects` (their API
and search), `webhooks` (delivery) and `pages` (consent screen and deal board).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from flask import Flask, Request, Response, g, request

from connectors.hubspot.provider import PROVIDER
from sandbox.contract import ContractChecker, SpecProblem, SpecRequest
from sandbox.core import DropConnection, SlidingWindow, VendorSandbox
from sandbox.hubspot import account_info, catalog, pages
from sandbox.hubspot.catalog import OBJECT_TYPES, SYSTEM_PROPERTIES
from sandbox.hubspot.oauth import OAuthApp
from sandbox.hubspot.objects import CrmObjects
from sandbox.hubspot.webhooks import WebhookDispatcher
from sandbox.oauth_server import CONSENT_ENDPOINTS, OAUTH_ENDPOINTS
from sandbox.oauth_server import RefreshToken as RefreshToken
from sandbox.store import BadPaging

if TYPE_CHECKING:
    from sandbox.demo import DemoSetup

# HubSpot's error categories by status; those of 5xx answers are not documented (a guess).
CATEGORIES = {400: "VALIDATION_ERROR", 401: "INVALID_AUTHENTICATION", 403: "MISSING_SCOPES",
              404: "OBJECT_NOT_FOUND", 409: "CONFLICT", 429: "RATE_LIMITS"}  # fmt: skip
DEALS = "/crm/v3/objects/deals"


class _HubSpotContract(ContractChecker):
    """Checks `/crm/v3/objects/deals` as the spec's `/crm/v3/objects/0-3` (the live API serves
    both; the deals spec names only the type id)."""

    def spec_request(self, req: Request) -> SpecRequest:
        spec_request = super().spec_request(req)
        if req.path.startswith(DEALS):
            spec_request.path = "/crm/v3/objects/0-3" + req.path[len(DEALS) :]
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
                self.violations = [v for v in self.violations if not (
                    v.path == req.path and v.status == 204 and v.where == "response")]  # fmt: skip


class HubSpotSandbox(CrmObjects, OAuthApp):
    name = "hubspot"
    title = "HubSpot"
    spec_files = PROVIDER.spec_files
    spec_server_url = "https://api.hubapi.com"
    undocumented_endpoints = CONSENT_ENDPOINTS
    public_endpoints = OAUTH_ENDPOINTS | {"oauth_access_token"}

    @classmethod
    def for_demo(cls, demo: DemoSetup) -> VendorSandbox:
        client_id, client_secret = demo.oauth_client("hubspot")
        events = {"deal": "creation propertyChange",
                  "contact": "creation propertyChange deletion",
                  "company": "creation propertyChange deletion"}  # fmt: skip
        return cls(
            client_id=client_id,
            client_secret=client_secret,
            webhook_target_url=demo.url("/webhooks/hubspot"),
            webhook_subscriptions=[f"{k}.{e}" for k, v in events.items() for e in v.split()],
            webhook_retry_base_delay=5.0,
        )

    # Settings a test, benchmark or the demo may change by keyword, beside those of the
    # mixins (OAuth app and user, batch and search limits) and the webhook delivery's own
    # (`webhook_target_url`, `webhook_subscriptions`, `webhook_batch_window`, ...).
    rate_limit_max = 110  # calls per portal and interval: HubSpot's limit for public apps
    rate_limit_interval = 10.0
    search_rate_per_second = 5

    def __init__(
        self,
        *,
        contract: bool = False,
        public_url: str = "",
        portals: Mapping[int, str] | None = None,
        redirect_uris: Iterable[str] = (),
        require_spec_fields: bool = True,
        extra_properties: Mapping[str, Iterable[str]] | None = None,
        **settings: Any,
    ) -> None:
        self.portals = dict(portals or {4711: "Beispiel GmbH", 4712: "Demo AG"})
        # Portals whose company currency is not the default (account_info.DEFAULT_CURRENCY).
        self.company_currencies: dict[int, str] = {}
        self.redirect_uris = set(redirect_uris)  # empty: any redirect URI is accepted
        # A lenient stand-in (for tests of the contract check itself) lets requests the spec
        # refuses reach their handlers.
        self.refuse_off_spec = require_spec_fields
        self.known_properties = {t.name: set(t.known.split()) for t in OBJECT_TYPES.values()}
        for object_type, names in (extra_properties or {}).items():
            self.known_properties[object_type].update(names)
        webhook = {k[8:]: settings.pop(k) for k in list(settings) if k.startswith("webhook_")}
        for key, value in settings.items():
            if not hasattr(type(self), key):
                raise TypeError(f"HubSpotSandbox has no setting {key!r}")
            setattr(self, key, value)
        self.webhooks = WebhookDispatcher(
            app_id=self.app_id, client_secret=self.client_secret, **webhook
        )
        super().__init__(contract=contract, public_url=public_url)

    def spec_checker(self) -> ContractChecker:
        return _HubSpotContract(self.spec_files, self.spec_server_url)

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.limiter = SlidingWindow(limit=self.rate_limit_max, window=self.rate_limit_interval)
            self.search_limiter = SlidingWindow(limit=self.search_rate_per_second, window=1.0)
        self.webhooks.reset()

    def register_routes(self, app: Flask) -> None:
        app.after_request(self._rate_headers)
        self.oauth.register(app)
        app.register_error_handler(BadPaging, lambda exc: self.error_response(400, str(exc)))
        routes: list[catalog.Route] = [
            *self.object_routes(),
            *self.schema_routes(),
            *pages.board_routes(self),
            ("GET", "/account-info/v3/details", "account_info_details", self._account_info),
            ("GET", "/_sandbox/webhooks", "sandbox_webhooks", self._webhook_settings),
            ("POST", "/_sandbox/webhooks", "sandbox_webhooks_set", self._webhook_settings),
        ]
        for method, rule, endpoint, view in routes:
            app.add_url_rule(rule, endpoint, catalog.typed(view), methods=[method])

    def after_commit(self) -> None:
        # The contract check skips a request whose client got no answer.
        try:
            super().after_commit()
        except DropConnection:
            g.connection_dropped = True
            raise

    # -- the pipeline's hooks: limits and HubSpot's error format ---------------------------

    def rate_limit(self, credential: str) -> Response | None:
        portal = str(g.portal_id)
        wait, g.rate_remaining = self.limiter.take(portal)
        if wait:
            return self.error_response(429, "rate limit")
        searching = request.method == "POST" and request.path.endswith("/search")
        if searching and self.search_limiter.take(portal)[0]:
            return self.error_response(429, "search rate limit", policyName="SECONDLY")
        return None

    def spec_violation_response(self, problems: list[SpecProblem]) -> Response:
        # The specs' Error schema: VALIDATION_ERROR with one ErrorDetail per field.
        errors = [{"message": p.message, "in": p.field or p.location, "code": "INVALID_INPUT"}
                  for p in problems]  # fmt: skip
        return self.error_response(
            400, f"Invalid input: {'; '.join(map(str, problems))}", errors=errors
        )

    def error_response(self, status: int, message: str, **extra: Any) -> Response:
        """HubSpot's error body: the spec's Error schema plus `status: "error"`."""
        body: dict[str, Any] = {"status": "error", "message": message}
        category = CATEGORIES.get(status, "INTERNAL_ERROR")
        if status == 401 and message == "Unauthorized":  # the base pipeline's words: say why
            category, body["message"], more = g.auth_problem  # set by `credential_of`
            extra.update(more)
        if status == 429:
            policy = extra.pop("policyName", "TEN_SECONDLY_ROLLING")
            # The live 429 body has errorType and policyName; `category` is required by the
            # spec's Error schema, so it is sent as well.
            body = {"status": "error", "message": f"You have reached your {policy.lower()} limit.",
                    "errorType": "RATE_LIMIT", "policyName": policy}  # fmt: skip
        body["correlationId"] = str(uuid.uuid4())
        body["category"] = extra.pop("category", category)
        kept = ("errors", "context", "links", "subCategory")
        return self.json(body | {k: extra[k] for k in kept if k in extra}, status)

    def _rate_headers(self, response: Response) -> Response:
        remaining = g.get("rate_remaining")
        if remaining is not None:
            response.headers["X-HubSpot-RateLimit-Max"] = str(self.rate_limit_max)
            response.headers["X-HubSpot-RateLimit-Remaining"] = str(remaining)
            interval = str(int(self.rate_limit_interval * 1000))
            response.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = interval
        return response

    # -- inspection and webhook settings ---------------------------------------------------

    def inspect(self) -> dict[str, list[dict[str, Any]]]:
        portals = [{"portalId": pid, "name": name} for pid, name in self.portals.items()]
        tables: dict[str, list[dict[str, Any]]] = {"portals": portals}
        for kind in OBJECT_TYPES:
            tables[kind] = [
                {"portalId": int(owner), "id": record["id"], "archived": record["archived"],
                 **{k: v for k, v in record["properties"].items() if k not in SYSTEM_PROPERTIES},
                 "associations": {to: list(links) for to in OBJECT_TYPES
                                  if (links := self.linked(int(owner), kind, record["id"], to))}}
                for owner, record in self.store.everything(kind)
            ]  # fmt: skip
        return tables | self.webhooks.tables()

    def _account_info(self) -> Response:
        """The portal's details (account-info-v3.json), among them its company currency."""
        portal_id = int(g.portal_id)
        with self.lock:
            currency = self.company_currencies.get(portal_id, account_info.DEFAULT_CURRENCY)
        return self.json({
            "accountType": "STANDARD", "additionalCurrencies": [], "companyCurrency": currency,
            "dataHostingLocation": "eu1", "portalId": portal_id,
            "portalName": self.portals.get(portal_id, ""), "timeZone": "Europe/Berlin",
            "uiDomain": "app-eu1.hubspot.com", "utcOffset": "+01:00",
            "utcOffsetMilliseconds": 3600000,
        })  # fmt: skip

    def _webhook_settings(self) -> Response:
        if request.method == "POST":
            body = request.get_json(force=True, silent=True) or {}
            self.webhooks.configure(
                target_url=body.get("target_url"), subscriptions=body.get("subscriptions")
            )
        deliveries = self.webhooks.tables()["webhook_deliveries"]
        return self.json({**self.webhooks.settings(), "deliveries": deliveries})
