"""One date and time format per language, on every page."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import formats, translation

from tests.factories import TransferFactory, UserFactory

MOMENT = dt.datetime(2026, 12, 6, 14, 5, tzinfo=ZoneInfo("Europe/Berlin"))


@pytest.mark.parametrize(
    ("language", "date", "moment", "time"),
    [
        ("en", "6 Dec 2026", "6 Dec 2026, 14:05", "14:05"),
        ("de", "06.12.2026", "06.12.2026, 14:05", "14:05"),
        ("fr", "06/12/2026", "06/12/2026 14:05", "14:05"),
    ],
)
def test_each_language_has_one_format(language: str, date: str, moment: str, time: str) -> None:
    with translation.override(language):
        for name in ("DATE_FORMAT", "SHORT_DATE_FORMAT"):
            assert formats.date_format(MOMENT.date(), name) == date
        for name in ("DATETIME_FORMAT", "SHORT_DATETIME_FORMAT"):
            assert formats.date_format(MOMENT, name) == moment
        assert formats.time_format(MOMENT.time(), "TIME_FORMAT") == time


def test_templates_name_their_formats_instead_of_spelling_one_out() -> None:
    # A spelt-out format ("d.m.", "H:i:s") is the same in every language: a second style.
    filters = re.compile(r"\|(?:date|time):(['\"])([^'\"]*)\1")
    spelt_out = []
    for template in Path(settings.BASE_DIR, "templates").rglob("*.*"):
        for _, fmt in filters.findall(template.read_text(encoding="utf-8")):
            if not re.fullmatch(r"[A-Z_]+_FORMAT", fmt):
                spelt_out.append(f"{template.name}: {fmt}")
    assert spelt_out == []


@pytest.mark.django_db
def test_the_activity_log_shows_dates_in_the_english_format() -> None:
    user = UserFactory()
    transfer = TransferFactory(tenant=user.tenant)
    type(transfer).objects.filter(pk=transfer.pk).update(created_at=MOMENT)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    page = client.get(reverse("sync:transfer_list")).content.decode()
    assert "6 Dec 2026, 14:05" in page
