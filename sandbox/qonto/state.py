"""What one Qonto sandbox remembers: organizations (each with its own clients, quotes, invoices
and numbering), the OAuth clients and the grants and tokens handed out to them."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sandbox.store import Records, Store

# Every scope the served endpoints ask for, plus the two that change what /oauth2/token returns.
ALL_SCOPES = (
    *("offline_access", "openid", "organization.read", "client.read", "client.write"),
    *("client_invoices.read", "client_invoice.write", "product.read", "webhook"),
)


@dataclass
class Organization:
    """One Qonto customer: its account, API key and numbering, and its records."""

    store: Store = field(repr=False)
    slug: str
    name: str
    login: str
    secret_key: str
    iban: str
    legal_country: str
    automatic_numbering: bool
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    bank_account_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    next_numbers: dict[str, int] = field(default_factory=dict)
    # The organization's records, live in the store.
    clients: Records = field(init=False)
    quotes: Records = field(init=False)
    invoices: Records = field(init=False)

    def __post_init__(self) -> None:
        self.clients, self.quotes, self.invoices = (
            Records(self.store, resource, self.id) for resource in ("clients", "quotes", "invoices")
        )

    def next_number(self, prefix: str) -> str:
        sequence = self.next_numbers.get(prefix, 0) + 1
        self.next_numbers[prefix] = sequence
        return f"{prefix}-{datetime.now(UTC).year}-{sequence:03d}"


@dataclass
class IdempotentAnswer:
    request: str  # method and path
    status: int
    body: Any
    stored_at: float


def amounts(currency: str, **values: Decimal) -> dict[str, Any]:
    """Each amount as Qonto answers it twice: `{value, currency}` and in `_cents`."""
    answer: dict[str, Any] = {}
    for name, amount in values.items():
        value = str(amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
        answer[name] = {"value": value, "currency": currency}
        answer[f"{name}_cents"] = int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return answer


def timestamp(at: float | None = None) -> str:
    moment = datetime.fromtimestamp(time.time() if at is None else at, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
