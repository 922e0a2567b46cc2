"""Local development: the embedded default unless DATABASE_URL / REDIS_URL are set."""

import os

# Development talks to the local sandbox vendors unless told otherwise.
os.environ.setdefault("SANDBOX_VENDORS", "1")

from .base import *  # noqa: F403
from .env import VAR_DIR, env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
LOG_FORMAT = env.str("LOG_FORMAT", default="text")
LOGGING["handlers"]["console"]["formatter"] = LOG_FORMAT  # type: ignore[index]  # noqa: F405

# Verification and password-reset mails are written to files, one per message, so a
# newcomer can open the link without a mail server.
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(VAR_DIR / "mail"))
