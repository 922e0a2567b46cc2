"""The product's URLs plus `/bench/bare`: a Django view that does nothing but answer 204,
served by the same gunicorn with the same middleware, as the yardstick for the webhook."""

from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from apiup.urls import urlpatterns as product_urlpatterns


@csrf_exempt
def bare(request: HttpRequest) -> HttpResponse:
    return HttpResponse(status=204)


urlpatterns = [path("bench/bare", bare, name="bench_bare"), *product_urlpatterns]
