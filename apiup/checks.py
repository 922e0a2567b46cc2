"""Deploy checks: production refuses what only suits a developer's machine.

Without DATABASE_URL and REDIS_URL the settings fall back to SQLite and a file broker, and
every vendor secret defaults to the public sandbox's, so a deployment that forgot one would
otherwise run quietly on a local file or accept webhooks signed with a secret anyone can read.
`manage.py check --deploy` runs these (the deployment's migrate step does, see README); the
OAuth registrations are checked per provider in connectors.checks, which knows the providers.
"""

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register

from apiup.settings.core import DEVELOPMENT_ENCRYPTION_KEY
from apiup.settings.vendors import (
    OAUTH_CLIENT_DEFAULT,
    STRIPE_SANDBOX_SECRET_KEY,
    STRIPE_SANDBOX_WEBHOOK_SECRET,
)


@register(Tags.security, deploy=True)
def deployment_settings(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    if "sqlite" in settings.DATABASES["default"]["ENGINE"]:
        errors.append(
            Error(
                "The database is the embedded SQLite file.",
                hint="Set DATABASE_URL to the PostgreSQL database.",
                id="apiup.E001",
            )
        )
    if not settings.REDIS_URL:
        errors.append(
            Error(
                "The broker and cache are files on this machine.",
                hint="Set REDIS_URL; web, workers and beat must share one broker and cache.",
                id="apiup.E002",
            )
        )
    if settings.HUBSPOT_CLIENT_SECRET in ("", OAUTH_CLIENT_DEFAULT[1]):
        errors.append(
            Error(
                "HubSpot's client secret is the sandbox's: anyone can sign a webhook with it.",
                hint="Set HUBSPOT_CLIENT_ID and HUBSPOT_CLIENT_SECRET to the app's own.",
                id="apiup.E003",
            )
        )
    if settings.STRIPE_SECRET_KEY in ("", STRIPE_SANDBOX_SECRET_KEY):
        errors.append(
            Error(
                "The Stripe secret key is the sandbox's.",
                hint="Set STRIPE_SECRET_KEY.",
                id="apiup.E004",
            )
        )
    if settings.STRIPE_WEBHOOK_SECRET in ("", STRIPE_SANDBOX_WEBHOOK_SECRET):
        errors.append(
            Error(
                "The Stripe webhook secret is the sandbox's: anyone can sign an event with it.",
                hint="Set STRIPE_WEBHOOK_SECRET to the endpoint's signing secret.",
                id="apiup.E005",
            )
        )
    if DEVELOPMENT_ENCRYPTION_KEY in settings.FIELD_ENCRYPTION_KEYS:
        errors.append(
            Error(
                "FIELD_ENCRYPTION_KEYS holds the development key, which is in the repository.",
                hint="Put a new Fernet key first, run `manage.py rotate_encryption_keys`, "
                "then remove the development key.",
                id="apiup.E006",
            )
        )
    if settings.DEBUG:
        errors.append(
            Error(
                "DEBUG is on: error pages show settings and local variables.",
                id="apiup.E007",
            )
        )
    if settings.SANDBOX_VENDORS:
        errors.append(
            Error(
                "SANDBOX_VENDORS is on: vendor calls go to the local sandboxes.",
                hint="Unset SANDBOX_VENDORS.",
                id="apiup.E008",
            )
        )
    return errors
