"""Writes that concern users and tenants."""

from typing import Any

from allauth.account.forms import ResetPasswordForm
from allauth.account.models import EmailAddress
from django.db import transaction
from django.http import HttpRequest

from accounts.models import Tenant, User
from billing import stripe_gateway
from billing.models import Subscription
from connectors import oauth
from connectors.credentials import store_tokens
from connectors.hubspot.client import portal_of
from connectors.models import Connection
from connectors.registry import connector_class, provider, vendor_url
from sync.models import TransferSettings


@transaction.atomic
def tenant_create_for_user(
    *,
    user: User,
    company_name: str,
    first_name: str,
    last_name: str,
    street: str,
    house_number: str,
    postcode: str,
    city: str,
    country: str,
) -> Tenant:
    """Step 2 of registration: the customer's company, which the registering user owns."""
    locked_user = User.objects.select_for_update().get(pk=user.pk)
    if locked_user.tenant_id is not None:
        return locked_user.tenant  # type: ignore[return-value]
    tenant = Tenant.objects.create(
        company_name=company_name,
        first_name=first_name,
        last_name=last_name,
        street=street,
        house_number=house_number,
        postcode=postcode,
        city=city,
        country=country,
    )
    locked_user.tenant = tenant
    locked_user.save(update_fields=["tenant"])
    user.tenant = tenant
    return tenant


# -- setup wizard: connections ---------------------------------------------------------------


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
    with transaction.atomic():
        # A check, not a constraint: a unique (system, account id) across tenants would need
        # a migration of connectors.Connection. Two customers installing the same portal in
        # the same second is the only gap.
        taken = (
            Connection.objects.filter(system="hubspot", external_account_id=portal_id)
            .exclude(tenant=tenant)
            .exists()
        )
        if taken:
            raise PortalTaken(portal_id)
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


def _verified_save(candidate: Connection) -> Connection:
    connector = connector_class(candidate.system)(connection=candidate)
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


# -- dashboard: settings, team, closing -------------------------------------------------------


def transfer_settings_update(*, tenant: Tenant, **fields: Any) -> TransferSettings:
    with transaction.atomic():
        found, _ = TransferSettings.objects.select_for_update().get_or_create(tenant=tenant)
        for name, value in fields.items():
            setattr(found, name, value)
        found.save()
    return found


class AlreadyRegistered(Exception):
    pass


def team_member_invite(*, tenant: Tenant, email: str, request: HttpRequest) -> User:
    """A colleague joins the tenant: the user is created without a password and receives
    allauth's password-reset mail as the invitation, so the password is only ever chosen by
    the person who can read that mailbox."""
    email = email.strip().lower()
    with transaction.atomic():
        if User.objects.filter(email__iexact=email).exists():
            raise AlreadyRegistered(email)
        user = User.objects.create_user(email=email, tenant=tenant)
        user.set_unusable_password()
        user.save(update_fields=["password"])
        # Verified: signing in needs the password set through the link mailed to this
        # address, which proves the address as much as a confirmation mail would.
        EmailAddress.objects.create(user=user, email=email, primary=True, verified=True)
    form = ResetPasswordForm(data={"email": email})
    if form.is_valid():
        form.save(request)
    return user


def tenant_close(*, tenant: Tenant) -> None:
    """Closes the customer's account: the Stripe subscription is cancelled first (if that
    fails, nothing is deleted and the customer may try again), then the tenant and everything
    it owns, its users included, is deleted."""
    subscription = Subscription.objects.for_tenant(tenant).first()
    if (
        subscription is not None
        and subscription.stripe_subscription_id
        and subscription.status != Subscription.Status.CANCELED
    ):
        stripe_gateway.subscription_cancel(subscription.stripe_subscription_id)
    with transaction.atomic():
        Tenant.objects.filter(pk=tenant.pk).delete()
