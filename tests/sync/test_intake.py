"""Webhook intake: signatures, batches, deduplication, unknown portals, billing hold."""

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any
from unittest import mock

import kombu.exceptions
import pytest
from django.test import Client, TestCase

from billing.models import Subscription
from billing.signals import subscription_activated
from connectors.hubspot import webhooks
from sync.models import WebhookEvent
from tests.factories import ConnectionFactory

SECRET = "apiup-sandbox-secret"
URL = "http://testserver/webhooks/hubspot"
FIXTURE = Path(__file__).parent / "fixtures" / "hubspot-webhook-batch.json"


def v3_headers(body: bytes, *, secret: str = SECRET, age_ms: int = 0) -> dict[str, str]:
    timestamp = str(int(time.time() * 1000) - age_ms)
    source = b"POST" + URL.encode() + body + timestamp.encode()
    signature = base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest())
    return {
        "HTTP_X_HUBSPOT_SIGNATURE_V3": signature.decode(),
        "HTTP_X_HUBSPOT_REQUEST_TIMESTAMP": timestamp,
    }


def v1_headers(body: bytes) -> dict[str, str]:
    return {
        "HTTP_X_HUBSPOT_SIGNATURE": hashlib.sha256(SECRET.encode() + body).hexdigest(),
        "HTTP_X_HUBSPOT_SIGNATURE_VERSION": "v1",
    }


def deal_stage_event(portal: str, deal_id: int, stage: str, event_id: int) -> dict[str, Any]:
    return {
        "objectId": deal_id,
        "propertyName": "dealstage",
        "propertyValue": stage,
        "changeSource": "CRM_UI",
        "eventId": event_id,
        "subscriptionId": 7,
        "portalId": int(portal),
        "appId": 1001,
        "occurredAt": int(time.time() * 1000),
        "subscriptionType": "deal.propertyChange",
        "attemptNumber": 0,
    }


def post(client: Client, events: Any, headers: dict[str, str] | None = None) -> Any:
    body = json.dumps(events).encode() if not isinstance(events, bytes) else events
    # The test runs inside a transaction; hand-offs "after commit" happen when the request ends.
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(
            "/webhooks/hubspot",
            data=body,
            content_type="application/json",
            **(headers if headers is not None else v3_headers(body)),
        )


@pytest.fixture
def portal(db):  # type: ignore[no-untyped-def]
    connection = ConnectionFactory(system="hubspot", external_account_id="33")
    Subscription.objects.create(
        tenant=connection.tenant, plan="lexoffice", status=Subscription.Status.ACTIVE
    )
    return connection


@pytest.fixture
def enqueued():  # type: ignore[no-untyped-def]
    with mock.patch("sync.tasks.enqueue_events") as fake:
        yield fake


@pytest.mark.django_db
def test_the_documented_example_batch_is_stored_and_handed_on(portal, enqueued) -> None:  # type: ignore[no-untyped-def]
    body = FIXTURE.read_bytes()
    response = post(Client(), body, v3_headers(body))
    assert response.status_code == 200
    assert response.json() == {"stored": 2, "duplicates": 0, "ignored": 0, "rejected": 0}
    assert WebhookEvent.objects.filter(tenant=portal.tenant).count() == 2
    (tenant_id, ids), _ = enqueued.call_args
    assert tenant_id == str(portal.tenant_id)
    assert len(ids) == 2


@pytest.mark.django_db
def test_v1_signatures_are_accepted(portal, enqueued) -> None:  # type: ignore[no-untyped-def]
    body = FIXTURE.read_bytes()
    assert post(Client(), body, v1_headers(body)).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"HTTP_X_HUBSPOT_SIGNATURE": "0" * 64},
        "forged",
        "stale",
    ],
)
def test_a_bad_signature_gets_401_and_stores_nothing(portal, enqueued, headers) -> None:  # type: ignore[no-untyped-def]
    body = FIXTURE.read_bytes()
    if headers == "forged":
        headers = v3_headers(body, secret="not-the-secret")
    elif headers == "stale":
        headers = v3_headers(body, age_ms=6 * 60 * 1000)
    assert post(Client(), body, headers).status_code == 401
    assert not WebhookEvent.objects.exists()
    enqueued.assert_not_called()


