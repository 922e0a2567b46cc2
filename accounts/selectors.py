from allauth.account.models import EmailAddress
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser


def user_email_verified(*, user: AbstractBaseUser | AnonymousUser) -> bool:
    return EmailAddress.objects.filter(user=user, primary=True, verified=True).exists()
