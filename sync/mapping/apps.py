from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MappingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "sync.mapping"
    label = "mapping"
    verbose_name = _("Data mapping")
