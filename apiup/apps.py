from django.apps import AppConfig


class ApiupConfig(AppConfig):
    name = "apiup"
    verbose_name = "APIUP"

    def ready(self) -> None:
        from apiup import checks  # noqa: F401  (registers the deploy checks)
