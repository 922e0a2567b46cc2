"""Stand-in for the lexware office (lexoffice) public API v1, spec
`lexoffice/lexoffice-derived-openapi.yaml` and the fact sheet in the vendor-specs README.

Each API key belongs to one organization (a lexoffice account); what a key creates is seen only
through keys of the same organization. Served: profile, contacts (create, retrieve, update,
filter), quotations (create, retrieve), invoices (create, also from a quotation).

The voucher list (`GET /v1/voucherlist`) is served for looking up a quotation whose answer was
lost.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import Flask, Request, Response, g, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from sandbox.contract import ContractChecker, SpecProblem
from sandbox.core import TokenBucket, VendorSandbox
from sandbox.lexoffice.contacts import (
    FILTER_MIN_LENGTH,
    ROLES,
    contact_content,
    display_name,
    email_addresses,
    filter_pattern,
    unescape_name,
)
from sandbox.lexoffice.errors import (
    VALIDATION_FAILED,
    Issue,
    Violation,
    invalid,
    legacy_body,
    lexoffice_timestamp,
    missing,
    regular_body,
)
from sandbox.lexoffice.spec import LexofficeChecker, LexofficeProblem
from sandbox.lexoffice.vouchers import VoucherKind, priced_voucher, voucher_violations

if TYPE_CHECKING:
    from sandbox.demo import DemoSetup

DEMO_API_KEY = "lexoffice-sandbox-key"
# Answered by the API gateway in its own `{"message": ...}` shape (the docs show it for 401),
# not by the application behind it.
GATEWAY_STATUSES = frozenset({401, 429, 502, 503, 504})
FIRST_NUMBER = {"customer": 10001, "vendor": 70001}
VOUCHER_NUMBER_PREFIX = {"quotation": "AG", "invoice": "RE"}
CONTACT_PAGE_SIZE = 25
CONTACT_PAGE_SIZE_MAX = 250


@dataclass
class Organization:
    """The lexoffice account an API key was issued in, as `GET /v1/profile` describes it."""

    company_name: str
    tax_type: str = "net"
    small_business: bool = False
    business_features: tuple[str, ...] = ("INVOICING", "BOOKKEEPING")
    organization_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    connection_id: str = field(default_factory=lambda: str(uuid.uuid4()))


class LexofficeSandbox(VendorSandbox):
    name = "lexoffice"
    title = "lexware office (lexoffice)"
    spec_files = ("lexoffice/lexoffice-derived-openapi.yaml",)
    spec_server_url = "https://api.lexware.io"
    demo_credential = "lexoffice-sandbox-key"

    @classmethod
    def for_demo(cls, demo: DemoSetup) -> VendorSandbox:
        return cls(api_keys={cls.demo_credential: "Demo Buchhaltung GmbH"})

    def __init__(
        self,
        *,
        api_keys: Mapping[str, str] | None = None,
        rate_per_second: float = 2,
        burst: float = 2,
        create_status: int = 201,
        contract: bool = False,
        public_url: str = "",
    ) -> None:
        """`api_keys` maps each key to its organization's company name (default: one demo key).
        The docs state 2 requests per second per client, token bucket; the bucket's size is not
        published, so `burst` defaults to one second's worth. Creates answer 201 as the docs'
        status table says (its samples show 200)."""
        self.rate_per_second = rate_per_second
        self.burst = burst
        self.create_status = create_status
        self.organizations: dict[str, Organization] = {}
        if api_keys is None:
            api_keys = {DEMO_API_KEY: "Muster GmbH"}
        for key, company_name in api_keys.items():
            self.organizations[key] = Organization(company_name)
        super().__init__(contract=contract, public_url=public_url)

    def add_api_key(self, key: str, *, company_name: str, **profile: Any) -> Organization:
        """Issues a key for a new organization (profile: tax_type, small_business, ...)."""
        organization = Organization(company_name, **profile)
        with self.lock:
            self.organizations[key] = organization
        return organization

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.bucket = TokenBucket(rate=self.rate_per_second, capacity=self.burst)
            self.contacts: dict[str, dict[str, Any]] = {}
            self.quotations: dict[str, dict[str, Any]] = {}
            self.invoices: dict[str, dict[str, Any]] = {}
            self.counters: dict[tuple[str, str], int] = {}

    # -- the pipeline hooks ---------------------------------------------------------------

    def credential_of(self, req: Request) -> str | None:
        scheme, _, key = req.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or key.strip() not in self.organizations:
            return None
        return key.strip()

    def error_response(self, status: int, message: str, **extra: Any) -> Response:
        headers = {}
        if extra.get("retry_after") is not None:
            headers["Retry-After"] = str(max(1, math.ceil(float(extra["retry_after"]))))
        if status in GATEWAY_STATUSES:
            return self.json({"message": message}, status, headers)
        return self.json(regular_body(status, request.path, message), status, headers)

    def spec_checker(self) -> ContractChecker:
        return LexofficeChecker(self.spec_files, self.spec_server_url)

    def spec_violation_response(self, problems: list[SpecProblem]) -> Response:
        # Fact sheet "Errors": contacts answer in the legacy IssueList, the newer endpoints in
        # the regular format with `details`; a body that breaks the rules is 406, a bad query
        # parameter 400 (Spring's answer; the spec declares 400 for the voucher list).
        status = 406 if any(p.location == "body" for p in problems) else 400
        if request.path.startswith("/v1/contacts"):
            return self.legacy_error(
                status,
                [(missing if _is_missing(p) else invalid)(p.field or p.location) for p in problems],
            )
        if status == 400:
            first = problems[0]
            message = (
                f"Required request parameter '{first.field}' is not present"
                if _is_missing(first)
                else f"Failed to convert value of request parameter '{first.field}'"
            )
            return self.regular_error(400, message, [_violation(p) for p in problems])
        return self.regular_error(406, VALIDATION_FAILED, [_violation(p) for p in problems])

    def rate_limit(self, credential: str) -> Response | None:
        wait = self.bucket.take(credential)
        if wait:
            # The docs name no body and no headers for 429; Retry-After tells a client when
            # the bucket holds a token again.
            return self.error_response(429, "Too Many Requests", retry_after=wait)
        return None

    def inspect(self) -> dict[str, list[dict[str, Any]]]:
        with self.lock:
            companies = {o.organization_id: o.company_name for o in self.organizations.values()}
            return {
                "contacts": [
                    {
                        "id": c["id"],
                        "organization": companies.get(c["organizationId"], ""),
                        "name": display_name(c),
                        "customer": c["roles"].get("customer", {}).get("number"),
                        "vendor": c["roles"].get("vendor", {}).get("number"),
                        "email": ", ".join(email_addresses(c)),
                        "version": c["version"],
                        "updatedDate": c["updatedDate"],
                    }
                    for c in self.contacts.values()
                ],
                "quotations": [_voucher_row(q, companies) for q in self.quotations.values()],
                "invoices": [_voucher_row(i, companies) for i in self.invoices.values()],
            }

    # -- helpers --------------------------------------------------------------------------

    def organization(self) -> Organization:
        return self.organizations[g.credential]

    def resource_uri(self, collection: str, object_id: str) -> str:
        base = self.public_url or request.host_url.rstrip("/")
        return f"{base}/v1/{collection}/{object_id}"

    def action_result(self, collection: str, stored: dict[str, Any], status: int) -> Response:
        uri = self.resource_uri(collection, stored["id"])
        result = {
            "id": stored["id"],
            "resourceUri": uri,
            "createdDate": stored["createdDate"],
            "updatedDate": stored["updatedDate"],
            "version": stored["version"],
        }
        # Since 16.09.2024 creates also carry a Location header.
        headers = {"Location": uri} if status == 201 else None
        return self.json(result, status, headers)

    def next_number(self, organization_id: str, kind: str, first: int) -> int:
        key = (organization_id, kind)
        self.counters[key] = self.counters.get(key, first - 1) + 1
        return self.counters[key]

    def legacy_error(self, status: int, issues: list[Issue]) -> Response:
        return self.json(legacy_body(issues), status)

    def regular_error(
        self, status: int, message: str, details: list[Violation] | None = None
    ) -> Response:
        return self.json(regular_body(status, request.path, message, details), status)

    def own_contact(self, contact_id: str) -> dict[str, Any] | None:
        contact = self.contacts.get(contact_id)
        if contact is None or contact["organizationId"] != self.organization().organization_id:
            return None
        return contact

    # -- routes ---------------------------------------------------------------------------

    def register_routes(self, app: Flask) -> None:
        app.register_error_handler(404, self._unknown_route)
        app.register_error_handler(405, self._unknown_route)
        app.add_url_rule("/v1/profile", "profile", self.profile, methods=["GET"])
        app.add_url_rule("/v1/contacts", "contacts_filter", self.contacts_filter, methods=["GET"])
        app.add_url_rule("/v1/contacts", "contact_create", self.contact_create, methods=["POST"])
        app.add_url_rule("/v1/contacts/<contact_id>", "contact_get", self.contact_get)
        app.add_url_rule(
            "/v1/contacts/<contact_id>", "contact_update", self.contact_update, methods=["PUT"]
        )
        app.add_url_rule(
            "/v1/quotations", "quotation_create", self.quotation_create, methods=["POST"]
        )
        app.add_url_rule("/v1/quotations/<quotation_id>", "quotation_get", self.quotation_get)
        app.add_url_rule("/v1/invoices", "invoice_create", self.invoice_create, methods=["POST"])
        app.add_url_rule("/v1/voucherlist", "voucherlist", self.voucherlist)

    def _unknown_route(self, error: HTTPException) -> Response:
        # A method the API lacks (e.g. DELETE on a contact) or an unknown path gets the
        # application's (Spring's) regular error body, with Allow on a 405.
        status = error.code or 404
        response = self.regular_error(status, error.name)
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    def profile(self) -> Response:
        organization = self.organization()
        return self.json(
            {
                "organizationId": organization.organization_id,
                "companyName": organization.company_name,
                "connectionId": organization.connection_id,
                "taxType": organization.tax_type,
                "smallBusiness": organization.small_business,
                "businessFeatures": list(organization.business_features),
            }
        )

    # contacts answer errors in the legacy IssueList format: a body that breaks the rules is
    # 406 (the spec's only error response on PUT), a bad query or unreadable body is 400.

    def contact_create(self) -> Response:
        body: dict[str, Any] = request.get_json(force=True)
        # "0 on create" is the spec's description of `version`, not a schema rule.
        if body["version"] != 0:
            return self.legacy_error(406, [invalid("version")])
        organization = self.organization()
        now = lexoffice_timestamp()
        with self.lock:
            contact_id = str(uuid.uuid4())
            roles = {
                role: {"number": self.next_number(organization.organization_id, role, first)}
                for role, first in FIRST_NUMBER.items()
                if isinstance(body["roles"].get(role), dict)
            }
            contact = {
                "id": contact_id,
                "organizationId": organization.organization_id,
                "version": 1,
                "roles": roles,
                **contact_content(body),
                "archived": False,
                "createdDate": now,
                "updatedDate": now,
            }
            self.contacts[contact_id] = contact
        self.after_commit()
        return self.action_result("contacts", contact, self.create_status)

    def contact_get(self, contact_id: str) -> Response:
        with self.lock:
            contact = self.own_contact(contact_id)
            if contact is None:
                return self.legacy_error(404, [Issue("missing_entity", "id", "not_found")])
            return self.json(_contact_view(contact))

    def contact_update(self, contact_id: str) -> Response:
        body: dict[str, Any] = request.get_json(force=True)
        with self.lock:
            contact = self.own_contact(contact_id)
            if contact is None:
                return self.legacy_error(404, [Issue("missing_entity", "id", "not_found")])
            if body["version"] != contact["version"]:
                # Optimistic locking: someone changed the contact since this client read it.
                return self.legacy_error(409, [Issue("invalid_value", "version", "conflict")])
            organization_id = contact["organizationId"]
            # Roles can be added, not removed; a number once given stays with the contact.
            roles = dict(contact["roles"])
            for role in ROLES:
                if role not in roles and isinstance(body["roles"].get(role), dict):
                    roles[role] = {
                        "number": self.next_number(organization_id, role, FIRST_NUMBER[role])
                    }
            updated = {
                "id": contact_id,
                "organizationId": organization_id,
                "version": contact["version"] + 1,
                "roles": roles,
                **contact_content(body),
                "archived": contact["archived"],
                "createdDate": contact["createdDate"],
                "updatedDate": lexoffice_timestamp(),
            }
            self.contacts[contact_id] = updated
        return self.action_result("contacts", updated, 200)

    def contacts_filter(self) -> Response:
        args = request.args
        issues: list[Issue] = []
        patterns = {}
        for name in ("email", "name"):
            value = args.get(name)
            if value is None:
                continue
            value = unescape_name(value) if name == "name" else value
            if len(value) < FILTER_MIN_LENGTH:
                issues.append(invalid(name))
            else:
                patterns[name] = filter_pattern(value)
        number = _int_arg(args.get("number"), name="number", issues=issues)
        page = _int_arg(args.get("page"), name="page", issues=issues, minimum=0) or 0
        size = _int_arg(args.get("size"), name="size", issues=issues, minimum=1)
        if size is not None and size > CONTACT_PAGE_SIZE_MAX:
            issues.append(invalid("size"))
        roles = {}
        for role in ROLES:
            value = args.get(role)
            if value is None:
                continue
            if value.lower() not in ("true", "false"):
                issues.append(invalid(role))
            roles[role] = value.lower() == "true"
        if issues:
            return self.legacy_error(400, issues)
        size = size or CONTACT_PAGE_SIZE
        organization_id = self.organization().organization_id
        with self.lock:
            found = [
                c
                for c in self.contacts.values()
                if c["organizationId"] == organization_id
                and _matches(c, patterns=patterns, number=number, roles=roles)
            ]
        content = [_contact_view(c) for c in found[page * size : (page + 1) * size]]
        total_pages = math.ceil(len(found) / size)
        return self.json(
            {
                "content": content,
                "first": page == 0,
                "last": page >= total_pages - 1,
                "totalPages": total_pages,
                "totalElements": len(found),
                "numberOfElements": len(content),
                "size": size,
                "number": page,
            }
        )

    # quotations and invoices answer errors in the regular format, validation as 406.

    def quotation_create(self) -> Response:
        return self._voucher_create("quotation", self.quotations, "quotations")

    def invoice_create(self) -> Response:
        return self._voucher_create("invoice", self.invoices, "invoices")

    def _voucher_create(
        self, kind: VoucherKind, store: dict[str, dict[str, Any]], collection: str
    ) -> Response:
        finalize = request.args.get("finalize", "false").lower()
        if finalize not in ("true", "false"):
            return self.regular_error(
                406, VALIDATION_FAILED, [Violation("finalize", "PATTERN", "must be a boolean")]
            )
        body = request.get_json(force=True, silent=True)
        if not isinstance(body, dict):
            return self.regular_error(406, "Could not read the request body as JSON.", [])
        with self.lock:
            violations = voucher_violations(body, kind=kind, contact_of=self.own_contact)
            preceding_id = request.args.get("precedingSalesVoucherId")
            if kind == "invoice" and preceding_id is not None:
                violations += self._pursuit_violations(preceding_id)
            if violations:
                return self.regular_error(406, VALIDATION_FAILED, violations)
            organization_id = self.organization().organization_id
            priced = priced_voucher(body, kind=kind)
            now = lexoffice_timestamp()
            status = "open" if finalize == "true" else "draft"
            voucher: dict[str, Any] = {
                "id": str(uuid.uuid4()),
                "organizationId": organization_id,
                "createdDate": now,
                "updatedDate": now,
                "version": 1,
                "language": priced.get("language", "de"),
                "archived": False,
                "voucherStatus": status,
            }
            if status == "open":
                # Drafts get their number when they are finalized, which only the web app does.
                number = self.next_number(organization_id, kind, 1)
                voucher["voucherNumber"] = f"{VOUCHER_NUMBER_PREFIX[kind]}{number:04d}"
            voucher["voucherDate"] = priced["voucherDate"]
            if kind == "quotation":
                voucher["expirationDate"] = priced["expirationDate"]
            voucher["address"] = self._voucher_address(priced["address"])
            for key in (
                "lineItems",
                "totalPrice",
                "taxAmounts",
                "taxConditions",
                "paymentConditions",
                "shippingConditions",
                "title",
                "introduction",
                "remark",
                "deliveryTerms",
            ):
                if key in priced and (key != "shippingConditions" or kind == "invoice"):
                    voucher[key] = priced[key]
            store[voucher["id"]] = voucher
        self.after_commit()
        return self.action_result(collection, voucher, self.create_status)

    def _pursuit_violations(self, quotation_id: str) -> list[Violation]:
        """An invoice made from a quotation: lexoffice refuses quotations with optional or
        alternative items (406)."""
        quotation = self.quotations.get(quotation_id)
        field = "precedingSalesVoucherId"
        if quotation is None or quotation["organizationId"] != self.organization().organization_id:
            return [Violation(field, "NOTFOUND", "sales voucher not found")]
        if any(
            line.get("optional") or line.get("alternative") or line.get("subItems")
            for line in quotation["lineItems"]
        ):
            return [Violation(field, "PURSUIT", "optional or alternative items cannot be pursued")]
        return []

    def _voucher_address(self, address: dict[str, Any]) -> dict[str, Any]:
        """A contact reference is shown with the contact's name and billing address."""
        if "contactId" not in address:
            return address
        contact = self.contacts[address["contactId"]]
        billing = (contact.get("addresses", {}).get("billing") or [{}])[0]
        return {"contactId": contact["id"], "name": display_name(contact), **billing}

    def voucherlist(self) -> Response:
        """The voucher list (`GET /v1/voucherlist?voucherType=..&voucherStatus=..`), as the
        derived spec describes it."""
        types = {t for t in request.args.get("voucherType", "").split(",") if t}
        statuses = {t for t in request.args.get("voucherStatus", "").split(",") if t}
        if not types or not statuses:
            missing = "voucherType" if not types else "voucherStatus"
            return self.regular_error(
                400, f"Required request parameter '{missing}' is not present", []
            )
        issues: list[Issue] = []
        page = _int_arg(request.args.get("page"), name="page", issues=issues, minimum=0) or 0
        size = _int_arg(request.args.get("size"), name="size", issues=issues, minimum=1) or 25
        if issues:
            return self.legacy_error(400, issues)
        size = min(size, 250)
        contact_id = request.args.get("contactId")
        with self.lock:
            organization_id = self.organization().organization_id
            stores = {"quotation": self.quotations, "invoice": self.invoices}
            rows = [
                (kind, voucher)
                for kind, store in stores.items()
                if "any" in types or kind in types
                for voucher in store.values()
                if voucher["organizationId"] == organization_id
                and ("any" in statuses or voucher["voucherStatus"] in statuses)
                and (contact_id is None or voucher["address"].get("contactId") == contact_id)
            ]
        # Newest first, as the web app lists them (the stores keep creation order).
        rows.reverse()
        chunk = rows[page * size : (page + 1) * size]
        total = len(rows)
        return self.json(
            {
                "content": [_voucherlist_entry(kind, voucher) for kind, voucher in chunk],
                "first": page == 0,
                "last": (page + 1) * size >= total,
                "totalPages": max(1, -(-total // size)),
                "totalElements": total,
                "numberOfElements": len(chunk),
                "size": size,
                "number": page,
            }
        )

    def quotation_get(self, quotation_id: str) -> Response:
        with self.lock:
            quotation = self.quotations.get(quotation_id)
            if quotation is None or quotation["organizationId"] != (
                self.organization().organization_id
            ):
                return self.regular_error(404, "Not Found")
            return self.json(quotation)


def _voucherlist_entry(kind: str, voucher: dict[str, Any]) -> dict[str, Any]:
    total = voucher.get("totalPrice", {})
    return {
        "id": voucher["id"],
        "voucherType": kind,
        "voucherStatus": voucher["voucherStatus"],
        "voucherNumber": voucher.get("voucherNumber", ""),
        "voucherDate": voucher["voucherDate"],
        "createdDate": voucher["createdDate"],
        "updatedDate": voucher["updatedDate"],
        "contactId": voucher["address"].get("contactId"),
        "contactName": voucher["address"].get("name", ""),
        "totalAmount": total.get("totalGrossAmount"),
        "currency": total.get("currency", "EUR"),
        "archived": voucher.get("archived", False),
    }


def _contact_view(contact: dict[str, Any]) -> dict[str, Any]:
    """A contact as GET shows it (the create/update stamps are kept for the inspection page)."""
    return {k: v for k, v in contact.items() if k not in ("createdDate", "updatedDate")}


def _matches(
    contact: dict[str, Any],
    *,
    patterns: dict[str, Any],
    number: int | None,
    roles: dict[str, bool],
) -> bool:
    if "name" in patterns and not patterns["name"].search(display_name(contact)):
        return False
    if "email" in patterns and not any(
        patterns["email"].search(email) for email in email_addresses(contact)
    ):
        return False
    if number is not None and number not in (r.get("number") for r in contact["roles"].values()):
        return False
    return all((role in contact["roles"]) == wanted for role, wanted in roles.items())


def _int_arg(
    value: str | None, *, name: str, issues: list[Issue], minimum: int | None = None
) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        issues.append(invalid(name))
        return None
    if minimum is not None and number < minimum:
        issues.append(invalid(name))
        return None
    return number


def _voucher_row(voucher: dict[str, Any], companies: dict[str, str]) -> dict[str, Any]:
    total = voucher.get("totalPrice", {})
    return {
        "id": voucher["id"],
        "organization": companies.get(voucher["organizationId"], ""),
        "voucherStatus": voucher["voucherStatus"],
        "voucherNumber": voucher.get("voucherNumber", ""),
        "voucherDate": voucher["voucherDate"],
        "customer": voucher["address"].get("name", ""),
        "title": voucher.get("title", ""),
        "lines": len(voucher["lineItems"]),
        "totalNetAmount": total.get("totalNetAmount"),
        "totalGrossAmount": total.get("totalGrossAmount"),
        "createdDate": voucher["createdDate"],
    }


def _is_missing(problem: SpecProblem) -> bool:
    return isinstance(problem, LexofficeProblem) and problem.is_missing


def _violation(problem: SpecProblem) -> Violation:
    constraint = problem.constraint if isinstance(problem, LexofficeProblem) else "PATTERN"
    return Violation(problem.field or problem.location, constraint, problem.message)
