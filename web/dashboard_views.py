"""The dashboard: the overview, the transfer settings, the team and closing the account."""

import logging
from typing import Any

import stripe
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.generic import FormView, TemplateView

from accounts import selectors
from accounts import services as account_services
from accounts.gate import OnboardedRequiredMixin
from accounts.tenancy import tenant_of
from billing import services as billing_services
from connectors import selectors as connector_selectors
from connectors.registry import provider
from sync.models import TransferSettings
from sync.services import transfer_settings
from web import dashboard, onboarding
from web.forms import CloseAccountForm, InviteForm, TransferSettingsForm

logger = logging.getLogger(__name__)


class DashboardView(OnboardedRequiredMixin, TemplateView):
    """The overview: systems and their health, the transfer chart, settings and billing."""

    template_name = "dashboard/home.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        tenant = tenant_of(self.request)
        progress = onboarding.progress_of(tenant=tenant)
        context["tenant"] = tenant
        context["progress"] = progress
        context["step"] = onboarding.OVERVIEW
        context["connections"] = connector_selectors.connection_list(tenant=tenant)
        context["systems"] = dashboard.systems_overview(tenant=tenant)
        context["chart"] = dashboard.transfer_chart(tenant=tenant)
        context["chart_total"] = sum(day.total for day in context["chart"])
        context["outcomes"] = dashboard.OUTCOMES
        context["subscription"] = progress.subscription
        if progress.subscription is not None:
            context["plan_label"] = provider(progress.subscription.plan).label
        return context


class TransferSettingsView(OnboardedRequiredMixin, FormView[TransferSettingsForm]):
    """How won deals and contacts are transferred (one set of settings per customer)."""

    form_class = TransferSettingsForm
    template_name = "dashboard/settings.html"

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs = super().get_form_kwargs()
        tenant = tenant_of(self.request)
        # Unsaved defaults until the customer saves: showing the page writes nothing.
        kwargs["instance"] = TransferSettings.objects.for_tenant(tenant).first() or (
            TransferSettings(tenant=tenant)
        )
        return kwargs

    def form_valid(self, form: TransferSettingsForm) -> HttpResponse:
        fields = {name: form.cleaned_data[name] for name in form.Meta.fields}
        transfer_settings.transfer_settings_update(
            tenant=tenant_of(self.request),
            won_stage_ids=form.cleaned_data["won_stages"],
            **fields,
        )
        messages.success(self.request, _("Your transfer settings have been saved."))
        return redirect("dashboard:settings")


class TeamView(OnboardedRequiredMixin, FormView[InviteForm]):
    """The people of the customer's company who may sign in, and inviting another."""

    form_class = InviteForm
    template_name = "dashboard/team.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["members"] = selectors.team_members(tenant=tenant_of(self.request))
        return context

    def form_valid(self, form: InviteForm) -> HttpResponse:
        email = form.cleaned_data["email"]
        try:
            account_services.team_member_invite(
                tenant=tenant_of(self.request), email=email, request=self.request
            )
        except account_services.AlreadyRegistered:
            form.add_error("email", _("This address already has an APIUP account."))
            return self.form_invalid(form)
        messages.success(
            self.request,
            _("We have sent an invitation to %(email)s to choose a password.") % {"email": email},
        )
        return redirect("dashboard:team")


class CloseAccountView(OnboardedRequiredMixin, FormView[CloseAccountForm]):
    """Closing the account: cancels the subscription, deletes everything, logs out."""

    form_class = CloseAccountForm
    template_name = "dashboard/close_account.html"

    def form_valid(self, form: CloseAccountForm) -> HttpResponse:
        tenant = tenant_of(self.request)
        try:
            billing_services.tenant_close(tenant=tenant)
        except stripe.StripeError:
            logger.exception("closing tenant %s: Stripe refused the cancellation", tenant.pk)
            form.add_error(
                None,
                _(
                    "Stripe could not cancel your subscription just now, so nothing was "
                    "deleted. Please try again in a few minutes."
                ),
            )
            return self.form_invalid(form)
        logout(self.request)
        messages.success(self.request, _("Your account has been closed and your data deleted."))
        return redirect("account_login")
