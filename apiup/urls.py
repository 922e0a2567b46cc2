from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from rest_framework.routers import DefaultRouter

from accounts.views import DashboardView
from apiup.health import healthz
from connectors.api import ConnectionViewSet

api = DefaultRouter()
api.register("connections", ConnectionViewSet, basename="connection")

dashboard_patterns = ([path("", DashboardView.as_view(), name="home")], "dashboard")

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/", include("allauth.urls")),
    path("registration/", include("accounts.urls")),
    path("connections/", include("connectors.urls")),
    path("api/v1/", include(api.urls)),
    path(settings.ADMIN_URL, admin.site.urls),
    path("", include(dashboard_patterns)),
]
