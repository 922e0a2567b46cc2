"""Login limits behind the proxy, and the staff admin's login under the same limits."""

import json

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from accounts.models import User
from tests.factories import UserFactory
from tests.test_operations import _real_looking_deployment, _under_production_settings

PASSWORD = "correct horse battery staple"
PROXY = "10.0.0.2"
THROTTLED = "Too many failed login attempts"

_CLIENT_ADDRESS_SCRIPT = """
import json, django
django.setup()
from allauth.account.adapter import get_adapter
from django.test import RequestFactory
request = RequestFactory().get(
    "/accounts/login/",
    REMOTE_ADDR="10.0.0.2",
    HTTP_X_FORWARDED_FOR="198.51.100.9, 203.0.113.7",
    HTTP_X_REAL_IP="192.0.2.44",
)
print(json.dumps(get_adapter().get_client_ip(request)))
"""


def _client_address_in_production(**deployment: str) -> str:
    result = _under_production_settings(
        {**_real_looking_deployment(), **deployment}, ["-c", _CLIENT_ADDRESS_SCRIPT]
    )
    assert result.returncode == 0, result.stderr
    return str(json.loads(result.stdout))


def test_production_counts_logins_by_the_client_the_proxy_names() -> None:
    # The proxy appends the address it saw; what stands before it the client could forge.
    assert _client_address_in_production() == "203.0.113.7"
    assert _client_address_in_production(TRUSTED_PROXY_COUNT="2") == "198.51.100.9"
    assert _client_address_in_production(TRUSTED_CLIENT_IP_HEADER="X-Real-IP") == "192.0.2.44"


def _login(client: Client, email: str, password: str, *, address: str) -> str:
    response = client.post(
        reverse("account_login"),
        {"login": email, "password": password},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=address,
    )
    return "" if response.status_code == 302 else response.content.decode()


@pytest.mark.django_db
@pytest.mark.usefixtures("fresh_cache")
def test_one_clients_failed_logins_behind_the_proxy_lock_out_no_one_else(settings) -> None:  # type: ignore[no-untyped-def]
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    customer = UserFactory()
    guesser = Client(HTTP_ACCEPT_LANGUAGE="en")
    for number in range(11):
        page = _login(guesser, f"guess{number}@example.com", "wrong 1", address="203.0.113.7")
    assert THROTTLED in page

    assert _login(Client(), customer.email, PASSWORD, address="198.51.100.20") == ""


@pytest.mark.django_db
@pytest.mark.usefixtures("fresh_cache")
def test_the_per_account_limit_holds_whatever_address_the_guesses_come_from(settings) -> None:  # type: ignore[no-untyped-def]
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    customer = UserFactory()
    guesser = Client(HTTP_ACCEPT_LANGUAGE="en")
    for number in range(6):
        page = _login(guesser, customer.email, "wrong 1", address=f"203.0.113.{number}")
    assert THROTTLED in page
    elsewhere = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert THROTTLED in _login(elsewhere, customer.email, PASSWORD, address="198.51.100.20")


def _staff() -> User:
    user: User = UserFactory(is_staff=True, is_superuser=True, tenant=None)  # type: ignore[assignment]
    return user


@pytest.mark.django_db
@pytest.mark.usefixtures("fresh_cache")
def test_the_admin_login_form_takes_no_guesses() -> None:
    staff = _staff()
    admin_login = reverse("admin:login")
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    for _ in range(3):
        client.post(admin_login, {"username": staff.email, "password": "wrong 1"})
    response = client.post(
        f"{admin_login}?next=/{settings.ADMIN_URL}",
        {"username": staff.email, "password": PASSWORD},
    )
    # Not even the right password signs in there: the form sends staff to the account login.
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert client.get(reverse("admin:index")).status_code == 302


@pytest.mark.django_db
@pytest.mark.usefixtures("fresh_cache")
def test_staff_sign_in_under_the_login_limits_and_reach_the_admin() -> None:
    staff = _staff()
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    to_admin = client.get(reverse("admin:index"), follow=True)
    assert to_admin.redirect_chain[-1][0].startswith(reverse("account_login"))
    login_url = to_admin.redirect_chain[-1][0]

    response = client.post(login_url, {"login": staff.email, "password": PASSWORD})
    assert response.status_code == 302
    assert client.get(response["Location"], follow=True).request["PATH_INFO"] == reverse(
        "admin:index"
    )
    assert client.get(reverse("admin:index")).status_code == 200

    guesser = Client(HTTP_ACCEPT_LANGUAGE="en")
    for _ in range(6):
        page = guesser.post(
            login_url, {"login": staff.email, "password": "wrong 1"}
        ).content.decode()
    assert THROTTLED in page
    refused = guesser.post(login_url, {"login": staff.email, "password": PASSWORD})
    assert refused.status_code != 302
