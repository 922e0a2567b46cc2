"""bexio's items (Artikel, derived spec: /2.0/article, /2.0/article/search,
/2.0/article/{id}): list ordered by id or name, search on `intern_code` / `intern_name`,
create, edit with a partial body (read and edit are the generic endpoint's), and delete for
good. Items have no version and no update stamp in the spec, so the sandbox keeps none; it
does not make item numbers unique either (the docs do not say bexio does)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, request

from sandbox.bexio import documents, sales
from sandbox.store import Record

if TYPE_CHECKING:
    from sandbox.bexio.app import BexioSandbox

SEARCH_FIELDS = frozenset({"intern_name", "intern_code"})  # the spec's description
ORDER_FIELDS = frozenset({"id", "intern_name"})
PRICES = ("purchase_price", "sale_price", "purchase_total", "sale_total", "delivery_price")
# What an item the client left them out of has (the spec types these as not nullable).
DEFAULTS: Record = {
    "user_id": 1,
    "article_type_id": 1,
    "intern_code": "",
    "intern_name": "",
    "intern_description": None,
    "sale_price": None,
    "currency_id": None,
    "tax_income_id": None,
    "unit_id": None,
    "is_stock": False,
    "stock_nr": 0,
    "stock_min_nr": 0,
}


def item_problems(body: Record, tax: Any) -> list[str]:
    """What the spec cannot say: `tax_income_id` is a sales tax of the company (its
    description), and prices hold decimal numbers."""
    problems = []
    tax_id = body.get("tax_income_id")
    found = None if tax_id is None else tax(tax_id)
    if tax_id is not None and (found is None or found["type"] != "sales_tax"):
        problems.append("tax_income_id: References no sales tax.")
    for name in PRICES:
        value = body.get(name)
        if value is not None and not isinstance(documents.comparable(value), Decimal):
            problems.append(f"{name}: Must be a decimal number.")
    return problems


def stored(body: Record) -> Record:
    """The body as bexio keeps it: prices as strings with six places (the 2025 docs)."""
    item = dict(body)
    for name in PRICES:
        if item.get(name) is not None:
            item[name] = documents.six(Decimal(str(item[name])))
    return item


class Articles:
    def __init__(self, sandbox: BexioSandbox) -> None:
        self.sandbox = sandbox

    def changes(self, body: Record) -> Record:
        """An edit: what it sends changes, the rest stays; the type cannot change."""
        self._check(body)
        return stored({k: v for k, v in body.items() if k != "article_type_id"})

    def seed(self, company_id: int, count: int, *, prefix: str = "ART") -> list[Record]:
        """`count` items numbered `<prefix>-00001`... at 8.1 % for tests and benchmarks."""
        owner = str(company_id)
        tax_id = next(
            t["id"]
            for t in self.sandbox.store.select("taxes", owner)
            if t["type"] == "sales_tax" and t["is_active"] and t["value"] == 8.1
        )
        return [
            self.sandbox.store.create(
                "articles",
                owner,
                {
                    **DEFAULTS,
                    "intern_code": f"{prefix}-{n:05d}",
                    "intern_name": f"Artikel {n}",
                    "intern_description": f"Beschreibung {n}",
                    "sale_price": documents.six(Decimal(n) + Decimal("0.5")),
                    "tax_income_id": tax_id,
                },
            )
            for n in range(1, count + 1)
        ]

    def _check(self, body: Record) -> None:
        owner = self.sandbox.owner()
        problems = item_problems(body, lambda i: self.sandbox.store.find("taxes", owner, i))
        if problems:
            raise sales.Refused("; ".join(problems))

    def register(self, app: Flask) -> None:
        sandbox = self.sandbox

        @app.get("/2.0/article")
        def article_list() -> Response:
            rows = sandbox.store.select("articles", sandbox.owner())
            order = request.args.get("order_by", "id")
            return sandbox.sales.page(sales.ordered(rows, order, ORDER_FIELDS))

        @app.post("/2.0/article")
        def article_create() -> Response:
            body: Record = request.get_json(force=True)
            self._check(body)
            item = sandbox.store.create("articles", sandbox.owner(), {**DEFAULTS, **stored(body)})
            sandbox.after_commit()
            return sandbox.json(item, 201)

        @app.post("/2.0/article/search")
        def article_search() -> Response:
            criteria: list[Record] = request.get_json(force=True)
            unknown = [c["field"] for c in criteria if c["field"] not in SEARCH_FIELDS]
            if unknown:
                raise sales.Refused(f"field: {', '.join(unknown)} is not a searchable field.")
            rows = sandbox.store.select(
                "articles",
                sandbox.owner(),
                where=lambda r: all(documents.matches(r, one) for one in criteria),
            )
            order = request.args.get("order_by", "id")
            return sandbox.sales.page(sales.ordered(rows, order, ORDER_FIELDS))

        @app.delete("/2.0/article/<int:article_id>")
        def article_delete(article_id: int) -> Response:
            sandbox.store.delete("articles", sandbox.owner(), article_id)
            return sandbox.json({"success": True})
