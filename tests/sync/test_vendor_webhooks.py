"""The intake of the accounting vendors' events (`/webhooks/vendor/<system>`): a signed event
is stored once; a forged or stale one is refused and changes nothing; one of an account no
tenant has connected is acknowledged and ignored."""

from __future__ import annotations

import json
import time

import pytest
from django.test import Client

from connectors.qonto import mapping as qonto
from connectors.services import EVENT_SUBSCRIPTION_KEY
from sync.models import VendorEvent
from tests.factories import ConnectionFactory

pytestmark = pytest.mark.django_db

ORGANIZATION = "org-4711"
SECRET = "subscription-secret"


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    from sync import tasks

    handed: list[list[str]] = []
    monkeypatch.setattr(tasks, "enqueue_vendor_events", lambda tenant, ids: handed.append(ids))
    return handed


@pytest.fixture
def qonto_connection(every_tenant_pays):  # type: ignore[no-untyped-def]
    return ConnectionFactory(
        system="qonto",
        external_account_id=ORGANIZATION,
        credentials={
            "login": "apiup",
            "secret_key": "k",
            EVENT_SUBSCRIPTION_KEY: {"ids": ["sub-1"], "secret": SECRET},
        },
    )


def _event(event_id: str = "evt-1", organization: str = ORGANIZATION) -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "subscription_id": "sub-1",
            "organization_id": organization,
            "membership_id": "m-1",
            "type": "v1/client-invoices",
            "created_at": "2026-12-06T10:00:00Z",
            "data": {"id": "inv-1", "status": "paid"},
        }
    ).encode()


def _post(body: bytes, *, secret: str = SECRET, at: float | None = None):  # type: ignore[no-untyped-def]
    stamp = str(int(at if at is not None else time.time()))
    header = f"t={stamp},v1={qonto.signature(secret, stamp, body)}"
    return Client().post(
        "/webhooks/vendor/qonto",
        data=body,
        content_type="application/json",
        headers={"X-Qonto-Signature": header},
    )


def test_a_signed_event_is_stored_once(  # type: ignore[no-untyped-def]
    qonto_connection, enqueued, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        first = _post(_event())
        again = _post(_event())  # delivered twice, as Qonto may

    assert first.status_code == 200, first.content
    assert first.json()["stored"] == 1
    assert again.json()["duplicates"] == 1
    stored = VendorEvent.objects.get()
    assert stored.tenant_id == qonto_connection.tenant_id
    assert stored.payload["change"] == {
        "kind": "invoice",
        "vendor_id": "inv-1",
        "marker": stored.payload["change"]["marker"],
    }
    assert len(enqueued) == 1


@pytest.mark.parametrize(
    "forgery",
    [
        {"secret": "guessed"},  # not signed with the subscription's secret
        {"at": time.time() - 600},  # older than 5 minutes
    ],
)
def test_a_forged_or_stale_event_is_refused_and_changes_nothing(  # type: ignore[no-untyped-def]
    qonto_connection, enqueued, forgery
) -> None:
    answer = _post(_event(), **forgery)

    assert answer.status_code == 401
    assert not VendorEvent.objects.exists()
    assert enqueued == []


def test_a_tampered_body_is_refused(qonto_connection, enqueued) -> None:  # type: ignore[no-untyped-def]
    stamp = str(int(time.time()))
    header = f"t={stamp},v1={qonto.signature(SECRET, stamp, _event())}"
    answer = Client().post(
        "/webhooks/vendor/qonto",
        data=_event().replace(b"paid", b"void"),
        content_type="application/json",
        headers={"X-Qonto-Signature": header},
    )
    assert answer.status_code == 401
    assert not VendorEvent.objects.exists()


def test_an_event_of_an_account_nobody_connected_is_acknowledged_and_ignored(  # type: ignore[no-untyped-def]
    qonto_connection, enqueued
) -> None:
    answer = _post(_event(organization="org-unknown"), secret="whatever")

    assert answer.status_code == 200
    assert answer.json() == {"stored": 0, "duplicates": 0, "ignored": 1}
    assert not VendorEvent.objects.exists()


def test_a_malformed_delivery_and_an_unknown_system_are_refused(qonto_connection) -> None:  # type: ignore[no-untyped-def]
    assert _post(b"[1, 2").status_code == 400
    assert (
        Client()
        .post("/webhooks/vendor/sevdesk", data=b"{}", content_type="application/json")
        .status_code
        == 404
    )
    assert (
        Client()
        .post("/webhooks/vendor/nosuch", data=b"{}", content_type="application/json")
        .status_code
        == 404
    )
    assert not VendorEvent.objects.exists()
