"""Reads of the activity log."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDate

from accounts.models import Tenant
from sync.models import ImportJob, Transfer


def transfers_filtered(
    queryset: QuerySet[Transfer],
    *,
    state: str = "",
    object_type: str = "",
    day: dt.date | None = None,
) -> QuerySet[Transfer]:
    if state:
        queryset = queryset.filter(state=state)
    if object_type:
        queryset = queryset.filter(object_type=object_type)
    if day:
        queryset = queryset.filter(created_at__date=day)
    return queryset.order_by("-created_at")


def transfers_per_day(*, tenant: Tenant, days: int = 14) -> list[dict[str, object]]:
    since = dt.date.today() - dt.timedelta(days=days - 1)
    rows = (
        Transfer.objects.for_tenant(tenant)
        .filter(created_at__date__gte=since)
        .annotate(day=TruncDate("created_at"))
        .values("day", "state", "placeholder_data")
        .annotate(count=Count("id"))
        .order_by("day")
    )
    return list(rows)


def imports_recent(*, tenant: Tenant) -> QuerySet[ImportJob]:
    return ImportJob.objects.for_tenant(tenant).order_by("-created_at")[:4]