@pytest.mark.django_db
def test_a_tampered_body_fails_the_signature(portal, enqueued) -> None:  # type: ignore[no-untyped-def]
    body = FIXTURE.read_bytes()
    headers = v3_headers(body)
    assert post(Client(), body.replace(b"33", b"34"), headers).status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "not JSON"),
        (b"{}", "non-empty JSON array"),
        (b"[]", "non-empty JSON array"),
        (json.dumps([deal_stage_event("33", 1, "x", n) for n in range(101)]).encode(), "At most"),
    ],
)
def test_malformed_bodies_get_400_and_nothing_half_stored(portal, enqueued, body, message) -> None:  # type: ignore[no-untyped-def]
    response = post(Client(), body, v3_headers(body))
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
def test_the_same_batch_three_times_is_stored_once(portal, enqueued) -> None:  # type: ignore[no-untyped-def]
    events = [deal_stage_event("33", 100 + n, "closedwon", 5000 + n) for n in range(100)]
    results = [post(Client(), events).json() for _ in range(3)]
    assert results[0] == {"stored": 100, "duplicates": 0, "ignored": 0, "rejected": 0}
    assert results[1] == results[2] == {"stored": 0, "duplicates": 100, "ignored": 0, "rejected": 0}
    assert WebhookEvent.objects.count() == 100
    assert enqueued.call_count == 1


@pytest.mark.django_db
def test_events_of_an_unknown_portal_are_acknowledged_and_not_stored(portal, enqueued) -> None:  # type: ignore[no-untyped-def]
    response = post(Client(), [deal_stage_event("999", 1, "closedwon", 1)])
    assert response.status_code == 200
    assert response.json()["ignored"] == 1
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
def test_events_of_a_tenant_without_active_subscription_are_kept_on_hold(portal, enqueued) -> None:  # type: ignore[no-untyped-def]
    Subscription.objects.filter(tenant=portal.tenant).update(status=Subscription.Status.PAST_DUE)
    response = post(Client(), [deal_stage_event("33", 1, "closedwon", 1)])
    assert response.status_code == 200
    assert WebhookEvent.objects.get().state == WebhookEvent.State.ON_HOLD
    enqueued.assert_not_called()


def test_v3_accepts_the_url_decoded_form_too() -> None:
    body = b"[]"
    timestamp = str(int(time.time() * 1000))
    uri = "https://app.example/webhooks/hubspot?x=a%20b"
    source = b"POST" + b"https://app.example/webhooks/hubspot?x=a b" + body + timestamp.encode()
    signature = base64.b64encode(hmac.new(SECRET.encode(), source, hashlib.sha256).digest())
    webhooks.verify_signature(
        method="POST",
        uri=uri,
        body=body,
        headers={
            "X-HubSpot-Signature-v3": signature.decode(),
            "X-HubSpot-Request-Timestamp": timestamp,
        },
        client_secret=SECRET,
    )


@pytest.mark.django_db
def test_events_kept_on_hold_are_processed_when_payment_resumes(portal, enqueued) -> None:  # type: ignore[no-untyped-def]
    from sync.services.events import events_release_on_hold

    Subscription.objects.filter(tenant=portal.tenant).update(status=Subscription.Status.PAST_DUE)
    post(Client(), [deal_stage_event("33", n, "closedwon", n) for n in range(1, 4)])
    assert WebhookEvent.objects.filter(state=WebhookEvent.State.ON_HOLD).count() == 3

    released: list[tuple[str, list[str]]] = []
    with TestCase.captureOnCommitCallbacks(execute=True):
        count = events_release_on_hold(
            tenant=portal.tenant, enqueue=lambda t, ids: released.append((t, ids))
        )
    assert count == 3
    assert released[0][0] == str(portal.tenant_id)
    assert len(released[0][1]) == 3
    assert not WebhookEvent.objects.filter(state=WebhookEvent.State.ON_HOLD).exists()


@pytest.mark.django_db
def test_billing_announcing_an_active_subscription_releases_the_events_on_hold(  # type: ignore[no-untyped-def]
    portal, enqueued
) -> None:
    # billing may not import sync: it sends a signal, which sync.receivers answers.
    Subscription.objects.filter(tenant=portal.tenant).update(status=Subscription.Status.PAST_DUE)
    post(Client(), [deal_stage_event("33", n, "closedwon", n) for n in range(1, 3)])
    assert WebhookEvent.objects.filter(state=WebhookEvent.State.ON_HOLD).count() == 2

    with TestCase.captureOnCommitCallbacks(execute=True):
        subscription_activated.send(sender=Subscription, tenant=portal.tenant)
    (tenant_id, ids), _ = enqueued.call_args
    assert tenant_id == str(portal.tenant_id)
    assert len(ids) == 2
    assert not WebhookEvent.objects.filter(state=WebhookEvent.State.ON_HOLD).exists()


