from django.contrib import admin

from billing.models import StripeEvent, Subscription


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin[Subscription]):
    list_display = ("tenant", "plan", "status", "current_period_end", "updated_at")
    list_filter = ("plan", "status")


@admin.register(StripeEvent)
class StripeEventAdmin(admin.ModelAdmin[StripeEvent]):
    """Where an event that could not be applied shows, with its error and attempts."""

    list_display = ("id", "type", "tenant", "received_at", "processed_at", "attempts", "error")
    list_filter = ("type",)
    search_fields = ("id",)
    exclude = ("payload",)  # the customer's e-mail address; the admin does not need it
    readonly_fields = (
        "id", "type", "tenant", "received_at", "processed_at", "attempts", "attempted_at",
        "error",
    )  # fmt: skip

    def has_add_permission(self, request: object) -> bool:
        return False
