"""Where a signed-in person must go before the product opens: company data, then e-mail; and
what their role lets them do there (accounts.roles)."""

from typing import Any, ClassVar

from django.contrib.auth.mixins import AccessMixin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import redirect

from accounts import selectors
from accounts.roles import Action, may

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class OnboardedRequiredMixin(AccessMixin):
    """A view states what it needs with `permission` (every method) and, where reading is
    open to more people than changing, `write_permission` (POST and the other writes). The
    check runs on the server for every request, whatever the page shows."""

    permission: ClassVar[Action] = Action.VIEW
    write_permission: ClassVar[Action | None] = None

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        user = request.user
        if not user.is_authenticated:
            return self.handle_no_permission()
        if getattr(user, "tenant_id", None) is None:
            return redirect("accounts:company")
        if not selectors.user_email_verified(user=user):
            return redirect("accounts:verify_email")
        if not may(user, self.permission):
            raise PermissionDenied
        writes = request.method not in _SAFE_METHODS
        if writes and self.write_permission is not None and not may(user, self.write_permission):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
