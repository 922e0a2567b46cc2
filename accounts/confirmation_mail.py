"""Sending the confirmation mail again from the registration step "confirm e-mail", and when
the next one may go out.

allauth sends at most one confirmation mail per address within its `confirm_email` rate limit
(ACCOUNT_EMAIL_CONFIRMATION_COOLDOWN, three minutes by default) and skips a refused one
silently; the page has to say when the next one can be sent, so the limit's remaining time
is read from allauth's own counter instead of being kept a second time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from allauth.account.internal.flows.email_verification import (
    get_address_for_user,
    send_verification_email_at_login,
    send_verification_email_to_address,
)
from allauth.account.models import Login
from allauth.account.stages import EmailVerificationStage, LoginStageController
from allauth.core.internal import ratelimit
from django.core.cache import cache
from django.http import HttpRequest

from accounts.models import User

_APP = "allauth.account"
_ACTION = "confirm_email"


@dataclass(frozen=True)
class Pending:
    """Whose address waits for confirmation: a signed-in user, or the signup this browser
    just made (allauth keeps it in the session; for an address that was registered already
    it holds only the address, and the answer must look the same)."""

    email: str
    user: User | None = None
    login: Login | None = None


def pending_of(request: HttpRequest) -> Pending | None:
    user = request.user
    if isinstance(user, User):
        address = get_address_for_user(user)
        return Pending(email=address.email if address else str(user.email), user=user)
    stage = LoginStageController.enter(request, EmailVerificationStage.key)
    if stage is None:
        return None
    login = stage.login
    email = login.email or (str(login.user.email) if login.user else "")
    return Pending(email=email, login=login) if email else None


def next_send_at(request: HttpRequest, email: str) -> dt.datetime | None:
    """When allauth will send the next confirmation mail to `email`; None: now."""
    latest: float | None = None
    for rate in ratelimit.get_rates(app=_APP, action=_ACTION):
        key = ratelimit.get_cache_key(
            request, app=_APP, action=_ACTION, rate=rate, key=email.lower()
        )
        # Newest first, as allauth stores them; the limit frees up when the `amount`-th
        # newest send leaves the window.
        history: list[float] = cache.get(key, [])
        if len(history) >= rate.amount:
            frees_at = history[rate.amount - 1] + rate.duration
            latest = frees_at if latest is None else max(latest, frees_at)
    if latest is None:
        return None
    at = dt.datetime.fromtimestamp(latest, tz=dt.UTC)
    return at if at > dt.datetime.now(tz=dt.UTC) else None


def send_again(request: HttpRequest, pending: Pending) -> bool:
    """Sends the confirmation mail again, within allauth's limit; False when the limit (or
    an address confirmed meanwhile) held it back."""
    if pending.user is not None:
        address = get_address_for_user(pending.user)
        if address is None or address.verified:
            return False
        return send_verification_email_to_address(request, address)
    assert pending.login is not None  # pending_of sets one of the two
    # The same path as at signup: a real account gets its link, a registered address the
    # notice allauth sends its owner.
    return send_verification_email_at_login(request, pending.login)
