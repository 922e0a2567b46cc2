from django.urls import path

from web import dashboard_views as views
from web import documents_views, mapping_views, zep_views

app_name = "dashboard"

urlpatterns = [
    path("", views.DashboardView.as_view(), name="home"),
    path("settings/", views.TransferSettingsView.as_view(), name="settings"),
    path("settings/rules/", views.DocumentRuleAddView.as_view(), name="document_rule_add"),
    path(
        "settings/rules/<uuid:pk>/delete/",
        documents_views.DocumentRuleDeleteView.as_view(),
        name="document_rule_delete",
    ),
    path("team/", views.TeamView.as_view(), name="team"),
    path("team/role/", views.MemberRoleView.as_view(), name="member_role"),
    path("team/remove/", views.MemberRemoveView.as_view(), name="member_remove"),
    path(
        "team/invitations/<uuid:pk>/revoke/",
        views.InvitationRevokeView.as_view(),
        name="invitation_revoke",
    ),
    path("mapping/preview/", mapping_views.PreviewView.as_view(), name="mapping_preview"),
    path(
        "mapping/preview/transfer/<uuid:pk>/",
        mapping_views.TransferPreviewView.as_view(),
        name="transfer_preview",
    ),
    # The flow (customer, quote, ...) is named by `?flow=`: no object of the URL's own.
    path("mapping/", mapping_views.MappingView.as_view(), name="mapping"),
    path("mapping/export/", mapping_views.MappingExportView.as_view(), name="mapping_export"),
    path("zep/settings/", zep_views.ZepSettingsView.as_view(), name="zep_settings"),
    path("zep/links/", zep_views.ZepLinksView.as_view(), name="zep_links"),
    path("zep/links/export/", zep_views.ZepLinksExportView.as_view(), name="zep_links_export"),
    path("zep/links/unlink/", zep_views.ZepUnlinkView.as_view(), name="zep_unlink"),
    path("zep/links/relink/", zep_views.ZepRelinkView.as_view(), name="zep_relink"),
    path("close-account/", views.CloseAccountView.as_view(), name="close_account"),
]
