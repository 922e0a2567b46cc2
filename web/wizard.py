"""The setup wizard after registration: connect HubSpot, (plan: web.billing_views), connect
the accounting system, (payment: web.billing_views), then the overview on the dashboard.

Each step is one page; `SetupView` sends a returning customer to the first unfinished step.
"""

from __future__ import annotations

import logging
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import TemplateView

from accounts.gate import OnboardedRequiredMixin
from accounts.roles import Action, may
from accounts.tenancy import tenant_of
from billing.models import Subscription
from billing.selectors import subscription_for
from connectors import errors, oauth, services
from connectors.models import Connection
from connectors.providers import Kind, Provider
from connectors.registry import provider, vendor_url
from sync import tasks as sync_tasks
from web import oauth_state, onboarding
from web.forms import token_form

logger = logging.getLogger(__name__)


def _callback_url(name: str) -> str:
    # The public address, as registered with the vendor (behind a proxy Django sees another).
    return settings.PUBLIC_BASE_URL + reverse(name)


def _vendor_words(error: errors.ConnectorError) -> str:
    return error.vendor_message or str(error)


class SetupView(OnboardedRequiredMixin, View):
    """Where "continue setup" and the login lead: the first unfinished step."""

    def get(self, request: HttpRequest) -> HttpResponse:
        progress = onboarding.progress_of(tenant=tenant_of(request))
        if not may(request.user, progress.next_action):
            # The overview says who may finish the setup; the step itself would refuse.
            return redirect("dashboard:home")
        return redirect(progress.next_url)


class _StepView(OnboardedRequiredMixin, TemplateView):
    step: int

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["step"] = self.step
        context["progress"] = onboarding.progress_of(tenant=tenant_of(self.request))
        return context


# -- HubSpot --------------------------------------------------------------------------------


class HubSpotStepView(_StepView):
    permission = Action.CONNECT

    template_name = "accounts/wizard_hubspot.html"
    step = onboarding.HUBSPOT


class HubSpotConnectView(OnboardedRequiredMixin, View):
    """Sends the customer to HubSpot's consent page with a fresh state and PKCE challenge."""

    permission = Action.CONNECT

    def post(self, request: HttpRequest) -> HttpResponse:
        issued = oauth_state.state_issue(
            session=request.session, tenant_id=str(tenant_of(request).pk), vendor="hubspot"
        )
        hubspot = provider("hubspot")
        return redirect(
            oauth.authorization_url(
                hubspot,
                state=issued.state,
                redirect_uri=_callback_url("setup:hubspot_callback"),
                code_verifier=issued.code_verifier,
                oauth_url=vendor_url(hubspot, "oauth"),
            )
        )


class HubSpotCallbackView(OnboardedRequiredMixin, View):
    """HubSpot's redirect back: `code` and `state`, or `error` when consent was refused."""

    permission = Action.CONNECT

    def get(self, request: HttpRequest) -> HttpResponse:
        tenant = tenant_of(request)
        back = redirect("setup:hubspot")
        try:
            verifier = oauth_state.state_consume(
                session=request.session,
                tenant_id=str(tenant.pk),
                vendor="hubspot",
                state=request.GET.get("state", ""),
            )
        except oauth_state.StateInvalid as exc:
            logger.info("hubspot consent: state refused (%s)", exc)
            messages.error(request, _state_refused_message())
            return back
        if request.GET.get("error") or not request.GET.get("code"):
            messages.error(request, _consent_refused_message("HubSpot"))
            return back
        try:
            connection = services.hubspot_connect(
                tenant=tenant,
                code=request.GET["code"],
                redirect_uri=_callback_url("setup:hubspot_callback"),
                code_verifier=verifier,
            )
        except services.PortalTaken as taken:
            messages.error(
                request,
                _(
                    "The HubSpot portal %(portal)s is already connected to another APIUP "
                    "account. Please choose another portal, or ask us at info@apiup.de."
                )
                % {"portal": taken},
            )
            return back
        except errors.ConnectorError as exc:
            messages.error(
                request,
                _("HubSpot did not accept the connection: %(reason)s")
                % {"reason": _vendor_words(exc)},
            )
            return back
        messages.success(
            request,
            _("HubSpot portal %(name)s (id %(portal)s) is connected.")
            % {"name": connection.account_name, "portal": connection.external_account_id},
        )
        return back


def _connected(system: str, name: str) -> str:
    # Some vendors' APIs do not name the account (bexio): then no name rather than a made-up one.
    if not name:
        return _("%(system)s is connected.") % {"system": system}
    return _("%(system)s account “%(name)s” is connected.") % {"system": system, "name": name}


def _state_refused_message() -> str:
    return _(
        "This connection attempt is not valid any more (it expired after 10 minutes or was "
        "already used). Please start the connection again."
    )


def _consent_refused_message(vendor: str) -> str:
    return _(
        "You did not allow APIUP to access %(vendor)s, so nothing was connected. APIUP needs "
        "this access to transfer your deals; please try again."
    ) % {"vendor": vendor}


# -- accounting system or time tracking -----------------------------------------------------


def _credentials_refused(declared: Provider, error: errors.ConnectorError) -> str:
    """Why a pasted token was not stored, in the customer's language, with the vendor's own
    words where it gave some."""
    if declared.kind is Kind.TIME_TRACKING:
        if isinstance(error, errors.AuthorizationExpired):
            return _(
                "%(system)s did not accept the instance or one of the tokens. Please check the "
                "instance name and copy the REST token and the SOAP token again (%(system)s "
                "said: %(reason)s)."
            ) % {"system": declared.label, "reason": _vendor_words(error)}
        if isinstance(error, errors.TransientError | errors.RateLimited):
            return _(
                "%(system)s cannot be reached just now, so the tokens could not be checked. "
                "Please try again in a few minutes."
            ) % {"system": declared.label}
    return _("%(system)s did not accept these credentials: %(reason)s") % {
        "system": declared.label,
        "reason": _vendor_words(error),
    }


