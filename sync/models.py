"""What came from HubSpot and from the accounting systems (events), what the product did with
it (transfers and their attempts), the links between HubSpot objects and vendor objects, and
per-tenant settings."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accounts.tenancy import TenantOwnedModel
from connectors.registry import system_choices
from sync import messages


class WebhookEvent(TenantOwnedModel):
    """One HubSpot webhook event, stored before anything is done with it."""

    class State(models.TextChoices):
        RECEIVED = "received", _("received")
        PROCESSED = "processed", _("processed")
        IGNORED = "ignored", _("ignored")
        ON_HOLD = "on_hold", _("on hold (billing)")
        # Signed by HubSpot but unusable (a malformed id or time): kept, never acted on,
        # with the reason in `note`; the rest of its batch is stored as usual.
        REJECTED = "rejected", _("rejected")

    # Without an index of its own: the unique constraint and the index below both begin with
    # the tenant and serve its lookups, and every index is one more write per stored event.
    tenant = models.ForeignKey(
        "accounts.Tenant", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    portal_id = models.CharField(max_length=32)
    subscription_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    property_name = models.CharField(max_length=128, blank=True)
    property_value = models.TextField(blank=True)
    # Empty only on a rejected event whose value could not be read.
    occurred_at = models.DateTimeField(null=True, blank=True)
    event_id = models.BigIntegerField(null=True, blank=True)
    attempt_number = models.PositiveIntegerField(default=0)
    payload = models.JSONField()
    # HubSpot's eventId is "not guaranteed to be unique", so duplicates are recognised by
    # the content of the event instead.
    dedupe_key = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=State.choices, default=State.RECEIVED)
    note = models.TextField(blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "dedupe_key"], name="one_row_per_event")
        ]
        indexes = [
            models.Index(fields=["tenant", "state", "received_at"]),
            # Small: only events not yet processed, which the resume task looks for.
            models.Index(
                fields=["received_at"],
                condition=models.Q(state="received"),
                name="sync_event_waiting",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subscription_type} {self.object_id}"


class VendorEvent(TenantOwnedModel):
    """One event from an accounting system (a signed webhook, or a change found by polling
    with a cursor), stored before anything is done with it, as WebhookEvent is for HubSpot:
    the way back from the accounting system starts here."""

    class State(models.TextChoices):
        RECEIVED = "received", _("received")
        PROCESSED = "processed", _("processed")
        IGNORED = "ignored", _("ignored")
        FAILED = "failed", _("failed")

    system = models.CharField(max_length=20, choices=system_choices)
    connection = models.ForeignKey(
        "connectors.Connection", on_delete=models.CASCADE, related_name="+"
    )
    event_type = models.CharField(max_length=100)
    # The vendor's own id of the event, where it gives one.
    event_id = models.CharField(max_length=255, blank=True)
    # What makes a second delivery of the same event recognisable: the vendor's event id, a
    # polling cursor's position, or else a digest of the content.
    dedupe_key = models.CharField(max_length=255)
    occurred_at = models.DateTimeField(null=True, blank=True)
    payload = models.JSONField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.RECEIVED)
    note = models.TextField(blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # Per system, not per connection: a reconnected account sends the same events.
            models.UniqueConstraint(
                fields=["tenant", "system", "dedupe_key"], name="one_row_per_vendor_event"
            )
        ]
        indexes = [
            models.Index(fields=["tenant", "state", "received_at"]),
            # Small: only events not yet processed, which the resume task looks for.
            models.Index(
                fields=["received_at"],
                condition=models.Q(state="received"),
                name="sync_vendor_event_waiting",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.system} {self.event_type} {self.event_id or self.dedupe_key[:12]}"


def vendor_link(url: str) -> str:
    """`url` if a page may link to it, else "". The link comes from the vendor's answer, so
    it is checked like any input: only https (a javascript: or data: link would run in our
    pages), and plain http only for the local sandboxes of development."""
    if not url or any(ord(char) <= 0x20 or ord(char) == 0x7F for char in url):
        return ""  # browsers drop such characters, "java\tscript:" would pass the check
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if not parts.netloc:
        return ""
    if parts.scheme == "https":
        return url
    if parts.scheme == "http" and (settings.SANDBOX_VENDORS or settings.DEBUG):
        return url
    return ""


class Transfer(TenantOwnedModel):
    """One business effect in the accounting system: one quote per deal, one customer per
    HubSpot contact or company. The unique constraint is the idempotency key."""

    class Kind(models.TextChoices):
        QUOTE = "quote", _("quote")
        CUSTOMER = "customer", _("customer")
        DELETION = "deletion", _("deletion")
        # Time tracking (ZEP): a company as a customer there, a deal as a project.
        TIME_CUSTOMER = "time_customer", _("customer (time tracking)")
        PROJECT = "project", _("project")
        # Documents per deal stage after the quote, and their status written to the deal.
        ORDER = "order", _("order confirmation")
        INVOICE = "invoice", _("invoice")
        DOCUMENT_STATUS = "document_status", _("document status")
        # A product of the catalogue, by SKU, written to the other side.
        PRODUCT = "product", _("product")

    class ObjectType(models.TextChoices):
        DEAL = "deal", _("deal")
        CONTACT = "contact", _("contact")
        COMPANY = "company", _("company")
        PRODUCT = "product", _("product")

    class State(models.TextChoices):
        PENDING = "pending", _("pending")
        QUOTE_IN_FLIGHT = "quote_in_flight", _("quote being created")
        DONE = "done", _("done")
        SKIPPED = "skipped", _("skipped")
        FAILED = "failed", _("failed")

    # A transfer in one of these states has work left; `next_attempt_at` in the future
    # means it is waiting to retry.
    ACTIVE_STATES = (State.PENDING, State.QUOTE_IN_FLIGHT)

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    object_type = models.CharField(_("object"), max_length=16, choices=ObjectType.choices)
    object_id = models.CharField(_("HubSpot id"), max_length=64)
    system = models.CharField(_("system"), max_length=20, choices=system_choices)
    state = models.CharField(
        _("state"), max_length=20, choices=State.choices, default=State.PENDING
    )
    title = models.CharField(_("title"), max_length=255, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # While a worker runs the transfer; a redelivered task finds the lease and leaves it be.
    lease_until = models.DateTimeField(null=True, blank=True)
    # Its place in the line of its tenant's account at the vendor: booked by the dispatcher
    # (sync/services/dispatch.py), which hands transfers out in this order, one per account.
    turn_at = models.DateTimeField(null=True, blank=True)
    # Handed to the workers by the dispatcher and not yet finished: its account waits.
    dispatched_until = models.DateTimeField(null=True, blank=True)
    # The error as a code with parameters (sync.messages), put into the reader's language
    # when shown; `error` holds its text in the product's language, or the plain text of a
    # row written before codes existed.
    error = models.TextField(_("error"), blank=True)
    error_message = models.JSONField(null=True, blank=True)
    error_retryable = models.BooleanField(default=False)
    customer_vendor_id = models.CharField(max_length=64, blank=True)
    vendor_id = models.CharField(_("vendor id"), max_length=64, blank=True)
    vendor_number = models.CharField(_("number"), max_length=64, blank=True)
    vendor_url = models.URLField(_("link"), max_length=500, blank=True)
    written_back = models.BooleanField(default=False)
    # The customer was (or would have been) written with placeholder data (connectors.rules:
    # a made-up address or name): done with a warning, or held for the data to be completed
    # in HubSpot (FAILED with the message "transfer.needs_data", retryable).
    placeholder_data = models.BooleanField(_("placeholder data"), default=False)
    # Messages (sync.messages) or, from older rows and connectors.rules, plain text.
    notes = models.JSONField(default=list, blank=True)
    source_payload = models.JSONField(_("from HubSpot"), null=True, blank=True)
    sent_payload = models.JSONField(_("sent"), null=True, blank=True)
    # A newer change of the same contact raises the generation, so a running transfer
    # knows it must run once more with the new data.
    generation = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("transfer")
        verbose_name_plural = _("transfers")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "kind", "object_type", "object_id"],
                name="one_transfer_per_effect",
            )
        ]
        indexes = [
            models.Index(fields=["tenant", "-created_at"]),
            models.Index(fields=["state", "next_attempt_at"]),
            # The dispatcher's reading order (dispatch.py): transfers with work left by turn,
            # and those in the workers' hands.
            models.Index(
                fields=["turn_at", "created_at"],
                condition=Q(state__in=["pending", "quote_in_flight"]),
                name="transfer_turns",
            ),
            models.Index(
                fields=["dispatched_until"],
                condition=Q(dispatched_until__isnull=False),
                name="transfer_dispatched",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.object_type} {self.object_id}"

    @property
    def vendor_link(self) -> str:
        """The link to the record in the accounting system, if it is safe to show."""
        return vendor_link(self.vendor_url)

    @property
    def error_text(self) -> str:
        """The error in the language active now (the reader's)."""
        return messages.render(self.error_message) if self.error_message else self.error

    @property
    def note_texts(self) -> list[str]:
        return [messages.render(note) for note in self.notes]

    @property
    def needs_data(self) -> bool:
        """Held until its HubSpot data is complete (TransferSettings.hold_placeholder_data)."""
        return self.state == self.State.FAILED and self.placeholder_data

    @property
    def done_with_placeholders(self) -> bool:
        return self.state == self.State.DONE and self.placeholder_data


class TransferAttempt(TenantOwnedModel):
    """One run of a transfer, with what went wrong in plain words."""

    class Outcome(models.TextChoices):
        RUNNING = "running", _("running")
        SUCCEEDED = "succeeded", _("succeeded")
        RETRY = "retry", _("will retry")
        FAILED = "failed", _("failed")
        SKIPPED = "skipped", _("skipped")

    transfer = models.ForeignKey(Transfer, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.RUNNING)
    # As on Transfer: the code with parameters, and the text in the product's language.
    error = models.TextField(blank=True)
    error_message = models.JSONField(null=True, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["number"]

    def __str__(self) -> str:
        return f"#{self.number} {self.outcome}"

    @property
    def error_text(self) -> str:
        return messages.render(self.error_message) if self.error_message else self.error


class ObjectLink(TenantOwnedModel):
    """Which vendor object stands for which HubSpot object, per tenant and system."""

    system = models.CharField(max_length=20, choices=system_choices)
    object_type = models.CharField(max_length=16, choices=Transfer.ObjectType.choices)
    object_id = models.CharField(max_length=64)
    vendor_id = models.CharField(max_length=64)
    vendor_number = models.CharField(max_length=64, blank=True)
    # False: unlinked by the customer (reference 002, "Kennzeichnung als HubSpot Kunde
    # entfernen"): HubSpot's changes no longer reach the vendor object until it is linked again.
    synchronised = models.BooleanField(_("synchronised"), default=True)
    # The deal contact last made sure of as the company's contact person (a digest of who it
    # is, no personal data) and the vendor's id of that person: the next document for the same
    # company and person names them without asking the vendor again.
    contact_person_digest = models.CharField(max_length=64, blank=True, default="")
    contact_person_id = models.CharField(max_length=64, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "system", "object_type", "object_id"],
                name="one_link_per_object",
            )
        ]

    def __str__(self) -> str:
        return f"{self.object_type} {self.object_id} -> {self.system} {self.vendor_id}"


