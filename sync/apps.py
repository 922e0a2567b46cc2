from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SyncConfig(AppConfig):
    name = "sync"
    verbose_name = _("Transfers")

    def ready(self) -> None:
        # Imported here: the receiver needs the models, which are ready only now.
        from billing.signals import subscription_activated
        from sync import receivers

        subscription_activated.connect(
            receivers.events_release_on_activation, dispatch_uid="sync.events_release_on_hold"
        )
