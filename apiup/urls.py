from allauth.account.decorators import secure_admin_login
from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from rest_framework.routers import DefaultRouter

from apiup.health import healthz
from billing.views import stripe_webhook
from connectors.api import ConnectionViewSet
from sync.views import hubspot_webhook, vendor_webhook

# The admin's own login form would take unlimited guesses; staff sign in through the
# account login instead, with its rate limits, and come back to the admin.
admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]

api = DefaultRouter()
api.register("connections", ConnectionViewSet, basename="connection")

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("webhooks/hubspot", hubspot_webhook, name="hubspot_webhook"),
    path("webhooks/vendor/<slug:system>", vendor_webhook, name="vendor_webhook"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("legal/", include("web.legal_urls")),
    path("accounts/", include("allauth.urls")),
    path("registration/", include("accounts.urls")),
    path("registration/", include("web.setup_urls")),
    path("connections/", include("connectors.urls")),
    path("activity/", include("sync.urls")),
    path("products/", include("web.products_urls")),
    path("billing/stripe/webhook", stripe_webhook, name="stripe_webhook"),
    path("billing/", include("web.billing_urls")),
    path("api/v1/", include(api.urls)),
    path(settings.ADMIN_URL, admin.site.urls),
    path("", include("web.dashboard_urls")),
]
