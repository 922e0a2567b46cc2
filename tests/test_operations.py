import io
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from django.core.checks import CheckMessage
from django.db import connection
from django.test import Client
from pythonjsonlogger.json import JsonFormatter

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


def _vendor_call_refusing_a_pasted_token() -> None:
    api_token = "tok-in-locals-0123456789"
    headers = {"Authorization": f"Bearer {api_token}"}
    raise ValueError(f"Invalid return character in header value: {headers['Authorization']!r}")


@pytest.mark.parametrize(
    "formatter",
    [logging.Formatter("%(message)s"), JsonFormatter("%(message)s")],
    ids=["text", "json"],
)
def test_a_logged_traceback_has_its_token_redacted(formatter: logging.Formatter) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(observability.SecretRedactingFilter())
    handler.setFormatter(formatter)
    logger = logging.getLogger(f"tests.traceback.{formatter.__class__.__name__}")
    logger.addHandler(handler)
    try:
        _vendor_call_refusing_a_pasted_token()
    except ValueError:
        logger.exception("vendor call failed with api_key=lx-message-secret-1")
    output = stream.getvalue()
    assert "ValueError" in output
    assert "_vendor_call_refusing_a_pasted_token" in output  # the traceback is still there
    for secret in ("tok-in-locals-0123456789", "lx-message-secret-1"):
        assert secret not in output
    assert "[redacted]" in output


def test_sentry_events_are_scrubbed_before_sending() -> None:
    event = {
        "request": {
            "url": "https://app.apiup.example/setup/accounting",
            "method": "POST",
            "data": {"api_key": "lx-data-secret", "company": "Beispiel GmbH"},
            "headers": {"Authorization": "Bearer hdr-secret", "X-Request-ID": "req-1"},
            "query_string": "code=oauth-code-secret&state=state-1",
        },
        "extra": {"refresh_token": "rt-extra-secret", "note": "sent Bearer extra-bearer-secret"},
        "exception": {
            "values": [
                {
                    "type": "InvalidHeader",
                    "value": "Invalid header value: 'Bearer exc-value-secret'",
                    "stacktrace": {
                        "frames": [
                            {
                                "function": "call",
                                "vars": {
                                    "api_token": "'frame-token-secret'",
                                    "code_verifier": "'verifier-secret'",
                                    "code": "'frame-code-secret'",
                                    "secret_key": "'apiup-demo-secret-key'",
                                    "client_secret": "'frame-client-secret'",
                                    "access_token": "'frame-access-secret'",
                                    "password": "'frame-password-secret'",
                                    "credentials": {"api_token": "'nested-secret'"},
                                    "headers": {"authorization": "'Bearer nested-bearer'"},
                                    "deal_id": "'4711'",
                                },
                            }
                        ]
                    },
                }
            ]
        },
    }
    scrubbed = observability.scrub_sentry_event(event, {})
    assert scrubbed is not None
    text = json.dumps(scrubbed)
    for secret in (
        "lx-data-secret",
        "hdr-secret",
        "oauth-code-secret",
        "rt-extra-secret",
        "extra-bearer-secret",
        "exc-value-secret",
        "frame-token-secret",
        "verifier-secret",
        "frame-code-secret",
        "apiup-demo-secret-key",
        "frame-client-secret",
        "frame-access-secret",
        "frame-password-secret",
        "nested-secret",
        "nested-bearer",
    ):
        assert secret not in text, secret
    for kept in ("Beispiel GmbH", "req-1", "state=state-1", "InvalidHeader", "4711"):
        assert kept in text, kept


