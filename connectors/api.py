from typing import Any

from django.db.models import QuerySet
from rest_framework import mixins, serializers

from accounts.tenancy import TenantScopedViewSet
from connectors.models import Connection


class ConnectionSerializer(serializers.ModelSerializer[Connection]):
    class Meta:
        model = Connection
        # Credentials are never part of an API answer.
        fields = ["id", "system", "status", "account_name", "external_account_id", "created_at"]


class ConnectionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    model = Connection
    serializer_class = ConnectionSerializer

    def scope_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.order_by("system")
