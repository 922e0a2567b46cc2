"""lexware office's articles (`/v1/articles`, fact sheet "Articles"): a paged list filtered by
articleNumber, gtin and type; create; read; update with the current version (409 when it is
stale); delete. Kept in the sandbox's store under the API key's organization."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.store import Record, Resource, equals

if TYPE_CHECKING:
    from sandbox.lexoffice.app import LexofficeSandbox

RESOURCE = Resource(
    "articles",
    version_field="version",
    filters={name: equals(name) for name in ("articleNumber", "gtin", "type")},
)
WRITABLE = ("title", "type", "unitName", "articleNumber", "gtin", "description", "note")
SEED_DATE = "2026-01-01T00:00:00.000+01:00"


def _price(sent: dict[str, Any]) -> dict[str, Any]:
    """The other price computed from the leading one, as Lexware does."""
    rate = float(sent["taxRate"])
    if sent["leadingPrice"] == "NET":
        net = float(sent["netPrice"])
        gross = round(net * (1 + rate / 100), 2)
    else:
        gross = float(sent["grossPrice"])
        net = round(gross / (1 + rate / 100), 2)
    return {"leadingPrice": sent["leadingPrice"], "taxRate": rate, "netPrice": net,
            "grossPrice": gross}  # fmt: skip


def content(body: dict[str, Any]) -> dict[str, Any]:
    return {
        **{k: body[k] for k in WRITABLE if k in body},
        "price": _price(body["price"]),
        "archived": False,
    }


def new(owner: str, body: dict[str, Any], now: str) -> Record:
    return {"organizationId": owner, "createdDate": now, "updatedDate": now, **content(body)}


def listed(rows: list[Record]) -> list[Record]:
    # The docs' sample sorts by title; the id keeps equal titles in one order.
    return sorted(rows, key=lambda a: (str(a["title"]), a["id"]))


def seed(sandbox: LexofficeSandbox, api_key: str, count: int, *, prefix: str = "SKU") -> None:
    """`count` articles in the key's account, for tests and benchmarks."""
    owner = sandbox.organizations[api_key].organization_id
    for number in range(1, count + 1):
        sandbox.store.create("articles", owner, new(owner, {
            "title": f"Artikel {number:05d}", "type": "PRODUCT", "unitName": "Stück",
            "articleNumber": f"{prefix}-{number:05d}", "description": f"Beschreibung {number}",
            "price": {"leadingPrice": "NET", "netPrice": 10 + number, "taxRate": 19},
        }, SEED_DATE))  # fmt: skip
