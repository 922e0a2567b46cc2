"""ZEP (project time tracking), declared: the derived REST spec and the SOAP WSDL subset in
vendor-specs/zep/, and the ZEP fact sheet in vendor-specs/README.md."""

from django.utils.translation import gettext_lazy as _

from connectors import providers

PROVIDER = providers.Provider(
    key="zep",
    label="ZEP",
    kind=providers.Kind.TIME_TRACKING,
    auth=(
        providers.ApiKey(
            fields=(
                providers.CredentialField(
                    "instance",
                    _("ZEP instance"),
                    _(
                        "The name after www.zep-online.de/ in your ZEP address, e.g. "
                        "“musterfirma” for https://www.zep-online.de/musterfirma/."
                    ),
                    secret=False,
                ),
                providers.CredentialField(
                    "api_token",
                    _("REST token"),
                    _("In ZEP: Administration → Schnittstellen → REST-Schnittstelle."),
                ),
                # The REST API cannot write a customer's address or contact persons; ZEP's
                # SOAP API can, with its own token (fact sheet "Older SOAP API").
                providers.CredentialField(
                    "soap_token",
                    _("SOAP token"),
                    _("In ZEP: Administration → Einstellungen → SOAP."),
                ),
            ),
            template="Bearer {api_token}",
        ),
    ),
    hosts={"api": "https://www.zep-online.de/{instance}/next/api/v1"},
    sandbox=providers.Sandbox(
        app="sandbox.zep.app:ZepSandbox", port=8107, api_path="/{instance}/next/api/v1"
    ),
    spec_files=("zep/zep-derived-openapi.yaml", "zep/zep-soap-v7-derived.wsdl"),
    connector="connectors.zep.client:ZepConnector",
    # "1000 requests per 5 minutes; above that, requests are blocked for 60 s with HTTP 429":
    # a bucket of 10 refilled at 3.2 per second allows at most 970 in any 5 minutes. REST
    # and SOAP calls share it (one instance, one limit).
    rate=providers.Rate(per_second=3.2, burst=10),
    rate_scope=providers.RateScope.ACCOUNT,
    calls_budget={"customer": 5, "project": 3},
    plan=providers.PlanOffer(default_price_id="price_zep_monthly", price_label="19 €"),
    manual_revoke_hint=_(
        "Reset the REST and SOAP tokens in ZEP under Administration → Schnittstellen and "
        "Administration → Einstellungen."
    ),
    description=_(
        "HubSpot companies and their contacts become ZEP customers with contact persons; deals "
        "in the stages you choose become ZEP projects, so your team can book time on them. "
        "Connect with your ZEP instance and its tokens."
    ),
)
