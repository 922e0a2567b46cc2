"""Data steps of the sync migrations, run against a database at the migration before them."""

import pytest

from tests.factories import TenantFactory
from tests.migrating import migration_step

BEFORE = [("sync", "0004_import_page_position")]
AFTER = [("sync", "0005_remove_customer_resolved_and_vendor_response")]


@pytest.mark.django_db(transaction=True)
def test_a_transfer_left_in_the_removed_customer_resolved_state_becomes_pending() -> None:
    tenant = TenantFactory()
    with migration_step(BEFORE, AFTER) as (old_apps, run_step):
        old = old_apps.get_model("sync", "Transfer")
        stuck = old.objects.create(
            tenant_id=tenant.pk, kind="customer", object_type="contact", object_id="1",
            system="lexoffice", state="customer_resolved", vendor_response={"id": "x"},
        )  # fmt: skip
        done = old.objects.create(
            tenant_id=tenant.pk, kind="customer", object_type="contact", object_id="2",
            system="lexoffice", state="done",
        )  # fmt: skip
        new = run_step().get_model("sync", "Transfer")
        assert new.objects.get(pk=stuck.pk).state == "pending"
        assert new.objects.get(pk=done.pk).state == "done"
        assert "vendor_response" not in {field.name for field in new._meta.get_fields()}
