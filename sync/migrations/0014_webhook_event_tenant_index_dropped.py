import django.db.models.deletion
from django.db import migrations, models


def _drop_tenant_index(apps, schema_editor):  # type: ignore[no-untyped-def]
    """Drops the index on the tenant column alone and nothing else: AlterField would also
    drop and re-add the foreign key, whose check reads the whole table while the webhook
    intake waits to insert."""
    model = apps.get_model("sync", "WebhookEvent")
    table = model._meta.db_table
    column = model._meta.get_field("tenant").column
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    for name, details in constraints.items():
        single = details["columns"] == [column]
        if single and details["index"] and not details["unique"] and not details["primary_key"]:
            schema_editor.execute(f"DROP INDEX {schema_editor.quote_name(name)}")


def _create_tenant_index(apps, schema_editor):  # type: ignore[no-untyped-def]
    model = apps.get_model("sync", "WebhookEvent")
    field = model._meta.get_field("tenant")
    schema_editor.execute(schema_editor._create_index_sql(model, fields=[field]))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_roles_and_invitations"),
        ("sync", "0013_placeholder_data_and_document_texts"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="webhookevent",
                    name="tenant",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="accounts.tenant",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunPython(_drop_tenant_index, _create_tenant_index),
            ],
        ),
    ]
