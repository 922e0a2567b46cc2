"""Deploy check: every provider that declares OAuth has the product's own registration.

A provider whose <KEY>_CLIENT_ID or _SECRET is unset falls back to the public sandbox client
(apiup.settings.vendors); in production that connection could not work, and its secret is
public. Here rather than in apiup.checks because only connectors knows the providers.
"""

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register

from connectors.registry import PROVIDERS


@register(Tags.security, deploy=True)
def oauth_clients(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    default_id, default_secret = settings.OAUTH_CLIENT_DEFAULT
    errors: list[CheckMessage] = []
    for provider in PROVIDERS:
        if provider.oauth is None:
            continue
        client_id, secret = settings.OAUTH_CLIENTS.get(provider.key, ("", ""))
        unset = [
            f"{provider.key.upper()}_CLIENT_{part}"
            for part, value, default in (
                ("ID", client_id, default_id),
                ("SECRET", secret, default_secret),
            )
            if value in ("", default)
        ]
        if unset:
            errors.append(
                Error(
                    f"{provider.label}'s OAuth client is the sandbox's.",
                    hint=f"Set {' and '.join(unset)} to the product's app registration.",
                    id="connectors.E001",
                )
            )
    return errors
