import stripe
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from billing import services


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    signature = request.headers.get("Stripe-Signature", "")
    try:
        processed = services.stripe_event_receive(payload=request.body, signature=signature)
    except (ValueError, stripe.SignatureVerificationError):
        return JsonResponse({"error": "invalid payload or signature"}, status=400)
    return JsonResponse({"processed": processed})
