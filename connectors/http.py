"""The one HTTP client every vendor module uses, and the one authenticated path.

It owns what is the same for all vendors: time-outs, the shared rate limit, retries with
jittered exponential backoff for transient failures only, `Retry-After`, the circuit breaker
that stops calling a vendor that is down (connectors/breaker.py), the mapping of
transport failures and status codes to the error hierarchy, and authentication: every call
carries its authenticator's headers, and a refused credential is refreshed once and the call
sent again, or the connection is marked for reconnecting. What differs per vendor (base URL,
rate, headers, error map, how its error bodies read) comes in as a `VendorApi` and an
`ErrorReader`, made from the provider declaration.
"""

from __future__ import annotations

import errno
import logging
import random
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from connectors import breaker, errors, ratelimit
from connectors.auth import Authenticator, NoAuth

logger = logging.getLogger(__name__)

# Methods that may be sent twice without a second effect.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})

ErrorMap = Mapping[int, type[errors.ConnectorError]]

# What a status means at most vendors; a provider's `error_map` overrides single entries.
DEFAULT_ERROR_MAP: ErrorMap = {
    401: errors.AuthorizationExpired,
    # A missing scope or right: only the customer can grant it by connecting again.
    403: errors.ReconnectRequired,
    404: errors.NotFound,
    409: errors.Conflict,
    429: errors.RateLimited,
}


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
    error_map: ErrorMap = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # sent with every call


ErrorReader = Callable[[requests.Response], str]


def error_reader(words: Callable[[Mapping[str, Any]], str]) -> ErrorReader:
    """Reads a vendor's error answer: `words` takes the vendor's own words from a JSON
    object body; a body that is no JSON object is shown as it came (shortened)."""

    def read(response: requests.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return response.text[:500] or f"HTTP {response.status_code}"
        if not isinstance(body, Mapping):
            return str(body)[:500]
        return words(body)[:1000] or str(body)[:500]

    return read


def first_text(body: Mapping[str, Any], *keys: str) -> str:
    """The first of `keys` that holds a non-empty string."""
    return next((v for k in keys if isinstance(v := body.get(k), str) and v), "")


default_error_reader = error_reader(
    lambda body: first_text(body, "message", "error_description", "error", "detail")
)


@dataclass
class HttpClient:
    api: VendorApi
    limiter_key: str  # one bucket per credential, account or source IP (provider's rate scope)
    auth: Authenticator = field(default_factory=NoAuth)
    read_error: ErrorReader = default_error_reader
    session: requests.Session = field(default_factory=requests.Session)
    sleep: Callable[[float], None] = time.sleep
    calls: int = 0  # calls sent, for API-economy checks
    # Whose outage the circuit breaker counts together besides the vendor's API: empty for
    # the whole API, an account for vendors that limit per account (the provider's rate scope).
    breaker_scope: str = ""
    circuit: breaker.CircuitBreaker = field(init=False)

    def __post_init__(self) -> None:
        self.circuit = breaker.CircuitBreaker(
            key=f"{self.api.name}|{self.api.base_url}|{self.breaker_scope}",
            name=self.api.name,
            # The probe may wait for its rate-limit turn and then for its answer.
            probe_seconds=self.api.max_rate_wait + self.api.connect_timeout + self.api.read_timeout,
        )

    def outage(self) -> breaker.Outage | None:
        """The vendor outage under way (the breaker is open), or None."""
        return self.circuit.outage()

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
        """Sends the call with the authenticator's headers. A credential the vendor refuses
        is refreshed once where it can be (OAuth) and the call sent again; otherwise the
        connection is marked for reconnecting and ReconnectRequired raised."""
        self.auth.ensure()
        refreshed = False
        while True:
            try:
                return self._send(
                    method,
                    path,
                    params=params,
                    json=json,
                    data=data,
                    headers=headers,
                    idempotent=idempotent,
                    expected=expected,
                )
            except errors.AuthorizationExpired as refusal:
                if refreshed or not self.auth.refresh_after(refusal):
                    raise self.auth.refused(refusal) from refusal
                refreshed = True

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None,
        json: Any,
        data: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        idempotent: bool | None,
        expected: tuple[int, ...],
    ) -> requests.Response:
        method = method.upper()
        safe_to_repeat = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        url = self.api.base_url.rstrip("/") + path
        attempt = 0
        while True:
            attempt += 1
            # Before the rate limit: a token refresh that fails sends nothing and books nothing.
            sent_headers = {**self.api.headers, **self.auth.headers(), **(headers or {})}
            # Before the rate limit: a call the breaker holds back takes no turn there.
            self.circuit.admit()
            self._wait_for_rate()
            try:
                self.calls += 1
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    data=data,
                    headers=sent_headers,
                    timeout=(self.api.connect_timeout, self.api.read_timeout),
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                self.circuit.failed()
                if never_sent(exc):
                    failure: errors.ConnectorError = errors.TransientError(
                        f"{self.api.name}: could not connect ({type(exc).__name__})"
                    )
                elif safe_to_repeat:
                    failure = errors.TransientError(
                        f"{self.api.name}: no answer ({type(exc).__name__})"
                    )
                else:
                    raise errors.UnknownOutcome(
                        f"{self.api.name}: {method} {path} was sent but no answer came back"
                    ) from exc
            else:
                if response.status_code >= 500:
                    self.circuit.failed()
                else:
                    self.circuit.succeeded()  # any answer below 500: the vendor is there
                if response.status_code in expected:
                    return response
                failure = self._error_for(response, safe_to_repeat=safe_to_repeat)
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
        self, response: requests.Response, *, safe_to_repeat: bool
    ) -> errors.ConnectorError:
        status = response.status_code
        message = self.read_error(response)
        label = f"{self.api.name} answered {status}"
        if status in self.api.unknown_outcome_statuses and not safe_to_repeat:
            return errors.UnknownOutcome(label, vendor_message=message, status=status)
        kind = self.api.error_map.get(status) or DEFAULT_ERROR_MAP.get(status)
        if kind is errors.RateLimited:
            wait = self._retry_after(response)
            return errors.RateLimited(
                label, wait_seconds=wait, vendor_message=message, status=status
            )
        if kind is None:
            kind = errors.TransientError if status >= 500 else errors.PermanentError
        return kind(label, vendor_message=message, status=status)

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


# The OS errors of a connection that failed before any byte of the request left.
_NOT_SENT_ERRNOS = frozenset(
    {errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL}
)


def never_sent(exc: BaseException) -> bool:
    """True when the connection failed before the request left (refused, unreachable, name
    not resolved), read from the exception chain that urllib3 and the socket layer leave:
    such a request may be sent again whatever its method."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, requests.ConnectTimeout | requests.exceptions.SSLError):
            return True  # the handshake did not complete: nothing of the request was sent
        if isinstance(current, socket.gaierror | ConnectionRefusedError):
            return True
        if isinstance(current, OSError) and current.errno in _NOT_SENT_ERRNOS:
            return True
        reason = getattr(current, "reason", None)  # urllib3's MaxRetryError keeps it here
        nested = reason if isinstance(reason, BaseException) else None
        current = nested or current.__cause__ or current.__context__
        if current is None and exc.args and isinstance(exc.args[0], BaseException):
            current = exc.args[0]  # requests wraps urllib3's error as its first argument
    return False
