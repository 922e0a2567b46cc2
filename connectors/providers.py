"""What a system is, declared once: the types of a provider declaration.

A provider says everything about a vendor that is data, not code: its key and label, what kind
of system it is, how a customer connects it (API key fields or OAuth 2.0), where its API lives,
how its errors and limits read, what it can do, how many calls each flow costs, which plan
sells it and the sandbox that stands in for it locally. Each system declares one in
`connectors/<system>/provider.py`; `connectors.registry` lists them, and everything that used
to repeat a system's identity (model choices, the wizard's forms and branches, vendor URLs,
plans, the sandbox list) is derived from that list.

Declarations import nothing from Django's models, so settings-free code (the sandbox, the
benchmarks) can read them too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from django_stubs_ext import StrOrPromise

from connectors import errors
from connectors.ratelimit import Rate
from connectors.shapes import Capabilities


class Kind(StrEnum):
    CRM = "crm"
    ACCOUNTING = "accounting"
    TIME_TRACKING = "time_tracking"


class RateScope(StrEnum):
    """Whose calls a vendor counts together, i.e. which rate-limit bucket a call is booked on."""

    CREDENTIAL = "credential"  # per API key or token (lexware office, sevDesk)
    ACCOUNT = "account"  # per vendor account, whatever the token (HubSpot portal, bexio company)
    SOURCE_IP = "source_ip"  # per calling machine: every connection shares one bucket (Qonto)


@dataclass(frozen=True)
class CredentialField:
    """One field of the form where a customer pastes a credential."""

    name: str  # the key in Connection.credentials
    label: StrOrPromise  # lazily translated
    help_text: StrOrPromise = ""
    secret: bool = True  # never rendered back into the page


@dataclass(frozen=True)
class ApiKey:
    """A credential the customer pastes, sent as one header on every call. `template` names the
    credential fields in braces: `"Bearer {api_key}"`, `"{login}:{secret_key}"`."""

    fields: tuple[CredentialField, ...]
    template: str
    header: str = "Authorization"

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


@dataclass(frozen=True)
class OAuth2:
    """An OAuth 2.0 authorization-code grant (RFC 6749), carried by requests-oauthlib.

    URLs are paths on the provider's `oauth` host, so tests and the demo can repoint it."""

    authorize_path: str
    token_path: str
    scopes: tuple[str, ...]
    pkce: bool = False  # S256 challenge on the consent URL, verifier on the code exchange
    # The refresh token is spent by each refresh and the answer's must be stored.
    rotating_refresh: bool = False
    # Where a refresh token is revoked on the grant host (empty: the vendor offers no
    # revocation); `{refresh_token}` in the path stands for the token itself, a path
    # without it is an RFC 7009 endpoint (token and client credentials in a form body).
    revoke_path: str = ""
    revoke_method: str = "POST"
    # The host ("oauth" or "api") whose URL the token endpoint (codes and refreshes) is on.
    grant_host: str = "oauth"
    # Separator of the scopes in the consent URL: HubSpot wants %20, others accept "+".
    quote_scopes_with_percent: bool = False
    # The token endpoint answers a refused refresh token with a vendor-specific body; these
    # (key, value) pairs mean the same as RFC 6749's `invalid_grant`.
    invalid_grant_markers: tuple[tuple[str, str], ...] = ()


Auth = ApiKey | OAuth2


@dataclass(frozen=True)
class Sandbox:
    """The project's local stand-in of the vendor (`sandbox/<system>/`)."""

    app: str  # "module:Class"
    port: int  # where `python -m sandbox` serves it beside the product
    api_path: str = ""  # the API's path prefix on the sandbox host (sevDesk: /api/v1)


@dataclass(frozen=True)
class PlanOffer:
    """The subscription that sells this system: Stripe's price id (overridable through the
    environment variable STRIPE_PRICE_<KEY>) and the price the wizard shows beside it."""

    default_price_id: str
    price_label: str


@dataclass(frozen=True)
class Provider:
    key: str
    label: str
    kind: Kind
    # How a customer connects, in the order the wizard offers them (OAuth first).
    auth: tuple[Auth, ...]
    # Production hosts by name ("api", "oauth"); a template may name connection fields
    # (`https://{instance}.example.com`) for vendors with a per-customer instance.
    hosts: Mapping[str, str]
    sandbox: Sandbox
    spec_files: tuple[str, ...]  # under vendor-specs/<key>/, read by the sandbox and tests
    connector: str = ""  # "module:Class"; empty for a source system without one
    rate: Rate | None = None
    rate_scope: RateScope = RateScope.CREDENTIAL
    # Status codes that mean something else at this vendor than in the default map.
    error_map: Mapping[int, type[errors.ConnectorError]] = field(default_factory=dict)
    # Statuses after which a write may have happened although it failed (gateway time-outs).
    unknown_outcome_statuses: frozenset[int] = frozenset({504})
    retry_after_headers: tuple[str, ...] = ("Retry-After",)
    read_timeout: float = 30.0
    capabilities: Capabilities | None = None
    # Vendor calls a transfer of each kind usually makes, e.g. {"quote": 1} (a linked customer
    # is named unread): what the pacing books on the rate limit before the transfer takes a
    # worker. A transfer that needs more calls waits for them in its worker.
    calls_budget: Mapping[str, int] = field(default_factory=dict)
    plan: PlanOffer | None = None
    description: StrOrPromise = (
        ""  # what the plan does, in the customer's words (lazily translated)
    )
    # Where the customer removes APIUP's access by hand when disconnecting cannot revoke it
    # (an API key, a vendor without revocation); empty: the vendor's settings, unnamed.
    manual_revoke_hint: StrOrPromise = ""

    @property
    def api_key(self) -> ApiKey | None:
        return next((a for a in self.auth if isinstance(a, ApiKey)), None)

    @property
    def oauth(self) -> OAuth2 | None:
        return next((a for a in self.auth if isinstance(a, OAuth2)), None)

    @property
    def is_accounting(self) -> bool:
        return self.kind is Kind.ACCOUNTING
