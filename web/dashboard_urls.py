from django.urls import path

from web import dashboard_views as views

app_name = "dashboard"

urlpatterns = [
    path("", views.DashboardView.as_view(), name="home"),
    path("settings/", views.TransferSettingsView.as_view(), name="settings"),
    path("team/", views.TeamView.as_view(), name="team"),
    path("team/role/", views.MemberRoleView.as_view(), name="member_role"),
    path("team/remove/", views.MemberRemoveView.as_view(), name="member_remove"),
    path(
        "team/invitations/<uuid:pk>/revoke/",
        views.InvitationRevokeView.as_view(),
        name="invitation_revoke",
    ),
    path("close-account/", views.CloseAccountView.as_view(), name="close_account"),
]
