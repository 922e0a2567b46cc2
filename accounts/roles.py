"""Who may do what in a company's account.

| action                                            | member | admin | owner |
|---------------------------------------------------|:------:|:-----:|:-----:|
| see the overview, the activity log, the team      |   ✓    |   ✓   |   ✓   |
| retry a failed transfer, start the HubSpot import |   ✓    |   ✓   |   ✓   |
| connect and disconnect systems                    |        |   ✓   |   ✓   |
| change the transfer settings                      |        |   ✓   |   ✓   |
| invite colleagues, revoke invitations             |        |   ✓   |   ✓   |
| plan, payment, Stripe's billing portal            |        |       |   ✓   |
| change roles, remove members                      |        |       |   ✓   |
| close the account                                 |        |       |   ✓   |

Members may retry and import because both only repeat what the admins set up: they change
no connection, no setting and nothing that is paid for. The views check these rules
(accounts.gate), the services check what a view cannot (the last owner).
"""

from __future__ import annotations

import enum

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser

from accounts.models import Role


class Action(enum.Enum):
    VIEW = "view"
    RETRY = "retry"
    CONNECT = "connect"
    SETTINGS = "settings"
    INVITE = "invite"
    BILLING = "billing"
    MANAGE_TEAM = "manage_team"
    CLOSE_ACCOUNT = "close_account"


_RANK = {Role.MEMBER: 0, Role.ADMIN: 1, Role.OWNER: 2}

MINIMUM_ROLE: dict[Action, Role] = {
    Action.VIEW: Role.MEMBER,
    Action.RETRY: Role.MEMBER,
    Action.CONNECT: Role.ADMIN,
    Action.SETTINGS: Role.ADMIN,
    Action.INVITE: Role.ADMIN,
    Action.BILLING: Role.OWNER,
    Action.MANAGE_TEAM: Role.OWNER,
    Action.CLOSE_ACCOUNT: Role.OWNER,
}

# An admin may invite admins and members; owners are made only by an owner, on the team page.
INVITABLE_ROLES = (Role.ADMIN, Role.MEMBER)


def role_may(role: str, action: Action) -> bool:
    try:
        return _RANK[Role(role)] >= _RANK[MINIMUM_ROLE[action]]
    except ValueError:
        return False


def may(user: AbstractBaseUser | AnonymousUser, action: Action) -> bool:
    """Whether the signed-in person may do this in their own company's account."""
    if not user.is_authenticated or getattr(user, "tenant_id", None) is None:
        return False
    return role_may(getattr(user, "role", ""), action)
