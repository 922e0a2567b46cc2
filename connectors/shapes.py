"""Vendor-neutral shapes: what HubSpot delivers and what an accounting system receives."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Address:
    street: str = ""
    house_number: str = ""
    postcode: str = ""
    city: str = ""
    country_code: str = ""  # ISO 3166-1 alpha-2

    @property
    def street_line(self) -> str:
        return f"{self.street} {self.house_number}".strip()

    @property
    def is_complete(self) -> bool:
        return bool(self.street and self.postcode and self.city and self.country_code)


@dataclass(frozen=True, slots=True)
class Person:
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    phone: str = ""
    address: Address = field(default_factory=Address)
    hubspot_id: str = ""


@dataclass(frozen=True, slots=True)
class Company:
    name: str = ""
    domain: str = ""
    email: str = ""
    phone: str = ""
    vat_id: str = ""
    address: Address = field(default_factory=Address)
    contact_person: Person | None = None
    hubspot_id: str = ""


class CustomerKind(StrEnum):
    COMPANY = "company"
    PERSON = "person"


@dataclass(frozen=True, slots=True)
class Note:
    """Something a mapping had to assume, for the activity log: a code (whose English text is
    declared beside the rule that writes it) and its parameters, put into words when read."""

    code: str
    params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Customer:
    """Who a quote is for: a company (with an optional contact person) or a person."""

    kind: CustomerKind
    company: Company | None = None
    person: Person | None = None
    notes: tuple[Note, ...] = ()  # what the mapping had to assume, for the activity log

    def require_company(self) -> Company:
        if self.company is None:
            raise ValueError("A company customer needs a company.")
        return self.company

    def require_person(self) -> Person:
        if self.person is None:
            raise ValueError("A person customer needs a person.")
        return self.person

    @property
    def email(self) -> str:
        if self.kind is CustomerKind.COMPANY and self.company:
            if self.company.email:
                return self.company.email
            return self.company.contact_person.email if self.company.contact_person else ""
        return self.person.email if self.person else ""

    @property
    def lookup_email(self) -> str:
        """The address that identifies this customer: a company's own, a person's own. A
        company is never looked up by its contact person's address, which would find the
        person's own customer record instead of the company."""
        if self.kind is CustomerKind.COMPANY:
            return self.company.email if self.company else ""
        return self.person.email if self.person else ""

    @property
    def display_name(self) -> str:
        if self.kind is CustomerKind.COMPANY and self.company:
            return self.company.name
        if self.person:
            return f"{self.person.first_name} {self.person.last_name}".strip()
        return ""

    @property
    def address(self) -> Address:
        if self.kind is CustomerKind.COMPANY and self.company:
            return self.company.address
        return self.person.address if self.person else Address()


@dataclass(frozen=True, slots=True)
class LineItem:
    name: str
    quantity: Decimal
    unit_price: Decimal  # net
    description: str = ""
    sku: str = ""
    tax_rate: Decimal | None = None  # percent; None = the tenant's default
    discount_percent: Decimal = Decimal(0)
    unit: str = ""
    hubspot_id: str = ""


@dataclass(frozen=True, slots=True)
class Deal:
    hubspot_id: str
    portal_id: str
    name: str
    pipeline_id: str
    stage_id: str
    currency: str = "EUR"
    amount: Decimal | None = None
    close_date: dt.date | None = None
    company: Company | None = None
    contact: Person | None = None
    line_items: tuple[LineItem, ...] = ()


@dataclass(frozen=True, slots=True)
class QuotePosition:
    name: str
    quantity: Decimal
    unit_net_price: Decimal
    tax_rate: Decimal
    unit: str = "Stück"
    description: str = ""
    discount_percent: Decimal = Decimal(0)
    # The vendor's revenue account id the tenant's mapping chose for the customer's country;
    # "" = the vendor's default. Sent only where the vendor's spec has such a field.
    revenue_account: str = ""
    # The vendor's article this position stands for (the line item's SKU matched one): the
    # connector then sends the article reference its spec has, else a free-text position.
    article: Article | None = None


@dataclass(frozen=True, slots=True)
class Article:
    """A product of a catalogue, keyed by its SKU on both sides (HubSpot `hs_sku`; lexware
    office articleNumber; bexio intern_code; sevDesk partNumber)."""

    sku: str
    name: str
    description: str = ""  # the short text
    long_description: str = ""
    unit_price: Decimal | None = None
    price_is_gross: bool = False  # the price includes tax (at `tax_rate`)
    tax_rate: Decimal | None = None  # percent
    unit: str = ""  # the unit's name ("Stück", "Stunde"), as the vendor names it
    gtin: str = ""  # EAN / GTIN
    currency: str = ""  # where the vendor keeps one
    service: bool = False  # a service rather than a good (lexware office, bexio, HubSpot)
    vendor_id: str = ""  # the id in the system it was read from or written to
    # What changes when the record changes (a version, an update stamp): a poll's marker.
    marker: str = ""


class ArticleField(StrEnum):
    """The groups of fields an update may overwrite (the tenant's choice), so that a text
    enriched on the receiving side is not overwritten."""

    NAME = "name"
    DESCRIPTIONS = "descriptions"  # description and long_description
    PRICE = "price"  # unit_price, price_is_gross, tax_rate


@dataclass(frozen=True, slots=True)
class ArticlePage:
    articles: tuple[Article, ...]
    next_cursor: str  # "" after the last page