def price_only() -> list[str]:
    """An update overwrites the price only, so that texts enriched on the other side stay."""
    return ["price"]


class TransferSettings(TenantOwnedModel):
    """The tenant's choices for its transfers; defaults apply until the tenant changes them."""

    won_stage_ids = models.JSONField(
        _("won stages"),
        default=list,
        blank=True,
        help_text=_("Empty: every stage with a probability of 100 %."),
    )
    placeholder_name = models.CharField(
        _("placeholder company"), max_length=100, default="Musterfirma"
    )
    placeholder_street = models.CharField(
        _("placeholder street"), max_length=100, default="Musterstraße"
    )
    placeholder_city = models.CharField(
        _("placeholder city"), max_length=100, default="Musterstadt"
    )
    # Empty: the standard rate the accounting system allows (sync.services.context).
    default_tax_rate = models.DecimalField(
        _("default tax rate (%)"), max_digits=5, decimal_places=2, null=True, blank=True
    )
    # Empty: the HubSpot account's company currency.
    fallback_currency = models.CharField(
        _("currency of deals without one"), max_length=3, blank=True, default=""
    )
    validity_days = models.PositiveIntegerField(_("quote valid for (days)"), default=30)
    contact_transfer_enabled = models.BooleanField(
        _("transfer contacts and companies"), default=True
    )
    exclusion_property = models.CharField(
        _("exclusion property"), max_length=100, default="not_to_accounting"
    )
    # Time tracking (reference 002, ZEP's own HubSpot module): which deals become projects,
    # "" none, "all" every deal, else stage ids separated by commas; and the company property
    # whose value "no" or "nein" (any case) keeps a company out.
    project_stage_ids = models.CharField(
        _("deal stage ids for projects"),
        max_length=1000,
        blank=True,
        default="",
        help_text=_("Empty: no deal becomes a project. “all”: every deal. Else stage ids."),
    )
    project_exclusion_property = models.CharField(
        _("exclusion property for time tracking"), max_length=100, default="ZEP"
    )

    class ProductDirection(models.TextChoices):
        OFF = "", _("off")
        TO_HUBSPOT = "to_hubspot", _("accounting system → HubSpot")
        TO_ACCOUNTING = "to_accounting", _("HubSpot → accounting system")

    # Products by SKU: which side leads, which fields an update of the other side may
    # overwrite (connectors.shapes.ArticleField; a new product gets them all), and whether a
    # deal's line item whose SKU has no article creates one.
    product_direction = models.CharField(
        _("products"),
        max_length=16,
        choices=ProductDirection.choices,
        default=ProductDirection.OFF,
        blank=True,
    )
    product_overwrite = models.JSONField(_("on update, overwrite"), default=price_only, blank=True)
    create_missing_articles = models.BooleanField(
        _("create missing articles when a deal is transferred"), default=False
    )
    # A deal whose invoice is paid moves to this stage ("" = it stays where it is).
    paid_stage_id = models.CharField(
        _("stage of deals whose invoice is paid"), max_length=64, blank=True, default=""
    )
    # Instead of placeholder values, a transfer whose customer data are incomplete waits
    # until they are completed in HubSpot (or the user retries it).
    hold_placeholder_data = models.BooleanField(
        _("hold customers with incomplete data"), default=False
    )

    class DocumentLanguage(models.TextChoices):
        AUTO = "", _("by the customer's country")
        GERMAN = "de", _("German")
        ENGLISH = "en", _("English")
        FRENCH = "fr", _("French")

    document_language = models.CharField(
        _("language of quotes"),
        max_length=2,
        choices=DocumentLanguage.choices,
        default=DocumentLanguage.AUTO,
        blank=True,
    )
    # The tenant's own introduction and remark per language: {"fr": {"introduction": ...,
    # "remark": ...}}; a missing or blank text is the product's default.
    document_texts = models.JSONField(_("texts of quotes"), default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="one_settings_row_per_tenant")
        ]

    def __str__(self) -> str:
        return f"settings of {self.tenant_id}"


