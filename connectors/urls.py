from django.urls import path

from connectors import views

app_name = "connectors"

urlpatterns = [
    path("<uuid:pk>/", views.ConnectionDetailView.as_view(), name="detail"),
    path("<uuid:pk>/disconnect/", views.ConnectionDisconnectView.as_view(), name="disconnect"),
]
