from django.urls import path

from accounts import views, wizard

app_name = "accounts"

urlpatterns = [
    path("company/", views.CompanyView.as_view(), name="company"),
    path("verify-email/", views.VerifyEmailView.as_view(), name="verify_email"),
    path("setup/", wizard.SetupView.as_view(), name="setup"),
    path("hubspot/", wizard.HubSpotStepView.as_view(), name="hubspot"),
    path("hubspot/connect/", wizard.HubSpotConnectView.as_view(), name="hubspot_connect"),
    path("hubspot/callback/", wizard.HubSpotCallbackView.as_view(), name="hubspot_callback"),
    path("accounting/", wizard.AccountingStepView.as_view(), name="accounting"),
    path("accounting/connect/", wizard.AccountingConnectView.as_view(), name="accounting_connect"),
    path(
        "accounting/callback/", wizard.AccountingCallbackView.as_view(), name="accounting_callback"
    ),
]
