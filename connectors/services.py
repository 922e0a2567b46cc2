"""Writes that concern connections: connecting HubSpot and the accounting system (from the
setup wizard), and disconnecting."""

from django.conf import settings
from django.db import transaction

from accounts.models import Tenant
from connectors import bexio, hubspot, qonto
from connectors.credentials import store_tokens
from connectors.models import Connection, System
from connectors.registry import connector_class


class PortalTaken(Exception):
    """The HubSpot portal is already connected to another customer's account: its webhooks
    could reach only one tenant."""


def _vendor_url(system: str) -> str:
    # Read per call (not at import), so the sandbox a test or the demo points at is used.
    return str(settings.VENDOR_API_URLS[system])


def hubspot_connect(
    *, tenant: Tenant, code: str, redirect_uri: str, code_verifier: str
) -> Connection:
    """Step 3: the authorization code from HubSpot's redirect becomes the tenant's HubSpot
    connection. Raises ConnectorError when HubSpot refuses the code, PortalTaken when the
    portal belongs to another tenant."""
    tokens = hubspot.exchange_code(
        code=code,
        redirect_uri=redirect_uri,
        code_verifier=code_verifier,
        base_url=_vendor_url("hubspot"),
    )
    portal_id, hub_domain = hubspot.portal_of(tokens.access_token, base_url=_vendor_url("hubspot"))
    with transaction.atomic():
        # A check, not a constraint: a unique (system, account id) across tenants would need
        # a migration of connectors.Connection. Two customers installing the same portal in
        # the same second is the only gap.
        taken = (
            Connection.objects.filter(system=System.HUBSPOT, external_account_id=portal_id)
            .exclude(tenant=tenant)
            .exists()
        )
        if taken:
            raise PortalTaken(portal_id)
        connection = (
            Connection.objects.for_tenant(tenant)
            .select_for_update()
            .filter(system=System.HUBSPOT)
            .first()
        ) or Connection(tenant=tenant, system=System.HUBSPOT)
        connection.credentials = {}
        store_tokens(connection, tokens)
        connection.external_account_id = portal_id
        connection.account_name = hub_domain or portal_id
        connection.status = Connection.Status.CONNECTED
        connection.save()
    return connection


def accounting_connect(*, tenant: Tenant, system: str, credentials: dict[str, str]) -> Connection:
    """Step 5 with an API token: verified at once with one real call; nothing is stored when
    the vendor refuses it (ConnectorError, with the vendor's words in `vendor_message`)."""
    candidate = Connection(tenant=tenant, system=system)
    candidate.credentials = dict(credentials)
    return _verified_save(candidate)


def accounting_connect_oauth(
    *, tenant: Tenant, system: str, code: str, redirect_uri: str, code_verifier: str
) -> Connection:
    """Step 5 with OAuth (bexio, Qonto): the code is exchanged, then verified like a token."""
    if system == System.BEXIO:
        tokens = bexio.exchange_code(
            code=code,
            redirect_uri=redirect_uri,
            code_verifier=code_verifier,
            oauth_url=_vendor_url("bexio_oauth"),
        )
    elif system == System.QONTO:
        # Qonto's authorization takes no PKCE challenge (connectors.qonto.authorization_url).
        tokens = qonto.exchange_code(
            code=code, redirect_uri=redirect_uri, oauth_url=_vendor_url("qonto_oauth")
        )
    else:
        raise ValueError(f"{system} has no OAuth connection")
    candidate = Connection(tenant=tenant, system=system)
    candidate.credentials = {}
    store_tokens(candidate, tokens)
    return _verified_save(candidate)


def _verified_save(candidate: Connection) -> Connection:
    connector = connector_class(candidate.system)(
        connection=candidate, base_url=_vendor_url(candidate.system)
    )
    account = connector.verify()
    with transaction.atomic():
        connection = (
            Connection.objects.for_tenant(candidate.tenant)
            .select_for_update()
            .filter(system=candidate.system)
            .first()
        ) or candidate
        connection.credentials = candidate.credentials
        connection.account_name = account.name or candidate.get_system_display()
        connection.external_account_id = account.account_id
        connection.status = Connection.Status.CONNECTED
        connection.save()
    return connection


def connection_disconnect(*, connection: Connection) -> None:
    """Removes the connection and its stored credentials. None of the connectors offers a
    call that revokes APIUP's access at the vendor, so the customer is told to remove the app
    there as well."""
    connection.delete()
