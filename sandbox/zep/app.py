"""Stand-in for ZEP's REST API (`next/api/v1`), spec `zep/zep-derived-openapi.yaml` and the
ZEP fact sheet in the vendor-specs README; the SOAP operations the product uses are served by
`sandbox/zep/soap.py` on the same instance.

Every ZEP customer has an instance, `https://www.zep-online.de/<instance>/`: its REST API is
under `<instance>/next/api/v1`, its SOAP endpoint at `<instance>/sync/soap.php`. A REST token
and a SOAP token belong to one instance and see only its records. Customers are keyed by their
customer number (which can be changed in ZEP's own interface: `renumber_customer`), projects by
an internal id. Served: customers (list, create, read, PATCH), a customer's contact persons
(list; written over SOAP), projects (list, create, read, PATCH), Laravel-style pages, and the
documented limit: 1,000 requests per 5 minutes, then every call is refused for 60 s.
"""

from __future__ import annotations

import itertools
import math
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Request, Response, abort, request

from sandbox.contract import ContractChecker, SpecProblem, SpecRequest
from sandbox.core import SlidingWindow, VendorSandbox
from sandbox.routes import Endpoint, Operation, serve_endpoints
from sandbox.store import BadPaging, Page, PageNumberPaging, Record, Resource, Store, equals
from sandbox.zep import soap

DEMO_INSTANCE = "demo"
DEMO_REST_TOKEN = "zep-sandbox-rest-token"  # noqa: S105 (a demo credential)
DEMO_SOAP_TOKEN = "zep-sandbox-soap-token"  # noqa: S105
REST_ROOT = "/next/api/v1"
# `/<instance>/next/api/v1/...` and `/<instance>/sync/soap.php`: the instance becomes the
# script root, so routes and the spec see the paths below it.
INSTANCE_PATH = re.compile(r"^/(?P<instance>[A-Za-z0-9_.-]+)(?P<rest>/(?:next/api/v1|sync)/.*)$")
# Laravel pages: `page` from 1, `limit` entries (default 15, at most 100).
PAGING = PageNumberPaging(default_size=15, max_size=100, first_page=1, size_param="limit")
BY_NUMBER = {"customer_number": equals("customer_number")}
STAMPS: dict[str, Any] = {"created_field": "created", "updated_field": "modified"}
RESOURCES = (
    # Keyed by the customer number, as the routes are; the internal id is a field.
    Resource("customers", id_field="customer_number", sort_field="id", filters=BY_NUMBER, **STAMPS),
    Resource("projects", ids="sequence", filters={"name": equals("name")}, **STAMPS),
)
SERVED: tuple[Operation, ...] = ("list", "create", "read", "update")
CUSTOMERS = Endpoint("customers", f"{REST_ROOT}/customers", PAGING, SERVED, "PATCH")
PROJECTS = Endpoint("projects", f"{REST_ROOT}/projects", PAGING, SERVED, "PATCH", "int")
# What only the detail of a customer shows, and what is kept for SOAP but never rendered.
DETAIL_ONLY = ("addresses", "managers", "categories", "dynamicAttributes", "priceTables")
INTERNAL = ("id", "contacts")
DATES = ("start_date", "end_date")  # stored as sent (Y-m-d), answered as date-times


def zep_time(at: float) -> str:
    """ZEP's timestamps: `2024-10-01T08:00:00.000000Z`."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ZepChecker(ContractChecker):
    """The spec's server URL names the instance: requests are validated with their whole path."""

    def spec_request(self, req: Request) -> SpecRequest:
        found = SpecRequest(req, self.server_url)
        found.path = req.script_root + req.path
        found.full_url_pattern = found.host_url + found.path
        return found


