"""sync's answers to what the layers below it announce; connected in SyncConfig.ready()."""

from typing import Any

from accounts.models import Tenant
from sync import tasks
from sync.services.events import events_release_on_hold
from sync.services.recovery import work_release


def events_release_on_activation(*, tenant: Tenant, **kwargs: Any) -> None:
    """billing.signals.subscription_activated: the work held while transfers were paused
    (events kept on hold at intake, waiting events, transfers, imports) is done now. Held
    events change their state in billing's transaction, so a crash cannot leave them on hold
    under a paid subscription (nothing else releases them); the hand-off to the workers waits
    for the commit, and what it misses the resume tasks find."""
    # The work waiting already first: the events released below are handed out on their own.
    work_release(
        tenant=tenant,
        enqueue_events=tasks.enqueue_events,
        enqueue_vendor_events=tasks.enqueue_vendor_events,
        enqueue_transfer=tasks.enqueue_transfer,
        enqueue_import=tasks.enqueue_import,
    )
    events_release_on_hold(tenant=tenant, enqueue=tasks.enqueue_events)
