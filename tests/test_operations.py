import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client

from apiup import observability
from tests.factories import ConnectionFactory

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_healthz_reports_database_and_broker() -> None:
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": True, "broker": True}}


@pytest.mark.django_db
def test_healthz_answers_503_when_the_broker_is_unreachable(settings) -> None:  # type: ignore[no-untyped-def]
    from apiup.celery import app

    original = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    try:
        response = Client().get("/healthz")
    finally:
        app.conf.broker_url = original
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": True, "broker": False}


def _capture(logger_name: str) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(observability.RequestContextFilter())
    handler.addFilter(observability.SecretRedactingFilter())
    handler.setFormatter(logging.Formatter("%(request_id)s %(tenant_id)s %(message)s"))
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return logger, stream


def test_log_lines_carry_request_and_tenant_ids_and_no_secret() -> None:
    logger, stream = _capture("tests.context")
    observability.bind(request_id="req-12345678", tenant_id="tenant-1")
    try:
        logger.info(
            "calling vendor with Authorization: Bearer abc.def.ghi and %s", "api_key=lx123456"
        )
        logger.info('refresh {"refresh_token": "rt-very-secret"} sk_test_51HabcdefghijK')
    finally:
        observability.bind()
    output = stream.getvalue()
    assert "req-12345678 tenant-1" in output
    for secret in ("abc.def.ghi", "lx123456", "rt-very-secret", "sk_test_51HabcdefghijK"):
        assert secret not in output
    assert "[redacted]" in output


@pytest.mark.django_db
def test_responses_carry_a_request_id() -> None:
    response = Client().get("/healthz", HTTP_X_REQUEST_ID="given-request-id-1")
    assert response["X-Request-ID"] == "given-request-id-1"
    generated = Client().get("/healthz", HTTP_X_REQUEST_ID="bad id with spaces")["X-Request-ID"]
    assert generated != "bad id with spaces"
    assert len(generated) == 32


@pytest.mark.django_db
def test_credentials_are_encrypted_at_rest(settings) -> None:  # type: ignore[no-untyped-def]
    from apiup import encryption
    from connectors.models import Connection

    created = ConnectionFactory(credentials={"api_key": "lx-plain-secret-value"})
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT credentials FROM connectors_connection WHERE id = %s",
            [created.pk.hex if connection.vendor == "sqlite" else created.pk],
        )
        (raw,) = cursor.fetchone()
    assert "lx-plain-secret-value" not in raw
    assert Connection.objects.get(pk=created.pk).credentials == {"api_key": "lx-plain-secret-value"}

    # A new key goes first; the old one still decrypts until the value is rotated.
    from cryptography.fernet import Fernet, InvalidToken

    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, *settings.FIELD_ENCRYPTION_KEYS]
    assert encryption.decrypt(encryption.rotate(raw)) == json.dumps(
        {"api_key": "lx-plain-secret-value"}, separators=(",", ":")
    )
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    with pytest.raises(InvalidToken):
        encryption.decrypt(raw)


def test_production_settings_pass_the_deploy_check() -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "apiup.settings.production",
        "DJANGO_SECRET_KEY": "a-production-secret-key-that-is-long-and-random-0123456789-xyz",
        "DJANGO_ALLOWED_HOSTS": "app.apiup.example",
        "FIELD_ENCRYPTION_KEYS": "ZGV2ZWxvcG1lbnQta2V5LW5vdC1mb3ItcHJvZC11c2U=",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.django_db
def test_rotate_command_re_encrypts_under_the_new_key(settings) -> None:  # type: ignore[no-untyped-def]
    from cryptography.fernet import Fernet
    from django.core.management import call_command

    from connectors.models import Connection

    created = ConnectionFactory(credentials={"api_key": "k-123"})
    old_keys = list(settings.FIELD_ENCRYPTION_KEYS)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), *old_keys]
    call_command("rotate_encryption_keys", stdout=io.StringIO())
    settings.FIELD_ENCRYPTION_KEYS = settings.FIELD_ENCRYPTION_KEYS[:1]  # old key retired
    assert Connection.objects.get(pk=created.pk).credentials == {"api_key": "k-123"}
