"""Writes that concern users and tenants."""

from django.db import transaction

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
