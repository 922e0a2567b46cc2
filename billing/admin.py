from django.contrib import admin

from billing.models import Subscription


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin[Subscription]):
    list_display = ("tenant", "plan", "status", "current_period_end", "updated_at")
    list_filter = ("plan", "status")
