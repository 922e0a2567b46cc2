"""Qonto, declared (fact sheet and derived spec in vendor-specs/qonto/)."""

from django.utils.translation import gettext_lazy as _

from connectors import providers
from connectors.shapes import DocumentKind

PROVIDER = providers.Provider(
    key="qonto",
    label="Qonto",
    kind=providers.Kind.ACCOUNTING,
    auth=(
        providers.OAuth2(
            authorize_path="/oauth2/auth",
            token_path="/oauth2/token",  # noqa: S106 (a path, not a secret)
            # All in the spec's OAuth scope list; `offline_access` brings a refresh token.
            scopes=(
                "offline_access",
                "organization.read",
                "client.read",
                "client.write",
                "client_invoice.write",
                "client_invoices.read",
                # Webhook subscriptions for the invoice status (with client_invoices.read).
                "webhook",
            ),
            # The spent refresh token stays valid for 60 s after the answer's replaces it.
            rotating_refresh=True,
        ),
        providers.ApiKey(
            fields=(
                providers.CredentialField("login", _("Login"), secret=False),
                providers.CredentialField(
                    "secret_key",
                    _("Secret key"),
                    _(
                        "In Qonto: Settings → Integrations → API key shows your login and "
                        "secret key."
                    ),
                ),
            ),
            template="{login}:{secret_key}",
        ),
    ),
    hosts={"api": "https://thirdparty.qonto.com", "oauth": "https://oauth.qonto.com"},
    sandbox=providers.Sandbox(app="sandbox.qonto.app:QontoSandbox", port=8105),
    spec_files=("qonto/qonto-derived-openapi.yaml",),
    connector="connectors.qonto.client:QontoConnector",
    # 1,000 per 10 s and 10,000 per 10 min per IP: 15 a second with a burst of 100 stays
    # under both (at most 250 in 10 s, 9,100 in 10 min).
    rate=providers.Rate(per_second=15, burst=100),
    rate_scope=providers.RateScope.SOURCE_IP,
    capabilities=providers.Capabilities(
        title_max_length=None,  # no title field: the title goes into `header` (max 1000)
        currencies=None,  # quote `currency` is any ISO 4217 code; invoices check for EUR
        can_delete_customers=False,  # the spec has no DELETE for clients
        has_idempotency_keys=True,
        can_create_invoices=True,
        quote_is_draft=False,  # a new quote is `pending_approval`
        contact_persons=False,  # a client has no contact persons in the spec
        # The spec has quotes and client invoices, no order confirmations.
        documents=frozenset({DocumentKind.QUOTE, DocumentKind.INVOICE}),
        # No links: the client invoice create body has no field naming a quote (a quote's
        # `invoice_ids` is read-only).
        links=(),
        can_finalize_invoices=True,  # a draft, then POST /v2/client_invoices/{id}/finalize
        status_events=True,  # v1/client-invoices webhooks (signed, per subscription secret)
        status_polling=True,  # quotes: no quote webhook exists; polled by approved/canceled_at
    ),
    calls_budget={"quote": 1, "customer": 2},
    plan=providers.PlanOffer(default_price_id="price_qonto_monthly", price_label="29 €"),
    # Neither the spec nor the fact sheet documents a token revocation call.
    manual_revoke_hint=_("Remove APIUP's access in Qonto under Settings → Integrations."),
    description=_(
        "Won deals become quotes in Qonto; HubSpot contacts and companies become clients "
        "there. Connect by signing in to Qonto or with your login and secret key."
    ),
)
