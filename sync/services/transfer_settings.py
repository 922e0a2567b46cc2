"""Writes of the customer's transfer settings (the dashboard's settings page)."""

from typing import Any

from django.db import transaction

from accounts.models import Tenant
from sync.models import TransferSettings


def transfer_settings_update(*, tenant: Tenant, **fields: Any) -> TransferSettings:
    with transaction.atomic():
        found, _ = TransferSettings.objects.select_for_update().get_or_create(tenant=tenant)
        for name, value in fields.items():
            setattr(found, name, value)
        found.save()
    return found
