"""A TCP proxy that can refuse connections: the product's processes reach PostgreSQL through
it, so a benchmark can take the database away from them without touching the server that
other work shares.

While it refuses, nothing listens on its port (a connect is refused, as with a stopped
server) and every connection it carried has been cut. Threads only, no dependency.
"""

from __future__ import annotations

import socket
import threading
from contextlib import suppress
from dataclasses import dataclass, field

_CHUNK = 65536
_ACCEPT_POLL = 0.2  # seconds; how soon the accept loop notices that it must stop


@dataclass
class _Pair:
    client: socket.socket
    upstream: socket.socket

    def cut(self) -> None:
        for sock in (self.client, self.upstream):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with suppress(OSError):
                sock.close()


@dataclass
class RefusingProxy:
    """Forwards 127.0.0.1:`port` to `target`; `refuse()` stops listening and cuts every
    open connection, `accept()` listens on the same port again."""

    target: tuple[str, int]
    port: int = 0  # 0: a free port is picked on the first accept()
    max_connections: int = 100_000  # in the proxy's whole life; beyond it, new ones are refused
    connections: int = 0  # accepted so far
    cut_connections: int = 0  # cut by refuse()
    _listener: socket.socket | None = None
    _thread: threading.Thread | None = None
    _stopping: threading.Event = field(default_factory=threading.Event)
    _open: dict[int, _Pair] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def listening(self) -> bool:
        return self._listener is not None

    def accept(self) -> None:
        """Listens (again) on the proxy's port."""
        if self._listener is not None:
            return
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(512)
        listener.settimeout(_ACCEPT_POLL)
        self.port = int(listener.getsockname()[1])
        self._listener = listener
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._accept_loop, args=(listener, self._stopping), daemon=True
        )
        self._thread.start()

    def refuse(self) -> int:
        """Closes the port and cuts every open connection; returns how many were cut."""
        listener, thread = self._listener, self._thread
        self._listener = self._thread = None
        self._stopping.set()
        if thread is not None:
            thread.join(timeout=5)
        if listener is not None:
            with suppress(OSError):
                listener.close()
        with self._lock:
            pairs = list(self._open.values())
            self._open.clear()
        for pair in pairs:
            pair.cut()
        self.cut_connections += len(pairs)
        return len(pairs)

    def stop(self) -> None:
        self.refuse()

    def open_connections(self) -> int:
        with self._lock:
            return len(self._open)

    # -- the threads ------------------------------------------------------------------------

    def _accept_loop(self, listener: socket.socket, stopping: threading.Event) -> None:
        while not stopping.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed under us
            if stopping.is_set() or self.connections >= self.max_connections:
                with suppress(OSError):
                    client.close()
                continue
            self.connections += 1
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                with suppress(OSError):
                    client.close()
                continue
            for sock in (client, upstream):
                sock.settimeout(None)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pair = _Pair(client, upstream)
            with self._lock:
                self._open[id(pair)] = pair
            threading.Thread(target=self._pump, args=(pair, client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(pair, upstream, client), daemon=True).start()

    def _pump(self, pair: _Pair, source: socket.socket, sink: socket.socket) -> None:
        """Copies one direction until either side closes; then closes both."""
        try:
            while True:
                data = source.recv(_CHUNK)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        with self._lock:
            self._open.pop(id(pair), None)
        pair.cut()
