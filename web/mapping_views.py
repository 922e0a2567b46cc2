"""The data mapping pages: which HubSpot value goes into which field of the accounting
system, per flow; its versions, export and import; and the dry-run preview of a deal,
contact or company (also of a transfer of the activity log). Views parse, authorize and call
one service of sync.mapping."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import DetailView, TemplateView

from accounts.gate import OnboardedRequiredMixin
from accounts.models import User
from accounts.roles import Action
from accounts.tenancy import TenantScopedMixin, tenant_of
from billing.selectors import plan_of
from connectors import errors
from connectors.base import AccountingConnector
from connectors.hubspot.client import HubSpotClient
from sync.mapping import preview as mapping_preview
from sync.mapping import rules as mapping_rules
from sync.mapping import services, targets
from sync.mapping.models import MappingVersion
from sync.mapping.rules import MappingInvalid
from sync.messages import Refusal
from sync.models import Transfer
from sync.services import context

logger = logging.getLogger(__name__)

SEARCHABLE = {"deal": "deals", "company": "companies", "contact": "contacts"}


def _hubspot(request: HttpRequest) -> HubSpotClient | None:
    try:
        return HubSpotClient(connection=context.hubspot_connection(tenant=tenant_of(request)))
    except errors.ConnectorError:
        return None


def _accounting(request: HttpRequest) -> AccountingConnector | None:
    try:
        return context.accounting_connector(tenant=tenant_of(request))
    except (errors.ConnectorError, Refusal):
        return None


def _system(request: HttpRequest) -> str:
    system = plan_of(tenant=tenant_of(request))
    if not system:
        raise Http404("no accounting system chosen")
    return str(system)


def _flow(request: HttpRequest) -> str:
    """The flow the page is about: `?flow=` (quotes when none is named)."""
    flow = request.GET.get("flow") or targets.QUOTE
    if flow not in targets.FLOWS:
        raise Http404("unknown flow")
    return flow


def mapping_url(flow: str) -> str:
    return f"{reverse('dashboard:mapping')}?{urlencode({'flow': flow})}"


def rules_from_post(post: Any, *, flow: str, system: str) -> dict[str, Any]:
    """The rules' JSON from the mapping form: per target `<key>-kind`, `-object`,
    `-property`, `-value`, `-table` (one "HubSpot value = value sent" per line) and
    `-default`; the standard mappings of the flow below them."""
    fields: dict[str, Any] = {}
    for vendor_target in targets.targets_for(system, flow):
        key = vendor_target.target.key
        kind = post.get(f"{key}-kind", mapping_rules.STANDARD)
        if kind == mapping_rules.STANDARD:
            continue
        table = [
            [part.strip() for part in line.split("=", 1)]
            for line in post.get(f"{key}-table", "").splitlines()
            if "=" in line
        ]
        fields[key] = {
            "kind": kind,
            "object": post.get(f"{key}-object", ""),
            "property": post.get(f"{key}-property", "").strip(),
            "value": post.get(f"{key}-value", ""),
            "table": table,
            "default": post.get(f"{key}-default", ""),
        }
    tax_rates = _country_lines(post.get("tax_rates", ""))
    # Offered (and read) only where the vendor's spec has a revenue account field.
    revenue_accounts = (
        _country_lines(post.get("revenue_accounts", ""))
        if flow == targets.QUOTE and targets.revenue_account_spec(system) is not None
        else {}
    )
    return {
        "fields": fields,
        "tax_rates": tax_rates,
        "revenue_accounts": revenue_accounts,
        "default_debtor": post.get("default_debtor", "").strip(),
        "exclusion_property": post.get("exclusion_property", "").strip(),
    }


def _country_lines(text: str) -> dict[str, str]:
    """One "country code = value" per line."""
    found = {}
    for line in text.splitlines():
        if "=" in line:
            country, value = (part.strip() for part in line.split("=", 1))
            found[country] = value
    return found


def _rows(rules: mapping_rules.Rules, system: str, flow: str) -> list[dict[str, Any]]:
    rows = []
    for vendor_target in targets.targets_for(system, flow):
        source = rules.source(vendor_target.target.key)
        rows.append(
            {
                "key": vendor_target.target.key,
                "label": vendor_target.target.label,
                "help": vendor_target.target.help,
                "spec": vendor_target.spec,
                "where": vendor_target.where.pointer,
                "source": source,
                "table_text": "\n".join(f"{k} = {v}" for k, v in source.table),
            }
        )
    return rows


class MappingView(OnboardedRequiredMixin, TemplateView):
    """One flow's mapping: a source per field of the accounting system, and saving it as a
    new version."""

    template_name = "web/mapping.html"
    permission = Action.SETTINGS

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        data = super().get_context_data(**kwargs)
        tenant, flow = tenant_of(self.request), _flow(self.request)
        system = _system(self.request)
        in_force = services.mapping_in_force(tenant=tenant, system=system, flow=flow)
        rules = kwargs.get("rules") or in_force.rules
        hubspot = _hubspot(self.request)
        properties: dict[str, list[dict[str, Any]]] = {}
        if hubspot is not None:
            try:
                properties = {
                    obj: hubspot.portal_properties(kind)
                    for obj, kind in services.HUBSPOT_TYPES.items()
                }
            except errors.ConnectorError as exc:
                logger.warning("portal properties not read (%s)", type(exc).__name__)
        data.update(
            flow=flow,
            flows=targets.FLOWS,
            system=system,
            rows=_rows(rules, system, flow),
            rules=rules,
            tax_rates_text="\n".join(
                f"{country} = {rate.normalize():f}" for country, rate in rules.tax_rates.items()
            ),
            revenue_account_spec=targets.revenue_account_spec(system),
            revenue_accounts_text="\n".join(
                f"{country} = {account}" for country, account in rules.revenue_accounts.items()
            ),
            kinds=[
                (mapping_rules.STANDARD, _("Standard")),
                (mapping_rules.PROPERTY, _("HubSpot property")),
                (mapping_rules.CONSTANT, _("Fixed value")),
                (mapping_rules.TEMPLATE, _("Template")),
                (mapping_rules.LOOKUP, _("Lookup table")),
                (mapping_rules.NONE, _("Leave empty")),
            ],
            objects=targets.OBJECTS,
            properties=properties,
            version=in_force.number,
            versions=services.mapping_versions(tenant=tenant, system=system, flow=flow),
            problems=kwargs.get("problems") or [],
            searchable=SEARCHABLE,
        )
        return data

    def post(self, request: HttpRequest) -> HttpResponse:
        tenant, flow = tenant_of(request), _flow(request)
        system = _system(request)
        data = rules_from_post(request.POST, flow=flow, system=system)
        user = request.user if isinstance(request.user, User) else None
        if request.POST.get("action") == "preview":
            return self._preview(request, flow=flow, system=system, data=data)
        try:
            upload = request.FILES.get("import")
            if upload is not None:
                try:
                    exported = json.loads(upload.read(200_000).decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError):
                    raise MappingInvalid([_("This file is no mapping export.")]) from None
                version = services.mapping_import(
                    tenant=tenant, system=system, flow=flow, data=exported, user=user,
                    hubspot=_hubspot(request), accounting=_accounting(request),
                )  # fmt: skip
            else:
                version = services.mapping_save(
                    tenant=tenant, system=system, flow=flow, data=data, user=user,
                    hubspot=_hubspot(request), accounting=_accounting(request),
                )  # fmt: skip
        except MappingInvalid as invalid:
            try:
                shown = mapping_rules.rules_from(data)
            except MappingInvalid:
                shown = None
            context_data = self.get_context_data(flow=flow, problems=invalid.problems, rules=shown)
            return self.render_to_response(context_data, status=400)
        messages.success(
            request, _("The mapping was saved as version %(n)d.") % {"n": version.number}
        )
        return redirect(mapping_url(flow))

    def _preview(
        self, request: HttpRequest, *, flow: str, system: str, data: dict[str, Any]
    ) -> HttpResponse:
        """The form's rules, not saved, tried on a deal picked by name or id."""
        tenant = tenant_of(request)
        problems: list[str] = []
        shown = None
        try:
            rules = mapping_rules.rules_from(data)
            mapping_rules.check(rules, system=system)
        except MappingInvalid as invalid:
            return self.render_to_response(
                self.get_context_data(flow=flow, problems=invalid.problems), status=400
            )
        wanted = request.POST.get("preview_deal", "").strip()[:200]
        hubspot = _hubspot(request)
        deal_id = wanted if wanted.isdigit() else ""
        if wanted and not deal_id and hubspot is not None:
            try:
                found = hubspot.search("deals", wanted)
            except errors.ConnectorError:
                found = []
                problems.append(_("HubSpot could not be searched right now."))
            deal_id = found[0][0] if found else ""
        if deal_id:
            shown = mapping_preview.deal_preview(
                tenant=tenant, deal_id=deal_id, unsaved={flow: rules}
            )
        elif not problems:
            problems.append(_("No deal found by that name."))
        data_context = self.get_context_data(flow=flow, rules=rules, problems=problems)
        data_context.update(
            preview=shown,
            preview_deal=wanted,
            values=mapping_preview.values_shown(shown.values) if shown else [],
        )
        return self.render_to_response(data_context)


