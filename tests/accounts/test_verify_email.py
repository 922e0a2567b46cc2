"""Registration step "confirm e-mail": sending the message again stays in the wizard and says
when the next message can go out (allauth sends one per address within its cooldown)."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from tests.factories import UserFactory

PASSWORD = "Sehr-sicheres-Passwort-42"

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]

NEXT_AT = re.compile(r"You can send the message again from \d{1,2}:\d{2}")


def _sign_up(client: Client, email: str = "anna@beispiel.de") -> None:
    response = client.post(
        reverse("account_signup"),
        {"email": email, "password1": PASSWORD, "password2": PASSWORD, "accept_terms": "on"},
    )
    assert response["Location"] == reverse("account_email_verification_sent")


def test_the_page_after_signup_is_the_wizard_step_with_a_way_to_send_again(
    client_en: Client,
) -> None:
    _sign_up(client_en)
    page = client_en.get(reverse("account_email_verification_sent")).content.decode()
    assert 'class="steps"' in page
    assert "Confirm your e-mail address" in page
    assert f'action="{reverse("accounts:verify_email")}"' in page


def test_sending_again_within_the_cooldown_says_when_it_can_be_sent(client_en: Client) -> None:
    _sign_up(client_en)
    assert len(mail.outbox) == 1

    response = client_en.post(reverse("accounts:verify_email"), follow=True)
    body = response.content.decode()
    # Still in the wizard, with the reason and the time instead of silence.
    assert response.redirect_chain == [(reverse("accounts:verify_email"), 302)]
    assert 'class="steps"' in body
    assert "anna@beispiel.de" in body
    assert "no new one went out" in body
    assert NEXT_AT.search(body)
    assert len(mail.outbox) == 1


def test_sending_again_after_the_cooldown_sends_and_says_so(client_en: Client) -> None:
    _sign_up(client_en)
    cache.clear()  # the cooldown has passed

    response = client_en.post(reverse("accounts:verify_email"), follow=True)
    body = response.content.decode()
    assert response.redirect_chain == [(reverse("accounts:verify_email"), 302)]
    assert "Confirmation email sent to anna@beispiel.de" in body
    assert len(mail.outbox) == 2
    assert mail.outbox[-1].to == ["anna@beispiel.de"]
    assert "/accounts/confirm-email/" in mail.outbox[-1].body
    # The page now names the time of the next possible message.
    assert NEXT_AT.search(client_en.get(reverse("accounts:verify_email")).content.decode())


def test_a_registered_address_gets_the_same_answer(client_en: Client) -> None:
    UserFactory(email="anna@beispiel.de")
    _sign_up(client_en)
    assert len(mail.outbox) == 1  # the owner's notice

    response = client_en.post(reverse("accounts:verify_email"), follow=True)
    body = response.content.decode()
    assert response.redirect_chain == [(reverse("accounts:verify_email"), 302)]
    assert "anna@beispiel.de" in body
    assert NEXT_AT.search(body)
    assert len(mail.outbox) == 1


def test_a_signed_in_unconfirmed_user_sends_again_from_the_step(client_de: Client) -> None:
    user = UserFactory(email="berta@beispiel.de", verified=False)
    client_de.force_login(user)

    page = client_de.get(reverse("accounts:verify_email")).content.decode()
    assert "berta@beispiel.de" in page
    assert "Sie können die Nachricht ab" not in page

    first = client_de.post(reverse("accounts:verify_email"))
    assert first["Location"] == reverse("accounts:verify_email")
    assert [m.to for m in mail.outbox] == [["berta@beispiel.de"]]

    second = client_de.post(reverse("accounts:verify_email"), follow=True)
    assert second.redirect_chain == [(reverse("accounts:verify_email"), 302)]
    assert len(mail.outbox) == 1


def test_nobody_waiting_for_a_confirmation_is_sent_to_the_login(client_en: Client) -> None:
    response = client_en.get(reverse("accounts:verify_email"))
    assert response["Location"].startswith(reverse("account_login"))
