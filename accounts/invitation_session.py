"""The invitation a visitor arrived with, kept in their session between the mailed link, the
signup or login, and the acceptance; the link itself leaves the address bar at once, so the
token reaches no Referer header and no browser history."""

from django.contrib.sessions.backends.base import SessionBase

from accounts import selectors
from accounts.models import Invitation

_KEY = "accounts_invitation_token"


def remember(session: SessionBase, token: str) -> None:
    session[_KEY] = token


def token_of(session: SessionBase) -> str:
    return str(session.get(_KEY) or "")


def forget(session: SessionBase) -> None:
    session.pop(_KEY, None)


def open_invitation(session: SessionBase) -> Invitation | None:
    token = token_of(session)
    if not token:
        return None
    invitation = selectors.invitation_by_token(token=token)
    if invitation is None or not selectors.invitation_is_open(invitation=invitation):
        return None
    return invitation
