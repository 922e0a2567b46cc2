"""Writes that concern users and tenants."""

from allauth.account.forms import ResetPasswordForm
from allauth.account.models import EmailAddress
from django.db import transaction
from django.http import HttpRequest

from accounts.models import Tenant, User


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
