from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from connectors.models import Connection


class Command(BaseCommand):
    help = "Re-encrypts every stored credential with the first key of FIELD_ENCRYPTION_KEYS."

    def handle(self, *args: Any, **options: Any) -> None:
        rotated = 0
        # Loading decrypts with any known key; saving encrypts with the first one.
        for pk in Connection.objects.values_list("pk", flat=True).iterator():
            with transaction.atomic():
                connection = Connection.objects.select_for_update().get(pk=pk)
                connection.save(update_fields=["credentials"])
            rotated += 1
        self.stdout.write(f"Re-encrypted the credentials of {rotated} connection(s).")
