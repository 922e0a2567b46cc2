"""The dashboard: the overview, the transfer settings, the team and closing the account. Each
view states the action it needs (accounts.roles); the gate refuses everyone else."""

import logging
from typing import Any

import stripe
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.generic import DetailView, FormView, TemplateView

from accounts import selectors
from accounts import services as account_services
from accounts.gate import OnboardedRequiredMixin
from accounts.models import Invitation, Role, User
from accounts.roles import Action
from accounts.tenancy import TenantScopedMixin, tenant_of
from billing import services as billing_services
from billing.selectors import subscriptions_of
from connectors import selectors as connector_selectors
from connectors.registry import provider
from sync.models import TransferSettings
from sync.services import transfer_settings
from web import dashboard, documents_views, onboarding
from web.forms import (
    CloseAccountForm,
    DocumentRuleForm,
    InviteForm,
    MemberRemoveForm,
    MemberRoleForm,
    TransferSettingsForm,
)

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
        context["placeholders"] = dashboard.placeholder_summary(tenant=tenant)
        context["subscription"] = progress.subscription
        if progress.subscription is not None:
            context["plan_label"] = provider(progress.subscription.plan).label
        context["may_add_plan"] = any(row.can_add for row in context["systems"])
        context["time_tracking_held"] = any(
            row.is_plan and row.is_time_tracking for row in context["systems"]
        )
        context["plans"] = [
            (provider(system).label, subscription)
            for system, subscription in subscriptions_of(tenant=tenant).items()
        ]
        return context


class TransferSettingsView(OnboardedRequiredMixin, FormView[TransferSettingsForm]):
    """How won deals and contacts are transferred (one set of settings per customer), and
    which documents each deal stage makes (web.documents_views)."""

    form_class = TransferSettingsForm
    template_name = "dashboard/settings.html"
    permission = Action.SETTINGS

    def pipelines(self) -> list[documents_views.Pipeline] | None:
        """The portal's pipelines, read from HubSpot once per request."""
        if not hasattr(self, "_pipelines"):
            self._pipelines = documents_views.portal_pipelines(tenant=tenant_of(self.request))
        return self._pipelines

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs = super().get_form_kwargs()
        tenant = tenant_of(self.request)
        # Unsaved defaults until the customer saves: showing the page writes nothing.
        kwargs["instance"] = TransferSettings.objects.for_tenant(tenant).first() or (
            TransferSettings(tenant=tenant)
        )
        kwargs["pipelines"] = self.pipelines()
        return kwargs

    def rule_form(self, data: Any = None) -> DocumentRuleForm:
        system = documents_views.accounting_system(tenant=tenant_of(self.request))
        return DocumentRuleForm(
            data,
            prefix="rule",
            pipelines=self.pipelines(),
            system_label=system.label if system else "",
            capabilities=documents_views.capabilities_of(system) if system else None,
        )

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["rule_form"] = kwargs.get("rule_form") or self.rule_form()
        context["documents"] = documents_views.rules_section(
            tenant=tenant_of(self.request), pipelines=self.pipelines()
        )
        return context

    def form_valid(self, form: TransferSettingsForm) -> HttpResponse:
        fields = {name: form.cleaned_data[name] for name in form.Meta.fields}
        transfer_settings.transfer_settings_update(
            tenant=tenant_of(self.request),
            won_stage_ids=form.cleaned_data["won_stages"],
            **fields,
        )
        messages.success(self.request, _("Your transfer settings have been saved."))
        return redirect("dashboard:settings")


class DocumentRuleAddView(TransferSettingsView):
    """Adds a rule "deal enters stage S → document D"; a refused one shows the settings page
    again with the reason beside the field."""

    http_method_names = ["post"]

    def get_form_kwargs(self) -> dict[str, Any]:
        # The settings form beside it stays as stored: the POST is the rule's.
        kwargs = super().get_form_kwargs()
        kwargs.pop("data", None)
        kwargs.pop("files", None)
        return kwargs

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = self.rule_form(request.POST)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(rule_form=form))
        data = form.cleaned_data
        added = documents_views.document_rule_add(
            tenant=tenant_of(request),
            stage_id=data["stage"],
            pipeline_id=data.get("pipeline") or "",
            document=data["document"],
            finalize=bool(data.get("finalize")),
            offered=form.offered,
        )
        if added:
            messages.success(request, _("The rule is saved."))
        else:
            messages.info(request, _("This rule exists already."))
        return redirect("dashboard:settings")


