"""Visma eAccounting, declared (Visma's OpenAPI file, its normalized copy and the fact sheet in
vendor-specs/eaccounting/ and vendor-specs/README.md)."""

from django.utils.translation import gettext_lazy as _

from connectors import providers
from connectors.shapes import DocumentKind

QUOTE, ORDER, INVOICE = DocumentKind.QUOTE, DocumentKind.ORDER, DocumentKind.INVOICE

PROVIDER = providers.Provider(
    key="eaccounting",
    label="Visma eAccounting",
    kind=providers.Kind.ACCOUNTING,
    auth=(
        providers.OAuth2(
            authorize_path="/connect/authorize",
            token_path="/connect/token",  # noqa: S106 (a path, not a secret)
            # `ea:api` opens the API, `offline_access` brings a refresh token, `ea:sales`
            # covers customers, articles, quotes, orders and invoices (fact sheet "Auth").
            scopes=("ea:api", "offline_access", "ea:sales"),
            # Every refresh answers a new refresh token and spends the old one.
            rotating_refresh=True,
        ),
    ),
    hosts={
        "api": "https://eaccountingapi.vismaonline.com/v2",
        "oauth": "https://identity.vismaonline.com",
    },
    sandbox=providers.Sandbox(
        app="sandbox.eaccounting.app:EAccountingSandbox", port=8108, api_path="/v2"
    ),
    spec_files=("eaccounting/eaccounting-openapi.normalized.json",),
    connector="connectors.eaccounting.client:EAccountingConnector",
    # 600 a minute per client and endpoint: every connection is the same Visma client, so
    # all of them share one bucket; 8 a second with a burst of 20 stays under the limit of
    # even the busiest single endpoint.
    rate=providers.Rate(per_second=8, burst=20),
    rate_scope=providers.RateScope.SOURCE_IP,
    capabilities=providers.Capabilities(
        title_max_length=None,  # no title field: the deal's name goes into a text row
        currencies=None,  # a customer's CurrencyCode is any ISO 4217 code
        can_delete_customers=True,  # DELETE /customers/{customerId}
        can_create_invoices=True,
        quote_is_draft=False,  # a new quote is Ongoing (1)
        contact_persons=False,  # a customer has one contact person's fields, no list
        documents=frozenset({QUOTE, ORDER, INVOICE}),
        # POST /quotes/{id}/converttoorder, POST /orders/{id}/convert.
        links=((ORDER, frozenset({QUOTE})), (INVOICE, frozenset({ORDER}))),
        # An invoice draft, then POST /customerinvoicedrafts/{id}/convert.
        can_finalize_invoices=True,
        # The spec lists /webhooks without describing it: polled with
        # GET /customerinvoices?modifiedSinceUtc= and the quotes' and orders' own lists.
        status_events=False,
        status_polling=True,
        # Articles keyed by `Number`; no DELETE, archived as IsActive false.
        articles=True,
        can_archive_articles=True,
    ),
    calls_budget={"quote": 1, "customer": 2},
    plan=providers.PlanOffer(default_price_id="price_eaccounting_monthly", price_label="29 €"),
    # Neither the spec nor the fact sheet documents a token revocation call.
    manual_revoke_hint=_(
        "Remove APIUP's access in Visma eAccounting under your user's settings for "
        "connected applications."
    ),
    description=_(
        "Won deals become quotes, orders and invoices in Visma eAccounting; HubSpot "
        "contacts and companies become customers there, and products articles. Connect by "
        "signing in to Visma."
    ),
)
