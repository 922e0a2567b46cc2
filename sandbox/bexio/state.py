"""What one bexio sandbox remembers: companies (each a separate bexio account with its own
numbering), their users, contacts, quotes and invoices, and the OAuth clients and tokens."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Company:
    id: int
    name: str
    user_ids: tuple[int, ...]
    taxes: list[dict[str, Any]]
    contacts: dict[int, dict[str, Any]] = field(default_factory=dict)
    offers: dict[int, dict[str, Any]] = field(default_factory=dict)
    invoices: dict[int, dict[str, Any]] = field(default_factory=dict)
    # bexio numbers each kind of record per company, starting at 1.
    next_ids: dict[str, int] = field(default_factory=dict)

    def next_id(self, kind: str) -> int:
        number = self.next_ids.get(kind, 0) + 1
        self.next_ids[kind] = number
        return number

    def tax(self, tax_id: Any) -> dict[str, Any] | None:
        return next((t for t in self.taxes if t["id"] == tax_id), None)


@dataclass
class OAuthClient:
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]


@dataclass
class AuthorizationCode:
    client_id: str
    redirect_uri: str
    scope: str
    company_id: int
    user_id: int
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: float


@dataclass
class AccessToken:
    company_id: int
    user_id: int
    scope: str  # empty for a personal access token
    expires_at: float | None  # None: a personal access token, valid until revoked
    client_id: str | None = None

    @property
    def kind(self) -> str:
        return "personal access token" if self.client_id is None else "oauth access token"


@dataclass
class RefreshToken:
    client_id: str
    company_id: int
    user_id: int
    scope: str
    session_state: str
