from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.generic import FormView, TemplateView

from accounts import selectors, services
from accounts.forms import CompanyForm
from accounts.gate import OnboardedRequiredMixin
from accounts.tenancy import tenant_of
from connectors import selectors as connector_selectors


class CompanyView(LoginRequiredMixin, FormView[CompanyForm]):
    """Registration step 2."""

    form_class = CompanyForm
    template_name = "accounts/company.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.user.is_authenticated and getattr(request.user, "tenant_id", None):
            return redirect("dashboard:home")
        return super().dispatch(request, *args, **kwargs)

    def form_valid(self, form: CompanyForm) -> HttpResponse:
        services.tenant_create_for_user(user=self.request.user, **form.cleaned_data)  # type: ignore[arg-type]
        messages.success(self.request, _("Your company data has been saved."))
        return redirect("accounts:verify_email")


class VerifyEmailView(LoginRequiredMixin, TemplateView):
    """Shown until the e-mail address is confirmed; offers to send the message again."""

    template_name = "accounts/verify_email.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        user = request.user
        if user.is_authenticated and selectors.user_email_verified(user=user):
            return redirect("dashboard:home")
        return super().dispatch(request, *args, **kwargs)


class DashboardView(OnboardedRequiredMixin, TemplateView):
    template_name = "dashboard/home.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        tenant = tenant_of(self.request)
        context["tenant"] = tenant
        context["connections"] = connector_selectors.connection_list(tenant=tenant)
        return context
