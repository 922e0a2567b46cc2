"""billing's move to one plan per kind of system, run against a database before it."""

import pytest
from django.db import IntegrityError, transaction

from tests.migrating import migration_step

BEFORE = [("billing", "0003_stripe_event_tenant_and_attempts")]
AFTER = [("billing", "0004_subscription_per_kind")]


@pytest.mark.django_db(transaction=True)
def test_existing_plans_are_kept_with_their_kind_and_a_second_kind_may_be_added() -> None:
    with migration_step(BEFORE, AFTER) as (old, run_step):
        Tenant = old.get_model("accounts", "Tenant")
        Subscription = old.get_model("billing", "Subscription")
        address = {"street": "S", "house_number": "1", "postcode": "1", "city": "C"}
        books, hours = (Tenant.objects.create(company_name=n, **address) for n in "AB")
        Subscription.objects.create(tenant=books, plan="lexoffice", status="active")
        Subscription.objects.create(tenant=hours, plan="zep", status="trialing")

        new = run_step().get_model("billing", "Subscription")
        kept = {(s.tenant_id, s.plan, s.status, s.kind) for s in new.objects.all()}
        assert kept == {
            (books.pk, "lexoffice", "active", "accounting"),
            (hours.pk, "zep", "trialing", "time_tracking"),
        }
        new.objects.create(tenant_id=books.pk, plan="zep", kind="time_tracking")
        with pytest.raises(IntegrityError), transaction.atomic():
            new.objects.create(tenant_id=books.pk, plan="sevdesk", kind="accounting")
