"""What one Qonto sandbox remembers: organizations (each with its own clients, quotes, invoices
and numbering), the OAuth clients and the grants and tokens handed out to them."""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sandbox.store import Record

# Every scope the served endpoints ask for, plus the two that change what /oauth2/token returns.
ALL_SCOPES = (
    "offline_access",
    "openid",
    "organization.read",
    "client.read",
    "client.write",
    "client_invoices.read",
    "client_invoice.write",
    "product.read",
    "webhook",
)


@dataclass
class Organization:
    id: str
    slug: str
    name: str
    login: str
    secret_key: str
    iban: str
    legal_country: str
    automatic_numbering: bool
    bank_account_id: str
    clients: MutableMapping[str, Record]  # the organization's records (`store.Records`)
    quotes: MutableMapping[str, Record]
    invoices: MutableMapping[str, Record]
    next_numbers: dict[str, int] = field(default_factory=dict)

    def next_number(self, prefix: str) -> str:
        sequence = self.next_numbers.get(prefix, 0) + 1
        self.next_numbers[prefix] = sequence
        return f"{prefix}-{datetime.now(UTC).year}-{sequence:03d}"


@dataclass
class IdempotentAnswer:
    organization_id: str
    method: str
    path: str
    status: int
    body: Any
    stored_at: float


CENT = Decimal("0.01")


def to_cents(amount: Decimal) -> int:
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def money(amount: Decimal, currency: str) -> dict[str, str]:
    return {"value": str(amount.quantize(CENT, rounding=ROUND_HALF_UP)), "currency": currency}


def amounts(currency: str, **values: Decimal) -> dict[str, Any]:
    """Each amount as Qonto answers it twice: `{value, currency}` and in `_cents`."""
    answer: dict[str, Any] = {}
    for name, amount in values.items():
        answer |= {name: money(amount, currency), f"{name}_cents": to_cents(amount)}
    return answer


def timestamp(at: float | None = None) -> str:
    moment = datetime.fromtimestamp(time.time() if at is None else at, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