@dataclass(frozen=True, slots=True)
class Quote:
    title: str
    introduction: str
    positions: tuple[QuotePosition, ...]
    currency: str
    valid_from: dt.date
    valid_until: dt.date
    reference: str  # our reference to the HubSpot deal, e.g. "hubspot-deal-4711-123"
    customer_id: str  # the vendor's id of the customer
    # The customer's language (connectors.documents.LANGUAGES); "" for a quote built before
    # documents had one, which is written in German as it was then.
    language: str = ""
    remark: str = ""  # the closing text (terms) below the positions; "" = the vendor's default
    contact_person_id: str = ""  # the vendor's id of the customer's contact person, if any
    # The payment term the tenant's mapping chose (days, and its words on the document);
    # None = the vendor's default. Sent only where the vendor's spec has such a field.
    payment_term_days: int | None = None
    payment_term_label: str = ""


@dataclass(frozen=True, slots=True)
class AccountInfo:
    account_id: str
    name: str


@dataclass(frozen=True, slots=True)
class CustomerRef:
    vendor_id: str
    number: str = ""
    version: int | None = None  # for vendors with optimistic locking (lexware office)


@dataclass(frozen=True, slots=True)
class QuoteRef:
    vendor_id: str
    number: str = ""
    url: str = ""


class DocumentKind(StrEnum):
    """The documents a deal can become, in the order a sale goes through them."""

    QUOTE = "quote"
    ORDER = "order"  # an order confirmation
    INVOICE = "invoice"


class DocumentStatus(StrEnum):
    """A document's status in the vendor's system, in the words HubSpot users see."""

    DRAFT = "draft"
    OPEN = "open"  # finalized, not sent (or the vendor does not tell sent from open)
    SENT = "sent"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    VOIDED = "voided"


@dataclass(frozen=True, slots=True)
class DocumentLink:
    """An earlier document of the same deal that a new one is made from or refers to."""

    kind: DocumentKind
    vendor_id: str


@dataclass(frozen=True, slots=True)
class DocumentState:
    """What the vendor says of one document now."""

    status: DocumentStatus
    number: str = ""
    url: str = ""
    currency: str = ""
    total: Decimal | None = None  # gross
    open_amount: Decimal | None = None  # invoices: what is still to be paid
    paid_date: dt.date | None = None  # invoices: when it was paid in full


@dataclass(frozen=True, slots=True)
class DocumentChange:
    """A document that changed at the vendor (from its event or from polling). `marker` tells
    one change from the next (an update stamp, a status): the same marker is the same change."""

    kind: DocumentKind
    vendor_id: str
    marker: str = ""


@dataclass(frozen=True, slots=True)
class DocumentChanges:
    """One poll: the changes since the cursor, and the cursor to ask from next time."""

    changes: tuple[DocumentChange, ...]
    cursor: str


@dataclass(frozen=True, slots=True)
class IncomingEvent:
    """One verified event of a vendor's webhook. `account_id` is the vendor's id of the account
    (Connection.external_account_id) it belongs to; `change` the document it is about, None
    for an event the product does not act on."""

    account_id: str
    event_type: str
    event_id: str
    payload: dict[str, object]
    change: DocumentChange | None = None
    occurred_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class EventSubscription:
    """What the product keeps of its subscription to a vendor's events, to verify them and to
    remove it: the vendor's ids, and the signing secret where the vendor gives one (stored
    encrypted with the connection's credentials)."""

    ids: tuple[str, ...]
    secret: str = ""


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a vendor can and cannot do; the transfer adapts to it instead of special-casing.
    A provider declares only where it differs from these defaults."""

    title_max_length: int | None = None  # None = no limit in the spec
    currencies: frozenset[str] | None = None  # None = any ISO currency
    # Tax rates (percent) a position may carry, from the fact sheet where the vendor's API
    # does not list them; None = any rate (or read from the account by the connector).
    tax_rates: frozenset[Decimal] | None = None
    can_delete_customers: bool = False
    has_idempotency_keys: bool = False
    can_create_invoices: bool = False
    quote_is_draft: bool = True  # False where the vendor has no draft state (Qonto)
    # False where a customer has no contact persons of its own (Qonto): a deal's contact is
    # then only the company's e-mail address when the company has none.
    contact_persons: bool = True
    # The documents a deal stage may create here (what the vendor's spec lets us create).
    documents: frozenset[DocumentKind] = frozenset({DocumentKind.QUOTE})
    # Per kind, the earlier documents of the same deal it can be made from and refer to
    # (lexware office: an invoice from its quotation; sevDesk: an invoice from its order).
    links: tuple[tuple[DocumentKind, frozenset[DocumentKind]], ...] = ()
    # An invoice can be created finalized (numbered, open) instead of as a draft.
    can_finalize_invoices: bool = False
    # How status changes come back: the vendor calls us (subscribed at connection time),
    # and/or the product asks on a cursor.
    status_events: bool = False
    status_polling: bool = False
    # A catalogue of articles keyed by SKU (False: the vendor's API has no SKU, say Qonto).
    articles: bool = False
    # An article can be archived or deleted through the API (else a deletion is logged).
    can_archive_articles: bool = False

    def can_link(self, kind: DocumentKind, earlier: DocumentKind) -> bool:
        return any(k is kind and earlier in sources for k, sources in self.links)
