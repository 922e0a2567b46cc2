"""The one HTTP client every vendor module uses.

It owns what is the same for all vendors: time-outs, the shared rate limit, retries with
jittered exponential backoff for transient failures only, `Retry-After`, and the mapping of
transport failures to the error hierarchy. What differs per vendor (base URL, auth header,
rate, how its error bodies read) comes in as a `VendorApi` declaration and an `ErrorReader`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from connectors import errors, ratelimit

logger = logging.getLogger(__name__)

# Methods that may be sent twice without a second effect.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


@dataclass(frozen=True)
class VendorApi:
    """Declaration of one vendor's HTTP behaviour."""

    name: str
    base_url: str
    rate: ratelimit.Rate | None = None
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_attempts: int = 3
    backoff_base: float = 0.5
    max_rate_wait: float = 30.0  # longer waits are handed back to the caller as RateLimited
    retry_after_headers: tuple[str, ...] = ("Retry-After",)
    # Statuses after which a write may have happened although it failed (gateway time-outs).
    unknown_outcome_statuses: frozenset[int] = frozenset({504})


ErrorReader = Callable[[requests.Response], str]


def _default_error_reader(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    if isinstance(body, Mapping):
        for key in ("message", "error_description", "error", "detail"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
    return str(body)[:500]


@dataclass
class HttpClient:
    api: VendorApi
    auth_headers: Callable[[], Mapping[str, str]]
    limiter_key: str  # one bucket per credential (per source IP for Qonto)
    read_error: ErrorReader = _default_error_reader
    session: requests.Session = field(default_factory=requests.Session)
    sleep: Callable[[float], None] = time.sleep
    calls: int = 0  # calls sent, for API-economy checks

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        expected: tuple[int, ...] = (200, 201, 202, 204),
    ) -> requests.Response:
        method = method.upper()
        safe_to_repeat = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        url = self.api.base_url.rstrip("/") + path
        attempt = 0
        while True:
            attempt += 1
            self._wait_for_rate()
            try:
                self.calls += 1
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    data=data,
                    headers={**self.auth_headers(), **(headers or {})},
                    timeout=(self.api.connect_timeout, self.api.read_timeout),
                )
            except (requests.ConnectTimeout, requests.exceptions.SSLError) as exc:
                failure: errors.ConnectorError = errors.TransientError(
                    f"{self.api.name}: could not connect ({type(exc).__name__})"
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                if _never_sent(exc):
                    failure = errors.TransientError(f"{self.api.name}: could not connect")
                elif safe_to_repeat:
                    failure = errors.TransientError(
                        f"{self.api.name}: no answer ({type(exc).__name__})"
                    )
                else:
                    raise errors.UnknownOutcome(
                        f"{self.api.name}: {method} {path} was sent but no answer came back"
                    ) from exc
            else:
                if response.status_code in expected:
                    return response
                failure = self._error_for(response, method=method, safe_to_repeat=safe_to_repeat)
                if isinstance(failure, errors.UnknownOutcome):
                    raise failure
            if not failure.retryable or attempt >= self.api.max_attempts:
                raise failure
            delay = self._delay(attempt, failure)
            if delay > self.api.max_rate_wait:
                raise failure
            logger.info(
                "%s %s %s failed (%s), retry %d in %.2fs",
                self.api.name, method, path, type(failure).__name__, attempt, delay,
            )  # fmt: skip
            self.sleep(delay)

    @property
    def _bucket(self) -> str:
        return f"{self.api.name}:{self.limiter_key}"

    def book(self, calls: int) -> float:
        """Books `calls` calls on this credential's limit after those booked before; returns
        the seconds until they may start. Callers that book wait their turn outside a worker,
        so that many queued jobs of one credential do not all sleep on its limit at once."""
        if self.api.rate is None:
            return 0.0
        return ratelimit.limiter().book(
            self._bucket, calls / self.api.rate.per_second, self.api.rate
        )

    def _wait_for_rate(self) -> None:
        if self.api.rate is None:
            return
        try:
            ratelimit.acquire(self._bucket, self.api.rate, max_wait=self.api.max_rate_wait)
        except TimeoutError as exc:
            raise errors.RateLimited(
                f"{self.api.name}: rate limit reached", wait_seconds=float(exc.args[0])
            ) from exc

    def _delay(self, attempt: int, failure: errors.ConnectorError) -> float:
        if isinstance(failure, errors.RateLimited) and failure.wait_seconds > 0:
            return failure.wait_seconds
        # Full jitter: spreads the retries of many workers instead of synchronising them.
        return random.uniform(0, self.api.backoff_base * 2 ** (attempt - 1))  # noqa: S311

    def _error_for(
        self, response: requests.Response, *, method: str, safe_to_repeat: bool
    ) -> errors.ConnectorError:
        status = response.status_code
        message = self.read_error(response)
        label = f"{self.api.name} answered {status}"
        if status == 401:
            return errors.AuthorizationExpired(label, vendor_message=message, status=status)
        if status == 429:
            wait = self._retry_after(response)
            return errors.RateLimited(
                label, wait_seconds=wait, vendor_message=message, status=status
            )
        if status in self.api.unknown_outcome_statuses and not safe_to_repeat:
            return errors.UnknownOutcome(label, vendor_message=message, status=status)
        if status >= 500:
            return errors.TransientError(label, vendor_message=message, status=status)
        if status == 404:
            return errors.NotFound(label, vendor_message=message, status=status)
        if status == 409:
            return errors.Conflict(label, vendor_message=message, status=status)
        if status == 403:
            return errors.ReconnectRequired(label, vendor_message=message, status=status)
        return errors.PermanentError(label, vendor_message=message, status=status)

    def _retry_after(self, response: requests.Response) -> float:
        for header in self.api.retry_after_headers:
            value = response.headers.get(header)
            if not value:
                continue
            try:
                return max(0.0, float(value))
            except ValueError:
                try:
                    return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
                except (TypeError, ValueError):
                    continue
        return 1.0


def _never_sent(exc: Exception) -> bool:
    """True when the connection failed before the request left (refused, DNS)."""
    text = repr(exc)
    return any(
        marker in text
        for marker in ("ConnectionRefused", "NewConnectionError", "NameResolutionError")
    )