@pytest.mark.django_db
def test_a_broker_outage_after_storing_still_acknowledges_and_leaves_the_events_waiting(
    portal,  # type: ignore[no-untyped-def]
    enqueued,
) -> None:
    # An error answer would make HubSpot send the batch again, which is then a duplicate
    # and never handed out; the stored events wait for the resume task instead.
    enqueued.side_effect = kombu.exceptions.OperationalError("Error 111 connecting to Redis")
    response = post(Client(), [deal_stage_event("33", 501, "closedwon", 1)])
    assert response.status_code == 200
    assert response.json()["stored"] == 1
    assert WebhookEvent.objects.get(tenant=portal.tenant).state == WebhookEvent.State.RECEIVED


@pytest.mark.django_db
@pytest.mark.parametrize("timestamp", ["9" * 5000, "٣" * 13, "²" * 13])
def test_a_malformed_timestamp_header_gets_401_before_anything_else(  # type: ignore[no-untyped-def]
    portal, enqueued, timestamp
) -> None:
    body = FIXTURE.read_bytes()
    headers = v3_headers(body) | {"HTTP_X_HUBSPOT_REQUEST_TIMESTAMP": timestamp}
    assert post(Client(), body, headers).status_code == 401
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("eventId", "not-a-number", "eventId"),
        ("eventId", 1.5, "eventId"),
        ("eventId", 2**64, "eventId"),
        ("occurredAt", 10**20, "occurredAt"),
        ("occurredAt", -1, "occurredAt"),
        ("occurredAt", "yesterday", "occurredAt"),
        ("objectId", 2**64, "objectId"),
        ("objectId", "12a", "objectId"),
        ("objectId", "١٢", "objectId"),
        ("attemptNumber", "x", "attemptNumber"),
        ("subscriptionType", None, "lacks subscriptionType"),
    ],
)
def test_one_bad_event_is_rejected_and_the_rest_of_the_batch_stored(  # type: ignore[no-untyped-def]
    portal, enqueued, caplog, field, value, reason
) -> None:
    # An error answer would make HubSpot send the whole batch again, and again.
    bad = deal_stage_event("33", 2, "closedwon", 2) | {field: value}
    response = post(Client(), [deal_stage_event("33", 1, "closedwon", 1), bad])
    assert response.status_code == 200
    assert response.json() == {"stored": 1, "duplicates": 0, "ignored": 0, "rejected": 1}
    good = WebhookEvent.objects.get(state=WebhookEvent.State.RECEIVED)
    assert good.object_id == "1"
    rejected = WebhookEvent.objects.get(tenant=portal.tenant, state=WebhookEvent.State.REJECTED)
    assert reason in rejected.note
    assert rejected.payload[field] == value
    assert reason in caplog.text
    (_, ids), _ = enqueued.call_args
    assert ids == [str(good.pk)]


@pytest.mark.django_db
@pytest.mark.parametrize("portal_id", [2**64, "33a", "٣٣", None, [33]])
def test_an_event_with_a_bad_portal_is_rejected_without_a_tenant_to_file_it_under(  # type: ignore[no-untyped-def]
    portal, enqueued, caplog, portal_id
) -> None:
    bad = deal_stage_event("33", 2, "closedwon", 2) | {"portalId": portal_id}
    response = post(Client(), [deal_stage_event("33", 1, "closedwon", 1), bad])
    assert response.status_code == 200
    assert response.json() == {"stored": 1, "duplicates": 0, "ignored": 0, "rejected": 1}
    assert WebhookEvent.objects.get().object_id == "1"
    assert "portalId" in caplog.text


@pytest.mark.django_db
def test_numbers_beyond_python_s_digit_limit_reject_the_event_not_the_request(  # type: ignore[no-untyped-def]
    portal, enqueued
) -> None:
    # json.loads raises a plain ValueError (not JSONDecodeError) for ints over 4,300 digits.
    good = json.dumps(deal_stage_event("33", 1, "closedwon", 1))
    bad = json.dumps(deal_stage_event("33", 2, "closedwon", 2)).replace(
        '"eventId": 2', '"eventId": ' + "9" * 5000
    )
    body = f"[{good}, {bad}]".encode()
    response = post(Client(), body)
    assert response.status_code == 200
    assert response.json()["rejected"] == 1
    assert response.json()["stored"] == 1


