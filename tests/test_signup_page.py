"""What the signup page shows before anything is typed: the terms and privacy pages it links (in
the reader's language), the password rule, and what a refused form keeps."""

import pytest
from django.test import Client


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "heading"),
    [
        ("de", "Allgemeine Geschäftsbedingungen"),
        ("en", "Terms and conditions"),
        ("fr", "Conditions générales"),
    ],
)
def test_the_terms_are_shown_in_the_readers_language(language: str, heading: str) -> None:
    page = Client(HTTP_ACCEPT_LANGUAGE=language).get("/legal/terms/")
    assert page.status_code == 200
    assert f"<h1>{heading}</h1>" in page.content.decode()


@pytest.mark.django_db
def test_the_signup_form_links_the_terms_and_the_privacy_policy(client: Client) -> None:
    page = client.get("/accounts/signup/").content.decode()
    assert 'href="/legal/terms/"' in page
    assert 'href="/legal/privacy/"' in page


@pytest.mark.django_db
def test_the_operators_own_pages_replace_the_placeholders(client: Client, settings: object) -> None:
    settings.LEGAL_PRIVACY_URL = "https://example.com/datenschutz"  # type: ignore[attr-defined]
    assert client.get("/legal/privacy/")["Location"] == "https://example.com/datenschutz"
    assert (
        'href="https://example.com/datenschutz"' in client.get("/accounts/signup/").content.decode()
    )


@pytest.mark.django_db
def test_the_password_rule_is_shown_before_an_error_and_kept_after_one(client_en: Client) -> None:
    page = client_en.get("/accounts/signup/").content.decode()
    assert "at least 10 characters" in page
    refused = client_en.post(
        "/accounts/signup/",
        {"email": "a@example.com", "password1": "kurz-42", "password2": "kurz-42"},
    ).content.decode()
    assert 'value="kurz-42"' in refused
