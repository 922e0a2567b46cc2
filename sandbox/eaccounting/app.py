"""Stand-in for Visma eAccounting API v2 (`https://eaccountingapi.vismaonline.com/v2/`), spec
`eaccounting/eaccounting-openapi.normalized.json` (see `normalize.py` there) and the eAccounting
fact sheet in the vendor-specs README. Visma's identity server (`identity.py`) shares the port.

A token belongs to the company chosen on the consent page and sees only its records. Served:
customers, articles, quotes (accept, convert to order), orders (convert to an invoice), invoice
drafts (convert), customer invoices (by `modifiedSinceUtc`, payments; `documents.py`), the
reference lists for required ids and `GET /companysettings` (`catalog.py`), Visma's generic
`$page`/`$pagesize`/`$filter` (`query.py`), 600 requests a minute per client and endpoint.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from flask import Flask, Request, Response, abort, g, request

from sandbox.contract import ContractChecker, SpecProblem
from sandbox.core import SlidingWindow, VendorSandbox
from sandbox.eaccounting import documents, query
from sandbox.eaccounting.catalog import REFERENCE_LISTS, company_settings, reference_records
from sandbox.eaccounting.identity import API_SCOPE, EAccountingIdentity
from sandbox.oauth_server import OAUTH_ENDPOINTS, Grant, OAuthVendor
from sandbox.routes import Endpoint, Operation, serve_endpoints
from sandbox.store import Filter, Page, Record, Resource, Store

if TYPE_CHECKING:
    from sandbox.demo import DemoSetup

API = "/v2"
DEMO_COMPANY = "4c1c6d8e-6f0b-4a53-9a39-0d6c1f9e0001"
DEFAULT_SCOPE = "ea:api offline_access ea:sales"
# developer.vismaonline.com "Error codes" (DataModelValidationError, NotAuthorized,
# ResourceNotFound) and "Rate limits"; `refuse` names the others (Conflict,
# CanNotBeCreatedOrUpdated).
ERROR_CODES = {400: 2000, 401: 4005, 404: 3000, 429: 4010}
NOT_AUTHORIZED = "AuthorizationException - Authorization has been denied for this request."


def _resource(name: str, created: str | None = None, updated: str | None = None) -> Resource:
    filters: dict[str, Filter] = {"$filter": query.odata_filter}
    if name == "customerinvoices":
        filters["modifiedSinceUtc"] = query.modified_since
    return Resource(name, id_field="Id", created_field=created, updated_field=updated,
                    filters=filters)  # fmt: skip


RESOURCES = (
    _resource("customers", None, "ChangedUtc"),
    _resource("articles", "CreatedUtc", "ChangedUtc"),
    _resource("quotes", "CreatedUtc", "ModifiedUtc"),
    _resource("orders", "CreatedUtc", "ModifiedUtc"),
    _resource("customerinvoicedrafts", "CreatedUtc"),
    _resource("customerinvoices", "CreatedUtc", "ModifiedUtc"),
    *(_resource(name) for name in REFERENCE_LISTS),
)
ALL: tuple[Operation, ...] = ("list", "create", "read", "update", "delete")
ENDPOINTS = (
    Endpoint("customers", f"{API}/customers", query.PAGING, ALL, delete_status=200),
    Endpoint("articles", f"{API}/articles", query.PAGING, ("list", "create", "read", "update")),
    Endpoint("quotes", f"{API}/quotes", query.PAGING, ALL, delete_status=200),
    Endpoint("orders", f"{API}/orders", query.PAGING, ALL, delete_status=200),
    Endpoint(
        "customerinvoicedrafts", f"{API}/customerinvoicedrafts", query.PAGING, delete_status=200
    ),
    Endpoint(
        "customerinvoices", f"{API}/customerinvoices", query.PAGING, ("list", "create", "read")
    ),
    *(Endpoint(name, f"{API}/{name}", query.PAGING, ("list", "read")) for name in REFERENCE_LISTS),
)


class EAccountingSandbox(OAuthVendor, VendorSandbox):
    name = "eaccounting"
    title = "Visma eAccounting"
    spec_files = (query.SPEC_FILE,)
    spec_server_url = "https://eaccountingapi.vismaonline.com/v2/"
    resources = RESOURCES
    # The identity server's pages and token endpoint take no API token; no spec describes them.
    public_endpoints = OAUTH_ENDPOINTS
    undocumented_endpoints = OAUTH_ENDPOINTS

    @classmethod
    def for_demo(cls, demo: DemoSetup) -> VendorSandbox:
        client_id, client_secret = demo.oauth_client("eaccounting")
        sandbox = cls()
        sandbox.add_oauth_client(client_id=client_id, client_secret=client_secret,
                                 redirect_uris=(demo.accounting_callback,))  # fmt: skip
        return sandbox

    def __init__(
        self, *, contract: bool = False, public_url: str = "", limit: int = 600,
        window_seconds: float = 60, access_token_lifetime: float = 3600,
    ) -> None:  # fmt: skip
        self.limit, self.window_seconds = limit, window_seconds
        # IdentityServer's default code lifetime; refresh tokens are spent by their one use.
        self.oauth = EAccountingIdentity(self, access_token_lifetime, code_lifetime=300)
        super().__init__(contract=contract, public_url=public_url)
        self.store = Store(RESOURCES, stamp=query.visma_time)
        self.reset()

    def spec_checker(self) -> ContractChecker:
        return query.EAccountingChecker(self.spec_files, self.spec_server_url)

    def reset(self) -> None:
        super().reset()
        with self.lock:
            clients = self.oauth.clients  # apps registered in Visma's developer portal stay
            self.oauth.clear()
            self.oauth.clients.update(clients)
            self.window = SlidingWindow(limit=self.limit, window=self.window_seconds)
            self.companies: dict[str, Record] = {}
            self.numbers: dict[tuple[str, str], int] = {}  # the last number given
        self.add_company(DEMO_COMPANY, "Demo Handelsonderneming B.V.")

    def add_company(self, company_id: str, name: str) -> str:
        """A company past eAccounting's startup guide, with its settings and reference lists."""
        with self.lock:
            self.companies[company_id] = company_settings(company_id, name)
        for resource, records in reference_records(company_id).items():
            for record in records:
                self.store.create(resource, company_id, record)
        return company_id

    def token_for(
        self, company_id: str, client_id: str, scope: str = DEFAULT_SCOPE
    ) -> tuple[str, str | None]:
        """An access and a refresh token, as the consent of the company's user gives them."""
        return self.oauth.issue(Grant(company_id, scope, client_id=client_id, session="test"))

    def seed_articles(self, company_id: str, count: int, *, prefix: str = "SKU") -> list[Record]:
        """`count` articles in the company, for import tests and benchmarks."""
        lists = reference_records(company_id)
        coding, unit = lists["articleaccountcodings"][0]["Id"], lists["units"][0]["Id"]
        return [
            self.store.create("articles", company_id, documents.article(self, company_id, {
                "Number": f"{prefix}-{n:05d}", "Name": f"Artikel {n:05d}", "IsActive": True,
                "NetPrice": 10.0 + n, "CodingId": coding, "UnitId": unit}))
            for n in range(1, count + 1)
        ]  # fmt: skip

    # -- auth, errors, limit ----------------------------------------------------------------

    def credential_of(self, req: Request) -> str | None:
        scheme, _, token = req.headers.get("Authorization", "").partition(" ")
        grant = self.oauth.access(token.strip()) if scheme.lower() == "bearer" else None
        if grant is None or API_SCOPE not in grant.scopes:
            return None
        g.client_id = grant.client_id
        return str(grant.account)

    def rate_limit(self, credential: str) -> Response | None:
        """Fact sheet: 600 a minute, counted per client and endpoint (the route, whatever id)."""
        rule = request.url_rule.rule if request.url_rule else request.path
        wait, _ = self.window.take(f"{g.get('client_id')} {rule}")
        return self.error_response(429, "", retry_after=wait) if wait else None

    def error_response(self, status: int, message: str, **extra: Any) -> Response:
        if status == 429:
            seconds = max(1, math.ceil(float(extra.get("retry_after") or 1)))
            message = f"You have exceeded the rate limit. Try again in {seconds} seconds."
        body: Record = {"ErrorCode": extra.get("code") or ERROR_CODES.get(status),
                        "DeveloperErrorMessage": NOT_AUTHORIZED if status == 401 else message,
                        "ErrorId": str(uuid.uuid4()), "Errors": extra.get("errors")}  # fmt: skip
        return self.json({k: v for k, v in body.items() if v is not None}, status)

    def spec_violation_response(self, problems: list[SpecProblem]) -> Response:
        """CommonExtendedBadRequest, each problem as a CommonError."""
        errors = [{"Field": p.field or p.location, "Message": p.message} for p in problems]
        return self.error_response(400, str(problems[0]), errors=errors)

    def refuse(self, message: str, code: int = 4002, status: int = 400) -> NoReturn:
        """Visma's answer to what the spec allows and the company's data does not."""
        abort(self.error_response(status, message, code=code))

    # -- records ----------------------------------------------------------------------------

    def next_number(self, kind: str) -> int:
        with self.lock:
            key = (self.owner(), kind)
            number = self.numbers[key] = self.numbers.get(key, 0) + 1
        return number

    def lookup(self, resource: str, record_id: Any, field: str, status: int = 400) -> Record:
        """The record a request names (ResourceNotFound: 404 in the path, 400 in the body)."""
        found = self.store.find(resource, self.owner(), record_id)
        if found is None:
            self.refuse(f"{field}: there is no {resource} {record_id}", 3000, status)
        return found

    def new_record(self, endpoint: Endpoint, body: Any) -> Record:
        record = {k: v for k, v in dict(body or {}).items() if k != "Id"}
        if endpoint.resource == "customers":
            return self._customer(record)
        if endpoint.resource == "articles":
            return documents.article(self, self.owner(), record)
        if endpoint.resource == "customerinvoices":
            return documents.invoice(self, record)
        return documents.document(self, endpoint.resource, record)

    def record_changes(self, endpoint: Endpoint, stored: Record, body: Any) -> Record:
        record = {**stored, **dict(body or {}), "Id": stored["Id"]}
        if endpoint.resource == "customers":
            return self._customer(record)
        if endpoint.resource == "articles":
            return documents.article(self, self.owner(), record)
        return documents.document(self, endpoint.resource, record)

    def _customer(self, record: Record) -> Record:
        number = record.get("CustomerNumber") or str(self.next_number("customers"))
        taken = self.store.select("customers", self.owner(),
                                  where=lambda c: c["CustomerNumber"] == number)  # fmt: skip
        if any(c["Id"] != record.get("Id") for c in taken):
            self.refuse(f"CustomerNumber {number} is already in use", 4000)  # Conflict
        terms = self.lookup("termsofpayments", record["TermsOfPaymentId"], "TermsOfPaymentId")
        return {"CurrencyCode": "EUR", **record, "CustomerNumber": number, "TermsOfPayment": terms}

    def render(self, endpoint: Endpoint, record: Record) -> Any:
        return self._shown(endpoint.resource, record)

    def _shown(self, resource: str, record: Record) -> Record:
        if resource == "customerinvoices" and record["PaymentStatus"] == 1:
            overdue = query.moment(record["DueDate"]) + timedelta(days=1) < datetime.now(UTC)
            record = {**record, "PaymentStatus": 2 if overdue else 1}  # 2: Overdue
        return query.shaped(query.SCHEMA_OF[resource], record)

    def render_page(self, endpoint: Endpoint, page: Page) -> Response:
        meta = {"CurrentPage": page.number, "PageSize": page.limit,
                "TotalNumberOfPages": page.total_pages, "TotalNumberOfResults": page.total,
                "ServerTimeUtc": query.visma_time(datetime.now(UTC).timestamp())}  # fmt: skip
        data = [self._shown(endpoint.resource, r) for r in page.items]
        return self.json({"Meta": meta, "Data": data})

    # -- routes -----------------------------------------------------------------------------

    def register_routes(self, app: Flask) -> None:
        self.oauth.register(app)
        serve_endpoints(app, self, ENDPOINTS)
        app.register_error_handler(query.BadFilter, lambda e: self.error_response(400, str(e)))
        for status in (404, 405):
            app.register_error_handler(status, lambda e: self.error_response(404, "Not found"))
        routes: dict[str, tuple[str, str, Callable[..., Response]]] = {
            "companysettings": ("GET", "/companysettings", self.settings),
            "quote_accept": ("PUT", "/quotes/<record_id>/accept", self.accept_quote),
            "quote_convert": ("POST", "/quotes/<record_id>/converttoorder", self.quote_to_order),
            "order_convert": ("POST", "/orders/<record_id>/convert", self.order_to_invoice),
            "draft_convert": ("POST", "/customerinvoicedrafts/<record_id>/convert",
                              self.draft_to_invoice),
            "invoice_payment": ("POST", "/customerinvoices/<record_id>/payments", self.payment),
        }  # fmt: skip
        for name, (method, rule, view) in routes.items():
            app.add_url_rule(API + rule, name, view, methods=[method])

    def settings(self) -> Response:
        owner = self.owner()
        following = {f"Next{name}Number": self.numbers.get((owner, kind), 0) + 1 for kind, name in
                     (("customers", "Customer"), ("quotes", "Quote"), ("orders", "Order"),
                      ("invoices", "CustomerInvoice"))}  # fmt: skip
        return self.json({**self.companies[owner], **following})

    def accept_quote(self, record_id: str) -> Response:
        self.lookup("quotes", record_id, "id", 404)
        changes = {"Status": 2, "ApprovedDate": query.day(datetime.now(UTC))}  # Approved
        self.store.update("quotes", self.owner(), record_id, changes)
        return Response(status=200)

    def quote_to_order(self, record_id: str) -> Response:
        order = documents.order_from_quote(self, self.lookup("quotes", record_id, "id", 404))
        return self.json(self._shown("orders", order))

    def order_to_invoice(self, record_id: str) -> Response:
        created = documents.invoice_from_order(self, self.lookup("orders", record_id, "id", 404))
        return self.json(self._shown("customerinvoices", created))

    def draft_to_invoice(self, record_id: str) -> Response:
        draft = self.lookup("customerinvoicedrafts", record_id, "customerInvoiceDraftId", 404)
        created = documents.invoice_from_draft(self, draft)
        return self.json(self._shown("customerinvoices", created), 201)

    def payment(self, record_id: str) -> Response:
        body = request.get_json(force=True)
        invoice = self.lookup("customerinvoices", record_id, "invoiceId", 404)
        self.lookup("bankaccounts", body["CompanyBankAccountId"], "CompanyBankAccountId")
        if body["PaymentAmount"] > invoice["RemainingAmountInvoiceCurrency"] + 0.005:
            self.refuse("PaymentAmount is more than the remaining amount of the invoice")
        documents.pay(self, self.owner(), invoice, body["PaymentAmount"], body.get("PaymentDate"))
        return self.json({**body, "BankTransactionId": str(uuid.uuid4())}, 201)

    def inspect(self) -> dict[str, list[dict[str, Any]]]:
        companies = [{"id": company, "name": s["Name"]} for company, s in self.companies.items()]
        return {"companies": companies, **super().inspect(), **self.oauth.inspect()}

    def document_status_set(
        self, *, kind: str, document_id: str, status: str, amount: str = ""
    ) -> dict[str, Any] | None:
        return documents.status_set(self, kind, document_id, status, amount)
