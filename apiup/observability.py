"""Request and tenant ids on every log line, and no secret in any of them."""

import logging
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar

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
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