@pytest.mark.django_db
def test_a_batch_sent_again_with_its_rejected_event_stores_nothing_twice(portal, enqueued) -> None:  # type: ignore[no-untyped-def]
    events = [deal_stage_event("33", 1, "closedwon", 1), deal_stage_event("33", 2, "x", "y")]
    post(Client(), events)
    again = post(Client(), events).json()
    assert again == {"stored": 0, "duplicates": 1, "ignored": 0, "rejected": 1}
    assert WebhookEvent.objects.count() == 2


@pytest.mark.django_db
def test_an_entry_that_is_not_an_event_object_is_rejected_alone(portal, enqueued) -> None:  # type: ignore[no-untyped-def]
    response = post(Client(), [[1], deal_stage_event("33", 1, "closedwon", 1), {"objectId": 1}])
    assert response.status_code == 200
    assert response.json() == {"stored": 1, "duplicates": 0, "ignored": 0, "rejected": 2}


@pytest.fixture
def second_portal(db):  # type: ignore[no-untyped-def]
    connection = ConnectionFactory(system="hubspot", external_account_id="44")
    Subscription.objects.create(
        tenant=connection.tenant, plan="lexoffice", status=Subscription.Status.ACTIVE
    )
    return connection


@pytest.fixture
def enqueued_split():  # type: ignore[no-untyped-def]
    with mock.patch("sync.tasks.enqueue_event_split") as fake:
        yield fake


@pytest.mark.django_db
def test_a_batch_of_two_tenants_is_handed_on_in_one_message_that_the_worker_splits(  # type: ignore[no-untyped-def]
    portal, second_portal, enqueued, enqueued_split
) -> None:
    events = [deal_stage_event("33", 1, "closedwon", 1), deal_stage_event("44", 2, "closedwon", 2)]
    assert post(Client(), events).json()["stored"] == 2
    enqueued.assert_not_called()
    ((by_tenant,), _) = enqueued_split.call_args
    assert enqueued_split.call_count == 1
    stored = {str(e.tenant_id): [str(e.pk)] for e in WebhookEvent.objects.all()}
    assert by_tenant == stored

    from sync import tasks

    tasks.split_events(by_tenant)  # the worker's half: one task per tenant
    assert sorted(call.args for call in enqueued.call_args_list) == sorted(stored.items())


@pytest.mark.django_db
def test_one_query_tells_each_portal_s_billing_state_in_a_mixed_batch(  # type: ignore[no-untyped-def]
    portal, second_portal, enqueued, enqueued_split, django_assert_max_num_queries
) -> None:
    Subscription.objects.filter(tenant=second_portal.tenant).update(
        status=Subscription.Status.CANCELED
    )
    events = [deal_stage_event("33", 1, "closedwon", 1), deal_stage_event("44", 2, "closedwon", 2)]
    # The tenants with their billing state, and the insert.
    with django_assert_max_num_queries(2):
        post(Client(), events)
    held = WebhookEvent.objects.get(tenant=second_portal.tenant)
    assert held.state == WebhookEvent.State.ON_HOLD
    enqueued_split.assert_not_called()
    (tenant_id, ids), _ = enqueued.call_args
    assert tenant_id == str(portal.tenant_id)
    assert ids == [str(WebhookEvent.objects.get(tenant=portal.tenant).pk)]


@pytest.mark.django_db
def test_the_same_event_twice_in_one_batch_is_stored_once(portal, enqueued) -> None:  # type: ignore[no-untyped-def]
    event = deal_stage_event("33", 1, "closedwon", 1)
    response = post(Client(), [event, dict(event)])
    assert response.json() == {"stored": 1, "duplicates": 1, "ignored": 0, "rejected": 0}
    assert WebhookEvent.objects.count() == 1


@pytest.mark.django_db
def test_an_event_stored_meanwhile_by_another_delivery_counts_as_a_duplicate(  # type: ignore[no-untyped-def]
    portal, enqueued
) -> None:
    # HubSpot may deliver the same batch twice at once: the second insert finds the first's
    # rows through the unique constraint and hands nothing on twice.
    first = deal_stage_event("33", 1, "closedwon", 1)
    post(Client(), [first])
    enqueued.reset_mock()
    response = post(Client(), [first, deal_stage_event("33", 2, "closedwon", 2)])
    assert response.json() == {"stored": 1, "duplicates": 1, "ignored": 0, "rejected": 0}
    (_, ids), _ = enqueued.call_args
    assert ids == [str(WebhookEvent.objects.get(object_id="2").pk)]


