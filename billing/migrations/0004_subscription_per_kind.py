"""A tenant may hold one subscription per kind of system (accounting, time tracking) instead of
one in all. Existing rows keep their plan; ZEP's plan is the one time-tracking plan sold."""

from django.db import migrations, models

# The time-tracking plans sold when this migration was written.
TIME_TRACKING_PLANS = ("zep",)


def kinds_from_plans(apps, schema_editor):  # type: ignore[no-untyped-def]
    Subscription = apps.get_model("billing", "Subscription")
    Subscription.objects.filter(plan__in=TIME_TRACKING_PLANS).update(kind="time_tracking")


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0003_stripe_event_tenant_and_attempts"),
    ]

    operations = [
        migrations.AddField(
            model_name="subscription",
            name="kind",
            field=models.CharField(
                choices=[("accounting", "accounting system"), ("time_tracking", "time tracking")],
                default="accounting",
                max_length=20,
                verbose_name="kind of system",
            ),
        ),
        migrations.RunPython(kinds_from_plans, migrations.RunPython.noop),
        migrations.RemoveConstraint(
            model_name="subscription",
            name="one_subscription_per_tenant",
        ),
        migrations.AddConstraint(
            model_name="subscription",
            constraint=models.UniqueConstraint(
                fields=("tenant", "kind"), name="one_subscription_per_tenant_and_kind"
            ),
        ),
    ]
