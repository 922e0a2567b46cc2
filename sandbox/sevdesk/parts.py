"""Parts (`Part`, the article catalogue) as sevDesk stores them from `POST /Part` and
`PUT /Part/{partId}` (`Model_Part` / `Model_PartUpdate` of the patched spec).

Unlike most sevDesk models, `Model_Part` types its numbers and its references' ids as numbers,
so they are answered that way. The spec's filters `partNumber` and `name` do not say whether
they match exactly: the sandbox takes the loose reading (a case-insensitive part of the value),
so a client that relies on exact matches fails here first. Nothing makes a part number unique.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sandbox.sevdesk import catalog
from sandbox.sevdesk.payloads import BERLIN, int_ref, optional_reference, timestamp
from sandbox.store import Record, contains

FILTERS = {"partNumber": contains("partNumber"), "name": contains("name")}
# Fields stored as sent: the spec step has checked their types (texts, numbers, the status
# enum 50 inactive / 100 active, the stock flag). `category` is not modelled: the sandbox has
# no part categories (`GET /Category?objectType=Part`).
PLAIN_FIELDS = (
    "name", "partNumber", "text", "internalComment", "stock", "stockEnabled", "price",
    "priceNet", "priceGross", "pricePurchase", "taxRate", "status",
)  # fmt: skip
STATUS_ACTIVE = 100


def part(body: Record, _one: Any, sev_client: int) -> Record:
    """A new part; active and without stock keeping unless the body says otherwise."""
    return {
        "objectName": "Part",
        "sevClient": int_ref(sev_client, "SevClient"),
        "status": STATUS_ACTIVE,
        "stockEnabled": False,
        **part_changes(body),
    }


def part_changes(body: Record) -> Record:
    """The fields the body sends (`PUT` changes only those), the unit checked against the
    account's units."""
    changes: Record = {field: body[field] for field in PLAIN_FIELDS if field in body}
    unity_id = optional_reference(body, "unity", "Unity")
    if unity_id is not None:
        changes["unity"] = int_ref(catalog.known(catalog.UNITIES, unity_id), "Unity")
    return changes


def seeded(count: int, *, prefix: str, sev_client: int, age: int) -> list[Record]:
    """`count` active parts numbered `prefix`00001.., in pieces at 19 %, stamped `age`
    seconds ago."""
    stamp = timestamp(datetime.now(BERLIN) - timedelta(seconds=age))
    return [
        {
            **part(
                {
                    "partNumber": f"{prefix}{n:05d}",
                    "name": f"Artikel {n}",
                    "text": f"Beschreibung {n}",
                    "stock": 0,
                    "taxRate": 19,
                    "unity": {"id": 1, "objectName": "Unity"},
                    "price": n,
                    "priceNet": n,
                    "priceGross": round(n * 1.19, 2),
                },
                None,
                sev_client,
            ),
            "create": stamp,
            "update": stamp,
        }
        for n in range(1, count + 1)
    ]
