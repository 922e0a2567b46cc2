"""The products page: which side leads the catalogue (accounting system → HubSpot, the other
way, or off), what an update may overwrite, whether a deal's unknown SKU creates an article,
and the catalogue import with its progress."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.generic import FormView

from accounts.gate import OnboardedRequiredMixin
from accounts.roles import Action
from accounts.tenancy import tenant_of
from billing.selectors import plan_of
from connectors.registry import provider
from connectors.shapes import ArticleField
from sync.models import ImportJob, Transfer, TransferSettings
from sync.services import context, products
from sync.services.transfer_settings import transfer_settings_update
from sync.tasks import enqueue_import


class ProductSettingsForm(forms.Form):
    direction = forms.ChoiceField(
        label=gettext_lazy("Which side leads the products"),
        choices=TransferSettings.ProductDirection.choices,
        required=False,
        widget=forms.RadioSelect,
    )
    overwrite = forms.MultipleChoiceField(
        label=gettext_lazy("On update, overwrite"),
        choices=[
            (ArticleField.NAME, gettext_lazy("name")),
            (ArticleField.DESCRIPTIONS, gettext_lazy("descriptions")),
            (ArticleField.PRICE, gettext_lazy("price")),
        ],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy(
            "A new product gets every field. An existing one keeps the fields left unticked, "
            "so that texts enriched on the receiving side are not overwritten."
        ),
    )
    create_missing = forms.BooleanField(
        label=gettext_lazy("Create missing articles when a deal is transferred"),
        required=False,
    )


def _plan_system(request: HttpRequest) -> str:
    return plan_of(tenant=tenant_of(request)) or ""


class ProductSettingsView(OnboardedRequiredMixin, FormView[ProductSettingsForm]):
    form_class = ProductSettingsForm
    template_name = "web/products.html"
    permission = Action.SETTINGS

    def get_initial(self) -> dict[str, Any]:
        stored = context.transfer_settings(tenant=tenant_of(self.request))
        return {
            "direction": stored.product_direction,
            "overwrite": list(products.overwrite_of(stored)),
            "create_missing": stored.create_missing_articles,
        }

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        data = super().get_context_data(**kwargs)
        tenant = tenant_of(self.request)
        system = _plan_system(self.request)
        declared = provider(system) if system else None
        data["system_label"] = declared.label if declared else ""
        data["has_catalogue"] = bool(
            declared and declared.capabilities and declared.capabilities.articles
        )
        data["job"] = (
            ImportJob.objects.for_tenant(tenant)
            .filter(object_type=Transfer.ObjectType.PRODUCT)
            .order_by("-created_at")
            .first()
        )
        data["duplicates"] = (
            Transfer.objects.for_tenant(tenant)
            .filter(kind=Transfer.Kind.PRODUCT, state=Transfer.State.FAILED)
            .order_by("object_id")[:50]
        )
        return data

    def form_valid(self, form: ProductSettingsForm) -> HttpResponse:
        if form.cleaned_data["direction"] and not self.get_context_data()["has_catalogue"]:
            form.add_error(
                "direction", _("Your accounting system has no article catalogue by SKU.")
            )
            return self.form_invalid(form)
        transfer_settings_update(
            tenant=tenant_of(self.request),
            product_direction=form.cleaned_data["direction"] or "",
            product_overwrite=sorted(form.cleaned_data["overwrite"]),
            create_missing_articles=form.cleaned_data["create_missing"],
        )
        messages.success(self.request, _("Your product settings have been saved."))
        return redirect("products:settings")


class ProductImportStartView(OnboardedRequiredMixin, View):
    permission = Action.SETTINGS

    def post(self, request: HttpRequest) -> HttpResponse:
        tenant = tenant_of(request)
        if not context.transfer_settings(tenant=tenant).product_direction:
            messages.error(request, _("Choose which side leads the products first."))
        else:
            products.products_import_start(tenant=tenant, enqueue=enqueue_import)
            messages.success(
                request, _("The import of the catalogue has started; its progress shows below.")
            )
        return redirect("products:settings")