class TeamView(OnboardedRequiredMixin, FormView[InviteForm]):
    """The people of the customer's company with their roles, the open invitations, and
    inviting another colleague (admins and owners; accounts.roles has the whole matrix)."""

    form_class = InviteForm
    template_name = "dashboard/team.html"
    write_permission = Action.INVITE

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        tenant = tenant_of(self.request)
        context["members"] = selectors.team_members(tenant=tenant)
        context["invitations"] = selectors.invitations_open(tenant=tenant)
        context["roles"] = Role.choices
        context["expiry_days"] = settings.INVITATION_EXPIRY_DAYS
        return context

    def form_valid(self, form: InviteForm) -> HttpResponse:
        try:
            account_services.invitation_create(
                tenant=tenant_of(self.request),
                invited_by=self.request.user,  # type: ignore[arg-type]
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
            )
        except account_services.InvitationRateLimited:
            form.add_error(
                None,
                _(
                    "Your company has sent as many invitations as it may in one hour. Please "
                    "try again later."
                ),
            )
            return self.form_invalid(form)
        # The same answer whether or not the address could be invited: an address that
        # belongs to another company must not be discoverable from here.
        messages.success(self.request, _("If this address can be invited, an invitation was sent."))
        return redirect("dashboard:team")


class MemberRoleView(OnboardedRequiredMixin, FormView[MemberRoleForm]):
    """An owner changes a member's role; the last owner stays an owner."""

    form_class = MemberRoleForm
    permission = Action.MANAGE_TEAM
    http_method_names = ["post"]

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "tenant": tenant_of(self.request)}

    def form_valid(self, form: MemberRoleForm) -> HttpResponse:
        member = form.cleaned_data["member"]
        try:
            account_services.member_role_change(
                tenant=tenant_of(self.request), member=member, role=form.cleaned_data["role"]
            )
        except account_services.LastOwner:
            messages.error(self.request, _last_owner_message())
        except User.DoesNotExist:
            raise Http404 from None
        else:
            messages.success(
                self.request, _("The role of %(email)s is changed.") % {"email": member.email}
            )
        return redirect("dashboard:team")

    def form_invalid(self, form: MemberRoleForm) -> HttpResponse:
        raise Http404


class MemberRemoveView(OnboardedRequiredMixin, FormView[MemberRemoveForm]):
    """An owner removes a person from the company; their login stays theirs."""

    form_class = MemberRemoveForm
    permission = Action.MANAGE_TEAM
    http_method_names = ["post"]

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "tenant": tenant_of(self.request)}

    def form_valid(self, form: MemberRemoveForm) -> HttpResponse:
        member = form.cleaned_data["member"]
        try:
            account_services.member_remove(tenant=tenant_of(self.request), member=member)
        except account_services.LastOwner:
            messages.error(self.request, _last_owner_message())
            return redirect("dashboard:team")
        except User.DoesNotExist:
            raise Http404 from None
        messages.success(
            self.request,
            _("%(email)s no longer belongs to your company.") % {"email": member.email},
        )
        if member.pk == self.request.user.pk:
            return redirect(settings.LOGIN_REDIRECT_URL)
        return redirect("dashboard:team")

    def form_invalid(self, form: MemberRemoveForm) -> HttpResponse:
        raise Http404


def _last_owner_message() -> str:
    return _("Your company needs at least one owner. Make another member an owner first.")


class InvitationRevokeView(TenantScopedMixin, DetailView[Invitation]):
    model = Invitation
    permission = Action.INVITE
    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        invitation = self.get_object()
        if account_services.invitation_revoke(invitation=invitation):
            messages.success(
                request,
                _("The invitation to %(email)s is withdrawn; its link no longer works.")
                % {"email": invitation.email},
            )
        return redirect("dashboard:team")


class CloseAccountView(OnboardedRequiredMixin, FormView[CloseAccountForm]):
    """Closing the account: cancels the subscription, deletes everything, logs out."""

    form_class = CloseAccountForm
    permission = Action.CLOSE_ACCOUNT
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
