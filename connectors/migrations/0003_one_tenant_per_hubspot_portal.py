from django.db import migrations, models


def refuse_shared_portals(apps, schema_editor):
    """Until now only a check in hubspot_connect kept a portal to one tenant. Should two
    tenants hold the same portal, the constraint cannot be added, and which tenant keeps the
    portal is a decision for a person, not for a migration."""
    Connection = apps.get_model("connectors", "Connection")
    shared = (
        Connection.objects.filter(system="hubspot")
        .exclude(external_account_id="")
        .values("external_account_id")
        .annotate(tenants=models.Count("tenant", distinct=True))
        .filter(tenants__gt=1)
        .values_list("external_account_id", flat=True)
    )
    if shared:
        raise RuntimeError(
            "HubSpot portals connected to more than one tenant: "
            + ", ".join(sorted(shared))
            + ". Disconnect all but one of each (connectors.Connection), then migrate again."
        )


class Migration(migrations.Migration):
    dependencies = [
        ("connectors", "0002_plans_and_systems_from_providers"),
    ]

    operations = [
        migrations.RunPython(refuse_shared_portals, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="connection",
            constraint=models.UniqueConstraint(
                condition=models.Q(("system", "hubspot"))
                & ~models.Q(("external_account_id", "")),
                fields=("system", "external_account_id"),
                name="one_tenant_per_hubspot_portal",
            ),
        ),
    ]
