"""sevDesk stand-in: contacts with addresses and e-mails, quotes and order confirmations
through `Order/Factory/saveOrder`, invoices through `Invoice/Factory/saveInvoice` or
`createInvoiceFromOrder`, the lists' update filters the product polls, and parts (articles).

Follows `sevdesk/sevdesk-openapi.patched.yaml` and the sevDesk fact sheet in
vendor-specs/README.md. Where the two differ from what sevDesk answers live, the code says so.
"""

from __future__ import annotations

import itertools
import math
import re
import secrets
from dataclasses import dataclass
from functools import partial
from typing import Any

from flask import Flask, Request, Response, g, request
from werkzeug.exceptions import HTTPException

from sandbox.contract import ContractChecker, SpecProblem
from sandbox.core import TokenBucket, VendorSandbox, records
from sandbox.routes import Endpoint, Operation, serve_endpoints
from sandbox.sevdesk import catalog, documents, master_data
from sandbox.sevdesk.master_data import reference_id
from sandbox.sevdesk.payloads import SevdeskChecker, SevdeskError, now, ref, reference
from sandbox.store import BadPaging, Filter, OffsetPaging, Page, Record, Resource, equals

API = "/api/v1"
# The demo account's token: public on purpose, the sandbox holds no real data.
DEMO_TOKEN = "0123456789abcdef0123456789abcdef"  # noqa: S105
# "limit must be between 1 and 1000" (official spec 2026-05); 100 when none is asked for.
PAGING = OffsetPaging(default_limit=100, max_limit=1000, min_limit=1)


def _document_filters(number_field: str, type_field: str) -> dict[str, Filter]:
    # The spec's startDate and endDate are not modelled: the product looks quotes up by
    # number. The type, origin and update filters are those of the spec's filter texts.
    return {
        "status": equals("status"),
        number_field: equals(number_field),
        "contact[id]": reference_id("contact"),
        "updateAfter": documents.updated_after,
        type_field: equals(type_field),
        "origin[id]": reference_id("origin"),
    }


# The sandbox gives the ids from one counter (`_stamped`): sevDesk's are unique across objects.
RESOURCES = (
    Resource("contacts", filters={"customerNumber": equals("customerNumber")}),
    # Not among the spec's parameters, but sevDesk filters every list by a reference.
    Resource("addresses", filters={"contact[id]": reference_id("contact")}),
    Resource(
        "communication_ways",
        filters={
            "contact[id]": reference_id("contact"),
            "type": equals("type"),
            "main": equals("main"),
        },
    ),
    Resource("orders", filters=_document_filters("orderNumber", "orderType")),
    Resource("order_positions", filters={"order[id]": reference_id("order")}),
    Resource("invoices", filters=_document_filters("invoiceNumber", "invoiceType")),
    Resource("invoice_positions", filters={"invoice[id]": reference_id("invoice")}),
    Resource("parts", filters=master_data.PART_FILTERS, sort_field="id"),
)
MASTER_DATA: tuple[Operation, ...] = ("list", "create", "read", "update")
FROM_ORDER = f"{API}/Invoice/Factory/createInvoiceFromOrder"
# Quotes and invoices are created with their positions by the factories (the last three),
# which answer in shapes of their own (`created_response`).
ENDPOINTS = (
    Endpoint("contacts", f"{API}/Contact", PAGING, MASTER_DATA, "PUT", "int"),
    Endpoint("addresses", f"{API}/ContactAddress", PAGING, operations=("list", "create")),
    Endpoint("communication_ways", f"{API}/CommunicationWay", PAGING, ("list", "create")),
    Endpoint("orders", f"{API}/Order", PAGING, ("list", "read"), id_converter="int"),
    Endpoint("invoices", f"{API}/Invoice", PAGING, ("list", "read"), id_converter="int"),
    Endpoint("parts", f"{API}/Part", PAGING, MASTER_DATA, "PUT", "int"),
    Endpoint("orders", f"{API}/Order/Factory/saveOrder", operations=("create",)),
    Endpoint("invoices", f"{API}/Invoice/Factory/saveInvoice", operations=("create",)),
    Endpoint("invoices", FROM_ORDER, operations=("create",), create_status=200),
    Endpoint(
        "order_positions",
        f"{API}/Order/<int:parent_id>/getPositions",
        PAGING,
        ("list",),
        parent=("orders", "order[id]"),
    ),
)
# The resource an `{id, objectName}` reference points into, for `embed` and the reads.
RESOURCE_OF = {"Contact": "contacts", "Order": "orders", "Invoice": "invoices", "Part": "parts"}
SYSTEM_LISTS = {
    "CommunicationWayKey": catalog.COMMUNICATION_WAY_KEYS,
    "Unity": catalog.UNITIES,
    "StaticCountry": catalog.STATIC_COUNTRIES,
}
DOCUMENT_COLUMNS = ("id", "status", "origin.id", "contact.id", "sumGross", "update")
# The inspection page: resource → (table, columns); a reference is shown by its id.
TABLES = {
    "contacts": (
        "contacts",
        ("id", "customerNumber", "name", "surename", "familyname", "parent.id", "category.id"),
    ),
    "addresses": ("addresses", ("id", "contact.id", "street", "zip", "city", "country.id")),
    "communication_ways": ("communication ways", ("id", "contact.id", "type", "value", "main")),
    "orders": ("orders (quotes, confirmations)", (*DOCUMENT_COLUMNS, "orderNumber", "orderType")),
    "invoices": ("invoices", (*DOCUMENT_COLUMNS, "invoiceNumber", "invoiceType", "paidAmount")),
    "parts": ("parts", ("id", "partNumber", "name", "priceNet", "taxRate", "status", "update")),
}


