"""Data steps of the sync migrations, run against a database at the migration before them."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.factories import TenantFactory

BEFORE = [("sync", "0004_import_page_position")]
AFTER = [("sync", "0005_remove_customer_resolved_and_vendor_response")]


def _migrate(targets: list[tuple[str, str]]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor


@pytest.mark.django_db(transaction=True)
def test_a_transfer_left_in_the_removed_customer_resolved_state_becomes_pending() -> None:
    tenant = TenantFactory()
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes("sync")
    old = _migrate(BEFORE).loader.project_state(BEFORE).apps.get_model("sync", "Transfer")
    try:
        stuck = old.objects.create(
            tenant_id=tenant.pk, kind="customer", object_type="contact", object_id="1",
            system="lexoffice", state="customer_resolved", vendor_response={"id": "x"},
        )  # fmt: skip
        done = old.objects.create(
            tenant_id=tenant.pk, kind="customer", object_type="contact", object_id="2",
            system="lexoffice", state="done",
        )  # fmt: skip
        new = _migrate(AFTER).loader.project_state(AFTER).apps.get_model("sync", "Transfer")
        assert new.objects.get(pk=stuck.pk).state == "pending"
        assert new.objects.get(pk=done.pk).state == "done"
        assert "vendor_response" not in {field.name for field in new._meta.get_fields()}
    finally:
        _migrate(latest)
