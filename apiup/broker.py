"""The embedded default's message transport: kombu's filesystem transport, with each message
written whole before it appears. kombu writes the file in place, so a worker polling the
folder every 50 ms can take a message that is still empty and fail on it ("Expecting value"),
which stops the worker. Here the message is written under another name and renamed, which
is atomic on one file system."""

from __future__ import annotations

import os
import uuid
from time import monotonic
from typing import Any

from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        # Not a ".msg" name: the consumer's listing passes over it until it is complete.
        writing = f"{final}.part"
        with open(writing, "wb") as file:
            file.write(str_to_bytes(dumps(payload)))
        os.replace(writing, final)


class Transport(filesystem.Transport):
    Channel = Channel


# The broker URL names it by this scheme (settings/queue.py imports this module).
TRANSPORT_ALIASES.setdefault("apiupfs", f"{__name__}:Transport")
