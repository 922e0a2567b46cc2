"""Account e-mails come from the product by name and address German users formally."""

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse


@pytest.mark.django_db
def test_the_confirmation_mail_names_the_product_not_the_host(client_de: Client) -> None:
    client_de.post(
        reverse("account_signup"),
        {
            "email": "anna@beispiel.de",
            "password1": "ein-langes-Passwort-42",
            "password2": "ein-langes-Passwort-42",
            "accept_terms": "on",
        },
    )
    client_de.post(
        reverse("accounts:company"),
        {
            "company_name": "Beispiel GmbH",
            "street": "Hauptstraße",
            "house_number": "5",
            "postcode": "80331",
            "city": "München",
            "country": "DE",
        },
    )
    message = mail.outbox[-1]
    assert message.subject.startswith("[APIUP] ")
    assert "Hallo von APIUP!" in message.body
    assert "Vielen Dank, dass Sie APIUP nutzen!" in message.body
