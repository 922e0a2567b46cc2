"""The data step of accounts' role migration, run against a database before it."""

import datetime as dt

import pytest

from tests.migrating import migration_step

BEFORE = [("accounts", "0001_initial")]
AFTER = [("accounts", "0002_roles_and_invitations")]


@pytest.mark.django_db(transaction=True)
def test_the_first_member_of_each_company_becomes_its_owner() -> None:
    with migration_step(BEFORE, AFTER) as (old, run_step):
        Tenant, User = old.get_model("accounts", "Tenant"), old.get_model("accounts", "User")
        address = {"street": "S", "house_number": "1", "postcode": "1", "city": "C"}
        first, second = (Tenant.objects.create(company_name=n, **address) for n in "AB")
        start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

        def user(email: str, tenant: object, days: int) -> int:
            joined = start + dt.timedelta(days=days)
            return User.objects.create(email=email, tenant=tenant, date_joined=joined).pk

        founder = user("founder@a.de", first, 0)
        invited = user("invited@a.de", first, 3)
        alone = user("alone@b.de", second, 5)
        nobody = user("registering@c.de", None, 1)

        new = run_step().get_model("accounts", "User")
        roles = dict(new.objects.values_list("pk", "role"))
        assert roles == {founder: "owner", invited: "admin", alone: "owner", nobody: "member"}
