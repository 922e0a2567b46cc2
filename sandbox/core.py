"""What every vendor stand-in shares: a Flask app with state, faults on demand, a token-bucket
rate limit, a call log, an inspection page, contract checking and a threaded HTTP server.

A vendor module subclasses `VendorSandbox`, registers its routes in `register_routes` and
answers errors in its vendor's own format through `error_response`.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from flask import Flask, Request, Response, g, request
from werkzeug.serving import BaseWSGIServer, make_server

from sandbox.contract import ContractChecker, SpecProblem
from sandbox.inspection import DOCUMENT_STATUSES, inspection_page
from sandbox.store import BadPaging, Page, Record, Records, Resource, Store

if TYPE_CHECKING:
    from sandbox.demo import DemoSetup
    from sandbox.routes import Endpoint


@dataclass
class Faults:
    """Switches that reliability tests flip through `POST /_sandbox/faults` or directly."""

    latency_ms: int = 0
    server_error_rate: float = 0.0  # share of API calls answered 5xx
    rate_limit_rate: float = 0.0  # share of API calls answered 429 on top of the real limit
    drop_after_commit_rate: float = 0.0  # share of creates that commit, then drop the socket
    down_until: float = 0.0  # epoch seconds; every API call answers 503 until then

    def update(self, values: dict[str, Any]) -> None:
        for key, value in values.items():
            if key == "down_for_seconds":
                self.down_until = time.time() + float(value)
            elif key in self.__dataclass_fields__:
                setattr(self, key, type(getattr(self, key))(value))
            else:
                raise KeyError(key)


class TokenBucket:
    """`rate` tokens per second, at most `capacity` stored, one bucket per key."""

    def __init__(self, *, rate: float, capacity: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Takes a token; returns 0 when granted, else the seconds until one is available."""
        now = time.monotonic()
        with self._lock:
            tokens, stamp = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - stamp) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate


