"""Credentials at rest: a model field encrypted with Fernet (AES-128-CBC + HMAC-SHA256).

`cryptography`'s MultiFernet does the cryptography and the key rotation; this module only
adapts it to a Django field. The first key in FIELD_ENCRYPTION_KEYS encrypts, all of them
decrypt, and `rotate()` re-encrypts a value under the first key.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings
from django.core.signals import setting_changed
from django.db import models


@cache
def _fernet() -> MultiFernet:
    keys = settings.FIELD_ENCRYPTION_KEYS
    if not keys:
        raise RuntimeError("FIELD_ENCRYPTION_KEYS is empty.")
    return MultiFernet([Fernet(key) for key in keys])


def _reset_keys(*, setting: str, **_: Any) -> None:
    if setting == "FIELD_ENCRYPTION_KEYS":
        _fernet.cache_clear()


setting_changed.connect(_reset_keys)


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    return _fernet().decrypt(token.encode()).decode()


def rotate(token: str) -> str:
    return _fernet().rotate(token.encode()).decode()


class EncryptedJSONField(models.TextField):
    """A JSON object stored as one Fernet token; the database never sees the plaintext."""

    description = "Encrypted JSON"

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        if value is None or value == "":
            return {}
        return json.loads(decrypt(value))

    def to_python(self, value: Any) -> Any:
        if isinstance(value, dict):
            return value
        if value in (None, ""):
            return {}
        return json.loads(decrypt(value))

    def get_prep_value(self, value: Any) -> str:
        return encrypt(json.dumps(value or {}, separators=(",", ":")))
