from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from django.views.generic import DetailView, ListView

from accounts.gate import OnboardedRequiredMixin
from accounts.tenancy import TenantScopedMixin, tenant_of
from apiup.observability import RequestContextMiddleware
from billing.selectors import may_transfer, plan_of
from connectors import errors
from connectors.hubspot import webhooks
from connectors.registry import provider
from sync import intake, payload_display, selectors, tasks
from sync.forms import TransferFilterForm
from sync.mapping import services as mapping_services
from sync.mapping import targets as mapping_targets
from sync.models import Transfer
from sync.services import events as event_services
from sync.services import feeds, imports


@csrf_exempt
@require_POST
def vendor_webhook(request: HttpRequest, system: str) -> JsonResponse:
    """An accounting vendor's event (lexware office, Qonto): verified by its signature over
    the raw body, stored once, and answered at once; the work follows in the workers."""
    try:
        counts = feeds.vendor_webhook_receive(
            system=system,
            body=request.body,
            headers=request.headers,
            enqueue=tasks.enqueue_vendor_events,
        )
    except feeds.UnknownSystem:
        return JsonResponse({"error": "no such system"}, status=404)
    except errors.ForgedEvent:
        return JsonResponse({"error": "invalid signature"}, status=401)
    except errors.PermanentError as exc:
        return JsonResponse({"error": str(exc)[:200]}, status=400)
    return JsonResponse(counts)


def _called_url(request: HttpRequest) -> str:
    # Behind a proxy the URL Django sees is not the one HubSpot signed.
    return settings.HUBSPOT_WEBHOOK_URL or request.build_absolute_uri()


@csrf_exempt
@require_POST
def hubspot_webhook(request: HttpRequest) -> JsonResponse:
    body = request.body
    try:
        webhooks.verify_signature(
            method=request.method or "POST",
            uri=_called_url(request),
            body=body,
            headers=request.headers,
            client_secret=settings.HUBSPOT_CLIENT_SECRET,
        )
    except webhooks.BadSignature:
        return JsonResponse({"error": "invalid signature"}, status=401)
    try:
        batch = intake.parse_batch(body)
    except intake.MalformedBatch as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    result = intake.store_batch(batch)
    event_services.dispatch(
        result.to_process,
        enqueue=tasks.enqueue_events,
        enqueue_split=tasks.enqueue_event_split,
    )
    return JsonResponse(
        {
            "stored": result.stored,
            "duplicates": result.duplicates,
            "ignored": result.unknown_portal,
            "rejected": result.rejected,
        }
    )


# apiup/urls.py serves the webhook here; tests/sync/test_intake.py checks that they agree.
WEBHOOK_PATH = "/webhooks/hubspot"


class WebhookFastPath:
    """Answers HubSpot's webhook without the middleware that serves pages (content security
    policy, static files, sessions, locale, CSRF, authentication, messages, frame options):
    a signed POST from HubSpot's servers uses none of them, and at a hundred requests a
    second they cost more than the view itself. It sits right after SecurityMiddleware, so
    the HTTPS redirect and HSTS still apply, and keeps the request id of the log lines."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.webhook = RequestContextMiddleware(hubspot_webhook)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == WEBHOOK_PATH:
            return self.webhook(request)
        return self.get_response(request)


class TransferListView(TenantScopedMixin, ListView[Transfer]):
    """The activity log: every transfer, filterable by status, object and date."""

    model = Transfer
    template_name = "sync/transfer_list.html"
    context_object_name = "transfers"
    paginate_by = 50

    def scope_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        self.filter_form = TransferFilterForm(self.request.GET or None)
        filters = self.filter_form.cleaned_data if self.filter_form.is_valid() else {}
        return selectors.transfers_filtered(queryset, **filters)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["filter_form"] = self.filter_form
        context["imports"] = selectors.imports_recent(tenant=tenant_of(self.request))
        return context


class TransferDetailView(TenantScopedMixin, DetailView[Transfer]):
    """One transfer: what came from HubSpot, what was sent, each attempt; for a deal's
    document, the deal's other documents with the status last read."""

    model = Transfer
    template_name = "sync/transfer_detail.html"
    context_object_name = "transfer"

    def scope_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.prefetch_related("attempt_log")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        if self.object.kind == Transfer.Kind.DOCUMENT_STATUS:
            # Read from the accounting system, written to the HubSpot deal.
            received, sent = selectors.document_status_payloads(transfer=self.object)
        else:
            received = payload_display.readable(self.object.source_payload)
            sent = payload_display.readable(self.object.sent_payload)
        context["received"] = received
        context["sent"] = sent
        context["deal_documents"] = selectors.deal_documents(transfer=self.object)
        context["mapping_uses"] = [
            (mapping_targets.FLOWS.get(use.flow, use.flow), use)
            for use in mapping_services.mapping_uses(transfer=self.object)
        ]
        return context


class TransferRetryView(TenantScopedMixin, DetailView[Transfer]):
    model = Transfer
    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        transfer = self.get_object()
        if event_services.transfer_retry(transfer=transfer, enqueue=tasks.enqueue_transfer):
            # The task holds the transfer of a tenant that may not transfer (transfers.py).
            if may_transfer(tenant=transfer.tenant, system=transfer.system):
                messages.success(request, _("The transfer will be tried again in a moment."))
            elif transfer.system and not provider(transfer.system).is_accounting:
                messages.warning(
                    request,
                    _(
                        "Your plan for %(system)s is not active, so nothing is sent to "
                        "%(system)s for now. The transfer is kept and tried again on its own "
                        "once the payment is settled."
                    )
                    % {"system": transfer.get_system_display()},
                )
            else:
                messages.warning(
                    request,
                    _(
                        "Your subscription is not active, so nothing is sent to your accounting "
                        "system for now. The transfer is kept and tried again on its own once "
                        "the payment is settled."
                    ),
                )
        else:
            messages.info(request, _("This transfer has not failed, so there is nothing to retry."))
        return redirect("sync:transfer_detail", pk=transfer.pk)


class ImportStartView(OnboardedRequiredMixin, View):
    """Starts the initial import of every HubSpot contact and company."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        tenant = tenant_of(request)
        imports.import_start(tenant=tenant, enqueue=tasks.enqueue_import)
        if may_transfer(tenant=tenant, system=plan_of(tenant=tenant) or ""):
            messages.success(
                request, _("The import has started; its progress is shown below as it runs.")
            )
        else:
            messages.warning(
                request,
                _(
                    "Your subscription is not active, so nothing is sent to your accounting "
                    "system for now. The import is kept and starts on its own once the "
                    "payment is settled."
                ),
            )
        return redirect("sync:transfer_list")
