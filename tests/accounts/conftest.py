import pytest
from django.test import Client

from accounts.models import Role, Tenant, User
from tests.factories import TenantFactory, UserFactory


@pytest.fixture
def company(db) -> Tenant:  # type: ignore[no-untyped-def]
    return TenantFactory(company_name="Beispiel GmbH")  # type: ignore[return-value]


@pytest.fixture
def person_with_role(company: Tenant):  # type: ignore[no-untyped-def]
    """A signed-in browser of a person with the given role in `company`."""

    def make(role: Role, email: str = "") -> tuple[Client, User]:
        user = UserFactory(tenant=company, role=role, **({"email": email} if email else {}))
        client = Client(HTTP_ACCEPT_LANGUAGE="en")
        client.force_login(user)
        return client, user  # type: ignore[return-value]

    return make
