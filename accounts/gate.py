"""Where a signed-in person must go before the product opens: company data, then e-mail."""

from typing import Any

from django.contrib.auth.mixins import AccessMixin
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import redirect

from accounts import selectors


class OnboardedRequiredMixin(AccessMixin):
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        user = request.user
        if not user.is_authenticated:
            return self.handle_no_permission()
        if getattr(user, "tenant_id", None) is None:
            return redirect("accounts:company")
        if not selectors.user_email_verified(user=user):
            return redirect("accounts:verify_email")
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
