from django.urls import path

from web.legal import legal_page

app_name = "legal"

urlpatterns = [
    path("terms/", legal_page, {"page": "terms"}, name="terms"),
    path("privacy/", legal_page, {"page": "privacy"}, name="privacy"),
]
