"""Request and tenant ids on every log line, and no secret in any of them."""

import logging
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.http import HttpRequest, HttpResponse

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_tenant_id: ContextVar[str | None] = ContextVar("tenant_id", default=None)

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def bind(*, request_id: object = None, tenant_id: object = None) -> None:
    _request_id.set(str(request_id) if request_id else None)
    _tenant_id.set(str(tenant_id) if tenant_id else None)


def bind_tenant(tenant_id: object) -> None:
    _tenant_id.set(str(tenant_id) if tenant_id else None)


def current_context() -> dict[str, str]:
    context = {"request_id": _request_id.get(), "tenant_id": _tenant_id.get()}
    return {key: value for key, value in context.items() if value}


class RequestContextMiddleware:
    """Takes the caller's X-Request-ID when it looks like one, else makes a new one."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        bind(request_id=request_id)
        try:
            response = self.get_response(request)
        finally:
            bind()
        response["X-Request-ID"] = request_id
        return response


class TenantContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            bind_tenant(getattr(user, "tenant_id", None))
        return self.get_response(request)


class RequestContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get() or "-"
        record.tenant_id = _tenant_id.get() or "-"
        return True


# Credentials that can turn up in a message: bearer tokens, key=value pairs with a
# secret-sounding key, Stripe keys and HubSpot-style tokens.
_SECRET_PATTERNS = [
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1[redacted]"),
    (
        re.compile(
            r"(?i)((?:access_token|refresh_token|client_secret|api_key|apikey|password|"
            r"secret|token|authorization)[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,}]+"
        ),
        r"\1[redacted]",
    ),
    (re.compile(r"\b(sk|rk|whsec)_(live|test)?_?[A-Za-z0-9]{8,}"), "[redacted]"),
]


def redact(text: str) -> str:
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class SecretRedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        # A formatter renders the traceback from exc_info after the filters have run, and an
        # exception's text may quote the credential it choked on (a header value, a URL).
        # Rendered and redacted here, the formatters print exc_text (the text and the JSON
        # formatter both fall back to it) and never see the exception itself.
        if record.exc_info:
            record.exc_text = record.exc_text or _traceback_text.formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_traceback_text = logging.Formatter()


# Names under which the vendors' and OAuth's secrets travel: form fields, headers, query
# parameters, dict keys and local variables in a traceback. "code" is OAuth's authorization
# code in the callback's query string. Compared lower-case, with "-" read as "_".
SECRET_FIELD_NAMES = frozenset(
    {
        "api_key",
        "apikey",
        "api_token",
        "access_token",
        "refresh_token",
        "secret_key",
        "client_secret",
        "password",
        "authorization",
        "code",
        "code_verifier",
        "credentials",
        "cookie",
        "x_api_key",
    }
)
FILTERED = "[Filtered]"


def _is_secret_name(name: object) -> bool:
    return isinstance(name, str) and name.lower().replace("-", "_") in SECRET_FIELD_NAMES


def _scrub_query_string(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(key, FILTERED if _is_secret_name(key) else value) for key, value in pairs])


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        scrubbed: dict[Any, Any] = {}
        for key, item in value.items():
            if _is_secret_name(key):
                scrubbed[key] = FILTERED
            elif key == "query_string" and isinstance(item, str):
                scrubbed[key] = _scrub_query_string(item)
            else:
                scrubbed[key] = _scrub(item)
        return scrubbed
    if isinstance(value, list | tuple):
        # Headers and cookies may come as [name, value] pairs.
        if len(value) == 2 and _is_secret_name(value[0]):
            return [value[0], FILTERED]
        return [_scrub(item) for item in value]
    if isinstance(value, str):
        return redact(value)
    return value


def scrub_sentry_event(event: Any, hint: Any) -> Any:
    """Sentry's before_send: no credential leaves for Sentry, whether it is in the request's
    data, headers or query, in extra data, in an exception's message or in a frame's local
    variables. The whole event is walked, so a new place for a secret needs no new code."""
    return _scrub(event)
