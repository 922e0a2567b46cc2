"""The pages of a ZEP connection: its settings (which deals become projects, the exclusion
property) and the linked pairs HubSpot id ↔ ZEP id, with search, CSV export, unlinking and
relinking (reference 002: "Kennzeichnung als HubSpot Kunde/Projekt entfernen", "Aus HubSpot
importieren"). Each view states the action it needs (accounts.roles)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.generic import FormView, TemplateView

from accounts.gate import OnboardedRequiredMixin
from accounts.roles import Action, may
from accounts.tenancy import tenant_of
from sync.models import ObjectLink, Transfer, TransferSettings
from sync.services import zep
from sync.services.transfer_settings import transfer_settings_update
from sync.tasks import enqueue_transfer
from web import zep as zep_reads
from web.forms import ZepSettingsForm

LINKS_PER_PAGE = 50


class _ZepConnectedMixin(OnboardedRequiredMixin):
    """Pages that make sense only with a ZEP connection: without one, to the overview."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        has_tenant = request.user.is_authenticated and getattr(request.user, "tenant_id", None)
        if has_tenant and zep.zep_connection(tenant=tenant_of(request)) is None:
            messages.info(request, _("ZEP is not connected."))
            return redirect("dashboard:home")
        return super().dispatch(request, *args, **kwargs)


class ZepSettingsView(_ZepConnectedMixin, FormView[ZepSettingsForm]):
    form_class = ZepSettingsForm
    template_name = "web/zep_settings.html"
    permission = Action.SETTINGS

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs = super().get_form_kwargs()
        tenant = tenant_of(self.request)
        kwargs["stored"] = TransferSettings.objects.for_tenant(tenant).first() or (
            TransferSettings(tenant=tenant)
        )
        kwargs["stages"] = zep_reads.deal_stages(tenant=tenant)
        return kwargs

    def form_valid(self, form: ZepSettingsForm) -> HttpResponse:
        transfer_settings_update(
            tenant=tenant_of(self.request),
            project_stage_ids=form.project_stage_ids(),
            project_exclusion_property=form.cleaned_data["exclusion_property"],
        )
        messages.success(self.request, _("Your ZEP settings have been saved."))
        return redirect("dashboard:zep_settings")


class _LinkForm(forms.Form):
    """Names one linked HubSpot record: a company (ZEP customer) or a deal (ZEP project)."""

    object_type = forms.ChoiceField(choices=[(kind, kind) for kind in zep.LINKED_KINDS])
    object_id = forms.RegexField(regex=r"^\d{1,30}$")


class _RelinkForm(_LinkForm):
    # By hand to an existing ZEP record: a customer by its number, a project by its id.
    vendor_number = forms.CharField(required=False, max_length=100, strip=True)
    vendor_id = forms.RegexField(regex=r"^\d{1,20}$", required=False, strip=True)


OBJECT_LABELS: dict[str, Any] = {
    Transfer.ObjectType.COMPANY: gettext_lazy("Customer"),
    Transfer.ObjectType.DEAL: gettext_lazy("Project"),
}


class ZepLinksView(_ZepConnectedMixin, TemplateView):
    """Every linked pair, newest first, with search (a HubSpot id, a ZEP id or number)."""

    template_name = "web/zep_links.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        search = self.request.GET.get("q", "")[:100]
        links = zep.links_list(tenant=tenant_of(self.request), search=search)
        page = Paginator(links, LINKS_PER_PAGE).get_page(self.request.GET.get("page"))
        context["search"] = search
        context["page"] = page
        context["rows"] = [
            {"link": link, "label": OBJECT_LABELS.get(link.object_type, link.object_type)}
            for link in page
        ]
        context["may_change"] = may(self.request.user, Action.SETTINGS)
        context["object_types"] = [(key, OBJECT_LABELS[key]) for key in zep.LINKED_KINDS]
        return context


class ZepLinksExportView(_ZepConnectedMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        links = zep.links_list(tenant=tenant_of(request), search=request.GET.get("q", "")[:100])
        response = HttpResponse(zep.links_csv(links), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="zep-links.csv"'
        return response


def _back(request: HttpRequest) -> HttpResponse:
    search = str(request.POST.get("q") or "")[:100]
    url = reverse("dashboard:zep_links")
    return redirect(f"{url}?{urlencode({'q': search})}" if search else url)


class ZepUnlinkView(_ZepConnectedMixin, View):
    permission = Action.SETTINGS

    def post(self, request: HttpRequest) -> HttpResponse:
        form = _LinkForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("This record is not linked."))
            return _back(request)
        found = zep.link_unlink(tenant=tenant_of(request), **form.cleaned_data)
        if found:
            messages.success(
                request,
                _("HubSpot record %(id)s is no longer synchronised with ZEP.")
                % {"id": form.cleaned_data["object_id"]},
            )
        else:
            messages.error(request, _("This record is not linked."))
        return _back(request)


class ZepRelinkView(_ZepConnectedMixin, View):
    """Synchronises a record again and transfers it now; with a ZEP number or id, links the
    HubSpot record by hand to that existing ZEP record."""

    permission = Action.SETTINGS

    def post(self, request: HttpRequest) -> HttpResponse:
        form = _RelinkForm(request.POST)
        if not form.is_valid():
            messages.error(
                request,
                _("Please give a HubSpot id (digits only) and, if any, a ZEP id of digits."),
            )
            return _back(request)
        data = form.cleaned_data
        tenant = tenant_of(request)
        existing = (
            ObjectLink.objects.for_tenant(tenant)
            .filter(system=zep.SYSTEM, object_type=data["object_type"], object_id=data["object_id"])
            .first()
        )
        by_hand = bool(data["vendor_id"] or data["vendor_number"])
        if existing is None and not by_hand:
            messages.error(
                request,
                _(
                    "HubSpot record %(id)s is not linked yet: please give the ZEP customer "
                    "number or project id to link it to."
                )
                % {"id": data["object_id"]},
            )
            return _back(request)
        zep.link_relink(
            tenant=tenant,
            object_type=data["object_type"],
            object_id=data["object_id"],
            enqueue=enqueue_transfer,
            vendor_id=data["vendor_id"] or None,
            vendor_number=data["vendor_number"] or None,
        )
        if by_hand:
            message = _("HubSpot record %(id)s is linked to the ZEP record you named.")
        else:
            message = _("HubSpot record %(id)s is synchronised with ZEP again.")
        messages.success(request, message % {"id": data["object_id"]})
        return _back(request)
