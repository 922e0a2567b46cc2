"""sevDesk stand-in: contacts with addresses, e-mails and custom fields, quotes through
`Order/Factory/saveOrder`, invoices through `Invoice/Factory/saveInvoice`.

Follows `sevdesk/sevdesk-openapi.patched.yaml` and the sevDesk fact sheet in
vendor-specs/README.md. Where the two differ from what sevDesk answers live, the code says so.
"""

from __future__ import annotations

import itertools
import math
import re
import secrets
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from flask import Flask, Request, Response, g, request
from werkzeug.exceptions import HTTPException

from sandbox.contract import SpecProblem
from sandbox.core import TokenBucket, VendorSandbox
from sandbox.sevdesk import catalog
from sandbox.sevdesk.payloads import (
    SevdeskError,
    amount,
    as_id,
    document_date,
    int_ref,
    now,
    number,
    optional_number,
    optional_reference,
    ref,
    reference,
    timestamp,
)

API = "/api/v1"
# The demo account's token: public on purpose, the sandbox holds no real data.
DEMO_TOKEN = "0123456789abcdef0123456789abcdef"  # noqa: S105
Record = dict[str, Any]

# sevDesk contact fields the client writes as text and reads back unchanged.
CONTACT_TEXT_FIELDS = (
    "name",
    "surename",
    "familyname",
    "titel",
    "description",
    "academicTitle",
    "gender",
    "name2",
    "birthday",
    "vatNumber",
    "bankAccount",
    "bankNumber",
    "taxNumber",
    "taxOffice",
    "buyerReference",
    "taxType",
)
# Written as numbers or booleans, answered as strings (`Model_ContactResponse`).
CONTACT_NUMBER_FIELDS = (
    "status",
    "defaultCashbackTime",
    "defaultCashbackPercent",
    "defaultTimeToPay",
    "defaultDiscountAmount",
)
CONTACT_FLAG_FIELDS = ("exemptVat", "defaultDiscountPercentage", "governmentAgency")


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

    def __init__(
        self,
        *,
        contract: bool = False,
        public_url: str = "",
        rate_per_second: float | None = None,
        rate_burst: int = 10,
        max_limit: int = 1000,
        default_limit: int = 100,
        demo_token: str | None = DEMO_TOKEN,
    ) -> None:
        # sevDesk publishes no rate limit, so none applies unless a test asks for one.
        self.rate_per_second = rate_per_second
        self.rate_burst = rate_burst
        self.max_limit = max_limit  # "limit must be between 1 and 1000" (official spec 2026-05)
        self.default_limit = default_limit
        # Accounts are configuration, like the customer's sevDesk account itself: a reset
        # forgets what was created in them, not the accounts.
        self.accounts: dict[str, Account] = {}
        self._account_ids = itertools.count(77001)
        super().__init__(contract=contract, public_url=public_url)
        if demo_token:
            self.add_account(token=demo_token, company_name="Demo GmbH")
        self.app.register_error_handler(SevdeskError, self._refuse)
        self.app.register_error_handler(HTTPException, self._http_error)

    # -- seeding ----------------------------------------------------------------------

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
            self.contacts: dict[int, Record] = {}
            self.addresses: dict[int, Record] = {}
            self.communication_ways: dict[int, Record] = {}
            self.custom_field_settings: dict[int, Record] = {}
            self.custom_fields: dict[int, Record] = {}
            self.orders: dict[int, Record] = {}
            self.order_positions: dict[int, Record] = {}
            self.invoices: dict[int, Record] = {}
            self.invoice_positions: dict[int, Record] = {}
            self._ids = itertools.count(100001)
            self._next_customer_number: dict[int, int] = {}
            self.limiter = (
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
        headers = {}
        if "retry_after" in extra:
            headers["Retry-After"] = str(extra["retry_after"])
        body = {"error": {"message": message, "code": extra.get("code"), "data": None}}
        return self.json(body, status, headers)

    def spec_violation_response(self, problems: list[SpecProblem]) -> Response:
        # The spec's answer to a malformed request is 400 (bodiless); the body is sevDesk's.
        return self.error_response(400, "; ".join(map(str, problems)), code=400)

    def rate_limit(self, credential: str) -> Response | None:
        if self.limiter is None:
            return None
        wait = self.limiter.take(credential)
        if not wait:
            return None
        return self.error_response(429, "Too Many Requests", retry_after=math.ceil(wait))

    def inspect(self) -> dict[str, list[dict[str, Any]]]:
        with self.lock:
            clients = {a.sev_client_id: a.company_name for a in self.accounts.values()}

            def client(record: Record) -> str:
                return clients.get(int(record["sevClient"]["id"]), "?")

            return {
                "contacts": [
                    {
                        "id": c["id"],
                        "account": client(c),
                        "customerNumber": c.get("customerNumber"),
                        "name": c.get("name")
                        or " ".join(filter(None, (c.get("surename"), c.get("familyname")))),
                        "kind": "person" if _is_person(c) else "organisation",
                        "parent": (c.get("parent") or {}).get("id"),
                        "category": c["category"]["id"],
                    }
                    for c in self.contacts.values()
                ],
                "addresses": [
                    {
                        "id": a["id"],
                        "contact": a["contact"]["id"],
                        "street": a.get("street"),
                        "zip": a.get("zip"),
                        "city": a.get("city"),
                        "country": a["country"]["id"],
                    }
                    for a in self.addresses.values()
                ],
                "communication ways": [
                    {
                        "id": w["id"],
                        "contact": (w.get("contact") or {}).get("id"),
                        "type": w["type"],
                        "value": w["value"],
                        "main": w["main"],
                    }
                    for w in self.communication_ways.values()
                ],
                "custom fields": [
                    {
                        "id": f["id"],
                        "contact": f["contact"]["id"],
                        "field": f["contactCustomFieldSetting"]["name"],
                        "value": f["value"],
                    }
                    for f in self.custom_fields.values()
                ],
                "orders (quotes)": [
                    {
                        "id": o["id"],
                        "account": client(o),
                        "orderNumber": o["orderNumber"],
                        "orderType": o["orderType"],
                        "header": o["header"],
                        "status": o["status"],
                        "contact": o["contact"]["id"],
                        "positions": len(self._positions_of(self.order_positions, "order", o)),
                        "sumNet": o["sumNet"],
                        "sumGross": o["sumGross"],
                    }
                    for o in self.orders.values()
                ],
                "invoices": [
                    {
                        "id": i["id"],
                        "account": client(i),
                        "invoiceNumber": i.get("invoiceNumber"),
                        "header": i.get("header"),
                        "status": i["status"],
                        "contact": i["contact"]["id"],
                        "positions": len(self._positions_of(self.invoice_positions, "invoice", i)),
                        "sumGross": i["sumGross"],
                    }
                    for i in self.invoices.values()
                ],
            }

    # -- routes -----------------------------------------------------------------------

    def register_routes(self, app: Flask) -> None:
        routes: list[tuple[str, str, Callable[..., Response]]] = [
            ("GET", "/Contact", self.contacts_list),
            ("POST", "/Contact", self.contact_create),
            ("GET", "/Contact/<int:contact_id>", self.contact_get),
            ("PUT", "/Contact/<int:contact_id>", self.contact_update),
            (
                "GET",
                "/Contact/Factory/findContactsByCustomFieldValue",
                self.contacts_by_custom_field,
            ),
            ("GET", "/ContactAddress", self.addresses_list),
            ("POST", "/ContactAddress", self.address_create),
            ("GET", "/CommunicationWay", self.communication_ways_list),
            ("POST", "/CommunicationWay", self.communication_way_create),
            ("GET", "/CommunicationWayKey", self.communication_way_keys),
            ("GET", "/ContactCustomFieldSetting", self.custom_field_settings_list),
            ("POST", "/ContactCustomFieldSetting", self.custom_field_setting_create),
            ("GET", "/ContactCustomField", self.custom_fields_list),
            ("POST", "/ContactCustomField", self.custom_field_create),
            ("GET", "/Unity", self.unities),
            ("GET", "/SevUser", self.sev_users),
            ("GET", "/StaticCountry", self.static_countries),
            ("POST", "/Order/Factory/saveOrder", self.order_save),
            ("GET", "/Order", self.orders_list),
            ("GET", "/Order/<int:order_id>", self.order_get),
            ("GET", "/Order/<int:order_id>/getPositions", self.order_positions_list),
            ("POST", "/Invoice/Factory/saveInvoice", self.invoice_save),
            ("GET", "/Invoice", self.invoices_list),
            ("GET", "/Invoice/<int:invoice_id>", self.invoice_get),
        ]
        for method, path, view in routes:
            app.add_url_rule(API + path, view.__name__, view, methods=[method])

    # -- contacts ---------------------------------------------------------------------

    def contacts_list(self) -> Response:
        account = self._account()
        customer_number = request.args.get("customerNumber")
        # "'0' -> only organizations, '1' -> organizations and persons"; 0 is the default,
        # so a lookup of a person by customer number needs depth=1.
        with_persons = request.args.get("depth", "0") == "1"
        with self.lock:
            rows = [
                c
                for c in self._owned(self.contacts, account)
                if (customer_number is None or c.get("customerNumber") == customer_number)
                and (with_persons or not _is_person(c))
            ]
            return self._objects(rows)

    def contact_create(self) -> Response:
        account = self._account()
        body = self._body()
        with self.lock:
            category_id = reference(body, "category", "Category")
            self._category(category_id, "Contact")
            # The spec makes every name optional; its `Model_Contact` descriptions make `name`
            # an organisation's and `surename` / `familyname` a person's, so one is needed.
            if not body.get("name") and not (body.get("surename") or body.get("familyname")):
                raise SevdeskError(400, "Name or surename/familyname is required.")
            contact_id = next(self._ids)
            stamp = now()
            record: Record = {
                "id": str(contact_id),
                "objectName": "Contact",
                "create": stamp,
                "update": stamp,
                "status": "1000",
                "customerNumber": body.get("customerNumber") or self._customer_number(account),
                "category": ref(category_id, "Category"),
                "sevClient": int_ref(account.sev_client_id, "SevClient"),
            }
            self._apply_contact_fields(account, record, body)
            self.contacts[contact_id] = record
        self.after_commit()
        return self._objects([record], 201)

    def contact_get(self, contact_id: int) -> Response:
        account = self._account()
        with self.lock:
            return self._objects([self._contact(account, contact_id, "Contact was not found")])

    def contact_update(self, contact_id: int) -> Response:
        account = self._account()
        body = self._body()
        with self.lock:
            record = self._contact(account, contact_id, "Contact was not found")
            category_id = optional_reference(body, "category", "Category")
            if category_id is not None:
                self._category(category_id, "Contact")
                record["category"] = ref(category_id, "Category")
            if body.get("customerNumber"):
                record["customerNumber"] = str(body["customerNumber"])
            self._apply_contact_fields(account, record, body)
            record["update"] = now()
            return self._objects([record])

    def contacts_by_custom_field(self) -> Response:
        account = self._account()
        value = request.args["value"]
        field_name = request.args.get("customFieldName")
        setting_id = request.args.get("customFieldSetting[id]")
        if not field_name and not setting_id:
            # The spec marks both optional; sevDesk needs one of them to know the field.
            raise SevdeskError(400, "CustomFieldName is required.")
        with self.lock:
            contact_ids = {
                f["contact"]["id"]
                for f in self._owned(self.custom_fields, account)
                if f["value"] == value
                and (not field_name or f["contactCustomFieldSetting"]["name"] == field_name)
                and (not setting_id or f["contactCustomFieldSetting"]["id"] == setting_id)
            }
            rows = [c for c in self._owned(self.contacts, account) if c["id"] in contact_ids]
            return self._objects(rows)

    def _apply_contact_fields(self, account: Account, record: Record, body: Record) -> None:
        for field in CONTACT_TEXT_FIELDS:
            if body.get(field) is not None:
                record[field] = str(body[field])
        for field in CONTACT_NUMBER_FIELDS:
            value = optional_number(body, field)
            if value is not None:
                record[field] = amount(value)
        for field in CONTACT_FLAG_FIELDS:
            if body.get(field) is not None:
                record[field] = "1" if _flag(body, field) else "0"
        parent_id = optional_reference(body, "parent", "Contact")
        if parent_id is not None:
            parent = self._contact(account, parent_id, "Parent contact does not exist")
            if _is_person(parent):
                raise SevdeskError(400, "Parent must be an organisation")
            record["parent"] = ref(parent_id, "Contact")
        tax_set_id = optional_reference(body, "taxSet", "TaxSet")
        if tax_set_id is not None:
            record["taxSet"] = ref(tax_set_id, "TaxSet")

    def _customer_number(self, account: Account) -> str:
        taken = {c.get("customerNumber") for c in self._owned(self.contacts, account)}
        candidate = self._next_customer_number.get(account.sev_client_id, 1000)
        while str(candidate) in taken:
            candidate += 1
        self._next_customer_number[account.sev_client_id] = candidate + 1
        return str(candidate)

    # -- addresses, communication ways, custom fields ---------------------------------

    def addresses_list(self) -> Response:
        account = self._account()
        # Not among the spec's parameters, but sevDesk filters every list by a reference.
        contact_id = request.args.get("contact[id]")
        with self.lock:
            rows = [
                a
                for a in self._owned(self.addresses, account)
                if contact_id is None or str(a["contact"]["id"]) == contact_id
            ]
            return self._objects(rows)

    def address_create(self) -> Response:
        account = self._account()
        body = self._body()
        with self.lock:
            contact_id = reference(body, "contact", "Contact")
            self._contact(account, contact_id, "Contact does not exist")
            country_id = reference(body, "country", "StaticCountry")
            # `Model_ContactAddress.country`: "For all countries, send a GET to /StaticCountry".
            if country_id not in {c.id for c in catalog.STATIC_COUNTRIES}:
                raise SevdeskError(400, f"StaticCountry {country_id} does not exist")
            category_id = optional_reference(body, "category", "Category")
            if category_id is not None:
                self._category(category_id, "ContactAddress")
            address_id = next(self._ids)
            stamp = now()
            # `Model_ContactAddressResponse` types its ids as integers, unlike other models.
            record: Record = {
                "id": address_id,
                "objectName": "ContactAddress",
                "create": stamp,
                "update": stamp,
                "contact": int_ref(contact_id, "Contact"),
                "country": int_ref(country_id, "StaticCountry"),
                "sevClient": int_ref(account.sev_client_id, "SevClient"),
            }
            if category_id is not None:
                record["category"] = int_ref(category_id, "Category")
            for field in ("street", "zip", "city", "name", "name2", "name3", "name4"):
                if body.get(field) is not None:
                    record[field] = str(body[field])
            self.addresses[address_id] = record
        self.after_commit()
        return self._objects([record], 201)

    def communication_ways_list(self) -> Response:
        account = self._account()
        contact_id = request.args.get("contact[id]")
        kind = request.args.get("type")
        main = request.args.get("main")
        with self.lock:
            rows = [
                w
                for w in self._owned(self.communication_ways, account)
                if (contact_id is None or (w.get("contact") or {}).get("id") == contact_id)
                and (kind is None or w["type"] == kind)
                and (main is None or w["main"] == main)
            ]
            return self._objects(rows)

    def communication_way_create(self) -> Response:
        account = self._account()
        body = self._body()
        with self.lock:
            key_id = reference(body, "key", "CommunicationWayKey")
            if key_id not in {k.id for k in catalog.COMMUNICATION_WAY_KEYS}:
                raise SevdeskError(400, f"CommunicationWayKey {key_id} does not exist")
            kind = body["type"]
            value = body["value"]
            contact_id = optional_reference(body, "contact", "Contact")
            if contact_id is not None:
                self._contact(account, contact_id, "Contact does not exist")
            way_id = next(self._ids)
            stamp = now()
            record: Record = {
                "id": str(way_id),
                "objectName": "CommunicationWay",
                "create": stamp,
                "update": stamp,
                "type": kind,
                "value": value,
                "key": ref(key_id, "CommunicationWayKey"),
                "main": "1" if _flag(body, "main") else "0",
                "sevClient": ref(account.sev_client_id, "SevClient"),
            }
            if contact_id is not None:
                record["contact"] = ref(contact_id, "Contact")
            self.communication_ways[way_id] = record
        self.after_commit()
        return self._objects([record], 201)

    def communication_way_keys(self) -> Response:
        self._account()
        return self._objects(
            [
                {
                    "id": str(key.id),
                    "objectName": "CommunicationWayKey",
                    "name": key.name,
                    "translationCode": key.translation_code,
                }
                for key in catalog.COMMUNICATION_WAY_KEYS
            ]
        )

    def custom_field_settings_list(self) -> Response:
        account = self._account()
        with self.lock:
            return self._objects(list(self._owned(self.custom_field_settings, account)))

    def custom_field_setting_create(self) -> Response:
        account = self._account()
        body = self._body()
        with self.lock:
            name = body["name"]
            setting_id = next(self._ids)
            stamp = now()
            record: Record = {
                "id": str(setting_id),
                "objectName": "ContactCustomFieldSetting",
                "create": stamp,
                "update": stamp,
                "sevClient": ref(account.sev_client_id, "SevClient"),
                "name": name,
                "identifier": str(uuid.uuid4()),
            }
            if body.get("description") is not None:
                record["description"] = str(body["description"])
            self.custom_field_settings[setting_id] = record
        self.after_commit()
        return self._objects([record])  # the spec answers this create with 200

    def custom_fields_list(self) -> Response:
        account = self._account()
        with self.lock:
            return self._objects(list(self._owned(self.custom_fields, account)))

    def custom_field_create(self) -> Response:
        account = self._account()
        body = self._body()
        with self.lock:
            contact_id = reference(body, "contact", "Contact")
            self._contact(account, contact_id, "Contact does not exist")
            setting_id = reference(body, "contactCustomFieldSetting", "ContactCustomFieldSetting")
            setting = self.custom_field_settings.get(setting_id)
            if setting is None or not self._is_owned(setting, account):
                raise SevdeskError(400, f"ContactCustomFieldSetting {setting_id} does not exist")
            value = body["value"]
            field_id = next(self._ids)
            stamp = now()
            record: Record = {
                "id": str(field_id),
                "objectName": "ContactCustomField",
                "create": stamp,
                "update": stamp,
                "sevClient": ref(account.sev_client_id, "SevClient"),
                "contact": ref(contact_id, "Contact"),
                "contactCustomFieldSetting": dict(setting),
                "value": value,
            }
            self.custom_fields[field_id] = record
        self.after_commit()
        return self._objects([record])  # the spec answers this create with 200

    # -- system lists (real endpoints the spec leaves out) ----------------------------

    def unities(self) -> Response:
        # `GET /Unity` is not in the spec; positions must name a unit id from this list.
        self._account()
        return self._objects([_unity(u) for u in catalog.UNITIES])

    def sev_users(self) -> Response:
        # `GET /SevUser` is not in the spec; a quote's `contactPerson` is one of these users.
        account = self._account()
        return self._objects(
            [
                {
                    "id": str(account.sev_user_id),
                    "objectName": "SevUser",
                    "fullname": account.user_fullname,
                    "hidden": "0",
                    "sevClient": ref(account.sev_client_id, "SevClient"),
                }
            ]
        )

    def static_countries(self) -> Response:
        # The spec has no operation for it but tells clients to "send a GET to /StaticCountry"
        # for the country id of an address.
        self._account()
        return self._objects(
            [
                {
                    "id": str(c.id),
                    "objectName": "StaticCountry",
                    "code": c.code,
                    "name": c.name,
                    "nameEn": c.name_en,
                    "translationCode": c.translation_code,
                }
                for c in catalog.STATIC_COUNTRIES
            ]
        )

    # -- quotes (orders) --------------------------------------------------------------

    def order_save(self) -> Response:
        account = self._account()
        body = self._body()
        with self.lock:
            order = body["order"]
            header = self._document_header(account, order)
            order_type = order.get("orderType", "AN")
            status = str(order["status"])
            version = number(order, "version")
            tax_rule = header.pop("taxRule", None)
            # Optional: "an order to which positions can be added later".
            lines = [self._position(p, tax_rule) for p in body.get("orderPosSave") or []]
            order_id = next(self._ids)
            stamp = now()
            record: Record = {
                "id": str(order_id),
                "objectName": "Order",
                "create": stamp,
                "update": stamp,
                "orderNumber": str(order["orderNumber"]),
                "orderDate": timestamp(document_date(order, "orderDate")),
                "status": status,
                "orderType": order_type,
                "version": amount(version),
                **header,
                **_sums(lines),
            }
            if tax_rule is not None:
                # Not in the 2023 response model; sevDesk answers it since Update 2.0.
                record["taxRule"] = ref(tax_rule, "TaxRule")
            for field in ("deliveryTerms", "paymentTerms"):
                if order.get(field) is not None:
                    record[field] = str(order[field])
            self.orders[order_id] = record
            saved = [
                self._store_position(self.order_positions, "OrderPos", "order", record, line)
                for line in lines
            ]
        self.after_commit()
        # Every live answer is wrapped in `objects` (clients read objects.order.id); the
        # spec's saveOrderResponse leaves the wrapper out.
        return self.json({"objects": {"order": record, "orderPos": saved}}, 201)

    def orders_list(self) -> Response:
        account = self._account()
        args = request.args
        with self.lock:
            rows = [
                o
                for o in self._owned(self.orders, account)
                if _matches(o, args, number_field="orderNumber")
            ]
            return self._objects(rows)

    def order_get(self, order_id: int) -> Response:
        account = self._account()
        with self.lock:
            return self._objects([self._owned_one(self.orders, account, order_id, "Order")])

    def order_positions_list(self, order_id: int) -> Response:
        account = self._account()
        with self.lock:
            order = self._owned_one(self.orders, account, order_id, "Order")
            return self._objects(self._positions_of(self.order_positions, "order", order))

    # -- invoices ---------------------------------------------------------------------

    def invoice_save(self) -> Response:
        account = self._account()
        body = self._body()
        with self.lock:
            invoice = body["invoice"]
            header = self._document_header(account, invoice)
            status = invoice["status"]
            discount = number(invoice, "discount")
            tax_rule = header.pop("taxRule", None)
            lines = [self._position(p, tax_rule) for p in body.get("invoicePosSave") or []]
            invoice_id = next(self._ids)
            stamp = now()
            sums = _sums(lines)
            record: Record = {
                "id": str(invoice_id),
                "objectName": "Invoice",
                "create": stamp,
                "update": stamp,
                "invoiceDate": timestamp(document_date(invoice, "invoiceDate")),
                "status": status,
                "invoiceType": invoice["invoiceType"],
                "discount": amount(discount),
                **header,
                **sums,
                "sumNetAccounting": sums["sumNet"],
                "sumTaxAccounting": sums["sumTax"],
                "sumGrossAccounting": sums["sumGross"],
                "paidAmount": 0,
            }
            if tax_rule is not None:
                record["taxRule"] = ref(tax_rule, "TaxRule")
            # A draft has no number until it is sent, unless the client sets one.
            if invoice.get("invoiceNumber"):
                record["invoiceNumber"] = str(invoice["invoiceNumber"])
            if invoice.get("timeToPay") is not None:
                record["timeToPay"] = amount(number(invoice, "timeToPay"))
            if invoice.get("deliveryDate"):
                record["deliveryDate"] = timestamp(document_date(invoice, "deliveryDate"))
            self.invoices[invoice_id] = record
            saved = [
                self._store_position(self.invoice_positions, "InvoicePos", "invoice", record, line)
                for line in lines
            ]
        self.after_commit()
        return self.json({"objects": {"invoice": record, "invoicePos": saved}}, 201)

    def invoices_list(self) -> Response:
        account = self._account()
        args = request.args
        with self.lock:
            rows = [
                i
                for i in self._owned(self.invoices, account)
                if _matches(i, args, number_field="invoiceNumber")
            ]
            return self._objects(rows)

    def invoice_get(self, invoice_id: int) -> Response:
        account = self._account()
        with self.lock:
            return self._objects([self._owned_one(self.invoices, account, invoice_id, "Invoice")])

    # -- documents: what quotes and invoices share ------------------------------------

    def _document_header(self, account: Account, document: Record) -> Record:
        """Validates the references and tax fields of an order or invoice.

        The spec types a reference's id as any integer; the ids must name the account's own
        contact (`Model_Order_contact`: "The contact used in the order"), one of its users
        (`GET /SevUser`) and a country of `GET /StaticCountry` (both lists from sevDesk's
        earlier Swagger docs, see vendor-specs/README.md)."""
        contact_id = reference(document, "contact", "Contact")
        self._contact(account, contact_id, "Contact does not exist")
        user_id = reference(document, "contactPerson", "SevUser")
        if user_id != account.sev_user_id:
            raise SevdeskError(400, f"SevUser {user_id} does not exist")
        country_id = reference(document, "addressCountry", "StaticCountry")
        if country_id not in {c.id for c in catalog.STATIC_COUNTRIES}:
            raise SevdeskError(400, f"StaticCountry {country_id} does not exist")
        currency = document["currency"]
        # The spec types the currency as any string; its description asks for "currency code
        # according to ISO-4217".
        if not re.fullmatch(r"[A-Z]{3}", currency):
            raise SevdeskError(400, "currency must be an ISO 4217 code")
        tax_rate = number(document, "taxRate")
        header: Record = {
            "contact": ref(contact_id, "Contact"),
            "contactPerson": ref(user_id, "SevUser"),
            "createUser": ref(account.sev_user_id, "SevUser"),
            "sevClient": ref(account.sev_client_id, "SevClient"),
            "addressCountry": ref(country_id, "StaticCountry"),
            "currency": currency,
            "taxRate": amount(tax_rate),
            "taxText": str(document["taxText"]),
            "taxType": str(document["taxType"]),
            "smallSettlement": _flag(document, "smallSettlement"),
            "showNet": _flag(document, "showNet", default=True),
        }
        _flag(document, "mapAll")
        for field in ("header", "headText", "footText", "address", "customerInternalNote"):
            if document.get(field) is not None:
                header[field] = str(document[field])
        if document.get("sendType") is not None:
            header["sendType"] = document["sendType"]
        if document.get("taxRule") is not None:
            # The patched spec enumerates the tax rule ids, so the spec step refuses others.
            header["taxRule"] = reference(document, "taxRule", "TaxRule")
        return header

    def _position(self, position: Record, tax_rule: int | None) -> Record:
        quantity = number(position, "quantity")
        tax_rate = number(position, "taxRate")
        unity_id = reference(position, "unity", "Unity")
        # The spec only types the id; the units are the account's list (`GET /Unity`, from
        # sevDesk's earlier Swagger docs, see vendor-specs/README.md).
        if unity_id not in {u.id for u in catalog.UNITIES}:
            raise SevdeskError(400, f"Unity {unity_id} does not exist")
        allowed = catalog.TAX_RATES_BY_RULE.get(tax_rule or 0)
        if allowed is not None and float(tax_rate) not in allowed:
            # sevdesk-Update 2.0 refuses a rate the tax rule does not allow with 422 (the
            # patched spec's `taxRule` description and the fact sheet in vendor-specs/README.md).
            raise SevdeskError(
                422, f"Tax rate {amount(tax_rate)} is not allowed for tax rule {tax_rule}"
            )
        return {
            "quantity": quantity,
            "price": optional_number(position, "price") or Decimal(0),
            "discount": optional_number(position, "discount"),
            "taxRate": tax_rate,
            "unity": unity_id,
            "name": position.get("name"),
            "text": position.get("text"),
            "positionNumber": position.get("positionNumber"),
            "optional": _flag(position, "optional"),
        }

    def _store_position(
        self,
        store: dict[int, Record],
        object_name: str,
        parent_field: str,
        parent: Record,
        line: Record,
    ) -> Record:
        position_id = next(self._ids)
        stamp = now()
        price: Decimal = line["price"]
        tax = price * line["taxRate"] / 100
        record: Record = {
            "id": str(position_id),
            "objectName": object_name,
            "create": stamp,
            "update": stamp,
            parent_field: ref(int(parent["id"]), parent["objectName"]),
            "quantity": amount(line["quantity"]),
            "price": amount(price),
            "priceNet": amount(price),
            "priceTax": amount(tax),
            "priceGross": amount(price + tax),
            "unity": ref(line["unity"], "Unity"),
            "sevClient": dict(parent["sevClient"]),
            "taxRate": amount(line["taxRate"]),
            "positionNumber": str(
                line["positionNumber"]
                if line["positionNumber"] is not None
                else len(self._positions_of(store, parent_field, parent))
            ),
        }
        if line["discount"] is not None:
            record["discount"] = amount(line["discount"])
        for field in ("name", "text"):
            if line[field] is not None:
                record[field] = str(line[field])
        if object_name == "OrderPos":
            record["optional"] = line["optional"]
        store[position_id] = record
        return record

    # -- lookups ----------------------------------------------------------------------

    def _account(self) -> Account:
        with self.lock:
            return self.accounts[g.credential]

    @staticmethod
    def _is_owned(record: Record, account: Account) -> bool:
        return int(record["sevClient"]["id"]) == account.sev_client_id

    def _owned(self, store: dict[int, Record], account: Account) -> Iterator[Record]:
        return (r for r in store.values() if self._is_owned(r, account))

    def _owned_one(
        self, store: dict[int, Record], account: Account, object_id: int, object_name: str
    ) -> Record:
        record = store.get(object_id)
        if record is None or not self._is_owned(record, account):
            # The spec's answer for an unknown id: "400 Bad request. <Object> was not found".
            raise SevdeskError(400, f"{object_name} was not found")
        return record

    def _contact(self, account: Account, contact_id: int, message: str) -> Record:
        record = self.contacts.get(contact_id)
        if record is None or not self._is_owned(record, account):
            raise SevdeskError(400, message)
        return record

    @staticmethod
    def _category(category_id: int | None, object_type: str) -> None:
        if not any(
            c.id == category_id and c.object_type == object_type for c in catalog.CATEGORIES
        ):
            raise SevdeskError(400, f"Category {category_id} does not exist")

    @staticmethod
    def _positions_of(store: dict[int, Record], parent_field: str, parent: Record) -> list[Record]:
        return [p for p in store.values() if p[parent_field]["id"] == parent["id"]]

    # -- request and response helpers -------------------------------------------------

    @staticmethod
    def _body() -> Record:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise SevdeskError(400, "Invalid request body: a JSON object is expected")
        return body

    def _objects(self, rows: list[Record], status: int = 200) -> Response:
        """sevDesk's list answer: `{"objects": [...]}`, paged by limit/offset, with embeds."""
        limit = _int_arg("limit", self.default_limit)
        offset = _int_arg("offset", 0)
        if not 1 <= limit <= self.max_limit:
            raise SevdeskError(400, f"limit must be between 1 and {self.max_limit}")
        page = [self._embed(row) for row in rows[offset : offset + limit]]
        body: Record = {"objects": page}
        if request.args.get("countAll") == "true":
            body["total"] = len(rows)
        return self.json(body, status)

    def _embed(self, row: Record) -> Record:
        names = {
            name.strip()
            for value in request.args.getlist("embed")
            for name in value.split(",")
            if name.strip()
        }
        if not names:
            return row
        embedded = dict(row)
        for name in names & row.keys():
            value = row[name]
            if isinstance(value, dict) and "objectName" in value:
                full = self._lookup(value["objectName"], int(value["id"]))
                if full is not None:
                    embedded[name] = full
        return embedded

    def _lookup(self, object_name: str, object_id: int) -> Record | None:
        stores: dict[str, dict[int, Record]] = {
            "Contact": self.contacts,
            "Order": self.orders,
            "Invoice": self.invoices,
        }
        if object_name in stores:
            return stores[object_name].get(object_id)
        if object_name == "Category":
            for category in catalog.CATEGORIES:
                if category.id == object_id:
                    return {
                        "id": str(category.id),
                        "objectName": "Category",
                        "name": category.name,
                        "objectType": category.object_type,
                    }
        if object_name == "Unity":
            for unity in catalog.UNITIES:
                if unity.id == object_id:
                    return _unity(unity)
        return None

    def _refuse(self, error: SevdeskError) -> Response:
        return self.error_response(error.status, error.message)

    def _http_error(self, error: HTTPException) -> Response:
        # Unknown paths and methods answer in sevDesk's error shape, not Flask's HTML.
        return self.error_response(error.code or 500, error.description or error.name)


# -- module helpers -------------------------------------------------------------------


def _is_person(contact: Record) -> bool:
    return bool(contact.get("surename") or contact.get("familyname"))


def _flag(payload: Record, field: str, *, default: bool = False) -> bool:
    # The spec step has checked that it is a boolean.
    value = payload.get(field)
    return default if value is None else bool(value)


def _unity(unity: catalog.Unity) -> Record:
    return {
        "id": str(unity.id),
        "objectName": "Unity",
        "name": unity.name,
        "translationCode": unity.translation_code,
    }


def _sums(lines: Iterable[Record]) -> Record:
    net = tax = discounts = Decimal(0)
    for line in lines:
        if line["optional"]:
            continue  # optional positions are left out of the totals
        gross_line = line["quantity"] * line["price"]
        discount = gross_line * (line["discount"] or 0) / 100
        line_net = gross_line - discount
        net += line_net
        tax += line_net * line["taxRate"] / 100
        discounts += discount
    return {
        "sumNet": amount(net),
        "sumTax": amount(tax),
        "sumGross": amount(net + tax),
        "sumDiscounts": amount(discounts),
        "sumNetForeignCurrency": amount(net),
        "sumTaxForeignCurrency": amount(tax),
        "sumGrossForeignCurrency": amount(net + tax),
        "sumDiscountsForeignCurrency": amount(discounts),
    }


def _matches(document: Record, args: Any, *, number_field: str) -> bool:
    """The filters `GET /Order` and `GET /Invoice` offer."""
    if "status" in args and document["status"] != args["status"]:
        return False
    if number_field in args and document.get(number_field) != args[number_field]:
        return False
    if "contact[id]" in args and document["contact"]["id"] != args["contact[id]"]:
        return False
    date_field = "orderDate" if "orderDate" in document else "invoiceDate"
    moment = datetime.fromisoformat(document[date_field]).timestamp()
    if "startDate" in args and moment < _int_arg("startDate", 0):
        return False
    return not ("endDate" in args and moment > _int_arg("endDate", 0))


def _int_arg(name: str, default: int) -> int:
    value = request.args.get(name)
    if value is None or value == "":
        return default
    try:
        return as_id(value, name)
    except SevdeskError as exc:
        raise SevdeskError(400, f"{name} must be an integer") from exc


__all__ = ["DEMO_TOKEN", "Account", "SevdeskSandbox"]
