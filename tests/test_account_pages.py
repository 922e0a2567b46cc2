"""The account pages a customer meets (login, confirmation, password reset and change, e-mail,
logout, the rate-limit answer) have the product's layout: its header, a card, its field and
button styles, and nothing the Content-Security-Policy would block."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import User
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "Ein-ganz-neues-Passwort-7"


def _assert_product_page(response, *, form: bool = True) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code in (200, 429), response.status_code
    page = response.content.decode()
    assert '<header class="topbar">' in page
    assert 'class="card narrow"' in page
    if form:
        assert 'class="field' in page
        assert re.search(r'<button type="submit"[^>]* class="primary"', page)
    # allauth's bare markup and what the Content-Security-Policy refuses.
    assert "<p>\n    <label" not in page
    assert " style=" not in page
    assert not re.search(r"<script>(?!</script>)", page)
    assert not re.search(r" on[a-z]+=", page)
    return page


@pytest.fixture
def signed_in(client_en: Client) -> tuple[Client, User]:
    user = UserFactory(email="anna@beispiel.de")
    client_en.force_login(user)
    return client_en, user  # type: ignore[return-value]


def test_login_page(client_en: Client) -> None:
    page = _assert_product_page(client_en.get(reverse("account_login")))
    assert "Forgot your password?" in page
    assert reverse("account_signup") in page


def test_password_reset_from_request_to_new_password(client_en: Client) -> None:
    user = UserFactory(email="anna@beispiel.de")
    _assert_product_page(client_en.get(reverse("account_reset_password")))
    done = client_en.post(reverse("account_reset_password"), {"email": user.email}, follow=True)
    _assert_product_page(done, form=False)

    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/key/\S+/)", mail.outbox[-1].body)
    assert link
    key_page = client_en.get(link.group(1), follow=True)
    _assert_product_page(key_page)
    action = key_page.redirect_chain[-1][0]
    changed = client_en.post(
        action, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}, follow=True
    )
    page = _assert_product_page(changed, form=False)
    assert "Your password is now changed." in page
    assert Client().login(email=user.email, password=NEW_PASSWORD)


def test_a_used_reset_link_says_so_in_the_layout(client_en: Client) -> None:
    response = client_en.get(
        reverse("account_reset_password_from_key", kwargs={"uidb36": "zz", "key": "bad-key"})
    )
    page = _assert_product_page(response, form=False)
    assert "This link is not valid any more" in page


def test_an_invalid_confirmation_link_says_what_to_do(client_en: Client) -> None:
    response = client_en.get(reverse("account_confirm_email", args=["not-a-key"]))
    page = _assert_product_page(response, form=False)
    assert "This confirmation link has expired or is not valid." in page


def test_the_confirmation_link_page_is_the_wizard_step(client_en: Client) -> None:
    client_en.post(
        reverse("account_signup"),
        {
            "email": "neu@beispiel.de",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
            "accept_terms": "on",
        },
    )
    link = re.search(r"https?://[^/\s]+(/accounts/confirm-email/\S+/)", mail.outbox[-1].body)
    assert link
    page = _assert_product_page(client_en.get(link.group(1)), form=False)
    assert 'class="steps"' in page
    assert "neu@beispiel.de" in page
    assert re.search(r'<button type="submit" class="primary">\s*Confirm', page)


def test_password_change(signed_in: tuple[Client, User]) -> None:
    client, user = signed_in
    _assert_product_page(client.get(reverse("account_change_password")))
    response = client.post(
        reverse("account_change_password"),
        {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_email_change_and_its_pending_address(signed_in: tuple[Client, User]) -> None:
    client, _user = signed_in
    page = _assert_product_page(client.get(reverse("account_email")))
    assert "anna@beispiel.de" in page
    response = client.post(
        reverse("account_email"), {"action_add": "", "email": "anna.neu@beispiel.de"}, follow=True
    )
    page = _assert_product_page(response)
    assert "anna.neu@beispiel.de" in page
    assert 'name="action_send"' in page
    assert mail.outbox[-1].to == ["anna.neu@beispiel.de"]


def test_logout_confirmation(signed_in: tuple[Client, User]) -> None:
    client, _user = signed_in
    page = _assert_product_page(client.get(reverse("account_logout")), form=False)
    assert f'action="{reverse("account_logout")}"' in page


def test_the_rate_limit_answer_has_the_layout(client_en: Client) -> None:
    UserFactory(email="anna@beispiel.de")
    statuses = [
        client_en.post(reverse("account_reset_password"), {"email": "anna@beispiel.de"})
        for _ in range(6)
    ]
    refused = statuses[-1]
    assert refused.status_code == 429
    page = _assert_product_page(refused, form=False)
    assert "Too many attempts" in page