class SlidingWindow:
    """At most `limit` calls per `window` seconds per key (HubSpot's and Qonto's kind)."""

    def __init__(self, *, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._calls: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> tuple[float, int]:
        """Returns (seconds to wait or 0 when granted, calls remaining in the window)."""
        now = time.monotonic()
        with self._lock:
            calls = [t for t in self._calls.get(key, []) if t > now - self.window]
            if len(calls) >= self.limit:
                self._calls[key] = calls
                return calls[0] + self.window - now, 0
            calls.append(now)
            self._calls[key] = calls
            return 0.0, self.limit - len(calls)


@dataclass
class CallRecord:
    at: float
    method: str
    path: str
    status: int
    credential: str
    request_body: Any = None
    response_body: Any = None


class Refusal(Exception):
    """Raised by a handler or hook to refuse the request; answered by the vendor's
    `error_response(status, message, **extra)`."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


class DropConnection(Exception):
    """Raised by a handler after it committed a create: the client gets no answer."""


class VendorSandbox:
    """One vendor's stand-in. State lives in memory, guarded by `self.lock`."""

    name = "vendor"
    title = "Vendor"
    spec_files: tuple[str, ...] = ()  # relative to the vendor-specs folder
    spec_server_url = ""  # the server URL of the spec, for contract checking
    spec_hosts: dict[str, str] = {}  # path prefix -> the vendor's other host (`ContractChecker`)
    # What a newcomer types into the wizard's token form for this vendor, if it has one.
    demo_credential = ""

    @classmethod
    def for_demo(cls, demo: DemoSetup) -> VendorSandbox:
        """The stand-in as `python -m sandbox` runs it beside the product: it knows the
        product's app credentials and addresses and accepts `demo_credential`."""
        return cls()

    # Refuse a request that breaks the spec before its handler runs, in the vendor's own
    # error format (`spec_violation_response`). Off only for a stand-in that must accept an
    # off-spec request on purpose (a test of the contract check itself).
    refuse_off_spec: bool = True
    # The records this vendor keeps (served by `sandbox.store.Store`, routed by
    # `sandbox.routes.serve_endpoints`).
    resources: tuple[Resource, ...] = ()

    def __init__(self, *, contract: bool = False, public_url: str = "") -> None:
        self.lock = threading.RLock()
        self.faults = Faults()
        self.calls: list[CallRecord] = []
        self.public_url = public_url.rstrip("/")
        self.store = Store(self.resources)
        # Every API request is validated against the vendor's spec before its handler runs;
        # with `contract`, requests and responses are also checked after the fact.
        self.spec = self.spec_checker()
        self.contract = self.spec if contract else None
        self.app = Flask(f"sandbox.{self.name}")
        self.app.json.sort_keys = False  # type: ignore[attr-defined]
        self.reset()
        self._register_admin_routes()
        self.register_routes(self.app)
        self.app.before_request(self._before)
        self.app.after_request(self._after)
        self.app.register_error_handler(DropConnection, self._drop)
        self.app.register_error_handler(Refusal, self._refused)

    # -- for subclasses ---------------------------------------------------------------

    def reset(self) -> None:
        """Forget all state (objects, tokens, counters)."""
        with self.lock:
            self.calls = []
        self.store.clear()

    def register_routes(self, app: Flask) -> None:
        raise NotImplementedError

    def credential_of(self, req: Request) -> str | None:
        """The credential a request carries, or None when it has none (answered 401)."""
        return None

    def error_response(self, status: int, message: str, **extra: Any) -> Response:
        return self.json({"message": message}, status)

    def spec_checker(self) -> ContractChecker:
        """The checker that knows this vendor's spec files and hosts."""
        return ContractChecker(self.spec_files, self.spec_server_url, self.spec_hosts)

    def spec_violation_response(self, problems: list[SpecProblem]) -> Response:
        """The vendor's own answer to a request its spec refuses."""
        return self.error_response(400, "; ".join(map(str, problems)))

    # The vendor's token bucket, where it limits that way (set up in `reset`).
    token_bucket: TokenBucket | None = None

    def rate_limit(self, credential: str) -> Response | None:
        """The vendor's own limit; returns the 429 response when exceeded (by default the
        token bucket's, with the seconds until the credential's next token)."""
        wait = self.token_bucket.take(credential) if self.token_bucket else 0.0
        return self.error_response(429, "Too Many Requests", retry_after=wait) if wait else None

    # The inspection page's tables: resource -> (title, columns; "address.name" shows a
    # member under "address"). Without them every resource is shown whole under its name.
    tables: dict[str, tuple[str, tuple[str, ...]]] = {}

    def owner_label(self, owner: str) -> str:
        """How the inspection page names the account that owns a record."""
        return owner

    def inspect(self) -> dict[str, list[dict[str, Any]]]:
        """What the inspection page shows: a table per kind of object."""
        tables = self.tables or {name: (name, ()) for name in self.store.resources}
        return {
            title: [
                {"owner": self.owner_label(owner), **_columns(record, columns)}
                for owner, record in self.store.everything(resource)
            ]
            for resource, (title, columns) in tables.items()
        }

    # The statuses `POST /_sandbox/documents/status` can set on a document, as the vendor's
    # own users would by booking a payment or cancelling it in the vendor's app.
    DOCUMENT_STATUSES = DOCUMENT_STATUSES

    def document_status_set(
        self, *, kind: str, document_id: str, status: str, amount: str = ""
    ) -> dict[str, Any] | None:
        """Changes a document as the vendor's app would (`kind`: quote, order or invoice;
        `amount`: what was paid, for partially_paid) and sends the vendor's events about it;
        returns the changed record, or None when there is no such document."""
        return None

    # -- hooks of the declared resources (sandbox.routes) -------------------------------

    def owner(self) -> str:
        """The account whose records the current request sees."""
        return str(g.get("credential", ""))

    def new_record(self, endpoint: Endpoint, body: Any) -> Record:
        """The record a create stores (numbers, defaults); the body as sent by default."""
        return dict(body or {})

    def record_changes(self, endpoint: Endpoint, stored: Record, body: Any) -> Record:
        return dict(body or {})

    def render(self, endpoint: Endpoint, record: Record) -> Any:
        return record

    def render_page(self, endpoint: Endpoint, page: Page) -> Response:
        return self.json(page.items)

    def ordered(self, endpoint: Endpoint, rows: list[Record]) -> list[Record]:
        """A list in the order the request asks for (the resource's own order by default)."""
        return rows

    def created_response(self, endpoint: Endpoint, record: Record) -> Response:
        return self.json(self.render(endpoint, record), endpoint.create_status)

    def missing_response(self, endpoint: Endpoint, record_id: Any) -> Response:
        return self.error_response(404, f"{endpoint.resource} not found")

    def conflict_response(self, endpoint: Endpoint, stored_version: int) -> Response:
        return self.error_response(409, f"version {stored_version} is the current one")

    def deleted_response(self, endpoint: Endpoint, record: Record) -> Response:
        return Response(status=endpoint.delete_status)

    def paging_error_response(self, endpoint: Endpoint, error: BadPaging) -> Response:
        return self.error_response(endpoint.paging_error_status, str(error))

    # -- helpers for handlers ---------------------------------------------------------

    @staticmethod
    def json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        response = Response(
            json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json"
        )
        for key, value in (headers or {}).items():
            response.headers[key] = value
        return response

    def after_commit(self) -> None:
        """Call right after a create is stored: a fault may drop the connection here."""
        if random.random() < self.faults.drop_after_commit_rate:  # noqa: S311
            raise DropConnection

    def api_calls(self, *, path_prefix: str = "") -> list[CallRecord]:
        with self.lock:
            return [c for c in self.calls if c.path.startswith(path_prefix)]

    # -- request pipeline -------------------------------------------------------------

    def _is_api(self) -> bool:
        return not request.path.startswith("/_sandbox")

    def _before(self) -> Response | None:
        g.started = time.time()
        if not self._is_api():
            return None
        if self.faults.latency_ms:
            time.sleep(self.faults.latency_ms / 1000)
        if time.time() < self.faults.down_until:
            return self.error_response(503, "Service Unavailable")
        credential = self.credential_of(request)
        g.credential = credential or ""
        if request.endpoint in self.public_endpoints:
            return self._refuse_off_spec()  # no credential, but a spec (a token endpoint)
        if credential is None:
            return self.error_response(401, "Unauthorized")
        limited = self.rate_limit(credential)
        if limited is not None:
            return limited
        if random.random() < self.faults.rate_limit_rate:  # noqa: S311
            return self.error_response(429, "Too Many Requests", retry_after=1)
        if random.random() < self.faults.server_error_rate:  # noqa: S311
            return self.error_response(500, "Internal Server Error")
        return self._refuse_off_spec()

    def _refuse_off_spec(self) -> Response | None:
        if not self.refuse_off_spec:
            return None
        # Only routes the sandbox serves (Flask answers the others) and that the spec knows.
        if request.endpoint is None or request.endpoint in self.undocumented_endpoints:
            return None
        problems = self.spec.request_problems(request)
        if problems:
            return self.spec_violation_response(problems)
        return None

    public_endpoints: frozenset[str] = frozenset()
    # Real vendor endpoints that the vendor's spec file lacks (each with a comment in the
    # vendor module saying where it is documented); the contract check counts them apart.
    undocumented_endpoints: frozenset[str] = frozenset()

    def _after(self, response: Response) -> Response:
        if not self._is_api():
            return response
        if self.contract is not None:
            if request.endpoint in self.undocumented_endpoints:
                self.contract.check(request, response, documented=False)
            else:
                self.contract.check(request, response)
        record = CallRecord(
            at=g.get("started", time.time()),
            method=request.method,
            path=request.path,
            status=response.status_code,
            credential=g.get("credential", ""),
            request_body=_body_of(request),
            response_body=_json_or_none(response),
        )
        with self.lock:
            self.calls.append(record)
        return response

    def _refused(self, refusal: Refusal) -> Response:
        return self.error_response(refusal.status, refusal.message, **refusal.extra)

    def _drop(self, _: DropConnection) -> Response:
        sock = request.environ.get("werkzeug.socket")
        if isinstance(sock, socket.socket):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        with self.lock:
            self.calls.append(
                CallRecord(time.time(), request.method, request.path, 0, g.get("credential", ""))
            )
        return Response(status=500)

    # -- admin and inspection ---------------------------------------------------------

    def _register_admin_routes(self) -> None:
        app = self.app

        @app.get("/_sandbox/faults")
        def faults_get() -> Response:
            return self.json(asdict(self.faults))

        @app.post("/_sandbox/faults")
        def faults_set() -> Response:
            try:
                self.faults.update(request.get_json(force=True) or {})
            except (KeyError, TypeError, ValueError) as exc:
                return self.json({"error": f"unknown or bad fault: {exc}"}, 400)
            return self.json(asdict(self.faults))

        @app.post("/_sandbox/reset")
        def reset() -> Response:
            self.faults = Faults()
            self.reset()
            return self.json({"reset": True})

        @app.get("/_sandbox/calls")
        def calls() -> Response:
            with self.lock:
                return self.json([asdict(c) for c in self.calls[-1000:]])

        @app.get("/_sandbox/state")
        def state() -> Response:
            return self.json(self.inspect())

        @app.get("/_sandbox/")
        def page() -> Response:
            return Response(inspection_page(self), mimetype="text/html")

        @app.post("/_sandbox/documents/status")
        def document_status() -> Response:
            # JSON from tests and benchmarks, the form of the inspection page from a person.
            values = request.get_json(silent=True) or request.form
            status = str(values.get("status") or "")
            if status not in self.DOCUMENT_STATUSES:
                return self.json({"error": f"status must be one of {self.DOCUMENT_STATUSES}"}, 400)
            changed = self.document_status_set(
                kind=str(values.get("kind") or "invoice"),
                document_id=str(values.get("id") or ""),
                status=status,
                amount=str(values.get("amount") or ""),
            )
            if changed is None:
                return self.json({"error": "no such document"}, 404)
            if not request.is_json:
                return Response(status=303, headers={"Location": "/_sandbox/"})
            return self.json(changed)


def _columns(record: Record, columns: tuple[str, ...]) -> Record:
    if not columns:
        return record
    row = {}
    for column in columns:
        value: Any = record
        for key in column.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        row[column.split(".")[0]] = value
    return row


def records(resource: str, key: Callable[[Any], Any] = str) -> Any:
    """A sandbox attribute with every owner's records of `resource` (`sandbox.contacts[id]`)."""
    return property(lambda sandbox: Records(sandbox.store, resource, key=key))


def _body_of(req: Request) -> Any:
    if req.mimetype == "application/json":
        return req.get_json(silent=True)
    if req.form:
        return req.form.to_dict(flat=True)
    return None


def _json_or_none(response: Response) -> Any:
    if response.mimetype != "application/json" or response.direct_passthrough:
        return None
    try:
        return json.loads(response.get_data())
    except ValueError:
        return None


@dataclass
class RunningSandbox:
    sandbox: VendorSandbox
    server: BaseWSGIServer
    thread: threading.Thread
    url: str = field(init=False)

    def __post_init__(self) -> None:
        self.url = f"http://127.0.0.1:{self.server.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)


def serve(sandbox: VendorSandbox, *, host: str = "127.0.0.1", port: int = 0) -> RunningSandbox:
    """Starts the sandbox on a thread of this process; port 0 picks a free port."""
    sandbox.spec.load_all()
    server = make_server(host, port, sandbox.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name=f"sandbox-{sandbox.name}")
    thread.daemon = True
    thread.start()
    running = RunningSandbox(sandbox, server, thread)
    if not sandbox.public_url:
        sandbox.public_url = running.url
    return running


@contextmanager
def running(sandbox: VendorSandbox) -> Iterator[RunningSandbox]:
    handle = serve(sandbox)
    try:
        yield handle
    finally:
        handle.stop()
