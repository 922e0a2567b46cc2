"""The billing pages: the plan and payment steps of the setup wizard (Stripe Checkout) and
the way to Stripe's Billing Portal from the dashboard."""

import logging
from typing import Any
from urllib.parse import urlencode

import stripe
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import FormView, TemplateView

from accounts.gate import OnboardedRequiredMixin
from accounts.roles import Action
from accounts.tenancy import tenant_of
from billing import services, stripe_gateway
from billing.models import Subscription
from billing.selectors import TRANSFERRING_STATUSES, subscriptions_of
from connectors.models import Connection
from connectors.providers import Provider
from connectors.registry import plan_providers, price_id, price_label, provider
from web import onboarding
from web.forms import PlanForm

logger = logging.getLogger(__name__)

# How often the "payment is being confirmed" page looks again.
PENDING_REFRESH_SECONDS = 3
# The query parameter of Stripe's cancel redirect back to the payment page.
CANCELLED_MARK = "cancelled"


def _stripe_unavailable() -> str:
    return _("Stripe cannot be reached just now. Please try again in a few minutes.")


def _public_url(name: str) -> str:
    return settings.PUBLIC_BASE_URL + reverse(name)


class PlanView(OnboardedRequiredMixin, FormView[PlanForm]):
    """Setup step: the system to connect (an accounting system, or ZEP), which is the plan."""

    permission = Action.BILLING

    form_class = PlanForm
    template_name = "billing/plan.html"

    def get_initial(self) -> dict[str, Any]:
        progress = onboarding.progress_of(tenant=tenant_of(self.request))
        return {"plan": progress.subscription.plan} if progress.subscription else {}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["step"] = onboarding.PLAN
        context["progress"] = onboarding.progress_of(tenant=tenant_of(self.request))
        context["plans"] = [
            {
                "value": declared.key,
                "label": declared.label,
                "description": declared.description,
                "price": price_label(declared),
            }
            for declared in plan_providers()
        ]
        context["trial_days"] = settings.STRIPE_TRIAL_DAYS
        return context

    def form_valid(self, form: PlanForm) -> HttpResponse:
        tenant = tenant_of(self.request)
        current = onboarding.progress_of(tenant=tenant).subscription
        chosen = form.cleaned_data["plan"]
        kind = onboarding.plan_kind(chosen)
        paid = current is not None and current.status != Subscription.Status.INCOMPLETE
        if paid and current is not None and current.kind != kind:
            # A system of the other kind beside the one paid for: a second plan.
            return redirect(f"{reverse('billing:plan_add')}?{urlencode({'plan': chosen})}")
        if paid and current is not None and current.plan != chosen:
            # Stripe charges the price of the plan paid for; switching here would not
            # change that, so a paid plan is not switched by this page.
            form.add_error(
                "plan",
                _(
                    "Your plan %(plan)s is already paid for. To switch to another accounting "
                    "system, please write to info@apiup.de."
                )
                % {"plan": provider(current.plan).label},
            )
            return self.form_invalid(form)
        if current is not None and current.plan != chosen and current.kind != kind:
            # The first plan chosen anew, for the other kind of system: it replaces the
            # unpaid one rather than becoming a second plan.
            services.plan_drop_unpaid(tenant=tenant, plan=current.plan)
        subscription = services.plan_choose(tenant=tenant, plan=chosen, kind=kind)
        messages.success(
            self.request,
            _("You chose %(plan)s.") % {"plan": provider(subscription.plan).label},
        )
        return redirect("setup:accounting")


class PlanAddView(OnboardedRequiredMixin, TemplateView):
    """From the dashboard: a second plan, for the kind of system the tenant has none of yet
    (ZEP beside an accounting system, or an accounting system beside ZEP). The customer
    connects the system and pays for it like the first."""

    permission = Action.BILLING

    template_name = "billing/plan_add.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        # The gate (super) handles people without a tenant; the first plan is the wizard's.
        has_tenant = request.user.is_authenticated and getattr(request.user, "tenant_id", None)
        if has_tenant and not subscriptions_of(tenant=tenant_of(request)):
            return redirect("billing:plan")
        return super().dispatch(request, *args, **kwargs)

    def _offered(self) -> list[Provider]:
        held = {
            onboarding.plan_kind(system)
            for system in subscriptions_of(tenant=tenant_of(self.request))
        }
        return [p for p in plan_providers() if onboarding.plan_kind(p.key) not in held]

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        offered = self._offered()
        asked = self.request.GET.get("plan", "")
        context["plans"] = [
            {
                "value": declared.key,
                "label": declared.label,
                "description": declared.description,
                "price": price_label(declared),
                "checked": declared.key == asked,
            }
            for declared in offered
        ]
        context["trial_days"] = settings.STRIPE_TRIAL_DAYS
        return context

    def post(self, request: HttpRequest) -> HttpResponse:
        chosen = request.POST.get("plan", "")
        if chosen not in {p.key for p in self._offered()}:
            messages.error(request, _("Please choose one of the systems offered."))
            return redirect("billing:plan_add")
        subscription = services.plan_choose(
            tenant=tenant_of(request), plan=chosen, kind=onboarding.plan_kind(chosen)
        )
        messages.success(
            request,
            _("You chose %(plan)s as an additional plan.")
            % {"plan": provider(subscription.plan).label},
        )
        return redirect(onboarding.plan_url("setup:accounting", subscription))


