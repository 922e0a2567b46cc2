"""The `state` (and PKCE verifier) of an OAuth consent, kept in the customer's session.

A state is random, bound to the tenant that started the consent and to the vendor, usable
once and only for ten minutes: a callback that carries a tampered, expired, reused or foreign
state is refused before any code is exchanged.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from django.contrib.sessions.backends.base import SessionBase

SESSION_KEY = "oauth_states"
LIFETIME_SECONDS = 600
# A customer who opens the consent page in several tabs keeps a few states; older ones go.
MAX_PENDING = 5


class StateInvalid(Exception):
    """The callback's state is not one this session issued, or it is spent or too old."""


@dataclass(frozen=True, slots=True)
class IssuedState:
    state: str
    code_verifier: str


def state_issue(*, session: SessionBase, tenant_id: str, vendor: str) -> IssuedState:
    pending = _fresh(session.get(SESSION_KEY) or {})
    state = secrets.token_urlsafe(32)
    # 64 URL-safe characters: inside RFC 7636's 43 to 128.
    verifier = secrets.token_urlsafe(48)
    pending[state] = {
        "tenant": tenant_id,
        "vendor": vendor,
        "verifier": verifier,
        "expires_at": time.time() + LIFETIME_SECONDS,
    }
    newest = sorted(pending.items(), key=lambda item: float(item[1]["expires_at"]))[-MAX_PENDING:]
    session[SESSION_KEY] = dict(newest)
    return IssuedState(state=state, code_verifier=verifier)


def state_consume(*, session: SessionBase, tenant_id: str, vendor: str, state: str) -> str:
    """The PKCE verifier of a valid state; the state is spent whatever the outcome."""
    pending = dict(session.get(SESSION_KEY) or {})
    issued = pending.pop(state, None) if state else None
    session[SESSION_KEY] = _fresh(pending)
    if issued is None:
        raise StateInvalid("unknown or already used state")
    if issued["expires_at"] < time.time():
        raise StateInvalid("expired state")
    if issued["tenant"] != tenant_id or issued["vendor"] != vendor:
        raise StateInvalid("state of another tenant or vendor")
    return str(issued["verifier"])


def state_vendor(*, session: SessionBase, state: str) -> str:
    """The vendor a pending state was issued for ("" for none), without spending it: which of
    a tenant's plans a consent page comes back for. state_consume still checks it all."""
    issued = (session.get(SESSION_KEY) or {}).get(state) if state else None
    return str(issued["vendor"]) if issued else ""


def _fresh(pending: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    now = time.time()
    return {
        state: data for state, data in pending.items() if float(data.get("expires_at", 0)) >= now
    }
