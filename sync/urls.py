from django.urls import path

from sync import views

app_name = "sync"

urlpatterns = [
    path("", views.TransferListView.as_view(), name="transfer_list"),
    path("import/", views.ImportStartView.as_view(), name="import_start"),
    path("<uuid:pk>/", views.TransferDetailView.as_view(), name="transfer_detail"),
    path("<uuid:pk>/retry/", views.TransferRetryView.as_view(), name="transfer_retry"),
]
