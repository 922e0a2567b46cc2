"""Telling the tenant's users when transfers start failing or a connection needs
reconnecting: one e-mail per problem, repeated only while it persists (after a day)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import Tenant, User
from connectors.models import Connection
from connectors.registry import provider
from sync.models import Notice, Transfer

REPEAT_AFTER = dt.timedelta(days=1)


def _recently_told(tenant: Tenant, kind: str, now: dt.datetime) -> bool:
    return (
        Notice.objects.for_tenant(tenant).filter(kind=kind, sent_at__gt=now - REPEAT_AFTER).exists()
    )


def _problems(tenant: Tenant) -> dict[str, str]:
    problems: dict[str, str] = {}
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
    tenants = Tenant.objects.filter(
        pk__in=Transfer.objects.filter(state=Transfer.State.FAILED).values("tenant_id")
    ) | Tenant.objects.filter(
        pk__in=Connection.objects.filter(status=Connection.Status.NEEDS_RECONNECT).values(
            "tenant_id"
        )
    )
    for tenant in tenants.distinct():
        due = {
            kind: text
            for kind, text in _problems(tenant).items()
            if not _recently_told(tenant, kind, now)
        }
        if not due:
            continue
        recipients = list(
            User.objects.filter(tenant=tenant, is_active=True).values_list("email", flat=True)
        )
        if not recipients:
            continue
        with translation.override(settings.LANGUAGE_CODE):
            body = "\n\n".join(
                [
                    _("Hello,"),
                    *due.values(),
                    _("Activity log: %(url)s")
                    % {"url": settings.PUBLIC_BASE_URL + reverse("sync:transfer_list")},
                    _("You get this message once per problem, and again a day later if it lasts."),
                ]
            )
            subject = _("APIUP: your transfers need attention")
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
        for kind, text in due.items():
            Notice.objects.create(tenant=tenant, kind=kind, detail=text)
        sent += 1
    return sent
