"""Runs the vendor stand-ins beside the product: `python -m sandbox [name ...]`.

Each vendor listens on its own port (sandbox/registry.py); SANDBOX_HOST and
SANDBOX_<NAME>_PORT override them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from importlib.util import find_spec

from sandbox.core import serve
from sandbox.demo import DEMO_CREDENTIALS, demo_sandbox
from sandbox.registry import SANDBOXES, default_port


def main(names: list[str]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s sandbox %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    host = os.environ.get("SANDBOX_HOST", "127.0.0.1")
    started = []
    for name in names or list(SANDBOXES):
        try:
            available = find_spec(SANDBOXES[name][0].split(":")[0]) is not None
        except ModuleNotFoundError:
            available = False
        if not available:
            logging.warning("%s: not available", name)
            continue
        port = int(os.environ.get(f"SANDBOX_{name.upper()}_PORT", default_port(name)))
        handle = serve(demo_sandbox(name), host=host, port=port)
        started.append(handle)
        hint = f"  (demo credential: {DEMO_CREDENTIALS[name]})" if name in DEMO_CREDENTIALS else ""
        logging.info("%-10s http://%s:%d/_sandbox/%s", name, host, port, hint)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    for handle in started:
        handle.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
