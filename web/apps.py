from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebConfig(AppConfig):
    """The pages on top of everything: the setup wizard and the dashboard. Nothing below
    imports this app; it reads and writes through the services of accounts, connectors,
    billing and sync."""

    name = "web"
    verbose_name = _("Pages")