class ZepSandbox(VendorSandbox):
    name = "zep"
    title = "ZEP"
    spec_files = ("zep/zep-derived-openapi.yaml",)
    spec_server_url = "https://www.zep-online.de"
    demo_credential = DEMO_REST_TOKEN
    resources = RESOURCES
    # Described by the WSDL (`zep/zep-soap-v7-derived.wsdl`) and validated against it there.
    undocumented_endpoints = frozenset({"soap"})

    def __init__(
        self,
        *,
        instances: Mapping[str, tuple[str, str]] | None = None,
        limit: int = 1000,
        window_seconds: float = 300,
        block_seconds: float = 60,
        contract: bool = False,
        public_url: str = "",
    ) -> None:
        """`instances` maps each instance to its (REST token, SOAP token)."""
        self.instances = dict(instances or {DEMO_INSTANCE: (DEMO_REST_TOKEN, DEMO_SOAP_TOKEN)})
        self.limit, self.window_seconds, self.block_seconds = limit, window_seconds, block_seconds
        super().__init__(contract=contract, public_url=public_url)
        self.store = Store(RESOURCES, stamp=zep_time)
        self.app.wsgi_app = _InstancePaths(self.app.wsgi_app)  # type: ignore[method-assign]

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.window = SlidingWindow(limit=self.limit, window=self.window_seconds)
            self.blocked_until: dict[str, float] = {}
            self.customer_ids: dict[str, itertools.count[int]] = {}

    # -- the pipeline hooks ---------------------------------------------------------------

    def owner(self) -> str:
        return str(request.environ.get("zep.instance", ""))

    def credential_of(self, req: Request) -> str | None:
        instance = req.environ.get("zep.instance")
        if instance not in self.instances:
            return None
        if req.path.startswith("/sync/"):
            return str(instance)  # the SOAP token is in the envelope (soap.py checks it)
        scheme, _, token = req.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token.strip() != self.instances[instance][0]:
            return None
        return str(instance)

    def rate_limit(self, credential: str) -> Response | None:
        """Docs "Authentication": more than 1,000 requests in 5 minutes block the instance's
        calls for 60 s (REST and SOAP counted together: an assumption, the docs name REST)."""
        now = time.monotonic()
        with self.lock:
            blocked = self.blocked_until.get(credential, 0.0)
            if now >= blocked and self.window.take(credential)[0]:
                blocked = self.blocked_until[credential] = now + self.block_seconds
        if now < blocked:
            return self.error_response(429, "Too Many Attempts.", retry_after=blocked - now)
        return None

    def error_response(self, status: int, message: str, **extra: Any) -> Response:
        # Bodies follow Laravel's conventions (fact sheet "Errors": only 429 is documented;
        # its body and headers are not, Retry-After is Laravel's throttle header).
        body: dict[str, Any] = {"message": "Unauthenticated." if status == 401 else message}
        if status == 422:
            body["errors"] = extra.get("errors") or {}
        headers = {}
        if extra.get("retry_after") is not None:
            headers["Retry-After"] = str(max(1, math.ceil(round(float(extra["retry_after"]), 3))))
        return self.json(body, status, headers)

    def spec_checker(self) -> ContractChecker:
        return ZepChecker(self.spec_files, self.spec_server_url)

    def spec_violation_response(self, problems: list[SpecProblem]) -> Response:
        errors: dict[str, list[str]] = {}
        for problem in problems:
            errors.setdefault(problem.field or problem.location, []).append(problem.message)
        first = f"{problems[0]}"
        more = len(problems) - 1
        message = f"{first} (and {more} more error{'s' * (more > 1)})" if more else first
        return self.error_response(422, message, errors=errors)

    # -- the declared resources -----------------------------------------------------------

    def new_record(self, endpoint: Endpoint, body: Any) -> Record:
        record = dict(body or {})
        if endpoint.resource == "customers":
            if self.store.find("customers", self.owner(), record["customer_number"]):
                self._invalid("customer_number", "The customer number has already been taken.")
            with self.lock:
                ids = self.customer_ids.setdefault(self.owner(), itertools.count(501))
                record["id"] = next(ids)
            # "defaults to the base currency / the default department"
            record.setdefault("currency", "EUR")
            record.setdefault("department_id", 1)
            return {**record, "addresses": [], "contacts": []}
        self._check_project(record, None)
        return record

    def record_changes(self, endpoint: Endpoint, stored: Record, body: Any) -> Record:
        changes = dict(body or {})
        if endpoint.resource == "projects":
            self._check_project(changes, stored["id"])
        return changes

    def render(self, endpoint: Endpoint, record: Record) -> Any:
        if endpoint.resource == "projects":
            return {"data": _project(record)}
        if request.method == "GET":
            return {"data": _customer(record, detail=True)}
        # Fact sheet: the internal id is in the answer to a create only.
        created = request.method == "POST"
        return {"data": {**({"id": record["id"]} if created else {}), **_customer(record)}}

    def render_page(self, endpoint: Endpoint, page: Page) -> Response:
        view = _project if endpoint.resource == "projects" else _customer
        return self.json(self._laravel_page(page, [view(r) for r in page.items]))

    # -- routes -----------------------------------------------------------------------------

    def register_routes(self, app: Flask) -> None:
        app.register_error_handler(404, self._unknown_route)
        app.register_error_handler(405, self._unknown_route)
        serve_endpoints(app, self, (CUSTOMERS, PROJECTS))
        app.add_url_rule(f"{REST_ROOT}/customers/<number>/contacts", "contacts", self.contacts)
        app.add_url_rule("/sync/soap.php", "soap", self.soap, methods=["POST"])

    def contacts(self, number: str) -> Response:
        """Inferred route (spec): the contact persons SOAP wrote, under SOAP's field names, the
        only ones known (the REST names are not published)."""
        customer = self.store.find("customers", self.owner(), number)
        if customer is None:
            return self.error_response(404, "customers not found")
        try:
            page = PAGING.cut(customer["contacts"], request.args)
        except BadPaging as exc:
            return self.error_response(422, str(exc))
        return self.json(self._laravel_page(page, page.items))

    def soap(self) -> Response:
        return soap.answer(self, request.get_data())

    def renumber_customer(self, instance: str, number: str, new_number: str) -> None:
        """What a ZEP user does in the customer's master data: give it another number."""
        record = self.store.delete("customers", instance, number)
        self.store.create("customers", instance, {**record, "customer_number": new_number})

    # -- helpers ----------------------------------------------------------------------------

    def _unknown_route(self, _: Exception) -> Response:
        # Fact sheet "Product line": ZEP's answer to a route it does not serve.
        route = f"{request.environ.get('zep.instance', '')}{request.path}".lstrip("/")
        return self.error_response(404, f"The route {route} could not be found.")

    def _invalid(self, field: str, message: str) -> None:
        abort(self.error_response(422, message, errors={field: [message]}))

    def _check_project(self, record: Record, own_id: int | None) -> None:
        owner = self.owner()
        if "name" in record:
            same = self.store.select("projects", owner, params={"name": str(record["name"])})
            if any(p["id"] != own_id for p in same):
                self._invalid("name", "The name has already been taken.")
        customer_id = record.get("customer_id")
        if customer_id is not None and not self.store.select(
            "customers", owner, where=lambda c: c["id"] == customer_id
        ):
            self._invalid("customer_id", "The selected customer id is invalid.")

    def _laravel_page(self, page: Page, items: list[Any]) -> dict[str, Any]:
        base = f"{self.public_url or request.host_url.rstrip('/')}{request.script_root}"
        path = f"{base}{request.path}"
        last, number = max(1, page.total_pages), page.number
        link, pages = f"{path}?page={{}}".format, range(1, last + 1)
        return {
            "data": items,
            "links": {
                "first": link(1),
                "last": link(last),
                "prev": link(number - 1) if number > 1 else None,
                "next": link(number + 1) if number < last else None,
            },
            "meta": {
                "current_page": number,
                "from": page.offset + 1 if items else None,
                "last_page": last,
                "links": [{"url": link(n), "label": str(n), "active": n == number} for n in pages],
                "path": path,
                "per_page": page.limit,
                "to": page.offset + len(items) if items else None,
                "total": page.total,
            },
        }


def _customer(record: Record, *, detail: bool = False) -> Record:
    shown = {k: v for k, v in record.items() if k not in INTERNAL and k not in DETAIL_ONLY}
    shown["addresses_count"] = len(record.get("addresses", []))
    shown["contacts_count"] = len(record.get("contacts", []))
    shown.update(managers_count=0, categories_count=0, dynamicAttributes_count=0)
    if detail:
        shown.update(addresses=record.get("addresses", []), managers=[], priceTables=[])
    return shown


def _project(record: Record) -> Record:
    dates = {k: f"{record[k]}T00:00:00.000000Z" for k in DATES if record.get(k)}
    return {**record, **dates, "tasks_count": 0, "employees_count": 0}


class _InstancePaths:
    """WSGI middleware: `/<instance>/next/api/v1/x` is served as `/next/api/v1/x` with the
    instance in the environ and the script root."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        match = INSTANCE_PATH.match(environ.get("PATH_INFO", ""))
        if match:
            environ["zep.instance"] = match["instance"]
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + "/" + match["instance"]
            environ["PATH_INFO"] = match["rest"]
        return self.app(environ, start_response)
