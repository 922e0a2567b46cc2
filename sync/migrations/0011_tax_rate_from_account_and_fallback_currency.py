from decimal import Decimal

from django.db import migrations, models

# The country defaults 0001 to 0010 stored for every tenant (sync.services.context at the
# time): a row that still holds its country's default never had a rate chosen, so it now
# follows what the accounting system allows.
COUNTRY_DEFAULTS = {
    "DE": Decimal("19"),
    "AT": Decimal("20"),
    "CH": Decimal("8.1"),
    "LI": Decimal("8.1"),
    "FR": Decimal("20"),
}


def forget_country_defaults(apps, schema_editor):  # type: ignore[no-untyped-def]
    settings = apps.get_model("sync", "TransferSettings")
    for row in settings.objects.select_related("tenant").iterator():
        default = COUNTRY_DEFAULTS.get(str(row.tenant.country), Decimal("19"))
        if row.default_tax_rate == default:
            row.default_tax_rate = None
            row.save(update_fields=["default_tax_rate"])


def restore_country_defaults(apps, schema_editor):  # type: ignore[no-untyped-def]
    settings = apps.get_model("sync", "TransferSettings")
    for row in settings.objects.select_related("tenant").filter(default_tax_rate=None):
        row.default_tax_rate = COUNTRY_DEFAULTS.get(str(row.tenant.country), Decimal("19"))
        row.save(update_fields=["default_tax_rate"])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("sync", "0010_notice_vendor_unreachable"),
    ]

    operations = [
        migrations.AlterField(
            model_name="transfersettings",
            name="default_tax_rate",
            field=models.DecimalField(
                blank=True,
                decimal_places=2,
                max_digits=5,
                null=True,
                verbose_name="default tax rate (%)",
            ),
        ),
        migrations.AddField(
            model_name="transfersettings",
            name="fallback_currency",
            field=models.CharField(
                blank=True,
                default="",
                max_length=3,
                verbose_name="currency of deals without one",
            ),
        ),
        migrations.RunPython(forget_country_defaults, restore_country_defaults),
    ]
