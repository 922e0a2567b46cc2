"""Database connections of a thread-pool worker: a pool thread keeps its connection from one
task to the next while it is younger than CONN_MAX_AGE, and takes a new one after."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from celery import shared_task
from celery.app.trace import build_tracer
from celery.fixups.django import DjangoWorkerFixup
from celery.signals import task_postrun, task_prerun
from django.db import connection

from apiup.celery import app


@shared_task(name="tests.connection_of_this_thread")
def connection_of_this_thread() -> Any:
    """The driver's connection the task's query went over."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return connection.connection


def run_as_the_worker_does(task: Any) -> Any:
    """Runs the task through Celery's tracer, with the signals a worker sends around it."""
    tracer = build_tracer(task.name, task, app=app, eager=False, propagate=True)
    task_id = str(uuid.uuid4())
    return tracer(task_id, (), {}, {"id": task_id, "delivery_info": {}}).retval


@pytest.fixture
def worker_fixup() -> Iterator[None]:
    """Celery's Django fix-up, installed as a worker installs it at start."""
    fixup = DjangoWorkerFixup(app).install()
    try:
        yield
    finally:
        task_prerun.disconnect(fixup.on_task_prerun)
        task_postrun.disconnect(fixup.on_task_postrun)


@pytest.fixture
def pool_thread() -> Iterator[Callable[[Callable[[], Any]], Any]]:
    """One thread of a thread pool: everything submitted runs on the same thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield lambda job: pool.submit(job).result(timeout=30)
        pool.submit(lambda: connection.close()).result(timeout=30)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker_fixup")
def test_a_pool_thread_keeps_its_connection_from_task_to_task(
    pool_thread: Callable[[Callable[[], Any]], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 60)
    first = pool_thread(lambda: run_as_the_worker_does(connection_of_this_thread))
    second = pool_thread(lambda: run_as_the_worker_does(connection_of_this_thread))
    assert second is first


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker_fixup")
def test_a_pool_thread_takes_a_new_connection_once_its_own_is_older_than_the_max_age(
    pool_thread: Callable[[Callable[[], Any]], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 0.5)
    first = pool_thread(lambda: run_as_the_worker_does(connection_of_this_thread))
    time.sleep(0.6)
    second = pool_thread(lambda: run_as_the_worker_does(connection_of_this_thread))
    # Too old by the next task: replaced, as Django replaces it around a request, rather than
    # kept for good by a thread that runs task after task.
    assert second is not first