class MappingExportView(OnboardedRequiredMixin, View):
    permission = Action.SETTINGS

    def get(self, request: HttpRequest) -> HttpResponse:
        flow = _flow(request)
        wanted = request.GET.get("version", "")
        if wanted and not wanted.isdigit():
            raise Http404("no such version")
        # A version a transfer used may belong to the system the tenant had before.
        system = (request.GET.get("system", "")[:30] if wanted else "") or _system(request)
        try:
            exported = services.mapping_export(
                tenant=tenant_of(request), system=system, flow=flow,
                number=int(wanted) if wanted else None,
            )  # fmt: skip
        except MappingVersion.DoesNotExist:
            raise Http404("no such version") from None
        response = JsonResponse(exported, json_dumps_params={"indent": 2, "ensure_ascii": False})
        name = f"apiup-mapping-{system}-{flow}-v{exported['version']}.json"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


class PreviewView(OnboardedRequiredMixin, TemplateView):
    """The dry run: look for a deal, contact or company by name, pick one, and see what
    HubSpot has and exactly what would be sent, without sending."""

    template_name = "web/preview.html"
    permission = Action.SETTINGS

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        data = super().get_context_data(**kwargs)
        tenant = tenant_of(self.request)
        obj = self.request.GET.get("object", "deal")
        obj = obj if obj in SEARCHABLE else "deal"
        text = self.request.GET.get("q", "").strip()[:200]
        picked = self.request.GET.get("id", "").strip()[:40]
        results: list[tuple[str, str]] = []
        search_failed = False
        hubspot = _hubspot(self.request)
        if text and hubspot is not None:
            try:
                results = hubspot.search(SEARCHABLE[obj], text)
            except errors.ConnectorError as exc:
                logger.warning("search failed (%s)", type(exc).__name__)
                search_failed = True
        shown = None
        if picked.isdigit():
            if obj == "deal":
                shown = mapping_preview.deal_preview(tenant=tenant, deal_id=picked)
            else:
                shown = mapping_preview.customer_preview(
                    tenant=tenant, object_type=obj, object_id=picked
                )
        data.update(
            objects=targets.OBJECTS,
            object=obj,
            q=text,
            results=results,
            search_failed=search_failed,
            preview=shown,
            values=mapping_preview.values_shown(shown.values) if shown else [],
        )
        return data


class TransferPreviewView(TenantScopedMixin, DetailView[Transfer]):
    """ "What would be sent now" for a transfer of the activity log (another tenant's answers
    404, like the transfer itself)."""

    model = Transfer
    template_name = "web/preview.html"
    context_object_name = "transfer"
    permission = Action.SETTINGS

    def scope_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.exclude(kind=Transfer.Kind.DELETION)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        data = super().get_context_data(**kwargs)
        shown = mapping_preview.transfer_preview(transfer=self.object)
        data.update(
            objects=targets.OBJECTS,
            object=self.object.object_type,
            preview=shown,
            values=mapping_preview.values_shown(shown.values),
        )
        return data
