"""The setup wizard's own steps, under /registration/ beside accounts' registration pages.
The callback paths are registered with HubSpot, bexio and Qonto: they must not change."""

from django.urls import path

from web import wizard

app_name = "setup"

urlpatterns = [
    path("setup/", wizard.SetupView.as_view(), name="continue"),
    path("hubspot/", wizard.HubSpotStepView.as_view(), name="hubspot"),
    path("hubspot/connect/", wizard.HubSpotConnectView.as_view(), name="hubspot_connect"),
    path("hubspot/callback/", wizard.HubSpotCallbackView.as_view(), name="hubspot_callback"),
    path("accounting/", wizard.AccountingStepView.as_view(), name="accounting"),
    path("accounting/connect/", wizard.AccountingConnectView.as_view(), name="accounting_connect"),
    path(
        "accounting/callback/", wizard.AccountingCallbackView.as_view(), name="accounting_callback"
    ),
]
