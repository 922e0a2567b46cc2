"""sevDesk, declared (fact sheet and the patched official spec in vendor-specs/sevdesk/)."""

from django.utils.translation import gettext_lazy as _

from connectors import errors, providers
from connectors.shapes import DocumentKind

QUOTE, ORDER, INVOICE = DocumentKind.QUOTE, DocumentKind.ORDER, DocumentKind.INVOICE

PROVIDER = providers.Provider(
    key="sevdesk",
    label="sevDesk",
    kind=providers.Kind.ACCOUNTING,
    auth=(
        providers.ApiKey(
            fields=(
                providers.CredentialField(
                    "api_token",
                    _("API token"),
                    _("In sevDesk: Settings → Users → your user → API token."),
                ),
            ),
            # The raw token is the whole header: "Bearer <token>" is refused with 401.
            template="{api_token}",
        ),
    ),
    hosts={"api": "https://my.sevdesk.de/api/v1"},
    sandbox=providers.Sandbox(
        app="sandbox.sevdesk.app:SevdeskSandbox", port=8104, api_path="/api/v1"
    ),
    spec_files=("sevdesk/sevdesk-openapi.patched.yaml",),
    connector="connectors.sevdesk.client:SevdeskConnector",
    # sevDesk publishes no limit. Five calls per second per token, evenly refilled, stays far
    # below what integrations report; a 429 is still honoured with its Retry-After.
    rate=providers.Rate(per_second=5, burst=5),
    rate_scope=providers.RateScope.CREDENTIAL,
    # sevDesk is a PHP application that has answered failed writes with 500 (validation
    # errors moved to 422 only in 2024): after a 500 to a create the object may exist, so a
    # create is not repeated blindly but reported as an unknown outcome.
    unknown_outcome_statuses=frozenset({500, 504}),
    error_map={422: errors.PermanentError},
    capabilities=providers.Capabilities(
        title_max_length=None,  # the spec sets no length on `header`
        currencies=None,  # "currency code according to ISO-4217", no list
        can_delete_customers=True,  # DELETE /Contact/{contactId}
        can_create_invoices=True,
        quote_is_draft=True,  # status 100 = draft
        # Orders of type AN (quote) and AB (order confirmation) through saveOrder, invoices
        # through saveInvoice.
        documents=frozenset({QUOTE, ORDER, INVOICE}),
        # An order confirmation names its quote as `origin`; an invoice is made from either
        # with createInvoiceFromOrder.
        links=((ORDER, frozenset({QUOTE})), (INVOICE, frozenset({QUOTE, ORDER}))),
        # An invoice is open once sent (`/Invoice/{id}/sendBy` or `sendViaEmail`, which
        # number it): a second call that also changes what the customer was sent, and
        # createInvoiceFromOrder takes no status at all. So every invoice is a draft.
        can_finalize_invoices=False,
        # No webhooks in the spec (fact sheet): polled with the lists' `updateAfter` filter.
        status_events=False,
        status_polling=True,
        # Parts (`Part`) keyed by `partNumber`. The spec has no DELETE: archiving sets a part
        # inactive (status 50) through `PUT /Part/{id}` (connectors/sevdesk/articles.py).
        articles=True,
        can_archive_articles=True,
    ),
    calls_budget={"quote": 1, "customer": 2},
    plan=providers.PlanOffer(default_price_id="price_sevdesk_monthly", price_label="29 €"),
    manual_revoke_hint=_(
        "sevDesk has one API token per user: to withdraw it, create a new one in sevDesk "
        "under Settings → Users → your user → API token."
    ),
    description=_(
        "Won deals become quote drafts in sevDesk; HubSpot contacts and companies become "
        "contacts there. Connect with an API token."
    ),
)
