"""The base of every tenant-owned model, apart from the views (accounts.tenancy) so that
accounts' own models can derive from it without importing the views' helpers."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Generic, TypeVar

from django.db import models

if TYPE_CHECKING:
    from accounts.models import Tenant

_M = TypeVar("_M", bound=models.Model)


class TenantQuerySet(models.QuerySet[_M], Generic[_M]):
    def for_tenant(self, tenant: Tenant) -> TenantQuerySet[_M]:
        return self.filter(tenant=tenant)


class TenantOwnedModel(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")

    objects = TenantQuerySet.as_manager()

    class Meta:
        abstract = True
