"""Registration after allauth's signup (accounts.forms.TermsSignupForm, accounts.adapter):
the company, and the reminder to confirm the e-mail address; and accepting an invitation."""

from typing import Any

from allauth.account.adapter import get_adapter
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import FormView, TemplateView

from accounts import confirmation_mail, invitation_session, selectors, services
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
        # The address was confirmed before this step (ACCOUNT_EMAIL_VERIFICATION); the gate
        # still sends anyone unconfirmed to accounts:verify_email.
        return redirect(settings.LOGIN_REDIRECT_URL)


class VerifyEmailView(TemplateView):
    """Registration step 2: shown until the e-mail address is confirmed, to a signed-in user
    or to the browser that just signed up; sends the message again here, within allauth's
    limit, and says when the next one can go out."""

    template_name = "accounts/verify_email.html"
    pending: confirmation_mail.Pending

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        user = request.user
        if user.is_authenticated and selectors.user_email_verified(user=user):
            return redirect(settings.LOGIN_REDIRECT_URL)
        pending = confirmation_mail.pending_of(request)
        if pending is None:
            return redirect(settings.LOGIN_URL)
        self.pending = pending
        signed_up = pending.login.user if pending.login else None
        if signed_up is not None and selectors.user_email_verified(user=signed_up):
            # Confirmed meanwhile (in another browser): logging in is what is left.
            return redirect(settings.LOGIN_URL)
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["email"] = self.pending.email
        context["next_send_at"] = confirmation_mail.next_send_at(self.request, self.pending.email)
        return context

    def post(self, request: HttpRequest) -> HttpResponse:
        # A sent message is announced by allauth itself ("Confirmation e-mail sent to ...").
        if not confirmation_mail.send_again(request, self.pending):
            at = confirmation_mail.next_send_at(request, self.pending.email)
            if at is not None:
                messages.info(
                    request,
                    _(
                        "A message was sent to this address a short while ago, so no new one "
                        "went out. You can send the message again from %(time)s."
                    )
                    % {"time": formats.time_format(timezone.localtime(at))},
                )
        return redirect("accounts:verify_email")


class InvitationOpenView(View):
    """The link in the invitation mail. The token moves into the session and out of the
    address bar before any page is shown."""

    def get(self, request: HttpRequest, token: str) -> HttpResponse:
        invitation_session.remember(request.session, token)
        return redirect("accounts:invitation_accept")


class InvitationAcceptView(TemplateView):
    """Who invites, to which company and role; then signing up or logging in, and joining."""

    template_name = "accounts/invitation_accept.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        invitation = invitation_session.open_invitation(self.request.session)
        context["invitation"] = invitation
        user = self.request.user
        if invitation is None:
            return context
        if not user.is_authenticated:
            # Signing up with this address needs no confirmation mail: the link proved it.
            get_adapter(self.request).stash_verified_email(self.request, invitation.email)
            context["next"] = reverse("accounts:invitation_accept")
        else:
            context["other_address"] = user.email.lower() != invitation.email
            context["other_company"] = getattr(user, "tenant_id", None) not in (
                None,
                invitation.tenant_id,
            )
        return context

    def post(self, request: HttpRequest) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect("accounts:invitation_accept")
        try:
            tenant = services.invitation_accept(
                token=invitation_session.token_of(request.session),
                user=request.user,
            )
        except services.InvitationInvalid:
            # The page then says so (expired, withdrawn or used: one answer for all).
            invitation_session.forget(request.session)
            return redirect("accounts:invitation_accept")
        except (services.InvitationForAnotherAddress, services.AccountOfAnotherCompany):
            return redirect("accounts:invitation_accept")
        invitation_session.forget(request.session)
        messages.success(
            request, _("Welcome to %(company)s on APIUP.") % {"company": tenant.display_name}
        )
        return redirect(settings.LOGIN_REDIRECT_URL)
