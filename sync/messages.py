"""What the activity log says about a transfer, stored as a code with its parameters and put
into words when it is read, in the reader's language.

The worker writes in no one's language in particular (the product's default, German): text
stored in its words would greet an English reader in German. So a transfer's error, its
attempts' errors and its notes are stored as {"code": ..., "params": {...}} and rendered with
gettext when a page shows them. A vendor's own message is a parameter, kept verbatim: it is
not ours to translate. Rows written before codes existed hold plain text, shown as it is."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeAlias

from django.conf import settings
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext, gettext_noop

from connectors import errors, rules
from connectors.shapes import Note
from sync.mapping.texts import NOTE_TEXTS as MAPPING_TEXTS

# The vendor's words (or other text nobody translates), shown as they came.
VERBATIM = "verbatim"

# Every code with its text in English, the msgid its translations are looked up by. A code
# stays once rows hold it; a changed text gets a new code.
TEXTS: dict[str, str] = {
    # The end of a run.
    "run.superseded": gettext_noop(
        "Another run changed this transfer meanwhile; this one stopped."
    ),
    "run.gave_up": gettext_noop("Gave up after %(n)d attempts: %(error)s"),
    "run.unexpected": gettext_noop("An unexpected error occurred. The team has been notified."),
    # What a vendor's answer meant.
    "vendor.refused_connection": gettext_noop(
        "The connection was refused (%(reason)s). Please reconnect it."
    ),
    "vendor.rate_limited": gettext_noop(
        "The vendor's rate limit was reached; the transfer waits and tries again."
    ),
    "vendor.unknown_outcome": gettext_noop(
        "The vendor did not answer in time. Before trying again, the product checks "
        "whether the quote was created after all."
    ),
    "vendor.unreachable": gettext_noop(
        "The vendor is not reachable right now (%(reason)s); it will be tried again."
    ),
    "vendor.circuit_open": gettext_noop(
        "%(vendor)s is not reachable right now. The transfer waits until it is back; "
        "the wait does not count as an attempt."
    ),
    "customer.busy": gettext_noop(
        "Another transfer is working on the same customer; this one waits and tries again."
    ),
    # Quotes.
    "deal.not_won": gettext_noop("The deal is no longer in a won stage; no quote was created."),
    "deal.no_customer": gettext_noop("The deal has neither a company nor a contact."),
    "deal.no_line_items": gettext_noop("The deal has no line items, so the quote would be empty."),
    "deal.currency_refused": gettext_noop(
        "%(system)s accepts only %(currencies)s; the deal is in %(currency)s."
    ),
    "deal.currency_not_in_account": gettext_noop(
        "The deal is in %(currency)s, but your %(system)s account has only %(currencies)s. "
        "Add the currency in %(system)s or change the deal's currency."
    ),
    "deal.fallback_currency_not_in_account": gettext_noop(
        "The deal has no currency, so %(currency)s was used, but your %(system)s account has "
        "only %(currencies)s. Choose the currency for deals without one in the transfer "
        "settings: %(url)s"
    ),
    "quote.default_tax_rate_not_allowed": gettext_noop(
        "Your %(system)s account does not allow the default tax rate of %(rate)s %%; it "
        "allows %(rates)s. Choose another default tax rate in the transfer settings: %(url)s"
    ),
    "quote.tax_rate_not_allowed": gettext_noop(
        "The line item “%(item)s” has a tax rate of %(rate)s %%, which your %(system)s "
        "account does not allow; it allows %(rates)s. Please correct the line item in "
        "HubSpot."
    ),
    "vendor.tax_rate_refused": gettext_noop(
        "The accounting system refused the tax rate of %(rate)s %% (%(reason)s). Allowed: "
        "%(rates)s. Choose an allowed default tax rate in the transfer settings (%(url)s) or "
        "correct the line item's tax rate in HubSpot."
    ),
    "quote.title_shortened": gettext_noop(
        "The deal name was shortened to %(length)d characters for the title."
    ),
    "quote.found_after_all": gettext_noop("The quote had been created; it was not sent twice."),
    "quote.not_written_back": gettext_noop(
        "The quote number could not be written to the deal: %(error)s"
    ),
    "plan.missing": gettext_noop("No plan has been chosen, so no accounting system is set."),
    # Documents per deal stage and their status.
    "deal.not_in_stage": gettext_noop(
        "The deal is not in a stage that creates this document; none was created."
    ),
    "document.not_supported": gettext_noop(
        "%(system)s cannot create a %(document)s through its API. Please change the "
        "document rules in the settings."
    ),
    "document.waiting_for_earlier": gettext_noop(
        "The deal's earlier document is still being created; this one waits to be made from it."
    ),
    "document.made_from": gettext_noop("Made from the deal's %(document)s."),
    "document.quote": gettext_noop("quote"),
    "document.order": gettext_noop("order confirmation"),
    "document.invoice": gettext_noop("invoice"),
    "status.written": gettext_noop("%(document)s: %(status)s, written to the deal."),
    "status.waiting_for_document": gettext_noop(
        "A document of the deal is still being created; its status is read once it is."
    ),
    "status.unchanged": gettext_noop("The documents' status is unchanged; nothing was written."),
    "status.no_documents": gettext_noop("The deal has no documents in %(system)s yet."),
    "status.document_gone": gettext_noop(
        "The %(document)s was deleted in %(system)s; its status is no longer followed."
    ),
    "status.moved_to_paid_stage": gettext_noop(
        "The invoice is paid: the deal was moved to the stage chosen for paid invoices."
    ),
    "status.paid_stage_not_in_pipeline": gettext_noop(
        "The invoice is paid, but the stage chosen for paid invoices is not in the deal's "
        "pipeline: the deal stays where it is."
    ),
    # Products by SKU.
    "products.created": gettext_noop("Created in %(system)s."),
    "products.updated": gettext_noop(
        "Updated in %(system)s (only the fields the settings let an update overwrite)."
    ),
    "products.unchanged": gettext_noop("Already the same in %(system)s; nothing was written."),
    "products.duplicate_sku": gettext_noop(
        "%(system)s has several products with the SKU %(sku)s. They were not merged: please "
        "give each its own SKU, then retry."
    ),
    "products.archived": gettext_noop("Deleted on the leading side: archived in %(system)s."),
    "products.archive_by_hand": gettext_noop(
        "Deleted on the leading side. %(system)s does not allow removing products through "
        "its API: please archive the product with the SKU %(sku)s there by hand."
    ),
    "products.gone_on_both_sides": gettext_noop(
        "Deleted on the leading side, and %(system)s has no such product either."
    ),
    "products.article_used": gettext_noop(
        "Positions with a known SKU refer to the article: %(skus)s."
    ),
    "products.article_created": gettext_noop("Articles created for the deal: %(skus)s."),
    "status.draft": gettext_noop("draft"),
    "status.open": gettext_noop("open"),
    "status.sent": gettext_noop("sent"),
    "status.accepted": gettext_noop("accepted"),
    "status.rejected": gettext_noop("rejected"),
    "status.partially_paid": gettext_noop("partially paid"),
    "status.paid": gettext_noop("paid"),
    "status.voided": gettext_noop("voided"),
    # Customers.
    "customer.linked": gettext_noop("Customer: the one linked earlier."),
    "customer.email": gettext_noop("Customer: found by e-mail address."),
    "customer.name": gettext_noop("Customer: found by name."),
    "customer.created": gettext_noop("Customer: newly created."),
    "customer.found": gettext_noop("Customer: found by its customer number."),
    "contact.no_zep_customer": gettext_noop(
        "None of the contact's companies is a ZEP customer yet; it comes with its company."
    ),
    "deal.not_in_project_stages": gettext_noop(
        "The deal is not in a stage chosen for projects; its project, if any, is kept as it is."
    ),
    "deal.no_company": gettext_noop("The deal has no company to be the project's customer."),
    "link.unlinked": gettext_noop(
        "Unlinked: HubSpot's changes no longer reach this record in ZEP until it is linked again."
    ),
    "customer.excluded": gettext_noop("Excluded from transfer by the property “%(name)s”."),
    "customer.needs_data": gettext_noop(
        "Held: the customer's name or address is incomplete in HubSpot, and your settings "
        "hold such customers instead of using placeholder data. Complete them in HubSpot; "
        "the transfer runs again when HubSpot reports the change, or retry it here."
    ),
    "customer.contact_person": gettext_noop("Contact person: %(name)s."),
    "customer.link_checked": gettext_noop(
        "The accounting system refused the document for the linked customer; the customer "
        "is looked up again and the document made once more."
    ),
    # Deletions.
    "deletion.never_transferred": gettext_noop(
        "Deleted in HubSpot; it had never been transferred."
    ),
    "deletion.still_in_hubspot": gettext_noop(
        "A deletion was reported, but HubSpot still has this %(object)s: the customer in "
        "%(system)s was not deleted."
    ),
    "deletion.not_supported": gettext_noop(
        "Deleted in HubSpot. %(system)s does not allow deleting customers through its API: "
        "please delete customer %(number)s there yourself if it is no longer needed."
    ),
    # Words used inside other messages (the HubSpot object types of Transfer.ObjectType).
    "object.deal": gettext_noop("deal"),
    "object.contact": gettext_noop("contact"),
    "object.company": gettext_noop("company"),
    # What the reference-000 rules assumed about a customer.
    **rules.NOTE_TEXTS,
    # What a tenant's data mapping did.
    **MAPPING_TEXTS,
}

Param: TypeAlias = "str | int | float | Message"


@dataclass(frozen=True)
class Message:
    code: str
    params: Mapping[str, Param] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.code != VERBATIM and self.code not in TEXTS:
            raise ValueError(f"no text for the message code {self.code!r}")

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "params": {
                name: value.as_json() if isinstance(value, Message) else value
                for name, value in self.params.items()
            },
        }

    def __str__(self) -> str:
        """The text in the language active now (the reader's, on a page)."""
        return render(self.as_json())

    def text_in(self, language: str) -> str:
        with translation.override(language):
            return str(self)


def verbatim(text: str) -> Message:
    """Words that are shown as they are: a vendor's message."""
    return Message(VERBATIM, {"text": text})


def percent(rate: Decimal) -> str:
    """8.10 -> "8.1", 19.00 -> "19"."""
    return f"{rate.normalize():f}"


def rates_text(rates: Iterable[Decimal]) -> str:
    return ", ".join(f"{percent(rate)} %" for rate in sorted(rates))


def settings_url() -> str:
    """Where the customer changes the transfer settings (default tax rate, currency)."""
    return settings.PUBLIC_BASE_URL + reverse("dashboard:settings")


def tax_rate_refused(failure: errors.TaxRateRefused) -> Message:
    """A vendor's refusal of a tax rate, with the rates it allows and the setting that helps."""
    return Message(
        "vendor.tax_rate_refused",
        {
            "rate": percent(failure.rate),
            "reason": verbatim(failure.vendor_message),
            "rates": rates_text(failure.allowed or ()),
            "url": settings_url(),
        },
    )


def document_name(kind: str) -> Message:
    """A document kind (connectors.shapes.DocumentKind) as a word inside a message."""
    return Message(f"document.{kind}")


def status_name(status: str) -> Message:
    """A document status (connectors.shapes.DocumentStatus) as a word inside a message."""
    return Message(f"status.{status}")


def object_type(value: str) -> Message:
    """A HubSpot object type (Transfer.ObjectType) as a word inside a message."""
    return Message(f"object.{value}")


def render(stored: object) -> str:
    """The text of a stored message in the active language: a {"code", "params"} dict, or
    the plain text of a row written before codes existed."""
    if isinstance(stored, Message):
        stored = stored.as_json()
    if not isinstance(stored, dict) or "code" not in stored:
        return "" if stored is None else str(stored)
    code = str(stored["code"])
    raw = stored.get("params") or {}
    params = {
        name: render(value) if isinstance(value, dict) else value for name, value in raw.items()
    }
    if code == VERBATIM:
        return str(params.get("text", ""))
    english = TEXTS.get(code)
    if english is None:
        # A code this version does not know (written by a newer one): its words at least.
        return " ".join([code, *(str(value) for value in params.values())])
    try:
        return gettext(english) % params
    except (KeyError, TypeError, ValueError):
        # A translation whose placeholders do not match: the English text is still right.
        return english % params


def error_fields(error: Message | str | None) -> dict[str, Any]:
    """The fields a transfer or an attempt stores for `error`: its code with parameters
    (`error_message`), and its text in the product's language (`error`) for the admin, the
    e-mails and a search. A str is stored as it is (text nobody translates)."""
    if error is None or error == "":
        return {"error": "", "error_message": None}
    if isinstance(error, str):
        return {"error": error, "error_message": None}
    return {"error": error.text_in(settings.LANGUAGE_CODE), "error_message": error.as_json()}


def note_entries(*notes: Message | Note) -> list[Any]:
    """Notes as a transfer stores them: a code with its parameters."""
    return [
        (note if isinstance(note, Message) else Message(note.code, dict(note.params))).as_json()
        for note in notes
    ]


class Refusal(errors.PermanentError):
    """A transfer the product itself refuses (the deal cannot become a quote): permanent, and
    told to the customer in the customer's language."""

    def __init__(self, message: Message) -> None:
        super().__init__(message.text_in(settings.LANGUAGE_CODE))
        self.message = message


class UnsupportedRefusal(Refusal, errors.UnsupportedByVendor):
    """What the deal asks for is something the customer's system cannot do."""
