from django.contrib import admin

from connectors.models import Connection


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin[Connection]):
    list_display = ("tenant", "system", "status", "account_name", "updated_at")
    list_filter = ("system", "status")
    exclude = ("credentials",)
