"""A data migration under test: the database is taken back to the migration before it, the
test fills it in with the models of that time, runs the step, and the database is brought
forward to the latest migrations again whatever the test did."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.apps.registry import Apps
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

Targets = list[tuple[str, str]]


def _apps_at(targets: Targets) -> Apps:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@contextmanager
def migration_step(before: Targets, after: Targets) -> Iterator[tuple[Apps, Callable[[], Apps]]]:
    """Yields the models before the step and a function that runs it and returns the models
    after it."""
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    try:
        yield _apps_at(before), lambda: _apps_at(after)
    finally:
        _apps_at(latest)
