"""`{% load roles %}` … `{% if user|may:"connect" %}`: pages offer only what the person's role
allows. The views refuse the rest anyway (accounts.gate); this only spares a dead button."""

from django import template
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser

from accounts.roles import Action
from accounts.roles import may as role_allows

register = template.Library()


@register.filter
def may(user: AbstractBaseUser | AnonymousUser, action: str | Action) -> bool:
    return role_allows(user, Action(action))