class DocumentRule(TenantOwnedModel):
    """ "Deal enters stage S → create document D": the tenant's rules. A tenant without any
    has the one rule of the product's start: a won stage makes a quote."""

    # A stage id of the portal, or WON_STAGES: every stage with a probability of 100 %.
    WON_STAGES = "won"

    class Document(models.TextChoices):
        QUOTE = "quote", _("quote")
        ORDER = "order", _("order confirmation")
        INVOICE = "invoice", _("invoice")

    stage_id = models.CharField(_("deal stage"), max_length=64)
    # "" = the stage in any pipeline (stage ids are unique per portal, so this matters only
    # for WON_STAGES).
    pipeline_id = models.CharField(_("pipeline"), max_length=64, blank=True, default="")
    document = models.CharField(_("document"), max_length=16, choices=Document.choices)
    # Invoices: created finalized (numbered, open) instead of as a draft, where the system
    # can.
    finalize = models.BooleanField(_("finalized"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "stage_id", "pipeline_id", "document"],
                name="one_rule_per_stage_and_document",
            )
        ]

    def __str__(self) -> str:
        return f"{self.stage_id} -> {self.document}"


class DocumentFeed(TenantOwnedModel):
    """How the status of the tenant's documents comes back from its accounting system: the
    polling cursor, or whether the vendor's events are subscribed (the subscription itself,
    with its secret, is kept encrypted with the connection's credentials)."""

    system = models.CharField(max_length=20, choices=system_choices)
    cursor = models.CharField(max_length=255, blank=True, default="")
    next_poll_at = models.DateTimeField(null=True, blank=True)
    # The articles' polling cursor (products by SKU, accounting system → HubSpot).
    article_cursor = models.CharField(max_length=255, blank=True, default="")
    subscribed = models.BooleanField(default=False)
    error = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "system"], name="one_feed_per_system")
        ]

    def __str__(self) -> str:
        return f"feed {self.system} {self.cursor[:20]}"


