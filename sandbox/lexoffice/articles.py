"""lexware office's articles (`/v1/articles`, fact sheet "Articles"): a paged list filtered by
articleNumber, gtin and type; create; read; update with the current version (409 when it is
stale); delete. Kept in the sandbox's store under the API key's organization."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, request

from sandbox.store import NotFound, Resource, VersionConflict

if TYPE_CHECKING:
    from sandbox.lexoffice.app import LexofficeSandbox

RESOURCE = Resource(
    "articles",
    version_field="version",
    filters={
        "articleNumber": lambda a, v: a.get("articleNumber") == v,
        "gtin": lambda a, v: a.get("gtin") == v,
        "type": lambda a, v: a.get("type") == v,
    },
)
WRITABLE = ("title", "type", "unitName", "articleNumber", "gtin", "description", "note")


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


def register(app: Flask, sandbox: LexofficeSandbox, now: Callable[[], str]) -> None:
    store = sandbox.store

    def listing() -> Response:
        rows = store.select("articles", sandbox.owner(), params=request.args)
        # The docs' sample sorts by title; the id keeps equal titles in one order.
        return sandbox.spring_page(sorted(rows, key=lambda a: (str(a["title"]), a["id"])), dict)

    def create() -> Response:
        body, stamp = request.get_json(force=True), now()
        with sandbox.lock:
            article = store.create("articles", sandbox.owner(), {
                "organizationId": sandbox.owner(), "createdDate": stamp, "updatedDate": stamp,
                **content(body),
            })  # fmt: skip
        sandbox.after_commit()
        return sandbox.action_result("articles", article, 201)

    def read(article_id: str) -> Response:
        article = store.find("articles", sandbox.owner(), article_id)
        return sandbox.json(article) if article else sandbox.regular_error(404, "Not Found")

    def update(article_id: str) -> Response:
        body = request.get_json(force=True)
        try:
            with sandbox.lock:
                changed = store.update(
                    "articles", sandbox.owner(), article_id,
                    {**content(body), "updatedDate": now()}, version=body.get("version"),
                )  # fmt: skip
        except NotFound:
            return sandbox.regular_error(404, "Not Found")
        except VersionConflict:
            return sandbox.regular_error(409, "Conflict")
        return sandbox.action_result("articles", changed, 200)

    def delete(article_id: str) -> Response:
        try:
            store.delete("articles", sandbox.owner(), article_id)
        except NotFound:
            return sandbox.regular_error(404, "Not Found")
        return Response(status=204)

    app.add_url_rule("/v1/articles", "articles_list", listing, methods=["GET"])
    app.add_url_rule("/v1/articles", "articles_create", create, methods=["POST"])
    app.add_url_rule("/v1/articles/<article_id>", "articles_read", read, methods=["GET"])
    app.add_url_rule("/v1/articles/<article_id>", "articles_update", update, methods=["PUT"])
    app.add_url_rule("/v1/articles/<article_id>", "articles_delete", delete, methods=["DELETE"])


def seed(sandbox: LexofficeSandbox, api_key: str, count: int, *, prefix: str = "SKU") -> None:
    """`count` articles in the key's account, for tests and benchmarks."""
    owner = sandbox.organizations[api_key].organization_id
    for number in range(1, count + 1):
        sandbox.store.create("articles", owner, {
            "organizationId": owner, "createdDate": "2026-01-01T00:00:00.000+01:00",
            "updatedDate": "2026-01-01T00:00:00.000+01:00",
            **content({"title": f"Artikel {number:05d}", "type": "PRODUCT", "unitName": "Stück",
                       "articleNumber": f"{prefix}-{number:05d}",
                       "description": f"Beschreibung {number}",
                       "price": {"leadingPrice": "NET", "netPrice": 10 + number, "taxRate": 19}}),
        })  # fmt: skip
