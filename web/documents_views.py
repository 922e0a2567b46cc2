"""Documents per deal stage on the settings page: the portal's pipelines to pick stages from,
the accounting system's documents, the tenant's rules (sync.models.DocumentRule) and their
writes. TransferSettingsView (web.dashboard_views) shows the section and adds rules; a rule
is deleted here."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import DetailView

from accounts.models import Tenant
from accounts.roles import Action
from accounts.tenancy import TenantScopedMixin
from billing.selectors import plan_of
from connectors import errors
from connectors.hubspot.client import HubSpotClient
from connectors.providers import Kind, Provider
from connectors.registry import provider
from connectors.shapes import Capabilities, DocumentKind
from sync.models import DocumentRule
from sync.services import context
from sync.services.documents import DEFAULT_RULES, SEQUENCE

logger = logging.getLogger(__name__)

PIPELINES_PATH = "/crm/v3/pipelines/deals"
WON_STAGES_LABEL = gettext_lazy("Any won stage")


@dataclass(frozen=True, slots=True)
class Pipeline:
    pipeline_id: str
    label: str
    stages: tuple[tuple[str, str], ...]  # (stage id, label) in HubSpot's order


def portal_pipelines(*, tenant: Tenant) -> list[Pipeline] | None:
    """The deal pipelines of the tenant's portal with their stages; None when HubSpot cannot
    be asked now (not connected, refused, unreachable): the page then takes stage ids typed."""
    try:
        hubspot = HubSpotClient(connection=context.hubspot_connection(tenant=tenant))
        body = hubspot.request("GET", PIPELINES_PATH).json()
    except (errors.ConnectorError, ValueError) as exc:
        logger.info("deal pipelines not read (%s)", type(exc).__name__)
        return None
    return [
        Pipeline(
            pipeline_id=str(pipeline["id"]),
            label=str(pipeline.get("label") or pipeline["id"]),
            stages=tuple(
                (str(stage["id"]), str(stage.get("label") or stage["id"]))
                for stage in pipeline.get("stages") or []
            ),
        )
        for pipeline in body.get("results") or []
    ]


def accounting_system(*, tenant: Tenant) -> Provider | None:
    """The accounting system of the tenant's plan, whose capabilities say which documents
    it can create; None without one (no plan, or time tracking only)."""
    plan = plan_of(tenant=tenant)
    if plan is None:
        return None
    declared = provider(plan)
    return declared if declared.kind is Kind.ACCOUNTING else None


def capabilities_of(system: Provider | None) -> Capabilities:
    return system.capabilities if system and system.capabilities else Capabilities()


def stage_label(stage_id: str, pipelines: list[Pipeline] | None) -> str:
    if stage_id == DocumentRule.WON_STAGES:
        return str(WON_STAGES_LABEL)
    for pipeline in pipelines or []:
        for known, label in pipeline.stages:
            if known == stage_id:
                return f"{pipeline.label}: {label} ({stage_id})"
    return stage_id


def pipeline_label(pipeline_id: str, pipelines: list[Pipeline] | None) -> str:
    if not pipeline_id:
        return _("any pipeline")
    for pipeline in pipelines or []:
        if pipeline.pipeline_id == pipeline_id:
            return f"{pipeline.label} ({pipeline_id})"
    return pipeline_id


def rules_section(*, tenant: Tenant, pipelines: list[Pipeline] | None) -> dict[str, Any]:
    """What the section "Documents per deal stage" shows: the rules (the standard rule while
    the tenant has none), which documents the system lacks, how the status comes back."""
    system = accounting_system(tenant=tenant)
    capabilities = capabilities_of(system)
    stored = list(DocumentRule.objects.for_tenant(tenant).order_by("created_at"))
    shown: list[Any] = stored or [
        DocumentRule(stage_id=rule.stage_id, pipeline_id=rule.pipeline_id, document=rule.document)
        for rule in DEFAULT_RULES
    ]
    rows = [
        {
            "rule": rule,
            "stage": stage_label(rule.stage_id, pipelines),
            "pipeline": pipeline_label(rule.pipeline_id, pipelines),
            "served": system is not None and DocumentKind(rule.document) in capabilities.documents,
        }
        for rule in shown
    ]
    lacking = [
        DocumentRule.Document(kind).label for kind in SEQUENCE if kind not in capabilities.documents
    ]
    return {
        "rules": rows,
        "standard": not stored,
        "system": system,
        "lacking": ", ".join(str(label) for label in lacking) if system else "",
        "status_line": status_line(system),
    }


def status_line(system: Provider | None) -> str:
    """How the status of the documents comes back to the deal, in one line."""
    if system is None:
        return ""
    capabilities = capabilities_of(system)
    names = {"system": system.label}
    if capabilities.status_events and capabilities.status_polling:
        return (
            _(
                "The status of your documents (e.g. paid) comes back to the deal: pushed by "
                "%(system)s within seconds, and checked every minute where %(system)s pushes none."
            )
            % names
        )
    if capabilities.status_events:
        return (
            _(
                "The status of your documents (e.g. paid) comes back to the deal: pushed by "
                "%(system)s within seconds."
            )
            % names
        )
    if capabilities.status_polling:
        return (
            _(
                "The status of your documents (e.g. paid) comes back to the deal: checked in "
                "%(system)s every minute."
            )
            % names
        )
    return _("%(system)s does not report the status of documents back.") % names


# -- writes -----------------------------------------------------------------------------------


def document_rule_add(
    *,
    tenant: Tenant,
    stage_id: str,
    pipeline_id: str,
    document: str,
    finalize: bool,
    offered: frozenset[DocumentKind],
) -> bool:
    """Adds the rule (or changes its "finalized"); False when it existed as it is. The first
    rule of a tenant keeps the standard rule as a rule of its own, so that adding one never
    silently stops the quotes of won deals."""
    with transaction.atomic():
        if not DocumentRule.objects.for_tenant(tenant).exists():
            for standard in (rule for rule in DEFAULT_RULES if rule.document in offered):
                DocumentRule.objects.get_or_create(
                    tenant=tenant,
                    stage_id=standard.stage_id,
                    pipeline_id=standard.pipeline_id,
                    document=str(standard.document),
                )
        rule, created = DocumentRule.objects.get_or_create(
            tenant=tenant,
            stage_id=stage_id,
            pipeline_id=pipeline_id,
            document=document,
            defaults={"finalize": finalize},
        )
        if created or rule.finalize == finalize:
            return created
        rule.finalize = finalize
        rule.save(update_fields=["finalize"])
        return True


class DocumentRuleDeleteView(TenantScopedMixin, DetailView[DocumentRule]):
    """Deletes one of the tenant's rules; another tenant's rule answers 404."""

    model = DocumentRule
    permission = Action.SETTINGS
    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        rule = self.get_object()
        rule.delete()
        if DocumentRule.objects.for_tenant(rule.tenant).exists():
            messages.success(request, _("The rule is deleted."))
        else:
            messages.success(
                request,
                _(
                    "The rule is deleted. Without rules of your own, the standard rule applies "
                    "again: a won deal becomes a quote."
                ),
            )
        return redirect("dashboard:settings")
