"""The registration forms: the terms on allauth's signup, then the company."""

from typing import Any

from allauth.core import context
from django import forms
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django_countries import countries

from accounts import invitation_session


class TermsSignupForm(forms.Form):
    """Step 1 adds the acceptance of the terms to allauth's e-mail and password fields."""

    accept_terms = forms.BooleanField(
        label=_("I accept the terms and conditions."),
        required=True,
        error_messages={"required": _("Please accept the terms and conditions to continue.")},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # An invitee signs up with the address the invitation was sent to: the link proved
        # that mailbox, and the invitation is accepted only by an account with that address.
        self.invited_email = _invited_email()
        if self.invited_email and "email" in self.fields:
            self.fields["email"].initial = self.invited_email
            self.fields["email"].widget.attrs["readonly"] = True
            self.fields["email"].help_text = _(
                "The address your invitation was sent to. To use another address, ask for "
                "an invitation to it."
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        email = data.get("email")
        if self.invited_email and email and email.lower() != self.invited_email:
            self.add_error("email", _("Please sign up with the address you were invited with."))
        return data

    def signup(self, request: HttpRequest, user: Any) -> None:
        # The acceptance itself is stored by AccountAdapter.save_user, together with the user.
        return None


def _invited_email() -> str:
    # allauth builds this form without the request; its middleware keeps it at hand.
    request = getattr(context, "request", None)
    session = getattr(request, "session", None)
    if session is None:
        return ""
    invitation = invitation_session.open_invitation(session)
    return invitation.email if invitation else ""


class CompanyForm(forms.Form):
    """Step 2: the customer's company, or the person's name for a sole trader."""

    company_name = forms.CharField(label=_("Company name"), max_length=200, required=False)
    first_name = forms.CharField(label=_("First name"), max_length=100, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=100, required=False)
    street = forms.CharField(label=_("Street"), max_length=200)
    house_number = forms.CharField(label=_("House number"), max_length=20)
    postcode = forms.CharField(label=_("Postcode"), max_length=20)
    city = forms.CharField(label=_("City"), max_length=100)
    country = forms.ChoiceField(
        label=_("Country"),
        # A callable, so the names follow the language of each request.
        choices=lambda: list(countries),
        initial="DE",
        error_messages={"invalid_choice": _("Please choose a valid country.")},
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        has_company = bool(data.get("company_name", "").strip())
        has_person = bool(data.get("first_name", "").strip() and data.get("last_name", "").strip())
        if not (has_company or has_person):
            raise forms.ValidationError(
                _("Please enter a company name, or your first and last name."),
                code="name_missing",
            )
        return data