@pytest.mark.django_db
def test_the_stored_event_reads_back_as_it_came(portal, enqueued) -> None:  # type: ignore[no-untyped-def]
    event = deal_stage_event("33", 7, "closedwon", 70) | {"attemptNumber": 2}
    post(Client(), [event])
    stored = WebhookEvent.objects.get()
    assert stored.tenant_id == portal.tenant_id
    assert (stored.portal_id, stored.object_id, stored.event_id) == ("33", "7", 70)
    assert (stored.subscription_type, stored.property_name, stored.property_value) == (
        "deal.propertyChange",
        "dealstage",
        "closedwon",
    )
    assert stored.occurred_at is not None
    assert int(stored.occurred_at.timestamp() * 1000) == event["occurredAt"]
    assert stored.attempt_number == 2
    assert stored.payload == event
    assert stored.state == WebhookEvent.State.RECEIVED
    assert stored.received_at is not None
    assert stored.processed_at is None


def test_the_intake_writes_every_column_but_the_time_of_processing() -> None:
    from sync.intake import _COLUMNS

    columns = {f.attname for f in WebhookEvent._meta.concrete_fields}
    assert columns - set(_COLUMNS) == {"processed_at"}


def test_the_fast_path_serves_the_webhook_s_url() -> None:
    from django.urls import reverse

    from sync.views import WEBHOOK_PATH

    assert reverse("hubspot_webhook") == WEBHOOK_PATH


@pytest.mark.django_db
def test_the_webhook_skips_the_page_middleware_and_keeps_its_request_id(portal, enqueued) -> None:  # type: ignore[no-untyped-def]
    response = post(Client(), [deal_stage_event("33", 1, "closedwon", 1)])
    assert response.status_code == 200
    assert response["X-Request-ID"]
    assert "Content-Security-Policy" not in response
    assert "Set-Cookie" not in response
    # Pages still get theirs.
    assert "Content-Security-Policy" in Client().get("/accounts/login/")


@pytest.mark.django_db
def test_the_webhook_is_still_redirected_to_https_when_the_site_asks(  # type: ignore[no-untyped-def]
    portal, enqueued, settings
) -> None:
    settings.SECURE_SSL_REDIRECT = True
    response = post(Client(), [deal_stage_event("33", 1, "closedwon", 1)])
    assert response.status_code == 301
    assert response["Location"].startswith("https://")
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
def test_each_portal_is_matched_to_its_own_tenant_whichever_the_batch_names(  # type: ignore[no-untyped-def]
    portal, second_portal
) -> None:
    from sync.intake import _portals

    Subscription.objects.filter(tenant=second_portal.tenant).update(
        status=Subscription.Status.PAST_DUE
    )
    first = _portals({"33", "44", "999"})
    assert {p: (link.tenant_id, link.transferring) for p, link in first.items()} == {
        "33": (str(portal.tenant_id), True),
        "44": (str(second_portal.tenant_id), False),
    }
    # The same number of portals again, other ones: the statement is reused, not the ids.
    second = _portals({"44", "1000", "33"})
    assert second == first
    assert _portals({"999"}) == {}


def test_new_event_ids_are_random_version_4_uuids() -> None:
    import uuid

    from sync.intake import _new_ids

    ids = _new_ids(50)
    assert len(set(ids)) == 50
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


@pytest.mark.django_db
def test_events_have_no_index_on_the_tenant_alone_but_every_tenant_lookup_is_indexed() -> None:
    from django.db import connection

    table = WebhookEvent._meta.db_table
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    indexed = [c["columns"] for c in constraints.values() if c["index"] or c["unique"]]
    assert ["tenant_id"] not in indexed
    assert ["tenant_id", "dedupe_key"] in indexed
    assert ["tenant_id", "state", "received_at"] in indexed


@pytest.fixture
def published():  # type: ignore[no-untyped-def]
    """Every message the product hands to the broker, caught where Celery publishes it."""
    with mock.patch.object(kombu.Producer, "publish") as publish:
        yield publish


def _task_arguments(publish_call: Any) -> tuple[Any, ...]:
    body = publish_call.args[0]  # Celery's message body: (args, kwargs, embed)
    return tuple(body[0])


