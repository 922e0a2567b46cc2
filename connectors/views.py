from django.views.generic import DetailView

from accounts.tenancy import TenantScopedMixin
from connectors.models import Connection


class ConnectionDetailView(TenantScopedMixin, DetailView[Connection]):
    model = Connection
    template_name = "connectors/connection_detail.html"
    context_object_name = "connection"
