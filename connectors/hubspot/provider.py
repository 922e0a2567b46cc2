"""HubSpot, the CRM the deals come from, declared (specs in vendor-specs/hubspot/)."""

from connectors import providers

PROVIDER = providers.Provider(
    key="hubspot",
    label="HubSpot",
    kind=providers.Kind.CRM,
    auth=(
        providers.OAuth2(
            authorize_path="/oauth/authorize",
            token_path="/oauth/v1/token",  # noqa: S106 (a path, not a secret)
            grant_host="api",
            scopes=(
                "oauth",
                "crm.objects.deals.read",
                "crm.objects.deals.write",
                "crm.objects.contacts.read",
                "crm.objects.companies.read",
                "crm.objects.line_items.read",
                "crm.schemas.deals.write",
                # Products by SKU (fact sheet: products through `e-commerce`).
                "e-commerce",
            ),
            # HubSpot's token endpoint takes a `code_verifier`, so the consent carries its
            # S256 challenge.
            pkce=True,
            quote_scopes_with_percent=True,  # HubSpot's docs separate scopes with %20
            # HubSpot answers a refused refresh token with 400 and this status.
            invalid_grant_markers=(("status", "BAD_REFRESH_TOKEN"),),
            # Deleting the refresh token uninstalls nothing but ends APIUP's access.
            revoke_path="/oauth/v1/refresh-tokens/{refresh_token}",
            revoke_method="DELETE",
        ),
    ),
    # The consent screen is on another host than the API.
    hosts={"api": "https://api.hubapi.com", "oauth": "https://app.hubspot.com"},
    sandbox=providers.Sandbox(app="sandbox.hubspot.app:HubSpotSandbox", port=8101),
    # HubSpot's published files, with the patches their validator needs (fact sheet).
    spec_files=tuple(
        f"hubspot/prism-patched/{name}.json"
        for name in (
            "crm-deals-v3",
            "crm-contacts-v3",
            "crm-companies-v3",
            "crm-line-items-v3",
            "crm-products-v3",
            "crm-associations-v4",
            "crm-pipelines-v3",
            "crm-properties-v3",
            "account-info-v3",  # the portal's name and company currency
            "oauth-v1",
            "oauth-v3",
        )
    ),
    # 110 requests per 10 s per installing account for OAuth apps: a bucket of 10 refilled at
    # 10 per second never sends more than 110 in any 10 s window.
    rate=providers.Rate(per_second=10, burst=10),
    rate_scope=providers.RateScope.ACCOUNT,
    calls_budget={"deal": 5},
)
