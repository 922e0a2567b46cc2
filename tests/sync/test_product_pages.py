"""The products page: the direction, what an update may overwrite, the import with its
progress, and a system without a catalogue by SKU."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from billing.models import Subscription
from sync.models import ImportJob, Transfer, TransferSettings
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _signed_in(plan: str) -> tuple[Client, User]:
    user: User = UserFactory()  # type: ignore[assignment]
    Subscription.objects.create(tenant=user.tenant, plan=plan, status=Subscription.Status.ACTIVE)
    client = Client()
    client.force_login(user)
    return client, user


def test_the_settings_are_saved_and_the_import_starts(
    django_capture_on_commit_callbacks, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from web import products_views

    queued: list[str] = []
    monkeypatch.setattr(products_views, "enqueue_import", lambda job_id, s: queued.append(job_id))
    client, user = _signed_in("lexoffice")

    page = client.get(reverse("products:settings"))
    assert page.status_code == 200
    saved = client.post(
        reverse("products:settings"),
        {"direction": "to_hubspot", "overwrite": ["price", "name"], "create_missing": "on"},
    )
    assert saved.status_code == 302
    stored = TransferSettings.objects.get(tenant=user.tenant)
    assert stored.product_direction == "to_hubspot"
    assert stored.product_overwrite == ["name", "price"]
    assert stored.create_missing_articles is True

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("products:import_start"))
    job = ImportJob.objects.get(tenant=user.tenant)
    assert job.object_type == Transfer.ObjectType.PRODUCT
    assert queued == [str(job.pk)]
    shown = client.get(reverse("products:settings")).content.decode()
    assert "Bisher 0 Produkte bearbeitet" in shown  # the product's language: German


def test_an_update_overwrites_the_price_only_until_told_otherwise() -> None:
    client, user = _signed_in("lexoffice")
    page = client.get(reverse("products:settings")).content.decode()
    assert re.search(r'value="price"[^>]*checked', page)
    assert not re.search(r'value="name"[^>]*checked', page)
    assert TransferSettings(tenant=user.tenant).product_overwrite == ["price"]


def test_a_system_without_a_catalogue_by_sku_is_told_and_refused() -> None:
    client, user = _signed_in("qonto")

    page = client.get(reverse("products:settings")).content.decode()
    refused = client.post(reverse("products:settings"), {"direction": "to_hubspot"})

    assert "hat in seiner API keinen Artikelkatalog mit SKU" in page
    assert refused.status_code == 200
    assert (
        TransferSettings.objects.filter(tenant=user.tenant, product_direction="to_hubspot").count()
        == 0
    )


def test_the_import_needs_a_direction_first() -> None:
    client, user = _signed_in("lexoffice")
    client.post(reverse("products:import_start"))
    assert not ImportJob.objects.filter(tenant=user.tenant).exists()
