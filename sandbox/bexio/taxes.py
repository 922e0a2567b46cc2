"""The Swiss VAT rates a new bexio company starts with.

The fields are those of `GET /3.0/taxes` in the docs text. Ids, codes, digits and account ids
are the sandbox's own: bexio assigns them per company, so a client must look them up, never
hard-code them. The 2018-2023 rates are kept, inactive, because a real account still lists
them and a quote must not use them.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sandbox.store import Filter, equals

_RATES: tuple[tuple[int, str, str, str, str, float, int, int | None, str], ...] = (
    # id, code, digit, type, name suffix, value, start_year, end_year, label
    (1, "UN77", "302", "sales_tax", "sales_7_7", 7.7, 2018, 2023, "Normalsatz"),
    (2, "UR25", "312", "sales_tax", "sales_2_5", 2.5, 2018, 2023, "reduzierter Satz"),
    (3, "UB37", "342", "sales_tax", "sales_3_7", 3.7, 2018, 2023, "Beherbergung"),
    (4, "UN81", "303", "sales_tax", "sales_8_1", 8.1, 2024, None, "Normalsatz"),
    (5, "UR26", "313", "sales_tax", "sales_2_6", 2.6, 2024, None, "reduzierter Satz"),
    (6, "UB38", "343", "sales_tax", "sales_3_8", 3.8, 2024, None, "Beherbergung"),
    (7, "UEX", "220", "sales_tax", "sales_0", 0.0, 2018, None, "Exporte"),
    (8, "VM81", "400", "pre_tax", "pre_8_1", 8.1, 2024, None, "Vorsteuer Material/DL"),
)


def swiss_taxes() -> list[dict[str, Any]]:
    return [
        {
            "id": tax_id,
            "uuid": str(uuid.uuid4()),
            "name": f"lib.model.tax.ch.{suffix}.name",
            "code": code,
            "digit": digit,
            "type": kind,
            "account_id": 98,
            "tax_settlement_type": "none",
            "value": value,
            "net_tax_value": None,
            "start_year": start_year,
            "end_year": end_year,
            "is_active": end_year is None,
            "display_name": f"{code} - {label} {value:.2f}%",
            "start_month": 1,
            "end_month": 12 if end_year is not None else None,
        }
        for tax_id, code, digit, kind, suffix, value, start_year, end_year, label in _RATES
    ]


def _valid_on(tax: dict[str, Any], day: str) -> bool:
    on = date.fromisoformat(day)  # the spec step checked the format
    start = (tax["start_year"], tax["start_month"] or 1)
    end = (tax["end_year"] or 9999, tax["end_month"] or 12)
    return start <= (on.year, on.month) <= end


# The query parameters of GET /3.0/taxes.
FILTERS: dict[str, Filter] = {
    "scope": lambda tax, scope: bool(tax["is_active"] == (scope == "active")),
    "types": equals("type"),
    "date": _valid_on,
}
