"""The test suite: the same code path, with fast password hashing and in-memory mail."""

import os
import re
from pathlib import Path

# Under pytest-xdist each worker process runs tests of its own, with tenants numbered from 1
# like every other worker's: it keeps its files and its Redis database apart from theirs
# (pytest-django gives it a database of its own). Worker processes a test starts inherit the
# variables, so they land in the same place.
_xdist_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _xdist_worker:
    _number = int(_xdist_worker.removeprefix("gw"))
    _var = Path(__file__).resolve().parent.parent.parent / "var" / f"test-{_xdist_worker}"
    os.environ.setdefault("APIUP_VAR_DIR", str(_var))
    # pytest's controller process named a broker folder of its own already; a worker's
    # tasks go through the worker's.
    if not os.environ.get("CELERY_FILESYSTEM_BROKER_DIR", "").startswith(str(_var) + os.sep):
        os.environ["CELERY_FILESYSTEM_BROKER_DIR"] = str(_var / f"broker-test-{_xdist_worker}")
    if os.environ.get("REDIS_URL"):
        base = re.sub(r"/\d*$", "", os.environ["REDIS_URL"].split("?")[0])
        os.environ["REDIS_URL"] = f"{base}/{_number + 1}"

from .env import VAR_DIR  # noqa: E402

# Each test run has its own file broker, shared with the worker processes it starts.
os.environ.setdefault("CELERY_FILESYSTEM_BROKER_DIR", str(VAR_DIR / f"broker-test-{os.getpid()}"))

# The sandboxes the tests talk to speak plain HTTP on loopback, which oauthlib refuses.
os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")

from .base import *  # noqa: F403, E402

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
LOG_FORMAT = "text"
LOGGING["handlers"]["console"]["formatter"] = "text"  # type: ignore[index]  # noqa: F405
STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
}
