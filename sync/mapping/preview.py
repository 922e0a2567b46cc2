"""The dry run: what a transfer would send for a deal, contact or company, computed by the
transfer's own code and stopped at the network.

The preview reads what the transfer reads (HubSpot, the mapping, the customer's lookup) and
builds the vendor's request with the connector's own method (`create_quote`,
`create_customer`, `update_customer`): every write that method would send is held back at
`Connector.request` and shown instead (`writes_held`). So the preview and the transfer share
one path, and what the preview shows is what the transfer sends."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from accounts.models import Tenant
from connectors import errors
from connectors.base import AccountingConnector, Connector
from connectors.hubspot.client import HubSpotClient
from connectors.shapes import Address, Company, Customer, CustomerKind, CustomerRef, Person
from sync.mapping import rules as mapping_rules
from sync.mapping import services as mapping_services
from sync.mapping import targets
from sync.messages import Message, Refusal, render
from sync.models import Transfer
from sync.payload_display import Readable, readable
from sync.services import context, customers, quotes
from sync.services.handlers import customer_mapped_by, customer_of
from sync.services.runs import plain

# POSTs that only read: searches (bexio contacts, HubSpot CRM) and batch reads.
READING_POSTS = ("/search", "/batch/read")
# What a new customer's id is in a document previewed before the customer exists.
NEW_CUSTOMER_ID = "0"


class WriteHeld(Exception):
    """The write a connector was about to send."""

    def __init__(self, method: str, path: str, body: Any) -> None:
        super().__init__(f"{method} {path}")
        self.method, self.path, self.body = method, path, body

    def as_json(self) -> dict[str, Any]:
        return {"method": self.method, "path": self.path, "body": _json(self.body)}


def _json(value: Any) -> Any:
    """The body as it goes over the wire (what `requests` serializes)."""
    return json.loads(json.dumps(value, default=str)) if value is not None else None


@contextmanager
def writes_held(connector: Connector) -> Iterator[None]:
    """Reads go to the vendor; the first write raises WriteHeld with what it would send."""
    real = connector.request

    def request(method: str, path: str, **kwargs: Any) -> Any:
        verb = method.upper()
        if verb in ("GET", "HEAD") or (verb == "POST" and path.rstrip("/").endswith(READING_POSTS)):
            return real(method, path, **kwargs)
        raise WriteHeld(verb, path, kwargs.get("json", kwargs.get("data")))

    connector.request = request  # type: ignore[method-assign]
    try:
        yield
    finally:
        del connector.request


@dataclass
class Preview:
    kind: str  # "quote" or "customer"
    object_type: str
    object_id: str
    title: str = ""
    system: str = ""
    source: dict[str, Any] = field(default_factory=dict)  # what HubSpot gave
    values: dict[str, Any] = field(default_factory=dict)  # properties the mapping read
    request: dict[str, Any] | None = None  # method, path, body of the document or customer
    customer_request: dict[str, Any] | None = None  # a customer the quote would create first
    extra_requests: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # every rule that fired
    problems: list[str] = field(default_factory=list)  # what would stop the transfer
    versions: dict[str, int] = field(default_factory=dict)
    unsaved: list[str] = field(default_factory=list)  # flows previewed with unsaved rules
    seconds: float = 0.0

    @property
    def body(self) -> Any:
        return self.request["body"] if self.request else None

    @property
    def source_shown(self) -> Readable | None:
        return readable(self.source)

    @property
    def body_shown(self) -> Readable | None:
        return readable(self.body) if self.request else None

    @property
    def customer_shown(self) -> Readable | None:
        return readable(self.customer_request["body"]) if self.customer_request else None

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "title": self.title,
            "system": self.system,
            "source": self.source,
            "values": self.values,
            "request": self.request,
            "customer_request": self.customer_request,
            "extra_requests": self.extra_requests,
            "notes": self.notes,
            "problems": self.problems,
            "versions": self.versions,
        }


def _texts(*notes: Any) -> list[str]:
    from sync.messages import note_entries

    return [render(entry) for entry in note_entries(*notes)]


def _problem(exc: Exception) -> str:
    if isinstance(exc, Refusal):
        return str(exc.message)
    if isinstance(exc, errors.ConnectorError):
        return exc.vendor_message or str(exc)
    return str(exc)


def _clients(tenant: Tenant) -> tuple[AccountingConnector, HubSpotClient]:
    return (
        context.accounting_connector(tenant=tenant),
        HubSpotClient(connection=context.hubspot_connection(tenant=tenant)),
    )


def deal_preview(
    *, tenant: Tenant, deal_id: str, unsaved: dict[str, mapping_rules.Rules] | None = None
) -> Preview:
    """What the quote transfer of `deal_id` would send now, without sending it; with
    `unsaved`, what it would send once those rules are saved."""
    started = time.perf_counter()
    preview = Preview(kind="quote", object_type="deal", object_id=str(deal_id))
    try:
        connector, hubspot = _clients(tenant)
        preview.system = connector.provider.key
        settings = context.transfer_settings(tenant=tenant)
        deal = hubspot.read_deal(str(deal_id))
        preview.title, preview.source = deal.name, plain(deal)
        ctx = context.TenantContext(tenant=tenant, settings=settings)
        mapped = quotes.deal_mapping(
            tenant=tenant, system=preview.system, hubspot=hubspot, deal=deal, unsaved=unsaved
        )
        preview.values = mapped.values
        preview.versions = {"quote": mapped.quote.number, "customer": mapped.customer.number}
        preview.unsaved = sorted(unsaved or {})
        customer = quotes.deal_customer(
            deal=deal,
            placeholder=ctx.placeholder,
            default_country=ctx.default_country,
            mapped=mapped,
        )
        notes: list[Any] = list(customer.notes) if customer is not None else []
        ref, how = _deal_customer_ref(
            preview, tenant=tenant, connector=connector, deal=deal, customer=customer,
            default_debtor=mapped.default_debtor,
        )  # fmt: skip
        notes.append(_how_note(how, ref.vendor_id))
        contact_person_id = ""
        if customer is not None and how != "default_debtor":
            contact_person_id = _contact_person(
                preview, connector, customer, ref, how, notes, tenant=tenant
            )
        quote, quote_notes = quotes.quote_from_deal(
            deal=deal,
            customer_id=ref.vendor_id,
            connector=connector,
            settings=settings,
            address=customer.address if customer is not None else Address(),
            contact_person_id=contact_person_id,
            mapped=mapped,
        )
        notes += quote_notes
        preview.notes = _texts(*notes)
        with writes_held(connector):
            try:
                connector.create_quote(quote)
            except WriteHeld as held:
                preview.request = held.as_json()
    except (Refusal, errors.ConnectorError, ValueError) as exc:
        preview.problems.append(_problem(exc))
    preview.seconds = time.perf_counter() - started
    return preview


def _how_note(how: str, vendor_id: str) -> Message:
    if how == "default_debtor":
        return Message("customer.default_debtor", {"id": vendor_id})
    return Message(f"customer.{how}")


def _deal_customer_ref(
    preview: Preview,
    *,
    tenant: Tenant,
    connector: AccountingConnector,
    deal: Any,
    customer: Customer | None,
    default_debtor: str,
) -> tuple[CustomerRef, str]:
    if customer is None:
        return CustomerRef(vendor_id=default_debtor), "default_debtor"
    object_type = Transfer.ObjectType.COMPANY if deal.company else Transfer.ObjectType.CONTACT
    object_id = deal.company.hubspot_id if deal.company else deal.contact.hubspot_id
    ref, how = customers.customer_find(
        tenant=tenant,
        connector=connector,
        customer=customer,
        object_type=object_type,
        object_id=object_id,
    )
    if ref is not None:
        return ref, how
    if default_debtor:
        return CustomerRef(vendor_id=default_debtor), "default_debtor"
    with writes_held(connector):
        try:
            connector.create_customer(customer)
        except WriteHeld as held:
            preview.customer_request = held.as_json()
    return CustomerRef(vendor_id=NEW_CUSTOMER_ID), "created"


def _contact_person(
    preview: Preview,
    connector: AccountingConnector,
    customer: Customer,
    ref: CustomerRef,
    how: str,
    notes: list[Any],
    *,
    tenant: Tenant,
) -> str:
    company = customer.company
    person = company.contact_person if company is not None else None
    if (
        customer.kind is not CustomerKind.COMPANY
        or person is None
        or not connector.capabilities.contact_persons
    ):
        return ""
    name = f"{person.first_name} {person.last_name}".strip()
    notes.append(Message("customer.contact_person", {"name": name}))
    if how == "created" and ref.vendor_id == NEW_CUSTOMER_ID:
        return ""  # made with the new customer; its id comes with it
    remembered = customers.contact_person_remembered(
        tenant=tenant, system=connector.provider.key, vendor_id=ref.vendor_id, person=person
    )
    if remembered is not None:
        return remembered  # made sure of before: the transfer asks the vendor nothing
    with writes_held(connector):
        try:
            return connector.contact_person_ensure(ref, person, customer_created=False)
        except WriteHeld as held:
            preview.extra_requests.append(held.as_json())
            return ""


def customer_preview(*, tenant: Tenant, object_type: str, object_id: str) -> Preview:
    """What the transfer of a contact or company would send now, without sending it."""
    started = time.perf_counter()
    preview = Preview(kind="customer", object_type=object_type, object_id=str(object_id))
    try:
        connector, hubspot = _clients(tenant)
        preview.system = connector.provider.key
        ctx = context.TenantContext(
            tenant=tenant, settings=context.transfer_settings(tenant=tenant)
        )
        in_force = mapping_services.mapping_in_force(
            tenant=tenant, system=preview.system, flow=targets.CUSTOMER
        )
        preview.versions = {"customer": in_force.number}
        exclusion = in_force.rules.exclusion_property or ctx.settings.exclusion_property
        shape: Person | Company
        if object_type == Transfer.ObjectType.COMPANY:
            shape, excluded = hubspot.get_company(str(object_id), exclusion_property=exclusion)
        else:
            shape, excluded = hubspot.get_contact(str(object_id), exclusion_property=exclusion)
        preview.source = plain(shape)
        if excluded:
            preview.problems.append(str(Message("customer.excluded", {"name": exclusion})))
            return preview
        customer = customer_mapped_by(hubspot=hubspot, in_force=in_force, shape=shape)(
            customer_of(shape=shape, ctx=ctx)
        )
        preview.title = customer.display_name
        ref, how = customers.customer_find(
            tenant=tenant,
            connector=connector,
            customer=customer,
            object_type=object_type,
            object_id=str(object_id),
        )
        preview.notes = _texts(*customer.notes, Message(f"customer.{how}"))
        with writes_held(connector):
            try:
                if ref is None:
                    connector.create_customer(customer)
                else:
                    connector.update_customer(ref, customer)
            except WriteHeld as held:
                preview.request = held.as_json()
    except (Refusal, errors.ConnectorError, ValueError) as exc:
        preview.problems.append(_problem(exc))
    preview.seconds = time.perf_counter() - started
    return preview


def transfer_preview(*, transfer: Transfer) -> Preview:
    """ "What would be sent now" for a transfer of the activity log."""
    if transfer.kind == Transfer.Kind.QUOTE:
        return deal_preview(tenant=transfer.tenant, deal_id=transfer.object_id)
    return customer_preview(
        tenant=transfer.tenant, object_type=transfer.object_type, object_id=transfer.object_id
    )


def values_shown(values: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, str, str]]:
    """(object, property, value) of the properties the mapping read."""
    return [
        (str(targets.OBJECTS.get(obj, obj)), name, str(value or ""))
        for obj, props in values.items()
        for name, value in sorted(props.items())
    ]
