from allauth.account.models import EmailAddress
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet

from accounts.models import Tenant, User


def user_email_verified(*, user: AbstractBaseUser | AnonymousUser) -> bool:
    return EmailAddress.objects.filter(user=user, primary=True, verified=True).exists()


def team_members(*, tenant: Tenant) -> QuerySet[User]:
    return User.objects.filter(tenant=tenant).order_by("date_joined")
