import stripe
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from billing import services, tasks


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    """Stores and acknowledges; a task applies the event (services.stripe_event_apply)."""
    signature = request.headers.get("Stripe-Signature", "")
    try:
        accepted = services.stripe_event_receive(
            payload=request.body, signature=signature, enqueue=tasks.enqueue_stripe_event
        )
    except (ValueError, stripe.SignatureVerificationError):
        return JsonResponse({"error": "invalid payload or signature"}, status=400)
    return JsonResponse({"accepted": accepted})
