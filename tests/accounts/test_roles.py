"""Owner, admin and member: what each may do is enforced by the server, whatever the page
shows (the matrix is in accounts/roles.py)."""

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Role, Tenant, User
from connectors.models import Connection
from tests.factories import ConnectionFactory

pytestmark = pytest.mark.usefixtures("fresh_cache")

MakePerson = Callable[..., tuple[Client, User]]


def _requests(company: Tenant) -> dict[str, tuple[str, str, dict[str, Any]]]:
    connection = ConnectionFactory(tenant=company, system="lexoffice")
    return {
        "close the account": ("post", reverse("dashboard:close_account"), {"confirm": "on"}),
        "invite": ("post", reverse("dashboard:team"), {"email": "neu@x.de", "role": "member"}),
        "disconnect": ("post", reverse("connectors:disconnect", args=[connection.pk]), {}),
        "open the settings": ("get", reverse("dashboard:settings"), {}),
        "connect HubSpot": ("post", reverse("setup:hubspot_connect"), {}),
        "open the HubSpot step": ("get", reverse("setup:hubspot"), {}),
        "choose a plan": ("post", reverse("billing:plan"), {"plan": "lexoffice"}),
        "open the payment": ("get", reverse("billing:payment"), {}),
        "start the checkout": ("post", reverse("billing:checkout"), {}),
        "open the billing portal": ("post", reverse("billing:portal"), {}),
        "change a role": ("post", reverse("dashboard:member_role"), {}),
        "remove a member": ("post", reverse("dashboard:member_remove"), {}),
    }  # fmt: skip


FORBIDDEN = {
    Role.MEMBER: {
        "close the account", "invite", "disconnect", "open the settings", "connect HubSpot",
        "open the HubSpot step", "choose a plan", "open the payment", "start the checkout",
        "open the billing portal", "change a role", "remove a member",
    },
    Role.ADMIN: {
        "close the account", "choose a plan", "open the payment", "start the checkout",
        "open the billing portal", "change a role", "remove a member",
    },
}  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.MEMBER, Role.ADMIN])
def test_what_a_role_does_not_allow_is_refused_by_the_server(
    role: Role, company: Tenant, person_with_role: MakePerson
) -> None:
    person_with_role(Role.OWNER)
    client, _user = person_with_role(role)
    requests = _requests(company)
    for what, (method, url, data) in requests.items():
        status = getattr(client, method)(url, data).status_code
        if what in FORBIDDEN[role]:
            assert status == 403, (role, what, status)
        else:
            assert status != 403, (role, what, status)
    # Nothing was deleted on the way.
    assert Tenant.objects.filter(pk=company.pk).exists()
    assert User.objects.filter(tenant=company).count() == 2
    if role == Role.MEMBER:
        assert Connection.objects.filter(tenant=company).exists()


@pytest.mark.django_db
def test_a_member_reads_the_overview_the_log_and_the_team(
    company: Tenant, person_with_role: MakePerson
) -> None:
    client, _member = person_with_role(Role.MEMBER)
    for name in ("dashboard:home", "sync:transfer_list", "dashboard:team"):
        assert client.get(reverse(name)).status_code == 200, name
    # The buttons the role cannot use are not offered.
    home = client.get(reverse("dashboard:home")).content.decode()
    assert reverse("dashboard:close_account") not in home
    assert reverse("dashboard:settings") not in home
    team = client.get(reverse("dashboard:team")).content.decode()
    assert "Send invitation" not in team
    # An unfinished setup leads a member to the overview, not to a step they may not take.
    assert client.get(reverse("setup:continue"))["Location"] == reverse("dashboard:home")


@pytest.mark.django_db
def test_only_the_owner_closes_the_account(company: Tenant, person_with_role: MakePerson) -> None:
    owner_client, owner = person_with_role(Role.OWNER)
    admin_client, admin = person_with_role(Role.ADMIN)
    assert (
        admin_client.post(reverse("dashboard:close_account"), {"confirm": "on"}).status_code == 403
    )
    assert User.objects.filter(pk=owner.pk).exists()

    response = owner_client.post(reverse("dashboard:close_account"), {"confirm": "on"})
    assert response["Location"] == reverse("account_login")
    assert not Tenant.objects.filter(pk=company.pk).exists()
    assert not User.objects.filter(pk__in=[owner.pk, admin.pk]).exists()


@pytest.mark.django_db
def test_the_owner_changes_roles_on_the_team_page(
    company: Tenant, person_with_role: MakePerson
) -> None:
    owner_client, _owner = person_with_role(Role.OWNER)
    _client, colleague = person_with_role(Role.MEMBER, email="kollege@example.com")
    page = owner_client.get(reverse("dashboard:team")).content.decode()
    assert "kollege@example.com" in page
    assert 'name="role"' in page

    response = owner_client.post(
        reverse("dashboard:member_role"), {"member": colleague.pk, "role": "admin"}
    )
    assert response["Location"] == reverse("dashboard:team")
    colleague.refresh_from_db()
    assert colleague.role == Role.ADMIN


@pytest.mark.django_db
def test_the_last_owner_can_be_neither_demoted_nor_removed(
    company: Tenant, person_with_role: MakePerson
) -> None:
    owner_client, owner = person_with_role(Role.OWNER)
    for url, data in (
        (reverse("dashboard:member_role"), {"member": owner.pk, "role": "admin"}),
        (reverse("dashboard:member_remove"), {"member": owner.pk}),
    ):
        response = owner_client.post(url, data, follow=True)
        assert "needs at least one owner" in response.content.decode()
        owner.refresh_from_db()
        assert (owner.tenant_id, owner.role) == (company.pk, Role.OWNER)

    # With a second owner, the first may step down.
    _client, second = person_with_role(Role.MEMBER)
    owner_client.post(reverse("dashboard:member_role"), {"member": second.pk, "role": "owner"})
    owner_client.post(reverse("dashboard:member_role"), {"member": owner.pk, "role": "member"})
    owner.refresh_from_db()
    second.refresh_from_db()
    assert (owner.role, second.role) == (Role.MEMBER, Role.OWNER)


@pytest.mark.django_db
def test_a_removed_member_keeps_the_login_but_not_the_company(
    company: Tenant, person_with_role: MakePerson
) -> None:
    owner_client, _owner = person_with_role(Role.OWNER)
    member_client, member = person_with_role(Role.ADMIN)
    owner_client.post(reverse("dashboard:member_remove"), {"member": member.pk})
    member.refresh_from_db()
    assert member.tenant_id is None
    # Their next page is registering a company of their own.
    assert member_client.get(reverse("dashboard:home"))["Location"] == reverse("accounts:company")


@pytest.mark.django_db
def test_members_of_another_company_cannot_be_named(
    company: Tenant, person_with_role: MakePerson
) -> None:
    from tests.factories import UserFactory

    owner_client, _owner = person_with_role(Role.OWNER)
    stranger = UserFactory(role=Role.MEMBER)
    for url, data in (
        (reverse("dashboard:member_role"), {"member": stranger.pk, "role": "owner"}),
        (reverse("dashboard:member_remove"), {"member": stranger.pk}),
    ):
        assert owner_client.post(url, data).status_code == 404
    stranger.refresh_from_db()
    assert stranger.role == Role.MEMBER
    assert stranger.tenant_id is not None
