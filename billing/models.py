from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.tenancy import TenantOwnedModel


class Subscription(TenantOwnedModel):
    class Status(models.TextChoices):
        INCOMPLETE = "incomplete", _("awaiting payment")
        TRIALING = "trialing", _("trial")
        ACTIVE = "active", _("active")
        PAST_DUE = "past_due", _("payment overdue")
        CANCELED = "canceled", _("canceled")

    class Kind(models.TextChoices):
        # The kinds of system a plan is sold for, as connectors.providers.Kind names them
        # (billing may not import connectors: the caller says which kind a plan is).
        ACCOUNTING = "accounting", _("accounting system")
        TIME_TRACKING = "time_tracking", _("time tracking")

    # A tenant may have one plan per kind of system, e.g. lexware office beside ZEP: a won
    # deal then reaches both, and each plan's payment holds or releases its own system only.
    kind = models.CharField(
        _("kind of system"), max_length=20, choices=Kind.choices, default=Kind.ACCOUNTING
    )
    # One plan per system: the system's key. Which systems are sold, at what
    # price, is declared with each system (connectors/<system>/provider.py); billing
    # charges the price it is given.
    plan = models.CharField(_("plan"), max_length=20)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.INCOMPLETE
    )
    stripe_customer_id = models.CharField(max_length=255, blank=True)
    stripe_subscription_id = models.CharField(max_length=255, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    trial_end = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "kind"], name="one_subscription_per_tenant_and_kind"
            )
        ]

    def __str__(self) -> str:
        return f"{self.plan} ({self.get_status_display()})"


class StripeEvent(models.Model):
    """An inbound Stripe event, stored and acknowledged before it is applied (by a task);
    applied once by its id."""

    id = models.CharField(primary_key=True, max_length=255)
    type = models.CharField(max_length=100)
    payload = models.JSONField()
    # The customer the event is about, where it can be told: closing the account deletes
    # its events with it (the payload holds the customer's e-mail address).
    tenant = models.ForeignKey(
        "accounts.Tenant", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    # Runs of the apply task so far, when the last began, and why the last one failed.
    attempts = models.PositiveIntegerField(default=0)
    attempted_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        indexes = [
            # Small: only events not yet applied, which the resume task looks for.
            models.Index(
                fields=["received_at"],
                condition=models.Q(processed_at__isnull=True),
                name="billing_stripe_event_waiting",
            )
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"
