from django.apps import AppConfig


class WebConfig(AppConfig):
    """The pages on top of everything: the setup wizard and the dashboard. Nothing below
    imports this app; it reads and writes through the services of accounts, connectors,
    billing and sync. It has no models, so no verbose name is ever shown."""

    name = "web"
