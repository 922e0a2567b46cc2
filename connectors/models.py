from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.tenancy import TenantOwnedModel
from apiup.encryption import EncryptedJSONField
from connectors.registry import system_choices


class Connection(TenantOwnedModel):
    """One live link between a tenant and a vendor account (a HubSpot portal, a bexio company)."""

    class Status(models.TextChoices):
        CONNECTED = "connected", _("connected")
        NEEDS_RECONNECT = "needs_reconnect", _("needs reconnecting")

    system = models.CharField(_("system"), max_length=20, choices=system_choices)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.CONNECTED
    )
    account_name = models.CharField(_("account name"), max_length=200, blank=True)
    external_account_id = models.CharField(_("account id"), max_length=100, blank=True)
    credentials = EncryptedJSONField(_("credentials"), blank=True, default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("connection")
        verbose_name_plural = _("connections")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "system"], name="one_connection_per_system"),
            # HubSpot's webhooks name only the portal, so a portal can lead to one tenant only.
            # Across tenants on purpose; connectors.services.hubspot_connect turns a violation
            # into PortalTaken.
            models.UniqueConstraint(
                fields=["system", "external_account_id"],
                condition=models.Q(system="hubspot") & ~models.Q(external_account_id=""),
                name="one_tenant_per_hubspot_portal",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_system_display()} ({self.account_name or self.external_account_id})"
