"""billing's move to one plan per kind of system, run against a database before it."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("billing", "0003_stripe_event_tenant_and_attempts")]
AFTER = [("billing", "0004_subscription_per_kind")]


def _migrate(targets: list[tuple[str, str]]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor


@pytest.mark.django_db(transaction=True)
def test_existing_plans_are_kept_with_their_kind_and_a_second_kind_may_be_added() -> None:
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    old = _migrate(BEFORE).loader.project_state(BEFORE).apps
    try:
        Tenant = old.get_model("accounts", "Tenant")
        Subscription = old.get_model("billing", "Subscription")
        address = {"street": "S", "house_number": "1", "postcode": "1", "city": "C"}
        books, hours = (Tenant.objects.create(company_name=n, **address) for n in "AB")
        Subscription.objects.create(tenant=books, plan="lexoffice", status="active")
        Subscription.objects.create(tenant=hours, plan="zep", status="trialing")

        new = _migrate(AFTER).loader.project_state(AFTER).apps.get_model("billing", "Subscription")
        kept = {(s.tenant_id, s.plan, s.status, s.kind) for s in new.objects.all()}
        assert kept == {
            (books.pk, "lexoffice", "active", "accounting"),
            (hours.pk, "zep", "trialing", "time_tracking"),
        }
        new.objects.create(tenant_id=books.pk, plan="zep", kind="time_tracking")
        with pytest.raises(IntegrityError), transaction.atomic():
            new.objects.create(tenant_id=books.pk, plan="sevdesk", kind="accounting")
    finally:
        _migrate(latest)
