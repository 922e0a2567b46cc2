"""One e-mail per problem, not one per failure; again only if it persists."""

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from connectors.models import Connection
from sync.services.notices import notices_send
from tests.factories import ConnectionFactory, TransferFactory, UserFactory


@pytest.mark.django_db
def test_many_failures_make_one_email_and_again_only_a_day_later() -> None:
    owner = UserFactory()
    colleague = UserFactory(tenant=owner.tenant)
    other_tenant_user = UserFactory()
    for _ in range(5):
        TransferFactory(tenant=owner.tenant)
    now = timezone.now()

    assert notices_send(now=now) == 1
    assert len(mail.outbox) == 1
    assert set(mail.outbox[0].to) == {owner.email, colleague.email}
    assert other_tenant_user.email not in mail.outbox[0].to
    assert "5" in mail.outbox[0].body

    TransferFactory(tenant=owner.tenant)  # one more failure: no second e-mail
    assert notices_send(now=now + dt.timedelta(hours=2)) == 0
    assert notices_send(now=now + dt.timedelta(hours=25)) == 1  # it persists
    assert len(mail.outbox) == 2


@pytest.mark.django_db
def test_a_connection_that_needs_reconnecting_is_told_once() -> None:
    owner = UserFactory()
    ConnectionFactory(tenant=owner.tenant, status=Connection.Status.NEEDS_RECONNECT)
    assert notices_send() == 1
    assert "lexware office" in mail.outbox[0].body
    assert notices_send() == 0


@pytest.mark.django_db
def test_nothing_wrong_means_no_email() -> None:
    owner = UserFactory()
    ConnectionFactory(tenant=owner.tenant)
    assert notices_send() == 0
    assert mail.outbox == []
