"""A tenant's mapping per accounting system and flow, each saved change a new version (who
and when), and which versions each transfer used."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.ownership import TenantOwnedModel


class FieldMapping(TenantOwnedModel):
    """The mapping of one flow (customer, quote, ...) to one accounting system."""

    system = models.CharField(_("system"), max_length=30)
    flow = models.CharField(_("flow"), max_length=30)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "system", "flow"], name="one_mapping_per_system_and_flow"
            )
        ]

    def __str__(self) -> str:
        return f"{self.system}/{self.flow}"


class MappingVersion(TenantOwnedModel):
    """One saved state of a mapping; the newest is the one transfers use."""

    mapping = models.ForeignKey(FieldMapping, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(_("version"))
    rules = models.JSONField(_("rules"), default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("saved at"), auto_now_add=True)

    class Origin(models.TextChoices):
        SAVED = "saved", _("saved")
        IMPORTED = "imported", _("imported")

    origin = models.CharField(max_length=20, choices=Origin.choices, default=Origin.SAVED)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "mapping", "number"], name="one_number_per_mapping_version"
            )
        ]

    def __str__(self) -> str:
        return f"{self.mapping} v{self.number}"


class MappingUse(TenantOwnedModel):
    """The version of a flow's mapping a transfer's last run used (none: the standard)."""

    transfer = models.ForeignKey("sync.Transfer", on_delete=models.CASCADE, related_name="+")
    flow = models.CharField(max_length=30)
    version = models.ForeignKey(
        MappingVersion, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    used_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "transfer", "flow"], name="one_mapping_use_per_transfer_flow"
            )
        ]
