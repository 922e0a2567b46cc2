"""One HubSpot portal belongs to one tenant, held by the database and not only by a check."""

from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from connectors import services
from connectors.credentials import TokenSet
from connectors.models import Connection
from tests.factories import ConnectionFactory, TenantFactory

PORTAL = "4711"


@pytest.mark.django_db
def test_the_database_refuses_a_portal_for_a_second_tenant() -> None:
    ConnectionFactory(system="hubspot", external_account_id=PORTAL)
    with pytest.raises(IntegrityError), transaction.atomic():
        ConnectionFactory(system="hubspot", external_account_id=PORTAL)
    # Accounting systems and connections without an account id are not concerned.
    ConnectionFactory(system="lexoffice", external_account_id="shared")
    ConnectionFactory(system="lexoffice", external_account_id="shared")
    ConnectionFactory(system="hubspot", external_account_id="")
    ConnectionFactory(system="hubspot", external_account_id="")


@pytest.mark.django_db
def test_two_tenants_connecting_one_portal_at_once_get_the_clear_message(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """As when two customers install the same portal in the same second: any look at the
    table before this tenant's write misses the other's row, which commits just then."""
    ConnectionFactory(system="hubspot", external_account_id=PORTAL)
    tenant = TenantFactory()
    tokens = TokenSet(access_token="at", refresh_token="rt", expires_in=1800)
    monkeypatch.setattr(services.oauth, "exchange_code", lambda *a, **k: tokens)
    monkeypatch.setattr(services, "portal_of", lambda *a, **k: (PORTAL, "beispiel.hubspot.com"))
    other_committed = False
    real_exists, real_save = QuerySet.exists, Connection.save

    def exists(queryset: QuerySet[Any]) -> bool:
        if queryset.model is Connection and not other_committed:
            return False
        return real_exists(queryset)

    def save(connection: Connection, *args: Any, **kwargs: Any) -> None:
        nonlocal other_committed
        other_committed = True
        real_save(connection, *args, **kwargs)

    monkeypatch.setattr(QuerySet, "exists", exists)
    monkeypatch.setattr(Connection, "save", save)

    with pytest.raises(services.PortalTaken, match=PORTAL):
        services.hubspot_connect(tenant=tenant, code="c", redirect_uri="r", code_verifier="v")
    assert not Connection.objects.filter(tenant=tenant).exists()
