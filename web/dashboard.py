"""Reads for the dashboard: the systems with their health, and the transfer chart."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from accounts.models import Tenant
from billing.selectors import may_transfer, subscriptions_of
from connectors.models import Connection
from connectors.providers import Kind, Provider
from connectors.registry import PROVIDERS, provider
from sync.models import Transfer
from sync.selectors import transfers_per_day

CHART_DAYS = 14
# The chart's outcomes, in stacking order; every transfer state falls into one of them.
OUTCOMES: tuple[tuple[str, Promise], ...] = (
    ("done", _("transferred")),
    ("placeholder", _("transferred with placeholder data")),
    ("failed", _("failed")),
    ("needs_data", _("needs data")),
    ("skipped", _("skipped")),
    ("active", _("in progress")),
)
_OUTCOME_OF_STATE = {
    Transfer.State.DONE: "done",
    Transfer.State.FAILED: "failed",
    Transfer.State.SKIPPED: "skipped",
}
# A transfer that used (or was held for) placeholder data is told apart from a plain one.
_OUTCOME_WITH_PLACEHOLDERS = {
    Transfer.State.DONE: "placeholder",
    Transfer.State.FAILED: "needs_data",
}


def outcome_of(state: str, placeholder_data: bool = False) -> str:
    if placeholder_data and state in _OUTCOME_WITH_PLACEHOLDERS:
        return _OUTCOME_WITH_PLACEHOLDERS[state]  # type: ignore[index]
    return _OUTCOME_OF_STATE.get(state, "active")  # type: ignore[call-overload]


@dataclass(frozen=True)
class PlaceholderSummary:
    customers: int  # customers in the accounting system that hold placeholder data
    held: int  # transfers waiting for their HubSpot data to be completed


def placeholder_summary(*, tenant: Tenant) -> PlaceholderSummary:
    """What the dashboard asks the customer to complete in HubSpot. A customer counts once,
    whether its own transfer or a quote's made it."""
    flagged = Transfer.objects.for_tenant(tenant).filter(placeholder_data=True)
    done = flagged.filter(state=Transfer.State.DONE)
    customers = set(
        done.filter(kind=Transfer.Kind.CUSTOMER).values_list("vendor_id", flat=True)
    ) | set(done.filter(kind=Transfer.Kind.QUOTE).values_list("customer_vendor_id", flat=True))
    customers.discard("")
    return PlaceholderSummary(
        customers=len(customers), held=flagged.filter(state=Transfer.State.FAILED).count()
    )


@dataclass(frozen=True)
class SystemRow:
    system: Provider
    connection: Connection | None
    is_crm: bool
    is_plan: bool
    health: str  # connected, needs_reconnect, paused, "" when not connected
    # Sold by a plan of a kind the tenant has none of yet: it can be added beside the other.
    can_add: bool = False

    @property
    def is_time_tracking(self) -> bool:
        return self.system.kind is Kind.TIME_TRACKING

    @property
    def health_label(self) -> Promise | str:
        return {
            "connected": _("connected"),
            "needs_reconnect": _("needs reconnecting"),
            "paused": _("paused for billing"),
        }.get(self.health, "")


def systems_overview(*, tenant: Tenant) -> list[SystemRow]:
    """Every CRM, accounting and time-tracking system APIUP offers, with the tenant's
    connection if any. A system is paused while its own plan is not paid (HubSpot: while no
    plan is)."""
    connections = {c.system: c for c in Connection.objects.for_tenant(tenant)}
    plans = subscriptions_of(tenant=tenant)
    kinds_held = {provider(key).kind for key in plans}
    rows = []
    for system in PROVIDERS:
        connection = connections.get(system.key)
        paused = not may_transfer(
            tenant=tenant, system="" if system.kind is Kind.CRM else system.key
        )
        if connection is None:
            health = ""
        elif connection.status == Connection.Status.NEEDS_RECONNECT:
            health = "needs_reconnect"
        elif paused:
            health = "paused"
        else:
            health = "connected"
        rows.append(
            SystemRow(
                system=system,
                connection=connection,
                is_crm=system.kind is Kind.CRM,
                is_plan=system.key in plans,
                health=health,
                can_add=(
                    system.plan is not None
                    and system.kind is not Kind.CRM
                    and bool(plans)
                    and system.kind not in kinds_held
                ),
            )
        )
    return rows


@dataclass(frozen=True)
class ChartBar:
    outcome: str
    label: Promise
    count: int
    percent: float  # of the busiest day's height

    @property
    def height(self) -> int:
        """The percent in whole steps, which static/css/app.css has a rule for each of (a
        style attribute would be refused by the Content-Security-Policy)."""
        return round(self.percent)


@dataclass(frozen=True)
class ChartDay:
    day: dt.date
    total: int
    bars: list[ChartBar]


def transfer_chart(*, tenant: Tenant, days: int = CHART_DAYS) -> list[ChartDay]:
    counts: dict[dt.date, dict[str, int]] = {}
    for row in transfers_per_day(tenant=tenant, days=days):
        day = row["day"]
        assert isinstance(day, dt.date)
        outcome = outcome_of(str(row["state"]), bool(row.get("placeholder_data")))
        per_day = counts.setdefault(day, {})
        per_day[outcome] = per_day.get(outcome, 0) + int(row["count"])  # type: ignore[call-overload]
    today = dt.date.today()
    span = [today - dt.timedelta(days=offset) for offset in range(days - 1, -1, -1)]
    busiest = max((sum(counts.get(day, {}).values()) for day in span), default=0) or 1
    chart = []
    for day in span:
        per_day = counts.get(day, {})
        bars = [
            ChartBar(
                outcome=outcome,
                label=label,
                count=per_day.get(outcome, 0),
                percent=round(100 * per_day.get(outcome, 0) / busiest, 1),
            )
            for outcome, label in OUTCOMES
        ]
        chart.append(ChartDay(day=day, total=sum(per_day.values()), bars=bars))
    return chart
