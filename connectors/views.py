from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.generic import DetailView

from accounts.roles import Action
from accounts.tenancy import TenantScopedMixin
from connectors import services
from connectors.models import Connection
from connectors.registry import provider


class ConnectionDetailView(TenantScopedMixin, DetailView[Connection]):
    model = Connection
    template_name = "connectors/connection_detail.html"
    context_object_name = "connection"


class ConnectionDisconnectView(TenantScopedMixin, DetailView[Connection]):
    """Removes the connection and its stored credentials from APIUP."""

    model = Connection
    permission = Action.CONNECT
    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        connection = self.get_object()
        name = connection.get_system_display()
        if services.connection_disconnect(connection=connection):
            message = _(
                "%(system)s is disconnected: APIUP's access at %(system)s is withdrawn and its "
                "access data are deleted from APIUP."
            ) % {"system": name}
        else:
            message = _(
                "%(system)s is disconnected and its access data are deleted from APIUP. To "
                "withdraw APIUP's access at %(system)s as well, remove the APIUP app or key "
                "in your %(system)s account."
            ) % {"system": name}
            # Where exactly, when the provider says so.
            hint = provider(connection.system).manual_revoke_hint
            message += f" {hint}" if hint else ""
        messages.success(request, message)
        return redirect("dashboard:home")
