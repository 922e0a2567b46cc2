"""Writes that concern connections: connecting HubSpot and the system of the plan (an
accounting system or ZEP, from the setup wizard), and disconnecting."""

import logging
from typing import Protocol, cast

from django.db import IntegrityError, transaction

from accounts.models import Tenant
from connectors import errors, oauth
from connectors.credentials import store_tokens
from connectors.hubspot.client import account_details_of, portal_of
from connectors.models import Connection
from connectors.registry import connector_class, connector_for, provider, vendor_url
from connectors.shapes import AccountInfo, EventSubscription

logger = logging.getLogger(__name__)


class PortalTaken(Exception):
    """The HubSpot portal is already connected to another customer's account: its webhooks
    could reach only one tenant."""


def hubspot_connect(
    *, tenant: Tenant, code: str, redirect_uri: str, code_verifier: str
) -> Connection:
    """Step 3: the authorization code from HubSpot's redirect becomes the tenant's HubSpot
    connection. Raises ConnectorError when HubSpot refuses the code, PortalTaken when the
    portal belongs to another tenant."""
    hubspot = provider("hubspot")
    tokens = oauth.exchange_code(
        hubspot,
        code=code,
        redirect_uri=redirect_uri,
        code_verifier=code_verifier,
        oauth_url=vendor_url(hubspot, "api"),  # HubSpot's token endpoint is on its API host
    )
    portal_id, hub_domain = portal_of(tokens.access_token, base_url=vendor_url(hubspot, "api"))
    try:
        with transaction.atomic():
            connection = (
                Connection.objects.for_tenant(tenant)
                .select_for_update()
                .filter(system="hubspot")
                .first()
            ) or Connection(tenant=tenant, system="hubspot")
            connection.credentials = {}
            store_tokens(connection, tokens)
            connection.external_account_id = portal_id
            connection.account_name = hub_domain or portal_id
            connection.status = Connection.Status.CONNECTED
            connection.save()
    except IntegrityError:
        # The constraint one_tenant_per_hubspot_portal decides, also between two customers
        # installing the same portal at the same moment; any other conflict is not ours.
        taken = (
            Connection.objects.filter(system="hubspot", external_account_id=portal_id)
            .exclude(tenant=tenant)
            .exists()
        )
        if taken:
            raise PortalTaken(portal_id) from None
        raise
    _read_hubspot_account(connection, tokens.access_token)
    return connection


def _read_hubspot_account(connection: Connection, token: str) -> None:
    """Names the connection after the portal's name in HubSpot instead of its technical
    domain, and learns its company currency. The connection stands without them: a refused
    or failed read keeps the domain, and the currency is read again at the first transfer."""
    try:
        name, _currency = account_details_of(
            token,
            portal_id=connection.external_account_id,
            base_url=vendor_url(provider("hubspot"), "api"),
        )
    except errors.ConnectorError:
        logger.warning("hubspot portal %s: name not read", connection.external_account_id)
        return
    if name and name != connection.account_name:
        connection.account_name = name[: Connection._meta.get_field("account_name").max_length]
        connection.save(update_fields=["account_name", "updated_at"])


def connection_connect(*, tenant: Tenant, system: str, credentials: dict[str, str]) -> Connection:
    """A token connection of any system the plan is for (accounting or time tracking),
    verified at once with the vendor's own check; nothing is stored when the vendor refuses
    (ConnectorError, with the vendor's words in `vendor_message`)."""
    candidate = Connection(tenant=tenant, system=system)
    candidate.credentials = dict(credentials)
    return _verified_save(candidate)


def accounting_connect_oauth(
    *, tenant: Tenant, system: str, code: str, redirect_uri: str, code_verifier: str
) -> Connection:
    """Step 5 with OAuth: the code is exchanged, then verified like a token."""
    declared = provider(system)
    tokens = oauth.exchange_code(
        declared,
        code=code,
        redirect_uri=redirect_uri,
        code_verifier=code_verifier,
        oauth_url=vendor_url(declared, declared.oauth.grant_host if declared.oauth else "oauth"),
    )
    candidate = Connection(tenant=tenant, system=system)
    candidate.credentials = {}
    store_tokens(candidate, tokens)
    return _verified_save(candidate)


class _Verifiable(Protocol):
    def verify(self) -> AccountInfo: ...


def _verified_save(candidate: Connection) -> Connection:
    # Every system's connector proves its credential with `verify` (one or two real calls).
    connector = cast(_Verifiable, connector_for(candidate.system)(connection=candidate))
    account = connector.verify()
    with transaction.atomic():
        connection = (
            Connection.objects.for_tenant(candidate.tenant)
            .select_for_update()
            .filter(system=candidate.system)
            .first()
        ) or candidate
        # A reconnected account keeps its subscription to the vendor's events.
        kept = (connection.credentials or {}).get(EVENT_SUBSCRIPTION_KEY) if connection.pk else None
        connection.credentials = {
            **candidate.credentials,
            **({EVENT_SUBSCRIPTION_KEY: kept} if kept else {}),
        }
        # Only what the vendor calls the account; the system's own name would be no name.
        connection.account_name = account.name
        connection.external_account_id = account.account_id
        connection.status = Connection.Status.CONNECTED
        connection.save()
    if provider(connection.system).is_accounting:
        _read_account_terms(connection)
    return connection


def _read_account_terms(connection: Connection) -> None:
    """What the account allows (tax rates, currencies), read once at connection time so the
    settings page and the first transfer find it cached. A failed read leaves the
    connection as it is: each is read again when it is needed."""
    connector = connector_class(connection.system)(connection=connection)
    try:
        connector.tax_rates()
        connector.currencies()
    except errors.ConnectorError as exc:
        logger.warning(
            "%s: reading the account's terms failed (%s)", connection.system, type(exc).__name__
        )


def connection_disconnect(*, connection: Connection) -> bool:
    """Ends APIUP's access at the vendor where it offers that, then removes the connection
    and its stored credentials. Returns whether the access was revoked at the vendor; where
    not (an API key, a vendor without revocation, the vendor unreachable), the customer is
    told to remove the app or key there as well. The connection is removed either way."""
    declared = provider(connection.system)
    revoked = False
    _events_unsubscribe(connection)
    refresh_token = str((connection.credentials or {}).get("refresh_token") or "")
    if declared.oauth is not None and refresh_token:
        try:
            revoked = oauth.revoke(
                declared,
                refresh_token,
                oauth_url=vendor_url(declared, declared.oauth.grant_host),
            )
        except errors.ConnectorError as exc:
            logger.warning("%s: revoking the token failed (%s)", declared.key, type(exc).__name__)
    connection.delete()
    return revoked


# Where a connection keeps its subscription to the vendor's document events (ids and signing
# secret), encrypted with its credentials.
EVENT_SUBSCRIPTION_KEY = "event_subscription"


def _events_unsubscribe(connection: Connection) -> None:
    """Removes the product's subscription to the vendor's events, so that a removed
    connection is sent nothing more; a vendor that cannot be reached keeps it (its events
    are then acknowledged and ignored)."""
    stored = (connection.credentials or {}).get(EVENT_SUBSCRIPTION_KEY)
    if not isinstance(stored, dict) or not provider(connection.system).is_accounting:
        return
    subscription = EventSubscription(
        ids=tuple(stored.get("ids") or ()), secret=str(stored.get("secret") or "")
    )
    try:
        connector_class(connection.system)(connection=connection).events_unsubscribe(subscription)
    except errors.ConnectorError as exc:
        logger.warning(
            "%s: removing the event subscription failed (%s)", connection.system, type(exc).__name__
        )
