import pytest
from django.test import Client

from tests.factories import UserFactory


@pytest.fixture
def user(db):  # type: ignore[no-untyped-def]
    return UserFactory()


@pytest.fixture
def client_de() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="de")


@pytest.fixture
def client_en() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="en")


@pytest.fixture
def fresh_cache() -> None:
    # Rate-limit counters live in the cache; one test's failed logins must not throttle the next.
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(scope="session", autouse=True)
def _cache_of_this_run() -> None:
    # The cache outlives a run (a file, or Redis): what an earlier run cached must not leak.
    from django.core.cache import cache

    cache.clear()


def pytest_unconfigure(config: pytest.Config) -> None:
    # The run's broker folder goes when the run ends: in each pytest-xdist worker, and in the
    # controller, whose settings made one too.
    import os
    import shutil

    folder = os.environ.get("CELERY_FILESYSTEM_BROKER_DIR", "")
    if "broker-test-" in folder:
        shutil.rmtree(folder, ignore_errors=True)
