"""sync's answers to what the layers below it announce; connected in SyncConfig.ready()."""

from typing import Any

from accounts.models import Tenant
from sync import tasks
from sync.services.events import events_release_on_hold


def events_release_on_activation(*, tenant: Tenant, **kwargs: Any) -> None:
    """billing.signals.subscription_activated: the events kept on hold while transfers were
    paused are processed now. Their state changes in billing's transaction, so a crash cannot
    leave them on hold under a paid subscription (nothing else releases them); the hand-off
    to the workers waits for the commit (events_release_on_hold)."""
    events_release_on_hold(tenant=tenant, enqueue=tasks.enqueue_events)
