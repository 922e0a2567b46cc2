"""The shared HTTP client against a small vendor stand-in over real HTTP."""

import socket
from collections.abc import Iterator

import pytest
import requests
from flask import Flask, Request, Response

from connectors import errors
from connectors.auth import NoAuth
from connectors.http import HttpClient, VendorApi, never_sent
from sandbox.core import RunningSandbox, VendorSandbox, running


class Flaky(VendorSandbox):
    name = "flaky"

    def reset(self) -> None:
        super().reset()
        self.created: list[dict[str, object]] = []
        self.script: list[tuple[int, dict[str, str]]] = []  # answers to give before success

    def credential_of(self, req: Request) -> str | None:
        return req.headers.get("Authorization")

    def error_response(self, status: int, message: str, **extra: object) -> Response:
        return self.json({"message": message}, status)

    def register_routes(self, app: Flask) -> None:
        @app.post("/things")
        def create() -> Response:
            if self.script:
                status, headers = self.script.pop(0)
                return self.json({"message": f"scripted {status}"}, status, headers)
            with self.lock:
                self.created.append({"n": len(self.created)})
            self.after_commit()
            return self.json({"id": len(self.created)}, 201)

        @app.get("/things")
        def listing() -> Response:
            if self.script:
                status, headers = self.script.pop(0)
                return self.json({"message": f"scripted {status}"}, status, headers)
            return self.json({"count": len(self.created)})


@pytest.fixture
def vendor() -> Iterator[RunningSandbox]:
    with running(Flaky()) as handle:
        yield handle


class StaticAuth(NoAuth):
    """A key that is accepted until `refused` is set; counts the refreshes asked for."""

    def __init__(self, *, refreshable: bool = False) -> None:
        self.token = "k"
        self.refreshable = refreshable
        self.refreshes = 0

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def refresh_after(self, refusal: errors.AuthorizationExpired) -> bool:
        if not self.refreshable:
            return False
        self.refreshes += 1
        self.token = "k"
        return True


def _client(vendor: RunningSandbox, auth: NoAuth | None = None, **api: object) -> HttpClient:
    declaration = VendorApi(name="flaky", base_url=vendor.url, backoff_base=0.01, **api)  # type: ignore[arg-type]
    return HttpClient(declaration, limiter_key="k", auth=auth or StaticAuth())


def test_transient_5xx_is_retried_until_it_succeeds(vendor: RunningSandbox) -> None:
    sandbox: Flaky = vendor.sandbox  # type: ignore[assignment]
    sandbox.script = [(503, {}), (502, {})]
    response = _client(vendor).request("GET", "/things")
    assert response.json() == {"count": 0}
    assert len(sandbox.api_calls()) == 3


def test_retry_after_is_honoured(vendor: RunningSandbox) -> None:
    sandbox: Flaky = vendor.sandbox  # type: ignore[assignment]
    sandbox.script = [(429, {"Retry-After": "0.3"})]
    slept: list[float] = []
    client = _client(vendor)
    client.sleep = slept.append
    client.request("GET", "/things")
    assert slept == [0.3]


def test_validation_errors_are_permanent_and_carry_the_vendors_words(
    vendor: RunningSandbox,
) -> None:
    sandbox: Flaky = vendor.sandbox  # type: ignore[assignment]
    sandbox.script = [(406, {})]
    with pytest.raises(errors.PermanentError) as caught:
        _client(vendor).request("POST", "/things", json={})
    assert caught.value.vendor_message == "scripted 406"
    assert len(sandbox.api_calls()) == 1  # never retried


def test_a_refused_credential_is_an_authorization_error(vendor: RunningSandbox) -> None:
    auth = StaticAuth()
    auth.token = ""
    with pytest.raises(errors.AuthorizationExpired):
        _client(vendor, auth).request("GET", "/things")


def test_a_refused_token_is_refreshed_once_and_the_call_sent_again(
    vendor: RunningSandbox,
) -> None:
    sandbox: Flaky = vendor.sandbox  # type: ignore[assignment]
    sandbox.script = [(401, {})]  # a token we thought valid was revoked
    auth = StaticAuth(refreshable=True)
    response = _client(vendor, auth).request("GET", "/things")
    assert response.status_code == 200
    assert auth.refreshes == 1
    assert len(vendor.sandbox.api_calls()) == 2


def test_a_token_refused_again_after_its_refresh_is_not_refreshed_twice(
    vendor: RunningSandbox,
) -> None:
    sandbox: Flaky = vendor.sandbox  # type: ignore[assignment]
    sandbox.script = [(401, {}), (401, {})]
    auth = StaticAuth(refreshable=True)
    with pytest.raises(errors.AuthorizationExpired):
        _client(vendor, auth).request("GET", "/things")
    assert auth.refreshes == 1
    assert len(sandbox.api_calls()) == 2


def test_a_providers_error_map_overrides_the_default(vendor: RunningSandbox) -> None:
    sandbox: Flaky = vendor.sandbox  # type: ignore[assignment]
    sandbox.script = [(403, {})]
    with pytest.raises(errors.ReconnectRequired):
        _client(vendor).request("GET", "/things")
    sandbox.script = [(403, {})]
    with pytest.raises(errors.PermanentError) as caught:
        _client(vendor, error_map={403: errors.PermanentError}).request("GET", "/things")
    assert not isinstance(caught.value, errors.AuthorizationExpired)


def test_a_write_whose_answer_is_lost_is_an_unknown_outcome(vendor: RunningSandbox) -> None:
    sandbox: Flaky = vendor.sandbox  # type: ignore[assignment]
    sandbox.faults.update({"drop_after_commit_rate": 1.0})
    with pytest.raises(errors.UnknownOutcome):
        _client(vendor).request("POST", "/things", json={})
    # It did happen, once: the client must not have sent it again.
    assert len(sandbox.created) == 1


def test_a_vendor_that_is_down_exhausts_the_retries(vendor: RunningSandbox) -> None:
    vendor.sandbox.faults.update({"down_for_seconds": 30})
    with pytest.raises(errors.TransientError):
        _client(vendor, max_attempts=2).request("GET", "/things")
    assert len(vendor.sandbox.api_calls()) == 2


def test_a_refused_connection_is_transient() -> None:
    client = HttpClient(
        VendorApi(name="nowhere", base_url="http://127.0.0.1:9", max_attempts=1),
        limiter_key="k",
    )
    with pytest.raises(errors.TransientError) as caught:
        client.request("POST", "/things", json={})
    assert not isinstance(caught.value, errors.UnknownOutcome)


def test_never_sent_is_read_from_the_exception_chain_not_its_text() -> None:
    refused = requests.ConnectionError(OSError("a message that names nothing"))
    refused.__cause__ = ConnectionRefusedError(111, "Connection refused")
    assert never_sent(refused)
    unresolved = requests.ConnectionError("x")
    unresolved.__context__ = socket.gaierror(-2, "Name or service not known")
    assert never_sent(unresolved)
    # Text that merely looks like a refusal does not make a reset connection "never sent".
    reset = requests.ConnectionError("ConnectionRefused NewConnectionError")
    reset.__cause__ = ConnectionResetError(104, "Connection reset by peer")
    assert not never_sent(reset)


def test_requests_is_the_transport() -> None:
    # The client keeps one session per connector, so connections are reused.
    assert isinstance(HttpClient(VendorApi("x", "http://x"), "k").session, requests.Session)
