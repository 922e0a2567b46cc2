"""ZEP: customers, their addresses and contact persons, and projects, over REST where it
suffices and SOAP (zeep) where REST cannot write (a customer's address and contact persons).

Both APIs go through the one HTTP path: REST through `Connector.client` (bearer token), SOAP
through a second HttpClient on the same rate-limit bucket (zeep's transport posts through
it), so both share one limit, one retry policy and one error hierarchy. A SOAP fault and a
`returnCode` other than "0" become the same errors as REST's answers.

ASSUMPTIONS where the spec, the WSDL and the fact sheet are silent (kept here and in
mapping.py only):
- The SOAP endpoint is the REST base with `/next/api/v1` replaced by `/sync/soap.php?v=7`.
- A SOAP fault that names the token (authorization / authentication) means the SOAP token
  is refused; any other fault is a request ZEP refuses.
- Customer list items may or may not carry the internal `id` (the Customer schema declares
  it, the docs' examples show it only in a create's answer): a customer whose number was
  changed in ZEP is found by that id where the list shows it, else by its name, which
  HubSpot leads.
- SOAP list entries with an `id` are changed, without one added.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

import requests
import zeep
from zeep.exceptions import Fault
from zeep.helpers import serialize_object
from zeep.wsdl import Document

from connectors import errors
from connectors.auth import NoAuth
from connectors.base import Connector
from connectors.http import HttpClient, VendorApi
from connectors.shapes import AccountInfo, Address, Company, Person
from connectors.zep import mapping
from connectors.zep.mapping import ZepCustomer, ZepProject
from connectors.zep.provider import PROVIDER

WSDL = Path(__file__).resolve().parents[2] / "vendor-specs" / "zep" / "zep-soap-v7-derived.wsdl"
BINDING = "{http://zep.provantis.de}ZepSOAP"
REST_ROOT = "/next/api/v1"
SOAP_PATH = "/sync/soap.php?v=7"
PAGE_SIZE = 100  # the most a page holds
SOAP_OK = "0"
AUTH_FAULT_WORDS = ("authoriz", "authentic", "token")


@cache
def _wsdl() -> Document:
    """The WSDL, parsed once per process (it never changes at runtime)."""
    return Document(str(WSDL), cast(Any, zeep.Transport()))


class _Transport(zeep.Transport):
    """zeep's transport, sending through the connector's SOAP HttpClient."""

    def __init__(self, client: HttpClient) -> None:
        super().__init__()
        self.client = client
        self.idempotent = False

    def post(self, address: str, message: bytes, headers: Mapping[str, str]) -> requests.Response:
        response = self.client.request(
            "POST",
            "",
            data=cast(Any, message),
            headers=dict(headers),
            idempotent=self.idempotent,
            # A SOAP fault comes as HTTP 500 with an envelope, read by zeep.
            expected=(200, 500),
        )
        if response.status_code == 500 and b"Fault>" not in response.content:
            raise errors.TransientError(f"{self.client.api.name} answered 500")
        return response


class ZepConnector(Connector):
    provider = PROVIDER
    read_error = staticmethod(mapping.read_error)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        soap_url = self.base_url.removesuffix(REST_ROOT) + SOAP_PATH
        api = self.client.api
        self.soap_client = HttpClient(
            VendorApi(
                name=api.name,  # the same name and key: the same rate-limit bucket
                base_url=soap_url,
                rate=api.rate,
                read_timeout=api.read_timeout,
                headers={"Content-Type": "text/xml; charset=utf-8"},
            ),
            limiter_key=self.client.limiter_key,
            breaker_scope=self.client.breaker_scope,
            auth=NoAuth(),
        )
        self._transport = _Transport(self.soap_client)
        client = zeep.Client(wsdl=_wsdl(), transport=self._transport)
        self._soap = client.create_service(BINDING, soap_url)

    # -- the account ----------------------------------------------------------------------

    def verify(self) -> AccountInfo:
        """2 calls: one page of customers over REST, and the same customer (or none) over
        SOAP, so both tokens are proven. A 404 for the route means the instance has no
        customers and projects (ZEP Clock, or the module not booked)."""
        try:
            page = self.request("GET", "/customers", params={"limit": 1}).json()
        except errors.NotFound as missing:
            raise errors.PermanentError(
                "This ZEP instance offers no customers and projects (ZEP Clock, or the "
                "module is not booked).",
                vendor_message=missing.vendor_message,
                status=404,
            ) from missing
        first: dict[str, Any] = next(iter(page.get("data") or []), {})
        self._soap_call(
            "readKunde", readKundenSearchCriteria={"kundenNr": first.get("customer_number") or "0"}
        )
        instance = str((self.connection.credentials or {}).get("instance", "")).strip()
        return AccountInfo(account_id=instance, name=f"ZEP {instance}".strip())

    # -- customers ------------------------------------------------------------------------

    def customer_by_number(self, number: str) -> dict[str, Any] | None:
        """1 call."""
        try:
            data = self.request("GET", f"/customers/{_segment(number)}").json().get("data")
        except errors.NotFound:
            return None
        return data if isinstance(data, dict) else None

    def customer_get(
        self, *, customer_id: int | None, number: str, names: Sequence[str] = ()
    ) -> ZepCustomer | None:
        """The linked customer by its last known number (1 call); where that number is gone
        (changed in ZEP), the list is searched for the internal id, else for the first of
        `names` (the name last written, which HubSpot leads) that a customer has."""
        found = self.customer_by_number(number) if number else None
        if found is not None:
            return mapping.to_customer(found, customer_id=customer_id)
        by_name: dict[str, dict[str, Any]] = {}
        for item in self._pages("/customers"):
            if customer_id is not None and item.get("id") == customer_id:
                return mapping.to_customer(item, customer_id=customer_id)
            if "id" not in item:
                by_name.setdefault(str(item.get("name") or ""), item)
        match = next((by_name[n] for n in names if n and n in by_name), None)
        return None if match is None else mapping.to_customer(match, customer_id=customer_id)

    @staticmethod
    def customer_adopt(found: dict[str, Any]) -> ZepCustomer:
        """A customer found by its number; its internal id only where the answer shows it."""
        shown = found.get("id")
        return mapping.to_customer(found, customer_id=shown if isinstance(shown, int) else None)

    def customer_create(self, company: Company, *, number: str, note: str = "") -> ZepCustomer:
        """1 call. Not idempotent: after an UnknownOutcome, look the number up first."""
        body = mapping.customer_create_body(company, number=number, note=note)
        data = self.request("POST", "/customers", json=body).json()["data"]
        return mapping.to_customer(data, customer_id=int(data["id"]))

    def customer_update(self, customer: ZepCustomer, company: Company, *, note: str = "") -> None:
        """1 call; the customer number stays as ZEP has it."""
        body = mapping.customer_fields(company, note=note)
        self.request("PATCH", f"/customers/{_segment(customer.number)}", json=body)

    def customer_details_write(
        self, customer: ZepCustomer, address: Address | None, persons: Sequence[Person]
    ) -> None:
        """2 SOAP calls: reads the customer's address and contact persons, then writes the
        company's address (where given) as its default address and the contacts as contact
        persons; the second call only where there is something to write."""
        found = self._soap_call(
            "readKunde", idempotent=True, readKundenSearchCriteria={"kundenNr": customer.number}
        )
        kunden = (found.get("kundeListe") or {}).get("kunde") or []
        if not kunden:
            raise errors.NotFound(f"ZEP has no customer {customer.number} (SOAP)")
        stored = kunden[0]
        addresses = (stored.get("adressenListe") or {}).get("adresse") or []
        default = next((a for a in addresses if a.get("istStandard")), None)
        entry = (
            mapping.address_entry(address, existing_id=default.get("id") if default else None)
            if address is not None
            else None
        )
        contacts = mapping.contact_entries(
            persons, (stored.get("ansprechpartnerListe") or {}).get("ansprechpartner") or []
        )
        kunde: dict[str, Any] = {"kundenNr": customer.number}
        if entry is not None:
            kunde["adressenListe"] = {"adresse": [entry]}
        if contacts:
            kunde["ansprechpartnerListe"] = {"ansprechpartner": contacts}
        if len(kunde) > 1:
            self._soap_call("updateKunde", kunde=kunde)

    # -- projects -------------------------------------------------------------------------

    def project_get(self, project_id: int) -> ZepProject | None:
        """1 call."""
        try:
            data = self.request("GET", f"/projects/{int(project_id)}").json()["data"]
        except errors.NotFound:
            return None
        return mapping.to_project(data)

    def project_find(self, name: str) -> ZepProject | None:
        """1 call: the project whose Kurzform is `name` (the `name` filter is inferred)."""
        for item in self._pages("/projects", name=name):
            if item.get("name") == name:
                return mapping.to_project(item)
        return None

    def project_create(
        self, *, deal_id: str, deal_name: str, customer: ZepCustomer, start: dt.date
    ) -> ZepProject:
        """1 call (REST), or 2 (SOAP and a look-up) for a customer whose internal id ZEP's
        answers never showed. Not idempotent: after an UnknownOutcome, look the name up first."""
        if customer.customer_id is None:
            projekt = mapping.projekt_entry(
                deal_id=deal_id, deal_name=deal_name, customer_number=customer.number, start=start
            )
            self._soap_call("createProjekt", projekt=projekt)
            created = self.project_find(projekt["projektNr"])
            if created is None:
                raise errors.TransientError(f"ZEP does not list project {deal_id} yet")
            return created
        body = mapping.project_create_body(
            deal_id=deal_id,
            deal_name=deal_name,
            customer_id=customer.customer_id,
            start=start,
            department_id=customer.department_id,
        )
        return mapping.to_project(self.request("POST", "/projects", json=body).json()["data"])

    def project_update(self, project: ZepProject, *, deal_name: str, customer: ZepCustomer) -> None:
        """1 call."""
        body = mapping.project_update_body(deal_name=deal_name, customer_id=customer.customer_id)
        self.request("PATCH", f"/projects/{project.project_id}", json=body)

    # -- helpers --------------------------------------------------------------------------

    def _pages(self, path: str, **params: str) -> Iterator[dict[str, Any]]:
        """Every item of a list, page by page, until `links.next` is null."""
        page = 1
        while True:
            answer = self.request(
                "GET", path, params={**params, "limit": PAGE_SIZE, "page": page}
            ).json()
            yield from (item for item in answer.get("data") or [] if isinstance(item, dict))
            if not (answer.get("links") or {}).get("next"):
                return
            page += 1

    def _soap_call(
        self, operation: str, *, idempotent: bool = False, **body: Any
    ) -> dict[str, Any]:
        token = str((self.connection.credentials or {}).get("soap_token") or "").strip()
        self._transport.idempotent = idempotent or operation.startswith("read")
        try:
            answer = getattr(self._soap, operation)(
                requestHeader={"authorizationToken": token}, **body
            )
        except Fault as fault:
            message = str(fault.message or "")
            if any(word in message.casefold() for word in AUTH_FAULT_WORDS):
                raise self.client.auth.refused(
                    errors.AuthorizationExpired(
                        "ZEP refused the SOAP token", vendor_message=message
                    )
                ) from fault
            raise errors.PermanentError(
                f"ZEP refused {operation}", vendor_message=message
            ) from fault
        result: dict[str, Any] = serialize_object(answer, dict) or {}
        # zeep hands back an answer with only a header as that header.
        header = result if "returnCode" in result else result.get("responseHeader") or {}
        if str(header.get("returnCode")) != SOAP_OK:
            raise errors.PermanentError(
                f"ZEP refused {operation} (code {header.get('returnCode')})",
                vendor_message=str(header.get("message") or ""),
            )
        return result


def _segment(value: str) -> str:
    return quote(value, safe="")
