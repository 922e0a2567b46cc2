from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("company/", views.CompanyView.as_view(), name="company"),
    path("verify-email/", views.VerifyEmailView.as_view(), name="verify_email"),
    path("invitation/accept/", views.InvitationAcceptView.as_view(), name="invitation_accept"),
    path("invitation/<str:token>/", views.InvitationOpenView.as_view(), name="invitation_open"),
]
