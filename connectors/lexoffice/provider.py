"""lexware office, declared (fact sheet and derived spec in vendor-specs/lexoffice/)."""

from decimal import Decimal

from django.utils.translation import gettext_lazy as _

from connectors import providers
from connectors.shapes import DocumentKind

PROVIDER = providers.Provider(
    key="lexoffice",
    label="lexware office",
    kind=providers.Kind.ACCOUNTING,
    auth=(
        providers.ApiKey(
            fields=(
                providers.CredentialField(
                    "api_key",
                    _("API key"),
                    _("In lexware office: Settings → Public API → create a new API key."),
                ),
            ),
            template="Bearer {api_key}",
        ),
    ),
    # "keys": where Lexware publishes the public key of its webhook signatures.
    hosts={
        "api": "https://api.lexware.io",
        "app": "https://app.lexware.de",
        "keys": "https://developers.lexware.io",
    },
    sandbox=providers.Sandbox(app="sandbox.lexoffice.app:LexofficeSandbox", port=8102),
    spec_files=("lexoffice/lexoffice-derived-openapi.yaml",),
    connector="connectors.lexoffice.client:LexofficeConnector",
    # 2 calls per second per API key, token bucket; a bucket of one spaces the calls evenly,
    # so all workers that share a key together stay under the limit. A little under the
    # vendor's 2 per second: calls that arrive exactly on time meet its bucket a few
    # milliseconds early often enough to draw 429s (docs/benchmarks.md: 12 % at 2.0, none at
    # 1.95 since transfers are paced).
    rate=providers.Rate(per_second=1.95, burst=1),
    rate_scope=providers.RateScope.CREDENTIAL,
    # The gateway gives up after 30 s with a 504 (the write may still happen); wait a little
    # longer than that, so its answer arrives instead of our own time-out.
    read_timeout=35.0,
    capabilities=providers.Capabilities(
        title_max_length=25,
        currencies=frozenset({"EUR"}),  # "Currently only EUR is supported"
        # "Tax rates valid on the voucher date only (19/7/0 in DE)"; the API lists none.
        tax_rates=frozenset({Decimal(0), Decimal(7), Decimal(19)}),
        can_create_invoices=True,
        articles=True,
        can_archive_articles=True,
        # Quotations and invoices; the spec has no path for order confirmations (lexware
        # office has them, the derived spec does not describe their endpoint), so no ORDER.
        documents=frozenset({DocumentKind.QUOTE, DocumentKind.INVOICE}),
        # `POST /v1/invoices?precedingSalesVoucherId=` makes an invoice from its quotation.
        links=((DocumentKind.INVOICE, frozenset({DocumentKind.QUOTE})),),
        can_finalize_invoices=True,  # `?finalize=true`
        # Event subscriptions for quotation.status.changed, invoice.status.changed and
        # payment.changed; the voucher list filters changes by whole days only.
        status_events=True,
    ),
    calls_budget={"quote": 1, "customer": 2},
    plan=providers.PlanOffer(default_price_id="price_lexoffice_monthly", price_label="29 €"),
    manual_revoke_hint=_("Delete the API key in lexware office under Settings → Public API."),
    description=_(
        "Won deals become quote drafts in lexware office; HubSpot contacts and companies "
        "become customers there. Connect with an API key."
    ),
)
