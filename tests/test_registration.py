"""Registration in two steps, e-mail verification, login and logout, in German and English."""

import re
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import Tenant, User
from tests.factories import UserFactory

PASSWORD = "Sehr-sicheres-Passwort-42"

pytestmark = pytest.mark.usefixtures("fresh_cache")


def _step1(client: Client, **overrides: str) -> Any:
    data = {
        "email": "anna@beispiel.de",
        "password1": PASSWORD,
        "password2": PASSWORD,
        "accept_terms": "on",
    }
    data.update(overrides)
    return client.post(reverse("account_signup"), {k: v for k, v in data.items() if v})


def _step2(client: Client, **overrides: str) -> Any:
    data = {
        "company_name": "Beispiel GmbH",
        "street": "Hauptstraße",
        "house_number": "5a",
        "postcode": "80331",
        "city": "München",
        "country": "DE",
    }
    data.update(overrides)
    return client.post(reverse("accounts:company"), data)


def _confirmation_link() -> str:
    body = str(mail.outbox[-1].body)
    match = re.search(r"https?://[^/\s]+(/accounts/confirm-email/[^\s]+/)", body)
    assert match, mail.outbox[-1].body
    return match.group(1)


@pytest.mark.django_db
def test_signup_then_confirmation_then_company_open_the_dashboard(client_de: Client) -> None:
    response = _step1(client_de)
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    user = User.objects.get(email="anna@beispiel.de")
    assert user.terms_accepted_at is not None
    assert user.terms_version == "2026-11"
    assert user.tenant is None

    # Nobody is signed in before the address is confirmed.
    assert client_de.get(reverse("dashboard:home"))["Location"].startswith(reverse("account_login"))
    assert len(mail.outbox) == 1
    response = client_de.post(_confirmation_link())
    assert EmailAddress.objects.get(user=user).verified

    # Confirming signs the person in; the company data come next.
    assert client_de.get(reverse("dashboard:home"))["Location"] == reverse("accounts:company")
    response = _step2(client_de)
    assert response["Location"] == reverse("setup:continue")
    user.refresh_from_db()
    assert user.tenant is not None
    assert user.tenant.company_name == "Beispiel GmbH"
    assert user.tenant.country.code == "DE"
    assert user.role == "owner"

    response = client_de.get(reverse("dashboard:home"))
    assert response.status_code == 200
    assert "Willkommen, Beispiel GmbH" in response.content.decode()


def _signed_up(client: Client, **overrides: str) -> Client:
    """Step 1 and the confirmation link, in the same browser."""
    _step1(client, **overrides)
    client.post(_confirmation_link())
    return client


@pytest.mark.django_db
def test_a_sole_trader_registers_with_first_and_last_name(client_en: Client) -> None:
    _signed_up(client_en)
    response = _step2(client_en, company_name="", first_name="Anna", last_name="Muster")
    assert response.status_code == 302
    tenant = Tenant.objects.get()
    assert tenant.display_name == "Anna Muster"


@pytest.mark.django_db
def test_step2_without_any_name_is_refused_in_the_users_language(client_en: Client) -> None:
    _signed_up(client_en)
    response = _step2(client_en, company_name="", first_name="Anna")
    assert response.status_code == 200
    assert "Please enter a company name, or your first and last name." in response.content.decode()
    assert not Tenant.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("client_fixture", "expected"),
    [
        ("client_de", "Bitte wählen Sie ein gültiges Land."),
        ("client_en", "Please choose a valid country."),
    ],
)
def test_an_invalid_country_is_refused(request, client_fixture: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    client = _signed_up(request.getfixturevalue(client_fixture))
    response = _step2(client, country="XX")
    assert response.status_code == 200
    assert expected in response.content.decode()
    assert not Tenant.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("client_fixture", "expected"),
    [
        ("client_de", "Bitte akzeptieren Sie die AGB, um fortzufahren."),
        ("client_en", "Please accept the terms and conditions to continue."),
    ],
)
def test_missing_terms_create_nothing(request, client_fixture: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    client = request.getfixturevalue(client_fixture)
    response = _step1(client, accept_terms="")
    assert response.status_code == 200
    assert expected in response.content.decode()
    assert not User.objects.exists()
    assert not mail.outbox


@pytest.mark.django_db
def test_weak_password_creates_nothing(client_de: Client) -> None:
    response = _step1(client_de, password1="12345678", password2="12345678")
    assert response.status_code == 200
    assert "Dieses Passwort ist zu kurz" in response.content.decode()
    assert not User.objects.exists()


@pytest.mark.django_db
def test_signing_up_with_a_registered_address_answers_like_a_new_one(client_en: Client) -> None:
    new = _step1(client_en, email="neu@beispiel.de")
    existing = UserFactory(email="Anna@Beispiel.de")
    taken = _step1(Client(HTTP_ACCEPT_LANGUAGE="en"), email="anna@beispiel.de")

    # The same redirect, to the same page, and nothing that tells the two apart.
    assert (taken.status_code, taken["Location"]) == (new.status_code, new["Location"])
    assert User.objects.filter(email="anna@beispiel.de").get().pk == existing.pk
    # The owner of the address learns of the attempt by mail; the new address is asked to
    # confirm.
    assert [m.to for m in mail.outbox] == [["neu@beispiel.de"], ["anna@beispiel.de"]]
    assert "/accounts/confirm-email/" in mail.outbox[0].body
    assert "/accounts/confirm-email/" not in mail.outbox[1].body


@pytest.mark.django_db
def test_login_and_logout(client_en: Client, user: User) -> None:
    response = client_en.post(
        reverse("account_login"),
        {"login": user.email, "password": "correct horse battery staple"},
    )
    assert response.status_code == 302
    assert client_en.get(reverse("dashboard:home")).status_code == 200
    client_en.post(reverse("account_logout"))
    response = client_en.get(reverse("dashboard:home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


@pytest.mark.django_db
def test_failed_logins_are_throttled_alike_for_known_and_unknown_addresses(
    client_en: Client, user: User
) -> None:
    def attempts(email: str) -> str:
        text = ""
        for _ in range(6):
            text = client_en.post(
                reverse("account_login"), {"login": email, "password": "wrong password 1"}
            ).content.decode()
        return text

    known = attempts(user.email)
    unknown = attempts("nobody@example.com")
    assert "Too many failed login attempts" in known
    assert "Too many failed login attempts" in unknown
    # Even the right password is refused while the limit holds.
    response = client_en.post(
        reverse("account_login"),
        {"login": user.email, "password": "correct horse battery staple"},
    )
    assert response.status_code != 302


@pytest.mark.django_db
def test_password_reset_mail_is_sent(client_en: Client, user: User) -> None:
    client_en.post(reverse("account_reset_password"), {"email": user.email})
    assert len(mail.outbox) == 1
    assert "/accounts/password/reset/key/" in mail.outbox[0].body


@pytest.mark.django_db
def test_language_follows_browser_and_switch(client_en: Client) -> None:
    assert "Create your account" in client_en.get(reverse("account_signup")).content.decode()
    german = Client(HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9")
    assert "Konto anlegen" in german.get(reverse("account_signup")).content.decode()
    # Without a preference, German is the default.
    assert "Konto anlegen" in Client().get(reverse("account_signup")).content.decode()
    client_en.post(reverse("set_language"), {"language": "de", "next": "/"})
    assert "Konto anlegen" in client_en.get(reverse("account_signup")).content.decode()