class ImportJob(TenantOwnedModel):
    """The initial import of all contacts and companies; resumable from its cursor."""

    class State(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    object_type = models.CharField(max_length=16, choices=Transfer.ObjectType.choices)
    # Where it imports to: "" the accounting system of the plan, "zep" ZEP (sync.services.zep).
    system = models.CharField(max_length=20, blank=True, default="")
    cursor = models.CharField(max_length=255, blank=True)
    # Items of the page at `cursor` already handled: a slice may end inside a page.
    page_position = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    # The error as a message code with parameters (sync.messages), shown in the reader's
    # language; `error` keeps its text in the product's language.
    error_message = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"import {self.object_type} {self.state}"

    @property
    def error_text(self) -> str:
        return messages.render(self.error_message) if self.error_message else self.error


class Notice(TenantOwnedModel):
    """An e-mail the tenant's users got about a problem, so the same problem is told once
    (and again only after a day if it persists), not once per failed transfer."""

    class Kind(models.TextChoices):
        TRANSFERS_FAILING = "transfers_failing", _("transfers failing")
        RECONNECT_NEEDED = "reconnect_needed", _("connection needs reconnecting")
        VENDOR_UNREACHABLE = "vendor_unreachable", _("system not reachable")

    kind = models.CharField(max_length=32, choices=Kind.choices)
    sent_at = models.DateTimeField(auto_now_add=True)
    detail = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "kind", "-sent_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.sent_at:%Y-%m-%d %H:%M}"
