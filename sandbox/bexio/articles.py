"""bexio's items (Artikel, derived spec: /2.0/article, /2.0/article/search,
/2.0/article/{id}): listed by id or name, searched on `intern_code` / `intern_name`, edited
with a partial body and deleted for good. Items have no version and no update stamp in the
spec, so the sandbox keeps none; it does not make item numbers unique either (the docs do not
say bexio does)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sandbox.bexio.documents import Record, comparable, invalid, six

SEARCH_FIELDS = frozenset({"intern_name", "intern_code"})  # the spec's description
ORDER_FIELDS = frozenset({"id", "intern_name"})
PRICES = ("purchase_price", "sale_price", "purchase_total", "sale_total", "delivery_price")
# What an item the client left them out of has (the spec types these as not nullable).
DEFAULTS: Record = {
    "user_id": 1, "article_type_id": 1, "intern_code": "", "intern_name": "",
    "intern_description": None, "sale_price": None, "currency_id": None,
    "tax_income_id": None, "unit_id": None, "is_stock": False, "stock_nr": 0, "stock_min_nr": 0,
}  # fmt: skip


def stored(body: Record, tax: Callable[[Any], Record | None]) -> Record:
    """The body as bexio keeps it, prices as strings with six places (the 2025 docs), once
    what the spec cannot say holds: `tax_income_id` is a sales tax of the company (its
    description), and prices hold decimal numbers."""
    tax_id, problems = body.get("tax_income_id"), []
    found = None if tax_id is None else tax(tax_id)
    if tax_id is not None and (found is None or found["type"] != "sales_tax"):
        problems.append("tax_income_id: References no sales tax.")
    for name in PRICES:
        value = body.get(name)
        if value is not None and not isinstance(comparable(value), Decimal):
            problems.append(f"{name}: Must be a decimal number.")
    if problems:
        raise invalid("; ".join(problems))
    return {k: six(Decimal(str(v))) if k in PRICES and v is not None else v
            for k, v in body.items()}  # fmt: skip


def seeded(number: int, prefix: str, tax_id: int) -> Record:
    """Item `number` for tests and benchmarks, at the tax `tax_id`."""
    return {**DEFAULTS, "intern_code": f"{prefix}-{number:05d}",
            "intern_name": f"Artikel {number}", "intern_description": f"Beschreibung {number}",
            "sale_price": six(Decimal(number) + Decimal("0.5")),
            "tax_income_id": tax_id}  # fmt: skip
