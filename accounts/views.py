"""Registration steps 2 and 3: the company, then the e-mail confirmation. Step 1 is
allauth's signup (accounts.forms.TermsSignupForm, accounts.adapter)."""

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.generic import FormView, TemplateView

from accounts import selectors, services
from accounts.forms import CompanyForm


class CompanyView(LoginRequiredMixin, FormView[CompanyForm]):
    """Registration step 2."""

    form_class = CompanyForm
    template_name = "accounts/company.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.user.is_authenticated and getattr(request.user, "tenant_id", None):
            return redirect(settings.LOGIN_REDIRECT_URL)
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
            return redirect(settings.LOGIN_REDIRECT_URL)
        return super().dispatch(request, *args, **kwargs)
