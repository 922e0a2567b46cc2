"""Inviting a colleague: a pending invitation, a mail naming the company, accepting by
signing up or logging in; nothing reveals whether an address is registered elsewhere."""

import datetime as dt
import hashlib
import re
from collections.abc import Callable
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Invitation, Role, Tenant, User
from tests.factories import UserFactory

pytestmark = pytest.mark.usefixtures("fresh_cache")


def _english(url: str, **kwargs: Any) -> Any:
    """The page an English reader sees, as a new visitor."""
    return Client(HTTP_ACCEPT_LANGUAGE="en").get(url, **kwargs)


PASSWORD = "Kollegin-Passwort-2026"
SENT = "If this address can be invited, an invitation was sent."

MakePerson = Callable[..., tuple[Client, User]]


@pytest.fixture
def admin(person_with_role: MakePerson) -> Client:
    person_with_role(Role.OWNER, email="chefin@beispiel.de")
    client, _user = person_with_role(Role.ADMIN, email="admin@beispiel.de")
    return client


@pytest.fixture
def invite(admin: Client, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    def send(email: str, role: str = "member", client: Client | None = None) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return (client or admin).post(
                reverse("dashboard:team"), {"email": email, "role": role}, follow=True
            )

    return send


def _link(message: Any) -> str:
    match = re.search(r"https?://[^/\s]+(/registration/invitation/[^\s/]+/)", message.body)
    assert match, message.body
    return match.group(1)


def _sign_up(client: Client, email: str) -> Any:
    return client.post(
        reverse("account_signup"),
        {"email": email, "password1": PASSWORD, "password2": PASSWORD, "accept_terms": "on"},
    )


@pytest.mark.django_db
def test_an_invitation_is_a_pending_record_and_a_mail_naming_the_company(
    company: Tenant, invite: Callable[..., Any]
) -> None:
    response = invite("Kollegin@Beispiel.de", role="admin")
    assert SENT in response.content.decode()
    assert not User.objects.filter(email="kollegin@beispiel.de").exists()
    invitation = Invitation.objects.get()
    assert (invitation.tenant_id, invitation.email, invitation.role) == (
        company.pk,
        "kollegin@beispiel.de",
        Role.ADMIN,
    )
    assert invitation.invited_by is not None
    assert invitation.invited_by.email == "admin@beispiel.de"
    lifetime = invitation.expires_at - invitation.created_at
    assert abs(lifetime - dt.timedelta(days=7)) < dt.timedelta(minutes=1)

    (message,) = mail.outbox
    assert message.to == ["kollegin@beispiel.de"]
    assert "Beispiel GmbH" in message.subject
    assert "Beispiel GmbH" in message.body
    # Only a hash of the link's token is stored.
    token = _link(message).rstrip("/").rsplit("/", 1)[1]
    assert invitation.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert not Invitation.objects.filter(token_hash=token).exists()
    assert "kollegin@beispiel.de" in response.content.decode()  # listed as open


@pytest.mark.django_db
def test_an_invitee_signs_up_with_the_fixed_address_and_joins(
    company: Tenant, invite: Callable[..., Any]
) -> None:
    invite("kollegin@beispiel.de", role="admin")
    link = _link(mail.outbox[-1])
    invitee = Client(HTTP_ACCEPT_LANGUAGE="en")
    page = invitee.get(link, follow=True)
    # The token leaves the address bar at once.
    assert page.redirect_chain[-1][0] == reverse("accounts:invitation_accept")
    assert "Beispiel GmbH" in page.content.decode()

    signup = invitee.get(reverse("account_signup")).content.decode()
    assert 'value="kollegin@beispiel.de"' in signup
    assert "readonly" in signup
    refused = _sign_up(invitee, "andere@beispiel.de")
    assert refused.status_code == 200
    assert "the address you were invited with" in refused.content.decode()
    assert not User.objects.filter(email="andere@beispiel.de").exists()

    mails_before = len(mail.outbox)
    response = _sign_up(invitee, "kollegin@beispiel.de")
    # The link proved the address: no confirmation mail, straight back to the invitation.
    assert response["Location"] == reverse("accounts:invitation_accept")
    assert len(mail.outbox) == mails_before
    response = invitee.post(reverse("accounts:invitation_accept"))
    assert response.status_code == 302

    user = User.objects.get(email="kollegin@beispiel.de")
    assert (user.tenant_id, user.role) == (company.pk, Role.ADMIN)
    assert EmailAddress.objects.get(user=user).verified
    assert Invitation.objects.get().accepted_at is not None
    assert invitee.get(reverse("dashboard:home")).status_code == 200
    # Used once.
    assert "not valid any more" in _english(link, follow=True).content.decode()


@pytest.mark.django_db
def test_a_person_with_a_login_but_no_company_logs_in_and_accepts(
    company: Tenant, invite: Callable[..., Any]
) -> None:
    person = UserFactory(email="kollegin@beispiel.de", tenant=None)
    invite(person.email)
    invitee = Client(HTTP_ACCEPT_LANGUAGE="en")
    invitee.get(_link(mail.outbox[-1]))
    invitee.force_login(person)
    assert (
        "Join Beispiel GmbH" in invitee.get(reverse("accounts:invitation_accept")).content.decode()
    )
    invitee.post(reverse("accounts:invitation_accept"))
    person.refresh_from_db()
    assert (person.tenant_id, person.role) == (company.pk, Role.MEMBER)


@pytest.mark.django_db
def test_an_address_of_another_company_gets_the_same_answer_and_nothing_else(
    company: Tenant, invite: Callable[..., Any]
) -> None:
    elsewhere = UserFactory(email="vergeben@example.com")
    free = invite("frei@example.com")
    taken = invite("Vergeben@Example.com")

    def row(response: Any, email: str) -> str:
        # The address's line in the list of open invitations, without what differs anyway.
        body = response.content.decode()
        match = re.search(rf"<tr>\s*<td>{re.escape(email)}</td>.*?</tr>", body, flags=re.S)
        assert match, body
        line = match.group(0).replace(email, "ADDRESS")
        line = re.sub(r"[0-9a-f-]{36}", "ID", line)
        return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", line)

    assert taken.redirect_chain == free.redirect_chain
    for response in (free, taken):
        assert SENT in response.content.decode()
    # Both are listed as open invitations, alike.
    assert row(taken, "vergeben@example.com") == row(taken, "frei@example.com")
    # But only the free addresses were mailed, and the other company's member stays there.
    assert [m.to for m in mail.outbox] == [["frei@example.com"]]
    elsewhere.refresh_from_db()
    assert elsewhere.tenant_id != company.pk


@pytest.mark.django_db
def test_a_member_of_another_company_cannot_accept(
    company: Tenant, invite: Callable[..., Any]
) -> None:
    person = UserFactory(email="kollegin@beispiel.de", tenant=None)
    invite(person.email)
    link = _link(mail.outbox[-1])
    # Meanwhile the person registered a company of their own.
    other = UserFactory(email="x@example.com").tenant
    User.objects.filter(pk=person.pk).update(tenant=other)
    invitee = Client(HTTP_ACCEPT_LANGUAGE="en")
    invitee.force_login(person)
    invitee.get(link)
    assert (
        "belongs to another company"
        in invitee.get(reverse("accounts:invitation_accept")).content.decode()
    )
    invitee.post(reverse("accounts:invitation_accept"))
    person.refresh_from_db()
    assert person.tenant_id == other.pk  # type: ignore[union-attr]
    assert Invitation.objects.get().accepted_at is None


@pytest.mark.django_db
def test_an_expired_or_withdrawn_invitation_is_refused(
    company: Tenant, admin: Client, invite: Callable[..., Any]
) -> None:
    invite("spaet@example.com")
    late = _link(mail.outbox[-1])
    Invitation.objects.filter(email="spaet@example.com").update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert "not valid any more" in _english(late, follow=True).content.decode()

    invite("zurueck@example.com")
    withdrawn = _link(mail.outbox[-1])
    invitation = Invitation.objects.get(email="zurueck@example.com")
    response = admin.post(reverse("dashboard:invitation_revoke", args=[invitation.pk]), follow=True)
    assert "is withdrawn" in response.content.decode()
    assert "not valid any more" in _english(withdrawn, follow=True).content.decode()

    # Signing up afterwards is an ordinary registration, not a way into the company.
    person = Client(HTTP_ACCEPT_LANGUAGE="en")
    person.get(withdrawn)
    _sign_up(person, "zurueck@example.com")
    assert User.objects.get(email="zurueck@example.com").tenant_id is None


@pytest.mark.django_db
def test_inviting_again_replaces_the_earlier_link(invite: Callable[..., Any]) -> None:
    invite("zweimal@example.com")
    first = _link(mail.outbox[-1])
    invite("zweimal@example.com", role="admin")
    second = _link(mail.outbox[-1])
    assert "not valid any more" in _english(first, follow=True).content.decode()
    assert "Beispiel GmbH" in _english(second, follow=True).content.decode()
    open_invitations = Invitation.objects.filter(revoked_at__isnull=True)
    assert list(open_invitations.values_list("role", flat=True)) == [Role.ADMIN]


@pytest.mark.django_db
def test_invitations_are_limited_per_company_and_hour(
    settings,  # type: ignore[no-untyped-def]
    invite: Callable[..., Any],
) -> None:
    settings.INVITATIONS_PER_HOUR = 2
    UserFactory(email="vergeben@example.com")
    invite("eins@example.com")
    invite("vergeben@example.com")  # refused addresses count too, or the count would tell
    response = invite("drei@example.com")
    assert "as many invitations as it may in one hour" in response.content.decode()
    assert not Invitation.objects.filter(email="drei@example.com").exists()
    assert len(mail.outbox) == 1
