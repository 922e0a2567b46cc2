"""The test suite: the same code path, with fast password hashing and in-memory mail."""

import os

from .env import VAR_DIR

# Each test run has its own file broker, shared with the worker processes it starts.
os.environ.setdefault("CELERY_FILESYSTEM_BROKER_DIR", str(VAR_DIR / f"broker-test-{os.getpid()}"))

# The sandboxes the tests talk to speak plain HTTP on loopback, which oauthlib refuses.
os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")

from .base import *  # noqa: F403

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
LOG_FORMAT = "text"
LOGGING["handlers"]["console"]["formatter"] = "text"  # type: ignore[index]  # noqa: F405
STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
}
