import os
from typing import Any

from celery import Celery
from celery.signals import before_task_publish, task_postrun, task_prerun
from django.db import close_old_connections
from kombu.exceptions import ChannelError

from apiup import observability

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apiup.settings.development")

app = Celery("apiup")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@before_task_publish.connect
def _carry_log_context(headers: dict[str, object], **_: object) -> None:
    # A task's log lines name the request and tenant that enqueued it.
    headers.update(observability.current_context())


@task_prerun.connect
@task_postrun.connect
def _close_stale_connections(task: Any = None, **_: object) -> None:
    # In the thread that runs the task: Django's connections are per thread, and a pool
    # thread keeps its own across tasks (CONN_MAX_AGE) unless it is too old or broken (a
    # restarted PostgreSQL), as Django does around each request. Not for a task applied
    # in the caller's own thread (eager): that connection is the caller's, perhaps inside
    # its transaction.
    if getattr(getattr(task, "request", None), "is_eager", False):
        return
    close_old_connections()


@task_prerun.connect
def _restore_log_context(task: object, **_: object) -> None:
    request = getattr(task, "request", None)
    observability.bind(
        request_id=getattr(request, "request_id", None),
        tenant_id=getattr(request, "tenant_id", None),
    )


@task_postrun.connect
def _clear_log_context(**_: object) -> None:
    observability.bind(request_id=None, tenant_id=None)


def queued_messages(queue: str = "celery") -> int:
    """Messages waiting in the broker's queue (not those a worker holds for a countdown)."""
    with app.connection_for_write() as connection:
        channel: Any = connection.default_channel  # kombu's stubs know only the base class
        try:
            return int(channel.queue_declare(queue, passive=True).message_count)
        except ChannelError:
            return 0  # Redis drops an empty queue's key; nothing is waiting
