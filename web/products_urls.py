from django.urls import path

from web import products_views

app_name = "products"

urlpatterns = [
    path("", products_views.ProductSettingsView.as_view(), name="settings"),
    path("import/", products_views.ProductImportStartView.as_view(), name="import_start"),
]
