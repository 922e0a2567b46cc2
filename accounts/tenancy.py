"""Tenant isolation by construction.

Every tenant-owned model derives from `TenantOwnedModel`, and every view that reaches such
rows derives from `TenantScopedMixin` (HTML) or `TenantScopedViewSet` (API). Both build the
queryset from the signed-in user's tenant and refuse subclasses that override
`get_queryset`: a view narrows the rows through `scope_queryset`, which only ever receives
rows of the caller's tenant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models
from django.http import HttpRequest
from rest_framework import permissions, viewsets
from rest_framework.request import Request

from accounts.gate import OnboardedRequiredMixin

# Defined beside the models, which derive from them too; named here, where views find them.
from accounts.ownership import TenantOwnedModel, TenantQuerySet

__all__ = [
    "HasTenant",
    "TenantOwnedModel",
    "TenantQuerySet",
    "TenantScopedMixin",
    "TenantScopedViewSet",
    "tenant_of",
]

if TYPE_CHECKING:
    from accounts.models import Tenant


class _SealedQueryset:
    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # The two base classes below define the one scoped get_queryset; nothing else may.
        if cls.__module__ != __name__ and "get_queryset" in cls.__dict__:
            raise TypeError(
                f"{cls.__name__} overrides get_queryset, which would drop the tenant scope; "
                "override scope_queryset instead."
            )


def tenant_of(request: HttpRequest | Request) -> Tenant:
    tenant = getattr(request.user, "tenant", None)
    if tenant is None:
        raise PermissionError("The signed-in user has no tenant yet.")
    return tenant


class TenantScopedMixin(OnboardedRequiredMixin, _SealedQueryset):
    """For Django class-based views (Detail/List/Update/Delete) over a tenant-owned model."""

    model: type[TenantOwnedModel]
    request: HttpRequest

    def get_queryset(self) -> models.QuerySet[Any]:
        return self.scope_queryset(self.model.objects.for_tenant(tenant_of(self.request)))

    def scope_queryset(self, queryset: models.QuerySet[Any]) -> models.QuerySet[Any]:
        return queryset


class HasTenant(permissions.BasePermission):
    def has_permission(self, request: Request, view: object) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.tenant_id)


class TenantScopedViewSet(_SealedQueryset, viewsets.GenericViewSet):
    """For DRF viewsets over a tenant-owned model; other tenants' rows answer 404."""

    permission_classes = [HasTenant]
    model: type[TenantOwnedModel]

    def get_queryset(self) -> models.QuerySet[Any]:
        return self.scope_queryset(self.model.objects.for_tenant(tenant_of(self.request)))

    def scope_queryset(self, queryset: models.QuerySet[Any]) -> models.QuerySet[Any]:
        return queryset

    def perform_create(self, serializer: Any) -> None:
        serializer.save(tenant=tenant_of(self.request))