@pytest.mark.django_db
def test_a_full_batch_is_one_broker_message_with_every_new_event(portal, published) -> None:  # type: ignore[no-untyped-def]
    events = [deal_stage_event("33", n, "closedwon", n) for n in range(1, 101)]
    assert post(Client(), events).json()["stored"] == 100
    assert published.call_count == 1
    tenant_id, ids = _task_arguments(published.call_args)
    assert tenant_id == str(portal.tenant_id)
    stored = WebhookEvent.objects.filter(tenant=portal.tenant).values_list("pk", flat=True)
    assert sorted(ids) == sorted(str(pk) for pk in stored)


@pytest.mark.django_db
def test_a_batch_of_two_tenants_is_one_broker_message_too(portal, second_portal, published) -> None:  # type: ignore[no-untyped-def]
    events = [deal_stage_event("33" if n % 2 else "44", n, "closedwon", n) for n in range(1, 51)]
    assert post(Client(), events).json()["stored"] == 50
    assert published.call_count == 1
    (by_tenant,) = _task_arguments(published.call_args)
    assert {tenant: len(ids) for tenant, ids in by_tenant.items()} == {
        str(portal.tenant_id): 25,
        str(second_portal.tenant_id): 25,
    }


@pytest.mark.django_db
def test_duplicates_inside_a_batch_and_across_requests_are_stored_and_handed_on_once(  # type: ignore[no-untyped-def]
    portal, published
) -> None:
    fresh = [deal_stage_event("33", n, "closedwon", n) for n in range(1, 41)]
    first = fresh[:30] + [dict(event) for event in fresh[:20]]  # 20 repeated inside the batch
    assert post(Client(), first).json() == {
        "stored": 30,
        "duplicates": 20,
        "ignored": 0,
        "rejected": 0,
    }
    (_, first_ids) = _task_arguments(published.call_args)
    published.reset_mock()
    # 30 already stored by the first request, 10 new, and one new event twice.
    second = [*fresh, dict(fresh[-1])]
    assert post(Client(), second).json() == {
        "stored": 10,
        "duplicates": 31,
        "ignored": 0,
        "rejected": 0,
    }
    assert published.call_count == 1
    (_, second_ids) = _task_arguments(published.call_args)
    assert len(first_ids) == 30
    assert len(second_ids) == 10
    assert not set(first_ids) & set(second_ids)
    assert WebhookEvent.objects.filter(tenant=portal.tenant).count() == 40
    published.reset_mock()
    assert post(Client(), second).json()["stored"] == 0
    published.assert_not_called()  # nothing new: no message at all


@pytest.mark.django_db
def test_an_integer_too_long_for_an_id_but_within_python_s_limit_rejects_its_event_alone(  # type: ignore[no-untyped-def]
    portal, enqueued
) -> None:
    long_id = deal_stage_event("33", 2, "closedwon", 2) | {"eventId": 10**60}
    long_extra = deal_stage_event("33", 3, "closedwon", 3) | {"subscriptionId": 10**60}
    response = post(Client(), [deal_stage_event("33", 1, "closedwon", 1), long_id, long_extra])
    assert response.status_code == 200
    assert response.json() == {"stored": 2, "duplicates": 0, "ignored": 0, "rejected": 1}
    rejected = WebhookEvent.objects.get(state=WebhookEvent.State.REJECTED)
    assert "eventId" in rejected.note
    # A field the intake does not read is kept as it came.
    assert WebhookEvent.objects.get(object_id="3").payload["subscriptionId"] == 10**60


def test_only_a_body_over_python_s_digit_limit_is_parsed_a_second_time() -> None:
    from sync import intake

    event = deal_stage_event("33", 1, "closedwon", 1)
    with mock.patch("sync.intake._int_literal", wraps=intake._int_literal) as hook:
        assert intake.parse_batch(json.dumps([event]).encode()).events == [event]
        hook.assert_not_called()
        long = json.dumps([event]).replace('"eventId": 1', '"eventId": ' + "9" * 5000)
        batch = intake.parse_batch(long.encode())
    assert hook.called
    assert batch.events == []
    assert len(batch.rejected) == 1


def test_a_float_beyond_double_range_is_stored_as_its_text(portal, enqueued) -> None:  # type: ignore[no-untyped-def]
    body = json.dumps([deal_stage_event("33", 1, "closedwon", 1) | {"propertyValue": 7}])
    response = post(Client(), body.replace('"propertyValue": 7', '"propertyValue": 1e400').encode())
    assert response.status_code == 200
    assert response.json()["stored"] == 1
    assert WebhookEvent.objects.get().payload["propertyValue"] == "1e400"