def test_production_sends_sentry_only_scrubbed_events() -> None:
    deployment = {**_real_looking_deployment(), "SENTRY_DSN": "https://public@sentry.invalid/1"}
    result = _under_production_settings(
        deployment,
        [
            "-c",
            "import django, sentry_sdk; django.setup(); "
            "options = sentry_sdk.get_client().options; "
            "print(options['before_send'].__qualname__, "
            "options['before_send_transaction'].__qualname__)",
        ],
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["scrub_sentry_event", "scrub_sentry_event"]


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


# What a deployment sets and a developer's shell may also hold: the subprocess starts from
# none of them, so each test says exactly what the deployment has.
_DEPLOYMENT_VARIABLE = re.compile(
    r"^(DATABASE_URL|REDIS_URL|SANDBOX_VENDORS|FIELD_ENCRYPTION_KEYS|DJANGO_.*|STRIPE_.*"
    r"|[A-Z][A-Z0-9]*_CLIENT_(ID|SECRET))$"
)


def _oauth_provider_keys() -> list[str]:
    from connectors.registry import PROVIDERS

    return [provider.key for provider in PROVIDERS if provider.oauth is not None]


def _real_looking_deployment() -> dict[str, str]:
    from cryptography.fernet import Fernet

    values = {
        "DATABASE_URL": "postgres://apiup:pw-0123456789@db.internal:5432/apiup",
        "REDIS_URL": "redis://redis.internal:6379/0",
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "STRIPE_SECRET_KEY": "sk_live_51Hproduction0123456789abcdef",
        "STRIPE_WEBHOOK_SECRET": "whsec_production0123456789abcdef",
    }
    for key in _oauth_provider_keys():
        values[f"{key.upper()}_CLIENT_ID"] = f"{key}-production-client-id"
        values[f"{key.upper()}_CLIENT_SECRET"] = f"{key}-production-client-secret-0123456789"
    return values


def _deploy_check(deployment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return _under_production_settings(
        deployment, ["manage.py", "check", "--deploy", "--fail-level", "WARNING"]
    )


def _under_production_settings(
    deployment: dict[str, str], arguments: list[str]
) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not _DEPLOYMENT_VARIABLE.match(key)}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "apiup.settings.production",
            "DJANGO_SECRET_KEY": "a-production-secret-key-that-is-long-and-random-0123456789-xyz",
            "DJANGO_ALLOWED_HOSTS": "app.apiup.example",
            **deployment,
        }
    )
    return subprocess.run(  # noqa: S603 (the arguments are the test's own)
        [sys.executable, *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_production_settings_pass_the_deploy_check() -> None:
    result = _deploy_check(_real_looking_deployment())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_the_embedded_defaults_and_sandbox_secrets() -> None:
    # Nothing set but what Django itself requires: SQLite, the file broker, the development
    # encryption key and every sandbox secret.
    result = _deploy_check(
        {"FIELD_ENCRYPTION_KEYS": "ZGV2ZWxvcG1lbnQta2V5LW5vdC1mb3ItcHJvZC11c2U="}
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    for check_id in ("E001", "E002", "E003", "E004", "E005", "E006"):
        assert f"apiup.{check_id}" in output, check_id
    assert "connectors.E001" in output
    for key in _oauth_provider_keys():
        assert f"{key.upper()}_CLIENT_ID" in output, key


def test_production_refuses_sandbox_vendors_and_one_forgotten_oauth_client() -> None:
    deployment = _real_looking_deployment()
    deployment["SANDBOX_VENDORS"] = "1"
    deployment["QONTO_CLIENT_SECRET"] = "apiup-sandbox-secret"
    result = _deploy_check(deployment)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "apiup.E008" in output
    assert "QONTO_CLIENT_SECRET" in output
    assert "HUBSPOT_CLIENT" not in output


def _error_ids(errors: list[CheckMessage]) -> set[str]:
    return {str(error.id) for error in errors}


def test_deployment_check_names_each_sandbox_value(settings, request) -> None:  # type: ignore[no-untyped-def]
    from apiup.checks import deployment_settings

    # A development deployment: SQLite, no Redis, sandbox secrets. The suite itself may run on
    # PostgreSQL and Redis, so the engine is changed for the check alone: overriding DATABASES
    # would reach the test database's connection.
    database = settings.DATABASES["default"]
    with mock.patch.dict(database, {"ENGINE": "django.db.backends.sqlite3"}):
        settings.REDIS_URL = ""
        assert {"apiup.E001", "apiup.E002", "apiup.E003", "apiup.E004", "apiup.E005"} <= (
            _error_ids(deployment_settings(None))
        )
    postgresql = mock.patch.dict(database, {"ENGINE": "django.db.backends.postgresql"})
    postgresql.start()
    request.addfinalizer(postgresql.stop)
    settings.REDIS_URL = "redis://redis.internal:6379/0"
    settings.HUBSPOT_CLIENT_SECRET = "a-real-hubspot-secret"
    settings.STRIPE_SECRET_KEY = "sk_live_real"
    settings.STRIPE_WEBHOOK_SECRET = "whsec_real"
    settings.FIELD_ENCRYPTION_KEYS = ["cmVhbC1rZXktcmVhbC1rZXktcmVhbC1rZXktcmVhbC0="]
    settings.DEBUG = False
    settings.SANDBOX_VENDORS = False
    assert _error_ids(deployment_settings(None)) == set()

    settings.DEBUG = True
    settings.SANDBOX_VENDORS = True
    # The development key still decrypts: what it encrypted is readable by anyone with the code.
    settings.FIELD_ENCRYPTION_KEYS = [
        "cmVhbC1rZXktcmVhbC1rZXktcmVhbC1rZXktcmVhbC0=",
        "ZGV2ZWxvcG1lbnQta2V5LW5vdC1mb3ItcHJvZC11c2U=",
    ]
    assert {"apiup.E006", "apiup.E007", "apiup.E008"} <= _error_ids(deployment_settings(None))


def test_oauth_client_check_covers_every_provider_with_oauth(settings) -> None:  # type: ignore[no-untyped-def]
    from connectors.checks import oauth_clients

    settings.OAUTH_CLIENTS = {key: (f"{key}-id", f"{key}-secret") for key in _oauth_provider_keys()}
    assert oauth_clients(None) == []
    forgotten = _oauth_provider_keys()[-1]
    del settings.OAUTH_CLIENTS[forgotten]
    errors = oauth_clients(None)
    assert _error_ids(errors) == {"connectors.E001"}
    assert f"{forgotten.upper()}_CLIENT_ID" in str(errors[0].hint)


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


def _docker_ignored() -> set[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return {line.strip().rstrip("/") for line in lines if line.strip() and not line.startswith("#")}


def test_the_image_leaves_out_secrets_and_local_state() -> None:
    ignored = _docker_ignored()
    for entry in (".env", ".env.*", "var", ".venv", ".git", "**/*.sqlite3", "node_modules"):
        assert entry in ignored, entry
    # What the Dockerfile copies and builds from stays in.
    for needed in ("pyproject.toml", "manage.py", "apiup", "static", "templates", "locale"):
        assert needed not in ignored, needed