class AccountingStepView(_StepView):
    """Step 5: the token form of the chosen plan's system, and its OAuth button if any."""

    permission = Action.CONNECT

    template_name = "accounts/wizard_accounting.html"
    step = onboarding.ACCOUNTING

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        # The gate (super) handles people without a tenant; with one, a plan must exist.
        has_tenant = request.user.is_authenticated and getattr(request.user, "tenant_id", None)
        if has_tenant and onboarding.progress_of(tenant=tenant_of(request)).subscription is None:
            return redirect("billing:plan")
        return super().dispatch(request, *args, **kwargs)

    def _subscription(self) -> Subscription:
        """The plan whose system is connected here: the wizard's, or a second plan the
        query names (`?system=`)."""
        subscription = onboarding.chosen_subscription(self.request)
        assert subscription is not None  # dispatch sent the customer to the plan
        return subscription

    def _system(self) -> str:
        return self._subscription().plan

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        subscription = self._subscription()
        system = subscription.plan
        declared = provider(system)
        progress = context["progress"]
        connection = (
            Connection.objects.for_tenant(tenant_of(self.request)).filter(system=system).first()
        )
        context["connection"] = connection
        # After connecting: the payment of this plan while it is unpaid, else onwards.
        if subscription.status == Subscription.Status.INCOMPLETE:
            context["next_url"] = onboarding.plan_url("billing:payment", subscription)
        else:
            context["next_url"] = progress.next_url
        context["system"] = declared
        context["description"] = declared.description
        context["offers_oauth"] = declared.oauth is not None
        context.setdefault("form", token_form(declared)())
        return context

    def post(self, request: HttpRequest) -> HttpResponse:
        system = self._system()
        form: forms.Form = token_form(provider(system))(request.POST)
        if form.is_valid():
            try:
                connection = services.connection_connect(
                    tenant=tenant_of(request), system=system, credentials=form.cleaned_data
                )
            except errors.ConnectorError as exc:
                form.add_error(None, _credentials_refused(provider(system), exc))
            else:
                _follow_documents(connection)
                messages.success(
                    request, _connected(connection.get_system_display(), connection.account_name)
                )
                return redirect(onboarding.plan_url("setup:accounting", self._subscription()))
        return self.render_to_response(self.get_context_data(form=form))


class AccountingConnectView(OnboardedRequiredMixin, View):
    """Sends the customer to the consent page of the plan's system, where it has one."""

    permission = Action.CONNECT

    def post(self, request: HttpRequest) -> HttpResponse:
        subscription = onboarding.chosen_subscription(request)
        if subscription is None:
            return redirect("setup:accounting")
        declared = provider(subscription.plan)
        if declared.oauth is None:
            return redirect(onboarding.plan_url("setup:accounting", subscription))
        issued = oauth_state.state_issue(
            session=request.session, tenant_id=str(tenant_of(request).pk), vendor=declared.key
        )
        url = oauth.authorization_url(
            declared,
            state=issued.state,
            redirect_uri=_callback_url("setup:accounting_callback"),
            code_verifier=issued.code_verifier,
            oauth_url=vendor_url(declared, "oauth"),
        )
        return redirect(url)


class AccountingCallbackView(OnboardedRequiredMixin, View):
    permission = Action.CONNECT

    def get(self, request: HttpRequest) -> HttpResponse:
        tenant = tenant_of(request)
        subscription = onboarding.progress_of(tenant=tenant).subscription
        # The consent page of a second plan's system comes back here too: the state says which.
        named = oauth_state.state_vendor(
            session=request.session, state=request.GET.get("state", "")
        )
        subscription = subscription_for(tenant=tenant, system=named) or subscription
        system = subscription.plan if subscription is not None else ""
        back = redirect(
            onboarding.plan_url("setup:accounting", subscription)
            if subscription is not None
            else reverse("setup:accounting")
        )
        try:
            verifier = oauth_state.state_consume(
                session=request.session,
                tenant_id=str(tenant.pk),
                vendor=system,
                state=request.GET.get("state", ""),
            )
        except oauth_state.StateInvalid as exc:
            logger.info("accounting consent: state refused (%s)", exc)
            messages.error(request, _state_refused_message())
            return back
        label = provider(system).label
        if request.GET.get("error") or not request.GET.get("code"):
            messages.error(request, _consent_refused_message(label))
            return back
        try:
            connection = services.accounting_connect_oauth(
                tenant=tenant,
                system=system,
                code=request.GET["code"],
                redirect_uri=_callback_url("setup:accounting_callback"),
                code_verifier=verifier,
            )
        except errors.ConnectorError as exc:
            messages.error(
                request,
                _("%(system)s did not accept the connection: %(reason)s")
                % {"system": label, "reason": _vendor_words(exc)},
            )
            return back
        _follow_documents(connection)
        messages.success(request, _connected(label, connection.account_name))
        return back


def _follow_documents(connection: Connection) -> None:
    """Subscribes to the vendor's document events right away (the periodic round would, a
    little later), so that the first invoice paid comes back."""
    transaction.on_commit(lambda: sync_tasks.subscribe_document_events.delay(str(connection.pk)))
