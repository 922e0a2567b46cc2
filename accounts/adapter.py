from typing import Any
from urllib.parse import urlsplit

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from accounts import invitation_session


class ProductSite:
    """What account e-mails name as the sender's site: the product, not the host it runs on."""

    name = "APIUP"

    @property
    def domain(self) -> str:
        return urlsplit(settings.PUBLIC_BASE_URL).netloc


class AccountAdapter(DefaultAccountAdapter):
    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        super().send_mail(template_prefix, email, {"current_site": ProductSite(), **context})

    def save_user(self, request: HttpRequest, user: Any, form: Any, commit: bool = True) -> Any:
        # The acceptance is stored with the user row itself, so a user without it cannot exist.
        user = super().save_user(request, user, form, commit=False)
        user.terms_accepted_at = timezone.now()
        user.terms_version = settings.TERMS_VERSION
        if commit:
            user.save()
        return user

    def get_signup_redirect_url(self, request: HttpRequest) -> str:
        # An invitee signs up to join the inviting company, not to register one.
        if invitation_session.token_of(request.session):
            return reverse("accounts:invitation_accept")
        return reverse("accounts:company")
