from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.http import HttpRequest

from accounts.models import Invitation, Tenant, User


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin[Tenant]):
    list_display = ("display_name", "city", "country", "created_at")
    search_fields = ("company_name", "last_name", "city")


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ("email",)
    list_display = ("email", "tenant", "role", "is_staff", "date_joined")
    search_fields = ("email",)
    fieldsets = (
        (None, {"fields": ("email", "password", "tenant", "role")}),
        ("Terms", {"fields": ("terms_accepted_at", "terms_version")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin[Invitation]):
    list_display = ("email", "tenant", "role", "created_at", "expires_at", "accepted_at")
    search_fields = ("email",)
    # Only the token's hash is stored, and it is of no use to anyone: not even shown.
    exclude = ("token_hash",)
    readonly_fields = ("accepted_at", "accepted_by", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        # An invitation needs its mail and token: it is made on the team page only.
        return False