@dataclass
class Account:
    """One sevDesk client (`SevClient`) with its administrator's API token."""

    token: str
    company_name: str
    sev_client_id: int
    sev_user_id: int
    user_fullname: str


class SevdeskSandbox(VendorSandbox):
    name = "sevdesk"
    title = "sevDesk"
    spec_files = ("sevdesk/sevdesk-openapi.patched.yaml",)
    demo_credential = DEMO_TOKEN
    spec_server_url = "https://my.sevdesk.de/api/v1"
    resources = RESOURCES

    tables = TABLES
    contacts = records("contacts", int)
    addresses = records("addresses", int)
    communication_ways = records("communication_ways", int)
    orders = records("orders", int)
    order_positions = records("order_positions", int)
    invoices = records("invoices", int)
    invoice_positions = records("invoice_positions", int)
    parts = records("parts", int)

    def __init__(
        self,
        *,
        contract: bool = False,
        public_url: str = "",
        rate_per_second: float | None = None,
        rate_burst: int = 10,
        demo_token: str | None = DEMO_TOKEN,
    ) -> None:
        # sevDesk publishes no rate limit, so none applies unless a test asks for one.
        self.rate_per_second = rate_per_second
        self.rate_burst = rate_burst
        # Accounts are configuration, like the customer's sevDesk account itself: a reset
        # forgets what was created in them, not the accounts.
        self.accounts: dict[str, Account] = {}
        self._account_ids = itertools.count(77001)
        super().__init__(contract=contract, public_url=public_url)
        if demo_token:
            self.add_account(token=demo_token, company_name="Demo GmbH")
        self.app.register_error_handler(HTTPException, self._http_error)

    def add_account(
        self,
        *,
        token: str | None = None,
        company_name: str = "Muster GmbH",
        user_fullname: str = "Anna Buchhaltung",
    ) -> Account:
        token = token or secrets.token_hex(16)
        if not re.fullmatch(r"[0-9a-f]{32}", token):
            raise ValueError("a sevDesk API token is 32 hexadecimal characters")
        account = Account(
            token=token,
            company_name=company_name,
            sev_client_id=next(self._account_ids),
            sev_user_id=next(self._account_ids),
            user_fullname=user_fullname,
        )
        with self.lock:
            self.accounts[token] = account
        return account

    # -- VendorSandbox ----------------------------------------------------------------

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self._ids = itertools.count(100001)
            self._next_customer_number: dict[str, int] = {}
            self.token_bucket = (
                TokenBucket(rate=self.rate_per_second, capacity=self.rate_burst)
                if self.rate_per_second
                else None
            )

    def credential_of(self, req: Request) -> str | None:
        # The raw token is the whole header value; "Bearer <token>" is not accepted, and the
        # `?token=` query parameter was removed in 2025.
        token = req.headers.get("Authorization", "")
        with self.lock:
            return token if token in self.accounts else None

    def error_response(self, status: int, message: str, **extra: Any) -> Response:
        # The spec lists the error statuses without bodies; this is the body sevDesk sends.
        if status == 401:
            message = "Authentication required"  # the spec's wording for every 401
        retry_after = extra.get("retry_after")
        headers = {"Retry-After": str(math.ceil(retry_after))} if retry_after else {}
        body = {"error": {"message": message, "code": extra.get("code"), "data": None}}
        return self.json(body, status, headers)

    def spec_checker(self) -> ContractChecker:
        return SevdeskChecker(self.spec_files, self.spec_server_url, self.spec_hosts)

    def spec_violation_response(self, problems: list[SpecProblem]) -> Response:
        # The spec's answer to a malformed request is 400 (bodiless); the body is sevDesk's.
        return self.error_response(400, "; ".join(map(str, problems)), code=400)

    def owner_label(self, owner: str) -> str:
        companies = {str(a.sev_client_id): a.company_name for a in self.accounts.values()}
        return companies.get(owner, owner)

    # -- the hooks of the declared endpoints --------------------------------------------

    def owner(self) -> str:
        return str(self._account().sev_client_id)

    def new_record(self, endpoint: Endpoint, body: Any) -> Record:
        if endpoint.path == FROM_ORDER:
            return self._invoice_from_order()
        if endpoint.resource in ("orders", "invoices"):
            return self._document(endpoint.resource.removesuffix("s"))
        build = master_data.BUILDERS[endpoint.resource]
        record = build(_object(body), self._one, self._account().sev_client_id)
        if endpoint.resource == "contacts" and not record["customerNumber"]:
            record["customerNumber"] = self._customer_number()
        return self._stamped(record, numeric_id=endpoint.resource in ("addresses", "parts"))

    def record_changes(self, endpoint: Endpoint, stored: Record, body: Any) -> Record:
        # The JSON body only: sevDesk reads no form, so an empty body is refused as no object.
        body = self._body()
        if endpoint.resource == "contacts":
            return {**master_data.contact_changes(body, self._one), "update": now()}
        return {**master_data.part_changes(body), "update": now()}

    def render(self, endpoint: Endpoint, record: Record) -> Any:
        return {"objects": [self._embed(record)]}

    def created_response(self, endpoint: Endpoint, record: Record) -> Response:
        if endpoint.path == FROM_ORDER:
            return self.json({"objects": [record]}, endpoint.create_status)
        if endpoint.resource not in ("orders", "invoices"):
            return super().created_response(endpoint, record)
        kind = record["objectName"].lower()
        params = {f"{kind}[id]": str(record["id"])}
        positions = self.store.select(f"{kind}_positions", self.owner(), params=params)
        # Every live answer is wrapped in `objects` (clients read objects.order.id); the
        # spec's saveOrderResponse leaves the wrapper out.
        return self.json({"objects": {kind: record, f"{kind}Pos": positions}}, 201)

    def missing_response(self, endpoint: Endpoint, record_id: Any) -> Response:
        # "Bad request. <Object> was not found" (the spec), where others answer 404.
        resource = endpoint.parent[0] if endpoint.parent else endpoint.resource
        object_name = {res: name for name, res in RESOURCE_OF.items()}[resource]
        return self.error_response(400, f"{object_name} was not found")

    def ordered(self, endpoint: Endpoint, rows: list[Record]) -> list[Record]:
        # Contacts: "'0' -> only organizations, '1' -> organizations and persons"; 0 is the
        # default, so a lookup of a person by customer number needs depth=1.
        if endpoint.resource != "contacts" or request.args.get("depth", "0") == "1":
            return rows
        return [contact for contact in rows if not master_data.is_person(contact)]

    def render_page(self, endpoint: Endpoint | None, page: Page) -> Response:
        """sevDesk's list answer: `{"objects": [...]}` with embeds, `total` on `countAll`."""
        body: Record = {"objects": [self._embed(row) for row in page.items]}
        if request.args.get("countAll") == "true":
            body["total"] = page.total
        return self.json(body)

    # -- routes -----------------------------------------------------------------------

    def register_routes(self, app: Flask) -> None:
        serve_endpoints(app, self, ENDPOINTS)
        # The account's system data: units of positions, users (a document's contactPerson)
        # and countries (an address's country), as the patched spec lists them.
        for name in (*SYSTEM_LISTS, "SevUser"):
            app.add_url_rule(f"{API}/{name}", name, partial(self.system_list, name))

    def system_list(self, name: str) -> Response:
        if name in SYSTEM_LISTS:
            return self._objects(list(SYSTEM_LISTS[name]))
        account = self._account()
        user = {
            "id": str(account.sev_user_id),
            "objectName": "SevUser",
            "fullname": account.user_fullname,
            "hidden": "0",
            "sevClient": ref(account.sev_client_id, "SevClient"),
        }
        return self._objects([user])

    # -- master data ------------------------------------------------------------------

    def seed_articles(
        self, token: str, count: int, *, prefix: str = "SKU-", age_seconds: int = 3600
    ) -> list[Record]:
        """`count` parts of the account at once, stamped `age_seconds` ago (tests, benchmarks)."""
        sev_client = self.accounts[token].sev_client_id
        rows = master_data.seeded_parts(
            count, prefix=prefix, sev_client=sev_client, age=age_seconds
        )
        return [
            self.store.create("parts", str(sev_client), {"id": next(self._ids), **r}) for r in rows
        ]

    def _customer_number(self) -> str:
        """The account's next free number (a create's hook: it runs under the lock)."""
        owner = self.owner()
        taken = {c.get("customerNumber") for c in self.store.select("contacts", owner)}
        candidate = self._next_customer_number.get(owner, 1000)
        while str(candidate) in taken:
            candidate += 1
        self._next_customer_number[owner] = candidate + 1
        return str(candidate)

    # -- quotes (orders) and invoices ---------------------------------------------------

    def _document(self, kind: str) -> Record:
        """The order or invoice (`kind`) a save request makes, its positions stored."""
        account, owner = self._account(), self.owner()
        document, lines = documents.document(
            kind,
            self._body(),
            sev_user_id=account.sev_user_id,
            sev_client=account.sev_client_id,
            one=self._one,
        )
        record = self._stamped(document)
        for index, line in enumerate(lines):
            position = documents.position_record(record, line, index)
            self.store.create(f"{kind}_positions", owner, self._stamped(position))
        return record

    def _invoice_from_order(self) -> Record:
        order_id = reference(self._body(), "order", "Order")
        order = self._one("orders", order_id, "Order was not found")
        owner, today = self.owner(), now()
        invoice = self._stamped(documents.invoice_from_order(order, today=today))
        for line in self.store.select(
            "order_positions", owner, params={"order[id]": str(order_id)}
        ):
            position = documents.invoice_position_from(line, invoice)
            self.store.create("invoice_positions", owner, self._stamped(position))
        changes = {"status": documents.ORDER_STATUS_CALCULATED, "update": today}
        self.store.update("orders", owner, order_id, changes)
        return invoice

    # -- the vendor's web app -----------------------------------------------------------

    def document_status_set(
        self, *, kind: str, document_id: str, status: str, amount: str = ""
    ) -> dict[str, Any] | None:
        """A payment booked, an invoice sent or cancelled (`cancelInvoice`: a paid
        cancellation invoice naming it as origin), a quote accepted or rejected; every change
        moves the update stamp the product polls on. sevDesk calls no one back."""
        resource = "invoices" if kind == "invoice" else "orders"
        found = self.store.locate(resource, document_id)
        if found is None:
            return None
        owner, record = found
        today = now()
        if resource == "orders":
            if status not in documents.ORDER_STATUS_BY_CHANGE:
                raise SevdeskError(400, f"an order cannot become {status}")
            changes = {"status": documents.ORDER_STATUS_BY_CHANGE[status]}
        elif status == "voided":
            cancelling = documents.cancellation(record, today=today)
            self.store.create("invoices", owner, self._stamped(cancelling))
            # Only an issued invoice is cancelled; a draft is issued by it.
            changes = {"status": "200"} if record["status"] == "100" else {}
        else:
            changes = documents.invoice_changes(record, status, amount, stamp=today)
        return self.store.update(resource, owner, record["id"], {**changes, "update": today})

    # -- helpers ----------------------------------------------------------------------

    def _account(self) -> Account:
        with self.lock:
            return self.accounts[g.credential]

    def _one(self, resource: str, record_id: Any, not_found: str) -> Record:
        """One of the account's records; sevDesk answers an unknown id with 400 ("Bad
        request. <Object> was not found" in the spec), a reference to one likewise."""
        record = self.store.find(resource, self.owner(), record_id)
        if record is None:
            raise SevdeskError(400, not_found)
        return record

    def _stamped(self, record: Record, *, numeric_id: bool = False) -> Record:
        object_id = next(self._ids)
        stamp = now()
        return {
            "id": object_id if numeric_id else str(object_id),
            "objectName": record["objectName"],
            "create": stamp,
            "update": stamp,
            **record,
        }

    @staticmethod
    def _body() -> Record:
        return _object(request.get_json(silent=True))

    def _objects(self, rows: list[Record]) -> Response:
        try:
            return self.render_page(None, PAGING.cut(rows, request.args))
        except BadPaging as exc:
            raise SevdeskError(400, str(exc)) from exc

    def _embed(self, row: Record) -> Record:
        names = {
            name.strip() for value in request.args.getlist("embed") for name in value.split(",")
        }
        embedded = dict(row)
        for name in names & row.keys():
            value = row[name]
            if isinstance(value, dict) and "objectName" in value:
                embedded[name] = self._lookup(value["objectName"], int(value["id"])) or value
        return embedded

    def _lookup(self, object_name: str, object_id: int) -> Record | None:
        if object_name in RESOURCE_OF:
            return self.store.find(RESOURCE_OF[object_name], self.owner(), object_id)
        tables = {"Category": catalog.CATEGORIES, "Unity": catalog.UNITIES}
        return catalog.find(tables[object_name], object_id) if object_name in tables else None

    def _http_error(self, error: HTTPException) -> Response:
        # Unknown paths and methods answer in sevDesk's error shape, not Flask's HTML.
        return self.error_response(error.code or 500, error.description or error.name)


def _object(body: Any) -> Record:
    if not isinstance(body, dict):
        raise SevdeskError(400, "Invalid request body: a JSON object is expected")
    return body


__all__ = ["DEMO_TOKEN", "Account", "SevdeskSandbox"]