class PaymentView(OnboardedRequiredMixin, TemplateView):
    """Setup step: the button that opens Stripe Checkout."""

    permission = Action.BILLING

    template_name = "billing/payment.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        progress = onboarding.progress_of(tenant=tenant_of(self.request))
        subscription = onboarding.chosen_subscription(self.request)
        context["step"] = onboarding.PAYMENT
        context["progress"] = progress
        context["subscription"] = subscription
        context["trial_days"] = settings.STRIPE_TRIAL_DAYS
        context["cancelled"] = CANCELLED_MARK in self.request.GET
        if subscription is not None:
            declared = provider(subscription.plan)
            context["plan_label"] = declared.label
            context["price"] = price_label(declared)
        return context


class CheckoutStartView(OnboardedRequiredMixin, View):
    permission = Action.BILLING

    def post(self, request: HttpRequest) -> HttpResponse:
        tenant = tenant_of(request)
        subscription = onboarding.chosen_subscription(request)
        if subscription is None:
            return redirect("billing:plan")
        payment_url = onboarding.plan_url("billing:payment", subscription)
        if not Connection.objects.for_tenant(tenant).filter(system=subscription.plan).exists():
            return redirect(onboarding.plan_url("setup:accounting", subscription))
        try:
            url = services.checkout_start(
                tenant=tenant,
                system=subscription.plan,
                price_id=price_id(provider(subscription.plan)),
                email=request.user.email,  # type: ignore[union-attr]
                success_url=settings.PUBLIC_BASE_URL
                + onboarding.plan_url("billing:payment_pending", subscription),
                # Stripe's hosted page says nothing when the customer leaves it: the payment
                # page does, from this mark.
                cancel_url=settings.PUBLIC_BASE_URL
                + onboarding.plan_url("billing:payment", subscription, **{CANCELLED_MARK: "1"}),
            )
        except stripe.StripeError:
            logger.exception("checkout for tenant %s: Stripe refused", tenant.pk)
            messages.error(request, _stripe_unavailable())
            return redirect(payment_url)
        return redirect(url)


class PaymentPendingView(OnboardedRequiredMixin, TemplateView):
    """Stripe's success redirect. The redirect proves nothing: only the signed webhook
    activates the subscription, so this page looks again until it has."""

    permission = Action.BILLING

    template_name = "billing/payment_pending.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        subscription = onboarding.chosen_subscription(request)
        if subscription is not None and subscription.status in TRANSFERRING_STATUSES:
            messages.success(
                request, _("Your payment is confirmed. APIUP now transfers your won deals.")
            )
            return redirect("dashboard:home")
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["step"] = onboarding.PAYMENT
        context["refresh_seconds"] = PENDING_REFRESH_SECONDS
        return context


class BillingPortalView(OnboardedRequiredMixin, View):
    """Stripe's Billing Portal: payment method, invoices, cancellation."""

    permission = Action.BILLING

    def post(self, request: HttpRequest) -> HttpResponse:
        # One Stripe customer per tenant: its portal shows every plan.
        subscription = (
            Subscription.objects.for_tenant(tenant_of(request))
            .exclude(stripe_customer_id="")
            .first()
        )
        if subscription is None or not subscription.stripe_customer_id:
            messages.info(request, _("There is no payment yet to manage."))
            return redirect("dashboard:home")
        try:
            url = stripe_gateway.portal_session_create(
                customer_id=subscription.stripe_customer_id,
                return_url=_public_url("dashboard:home"),
            )
        except stripe.StripeError:
            logger.exception("billing portal: Stripe refused")
            messages.error(request, _stripe_unavailable())
            return redirect("dashboard:home")
        return redirect(url)
