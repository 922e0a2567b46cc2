"""bexio, declared (fact sheet, derived and unofficial specs, OIDC discovery in
vendor-specs/bexio/)."""

from django.utils.translation import gettext_lazy as _

from connectors import providers
from connectors.shapes import DocumentKind

_REALM = "/realms/bexio/protocol/openid-connect"

PROVIDER = providers.Provider(
    key="bexio",
    label="bexio",
    kind=providers.Kind.ACCOUNTING,
    auth=(
        providers.OAuth2(
            authorize_path=f"{_REALM}/auth",
            token_path=f"{_REALM}/token",
            # What the product needs, all listed in the discovery document's
            # `scopes_supported`; `offline_access` is what brings a refresh token.
            scopes=(
                "openid",
                "offline_access",
                "contact_show",
                "contact_edit",
                "kb_offer_show",
                "kb_offer_edit",
                "kb_invoice_show",
                "kb_invoice_edit",
                "article_show",
                "article_edit",
                "company_profile",
            ),
            pkce=True,  # the discovery document lists `plain` and `S256`
            rotating_refresh=True,
            # The discovery document's `revocation_endpoint` (RFC 7009).
            revoke_path=f"{_REALM}/revoke",
            revoke_method="POST",
        ),
        # A personal access token is a Bearer token that never expires.
        providers.ApiKey(
            fields=(
                providers.CredentialField(
                    "access_token",
                    _("Personal access token"),
                    _("In bexio's developer portal: Personal access tokens → create a token."),
                ),
            ),
            template="Bearer {access_token}",
        ),
    ),
    hosts={"api": "https://api.bexio.com", "oauth": "https://auth.bexio.com"},
    sandbox=providers.Sandbox(app="sandbox.bexio.app:BexioSandbox", port=8103),
    spec_files=(
        "bexio/bexio-derived-openapi.yaml",
        "bexio/bexio-openapi.apievangelist-unofficial.yml",
        "bexio/bexio-openid-configuration.json",
    ),
    connector="connectors.bexio.client:BexioConnector",
    # bexio limits calls per minute but does not publish how many: two a second with a small
    # burst stays well below any limit seen reported, and 429 is honoured anyway.
    rate=providers.Rate(per_second=2, burst=5),
    rate_scope=providers.RateScope.ACCOUNT,  # per bexio company
    # `RateLimit-Reset` is the seconds until the window restarts (fact sheet, third party).
    retry_after_headers=("Retry-After", "RateLimit-Reset"),
    capabilities=providers.Capabilities(
        title_max_length=None,  # `title` has no maxLength in the spec
        # The company's own currency; see connectors.bexio.mapping.CURRENCY.
        currencies=frozenset({"CHF"}),
        can_delete_customers=True,  # DELETE /2.0/contact/{id} (unofficial file)
        can_create_invoices=True,
        quote_is_draft=True,  # a new kb_offer is a draft until issued
        # No order confirmations: the spec has no POST /2.0/kb_order (only the invoice made
        # from an existing order, POST /2.0/kb_order/{id}/invoice).
        documents=frozenset({DocumentKind.QUOTE, DocumentKind.INVOICE}),
        # POST /2.0/kb_offer/{id}/invoice copies the quote into a new invoice.
        links=((DocumentKind.INVOICE, frozenset({DocumentKind.QUOTE})),),
        can_finalize_invoices=True,  # POST /2.0/kb_invoice/{id}/issue after the create
        # No webhooks (fact sheet): changes are polled on `updated_at`.
        status_events=False,
        status_polling=True,
        # Items (/2.0/article), keyed by `intern_code`; DELETE removes one for good.
        articles=True,
        can_archive_articles=True,
    ),
    calls_budget={"quote": 1, "customer": 2},
    plan=providers.PlanOffer(default_price_id="price_bexio_monthly", price_label="29 CHF"),
    # A personal access token cannot be revoked through the API.
    manual_revoke_hint=_(
        "A personal access token is deleted in bexio's developer portal under Personal "
        "access tokens."
    ),
    description=_(
        "Won deals become quote drafts in bexio; HubSpot contacts and companies become "
        "contacts there. Connect by signing in to bexio or with a personal access token."
    ),
)
