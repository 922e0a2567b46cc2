"""One error hierarchy for every vendor. Callers branch on the class, never on a status code."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

_Id = TypeVar("_Id")


class ConnectorError(Exception):
    """Base class. `vendor_message` is the vendor's own words, safe to show the customer."""

    retryable = False

    def __init__(self, message: str, *, vendor_message: str = "", status: int | None = None):
        super().__init__(message)
        self.vendor_message = vendor_message or message
        self.status = status


class AuthorizationExpired(ConnectorError):
    """The credential was refused. After a failed refresh the connection needs reconnecting."""


class ReconnectRequired(AuthorizationExpired):
    """The vendor refused the refresh token or the API key: only the customer can fix this."""


class RateLimited(ConnectorError):
    retryable = True

    def __init__(self, message: str, *, wait_seconds: float, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.wait_seconds = wait_seconds


class TransientError(ConnectorError):
    """Time-outs, dropped connections before sending, 5xx: the same call may succeed later."""

    retryable = True


class CircuitOpen(TransientError):
    """The vendor has been unreachable and its circuit breaker is open (connectors/breaker.py):
    nothing was sent. The caller waits `wait_seconds` without counting this as an attempt."""

    def __init__(
        self, message: str, *, vendor: str, wait_seconds: float, since: float, **kwargs: object
    ) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.vendor = vendor  # the vendor's name
        self.wait_seconds = wait_seconds
        self.since = since  # epoch seconds: when the breaker opened


class UnknownOutcome(TransientError):
    """A write was sent but no answer came back: it may or may not have happened."""


class PermanentError(ConnectorError):
    """The vendor refused the content (validation). Retrying the same request cannot help."""


class NotFound(PermanentError):
    pass


class Conflict(PermanentError):
    pass


class UnsupportedByVendor(PermanentError):
    """What the customer asked for is something this vendor cannot do (delete a contact in
    lexware office, a currency other than EUR)."""


class ForgedEvent(PermanentError):
    """A webhook delivery whose signature or timestamp does not hold: refused, nothing is
    stored."""


class TaxRateRefused(PermanentError):
    """The vendor does not allow a position's tax rate in this account; `allowed` are the
    rates it does allow, where known."""

    def __init__(
        self,
        message: str,
        *,
        rate: Decimal,
        allowed: frozenset[Decimal] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.rate = rate
        self.allowed = allowed


def vendor_id(value: str, parse: Callable[[str], _Id | None], *, what: str) -> _Id:
    """`value` read as a vendor's id, or NotFound before any call when it cannot be one (a
    link stored for another system, a hand-edited value)."""
    parsed = parse(value)
    if parsed is None:
        raise NotFound(f"{value!r} is not {what}.")
    return parsed
