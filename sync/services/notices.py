"""Telling the tenant's users when transfers start failing, a connection needs reconnecting
or a connected system is not reachable: one e-mail per problem, repeated only while it
persists (after a day). A system that is not reachable is told once per outage: when its
circuit breaker closes the problem is gone, and the next outage is told again."""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import Tenant, User
from connectors import errors
from connectors.breaker import Outage
from connectors.models import Connection
from connectors.registry import connector_for, provider
from sync.models import Notice, Transfer

REPEAT_AFTER = dt.timedelta(days=1)


def _recently_told(
    tenant: Tenant, kind: str, now: dt.datetime, *, since: dt.datetime | None = None
) -> bool:
    """Told within the last day, and since the problem began (`since`) where it is known."""
    told = Notice.objects.for_tenant(tenant).filter(kind=kind, sent_at__gt=now - REPEAT_AFTER)
    if since is not None:
        told = told.filter(sent_at__gte=since)
    return told.exists()


def _outages(tenant: Tenant) -> dict[str, Outage]:
    """The tenant's connected systems whose circuit breaker is open, by label."""
    found: dict[str, Outage] = {}
    for connection in Connection.objects.for_tenant(tenant).exclude(
        status=Connection.Status.NEEDS_RECONNECT
    ):
        declared = provider(connection.system)
        if not declared.connector:
            continue
        try:
            outage = connector_for(connection.system)(connection=connection).client.outage()
        except errors.ConnectorError:
            continue
        if outage is not None:
            found[str(declared.label)] = outage
    return found


def _problems(tenant: Tenant, outages: dict[str, Outage]) -> dict[str, str]:
    problems: dict[str, str] = {}
    if outages:
        problems[Notice.Kind.VENDOR_UNREACHABLE] = _(
            "%(systems)s is not reachable right now. Your transfers wait and continue by "
            "themselves when it is back; nothing needs to be done."
        ) % {"systems": ", ".join(sorted(outages))}
    count = Transfer.objects.for_tenant(tenant).filter(state=Transfer.State.FAILED).count()
    if count:
        problems[Notice.Kind.TRANSFERS_FAILING] = _(
            "%(count)d transfer(s) failed. The activity log says why and offers a retry."
        ) % {"count": count}
    broken = list(
        Connection.objects.for_tenant(tenant)
        .filter(status=Connection.Status.NEEDS_RECONNECT)
        .values_list("system", flat=True)
    )
    if broken:
        problems[Notice.Kind.RECONNECT_NEEDED] = _(
            "These connections need reconnecting: %(systems)s. Until then nothing is transferred."
        ) % {"systems": ", ".join(provider(system).label for system in broken)}
    return problems


def notices_send(*, now: dt.datetime | None = None) -> int:
    """Sends what is due to every tenant; returns the number of e-mails sent."""
    now = now or timezone.now()
    sent = 0
    tenants = (
        Tenant.objects.filter(
            pk__in=Transfer.objects.filter(state=Transfer.State.FAILED).values("tenant_id")
        )
        | Tenant.objects.filter(
            pk__in=Connection.objects.filter(status=Connection.Status.NEEDS_RECONNECT).values(
                "tenant_id"
            )
        )
        # Transfers waiting (for their turn, a retry or a vendor that is down).
        | Tenant.objects.filter(
            pk__in=Transfer.objects.filter(
                state__in=Transfer.ACTIVE_STATES, next_attempt_at__isnull=False
            ).values("tenant_id")
        )
    )
    for tenant in tenants.distinct():
        # Every text of the notice, the problems' included, in the product's language: not
        # in whatever language the calling thread was left in.
        with translation.override(settings.LANGUAGE_CODE):
            message = _notice(tenant, now)
        if message is None:
            continue
        send_mail(message.subject, message.body, settings.DEFAULT_FROM_EMAIL, message.recipients)
        for kind, text in message.problems.items():
            Notice.objects.create(tenant=tenant, kind=kind, detail=text)
        sent += 1
    return sent


class _Notice(NamedTuple):
    subject: str
    body: str
    recipients: list[str]
    problems: dict[str, str]  # Notice.Kind -> what the body tells of it


def _notice(tenant: Tenant, now: dt.datetime) -> _Notice | None:
    """The e-mail due to the tenant, or None."""
    outages = _outages(tenant)
    # One notice per outage: an outage that began after the last notice is told again.
    latest = max((outage.since for outage in outages.values()), default=None)
    began: dict[str, dt.datetime | None] = {Notice.Kind.VENDOR_UNREACHABLE: latest}
    due = {
        kind: text
        for kind, text in _problems(tenant, outages).items()
        if not _recently_told(tenant, kind, now, since=began.get(kind))
    }
    if not due:
        return None
    recipients = list(
        User.objects.filter(tenant=tenant, is_active=True).values_list("email", flat=True)
    )
    if not recipients:
        return None
    body = "\n\n".join(
        [
            _("Hello,"),
            *due.values(),
            _("Activity log: %(url)s")
            % {"url": settings.PUBLIC_BASE_URL + reverse("sync:transfer_list")},
            _("You get this message once per problem, and again a day later if it lasts."),
        ]
    )
    return _Notice(_("APIUP: your transfers need attention"), body, recipients, due)
