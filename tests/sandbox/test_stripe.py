"""The Stripe sandbox over real HTTP, driven by Stripe's own Python library where the product
uses it: Checkout with a trial, the hosted payment page, the portal, subscriptions,
idempotency, errors, signed webhooks with retries, the rate limit and every fault switch."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import stripe
from flask import Flask, Response, request
from werkzeug.serving import make_server

from sandbox.core import Faults, RunningSandbox, running
from sandbox.stripe.app import StripeSandbox
from sandbox.stripe.webhooks import ACCOUNT

KEY = "sk_test_sandbox"
WEBHOOK_SECRET = "whsec_test_apiup"
PRICE = "price_lexoffice_monthly"


@dataclass
class Receiver:
    """A webhook endpoint of ours: records what arrives, answers 500 when told to."""

    url: str = ""
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    fail_type: str = ""  # answer 500 once to the next event of this type
    lock: threading.Lock = field(default_factory=threading.Lock)

    def events(self, event_type: str | None = None) -> list[stripe.Event]:
        with self.lock:
            received = list(self.received)
        events = [
            stripe.Webhook.construct_event(body, headers["Stripe-Signature"], WEBHOOK_SECRET)
            for headers, body in received
        ]
        return [e for e in events if event_type is None or e.type == event_type]


def stripe_records(sandbox: RunningSandbox, resource: str) -> Mapping[str, dict[str, Any]]:
    stand_in = sandbox.sandbox
    assert isinstance(stand_in, StripeSandbox)
    return stand_in.records(resource)


def wait_for(condition: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    app = Flask("receiver")

    @app.post("/stripe")
    def stripe_webhook() -> Response:
        with hook.lock:
            hook.received.append((dict(request.headers), request.get_data()))
            if hook.fail_type and json.loads(request.get_data())["type"] == hook.fail_type:
                hook.fail_type = ""
                return Response("boom", status=500)
        return Response("ok")

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hook.url = f"http://127.0.0.1:{server.port}/stripe"
    yield hook
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def sandbox(receiver: Receiver) -> Iterator[RunningSandbox]:
    stand_in = StripeSandbox(
        contract=True, rate_per_second=1000, webhook_retry_delays=(0.05, 0.1, 0.2)
    )
    with running(stand_in) as handle:
        answer = requests.post(
            f"{handle.url}/_sandbox/webhooks",
            json={"url": receiver.url, "secret": WEBHOOK_SECRET},
            timeout=5,
        )
        assert answer.json() == {"url": receiver.url, "secret": WEBHOOK_SECRET}
        yield handle


@pytest.fixture(autouse=True)
def no_faults(sandbox: RunningSandbox) -> Iterator[None]:
    yield
    sandbox.sandbox.faults = Faults()


@pytest.fixture
def client(sandbox: RunningSandbox) -> stripe.StripeClient:
    return stripe.StripeClient(KEY, base_addresses={"api": sandbox.url}, max_network_retries=0)


def checkout_params(**overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "mode": "subscription",
        "line_items": [{"price": PRICE, "quantity": 1}],
        "success_url": "https://app.example.com/billing/success?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://app.example.com/billing/cancel",
        "client_reference_id": "tenant_42",
        "customer_email": "owner@example.com",
        "metadata": {"tenant": "tenant_42"},
    }
    params.update(overrides)
    return params


def pay(url: str, **form: str) -> requests.Response:
    """What a browser sends when the person submits the hosted page."""
    return requests.post(url, data=form, allow_redirects=False, timeout=5)


def completed_subscription(client: stripe.StripeClient, **overrides: Any) -> stripe.Subscription:
    session = client.v1.checkout.sessions.create(checkout_params(**overrides))
    assert session.url is not None
    assert pay(session.url, action="card", card_number="4242424242424242").status_code == 303
    done = client.v1.checkout.sessions.retrieve(session.id)
    assert done.subscription is not None
    return client.v1.subscriptions.retrieve(str(done.subscription))


def test_creates_a_customer_with_metadata(
    client: stripe.StripeClient, sandbox: RunningSandbox
) -> None:
    customer = client.v1.customers.create(
        {"email": "jenny@example.com", "name": "Jenny Rosen", "metadata": {"tenant": "t_1"}}
    )

    assert customer.id.startswith("cus_")
    assert customer.email == "jenny@example.com"
    assert customer.metadata.to_dict() == {"tenant": "t_1"}
    assert customer.id in stripe_records(sandbox, "customers")


def test_refuses_missing_and_unknown_keys_in_stripes_envelope(
    sandbox: RunningSandbox,
) -> None:
    missing = requests.post(f"{sandbox.url}/v1/customers", timeout=5)
    wrong = requests.post(
        f"{sandbox.url}/v1/customers",
        headers={"Authorization": "Bearer sk_test_not_ours_1234"},
        timeout=5,
    )

    assert missing.status_code == 401
    assert missing.json()["error"]["type"] == "invalid_request_error"
    assert missing.json()["error"]["message"].startswith("You did not provide an API key.")
    assert wrong.status_code == 401
    assert wrong.json()["error"]["message"] == "Invalid API Key provided: sk_test_****1234"
    with pytest.raises(stripe.AuthenticationError):
        stripe.StripeClient(
            "sk_test_wrong", base_addresses={"api": sandbox.url}
        ).v1.customers.create()


def test_basic_auth_with_the_key_as_user_name_is_accepted(sandbox: RunningSandbox) -> None:
    answer = requests.post(f"{sandbox.url}/v1/customers", auth=(KEY, ""), timeout=5)

    assert answer.status_code == 200


def test_checkout_with_trial_completes_on_the_hosted_page_and_sends_signed_webhooks(
    client: stripe.StripeClient, sandbox: RunningSandbox, receiver: Receiver
) -> None:
    session = client.v1.checkout.sessions.create(
        checkout_params(subscription_data={"trial_period_days": 14})
    )
    assert session.status == "open"
    assert session.payment_status == "unpaid"
    assert session.amount_total == 0  # nothing due today during a trial
    assert session.url == f"{sandbox.url}/c/pay/{session.id}"

    page = requests.get(session.url, timeout=5)
    assert page.status_code == 200
    assert "14 days free" in page.text
    answer = pay(
        session.url, action="card", email="x@example.com", card_number="4242 4242 4242 4242"
    )

    assert answer.status_code == 303
    assert answer.headers["Location"] == (
        f"https://app.example.com/billing/success?session_id={session.id}"
    )
    done = client.v1.checkout.sessions.retrieve(session.id)
    assert done.status == "complete"
    assert done.payment_status == "no_payment_required"
    assert done.url is None
    customer_id = str(done.customer)
    assert stripe_records(sandbox, "customers")[customer_id]["email"] == "owner@example.com"
    subscription = client.v1.subscriptions.retrieve(str(done.subscription))
    assert subscription.status == "trialing"
    assert subscription.customer == customer_id
    item = subscription["items"]["data"][0]
    assert item["price"]["id"] == PRICE
    assert item["current_period_end"] == subscription.trial_end
    assert "current_period_end" not in subscription  # moved to the items (basil and later)

    completed = wait_for(
        lambda: [
            e
            for e in receiver.events("checkout.session.completed")
            if e.data.object["id"] == session.id
        ]
    )
    event = completed[0]
    assert event.api_version == "2026-10-28.endive"
    assert event.data.object["client_reference_id"] == "tenant_42"
    assert event.data.object["subscription"] == subscription.id
    assert event.data.object["metadata"].to_dict() == {"tenant": "tenant_42"}
    assert stripe_records(sandbox, "events")[event.id]["type"] == "checkout.session.completed"
    paid = [
        e
        for e in receiver.events("invoice.paid")
        if e.data.object["parent"]["subscription_details"]["subscription"] == subscription.id
    ]
    assert paid[0].data.object["billing_reason"] == "subscription_create"
    created = [
        e
        for e in receiver.events("customer.subscription.created")
        if e.data.object["id"] == subscription.id
    ]
    assert created[0].data.object["status"] == "trialing"


def test_forged_webhook_signature_is_refused_by_the_library(receiver: Receiver) -> None:
    headers, body = wait_for(lambda: receiver.received)[0]
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, headers["Stripe-Signature"], "whsec_other")


def test_checkout_without_trial_paid_with_paypal_is_active(
    client: stripe.StripeClient, sandbox: RunningSandbox
) -> None:
    session = client.v1.checkout.sessions.create(
        checkout_params(line_items=[{"price": PRICE, "quantity": 2}], customer_email=None)
    )
    assert session.amount_total == 5800
    answer = pay(str(session.url), action="paypal", email="paypal@example.com")

    assert answer.status_code == 303
    done = client.v1.checkout.sessions.retrieve(session.id)
    assert done.payment_status == "paid"
    subscription = client.v1.subscriptions.retrieve(str(done.subscription))
    assert subscription.status == "active"
    invoice = stripe_records(sandbox, "invoices")[str(subscription.latest_invoice)]
    assert invoice["amount_paid"] == 5800
    assert invoice["status"] == "paid"
    assert stripe_records(sandbox, "customers")[str(done.customer)]["email"] == "paypal@example.com"


def test_declined_card_shows_the_message_and_keeps_the_session_open(
    client: stripe.StripeClient,
) -> None:
    session = client.v1.checkout.sessions.create(checkout_params())

    answer = pay(str(session.url), action="card", card_number="4000 0000 0000 0002")

    assert answer.status_code == 402
    assert "Your card was declined." in answer.text
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"


def test_cancel_goes_back_to_cancel_url(client: stripe.StripeClient) -> None:
    session = client.v1.checkout.sessions.create(checkout_params())

    answer = pay(str(session.url), action="cancel")

    assert answer.status_code == 303
    assert answer.headers["Location"] == "https://app.example.com/billing/cancel"
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"


@pytest.mark.parametrize(
    ("params", "code", "param", "message"),
    [
        (
            checkout_params(line_items=None),
            "parameter_missing",
            "line_items",
            "Missing required param: line_items.",
        ),
        (
            checkout_params(line_items=[{"price": PRICE}]),
            "parameter_missing",
            "line_items[0][quantity]",
            "Missing required param: line_items[0][quantity].",
        ),
        (
            checkout_params(line_items=[{"price": "price_nope", "quantity": 1}]),
            "resource_missing",
            "line_items[0][price]",
            "No such price: 'price_nope'",
        ),
        (
            checkout_params(customer="cus_nope", customer_email=None),
            "resource_missing",
            "customer",
            "No such customer: 'cus_nope'",
        ),
        (
            checkout_params(subscription_data={"trial_period_days": "soon"}),
            "parameter_invalid_integer",
            "subscription_data[trial_period_days]",
            "Invalid integer: soon",
        ),
        (
            checkout_params(discount_code="X"),
            "parameter_unknown",
            "discount_code",
            "Received unknown parameter: discount_code",
        ),
    ],
)
def test_checkout_refuses_invalid_requests_like_stripe(
    client: stripe.StripeClient,
    params: dict[str, Any],
    code: str,
    param: str,
    message: str,
) -> None:
    params = {k: v for k, v in params.items() if v is not None}

    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.checkout.sessions.create(params)  # type: ignore[arg-type]

    assert caught.value.http_status == 400
    assert caught.value.code == code
    assert caught.value.param == param
    assert caught.value.user_message == message


def test_invalid_requests_get_the_error_envelope(sandbox: RunningSandbox) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    customer = requests.post(
        f"{sandbox.url}/v1/customers", data={"email": "owner@example.com"}, headers=auth, timeout=5
    ).json()
    both = requests.post(
        f"{sandbox.url}/v1/checkout/sessions",
        data={
            "mode": "subscription",
            "line_items[0][price]": PRICE,
            "line_items[0][quantity]": "1",
            "customer": customer["id"],
            "customer_email": "owner@example.com",
        },
        headers=auth,
        timeout=5,
    )
    zero_trial = requests.post(
        f"{sandbox.url}/v1/checkout/sessions",
        data={
            "mode": "subscription",
            "line_items[0][price]": PRICE,
            "line_items[0][quantity]": "1",
            "subscription_data[trial_period_days]": "0",
        },
        headers=auth,
        timeout=5,
    )
    maybe = requests.post(
        f"{sandbox.url}/v1/checkout/sessions",
        data={
            "mode": "subscription",
            "line_items[0][price]": PRICE,
            "line_items[0][quantity]": "1",
            "customer": "cus_nope",
            "allow_promotion_codes": "maybe",
        },
        headers=auth,
        timeout=5,
    )
    unknown = requests.get(
        f"{sandbox.url}/v1/checkout/sessions/cs_test_nope", headers=auth, timeout=5
    )

    assert both.status_code == 400
    assert both.json() == {
        "error": {
            "type": "invalid_request_error",
            "code": "parameters_exclusive",
            "doc_url": "https://stripe.com/docs/error-codes/parameters-exclusive",
            "message": "You may only specify one of these parameters: customer, customer_email.",
            "param": "customer_email",
        }
    }
    assert zero_trial.status_code == 400
    assert zero_trial.json()["error"]["param"] == "subscription_data[trial_period_days]"
    # The spec step checks the parameters before the handler looks the customer up.
    assert maybe.status_code == 400
    assert maybe.json()["error"] == {
        "type": "invalid_request_error",
        "message": "Invalid boolean: maybe",
        "param": "allow_promotion_codes",
    }
    assert unknown.status_code == 404
    assert unknown.json()["error"] == {
        "type": "invalid_request_error",
        "code": "resource_missing",
        "doc_url": "https://stripe.com/docs/error-codes/resource-missing",
        "message": "No such checkout.session: 'cs_test_nope'",
        "param": "session",
    }
    assert "Request-Id" in unknown.headers


def test_session_past_expires_at_is_expired_and_its_page_gone(
    client: stripe.StripeClient, sandbox: RunningSandbox
) -> None:
    session = client.v1.checkout.sessions.create(checkout_params())
    sandbox.sandbox.store.update(
        "checkout sessions", ACCOUNT, session.id, {"expires_at": int(time.time()) - 1}
    )

    expired = client.v1.checkout.sessions.retrieve(session.id)
    page = requests.get(str(session.url), timeout=5)

    assert expired.status == "expired"
    assert expired.url is None
    assert page.status_code == 410


def test_trial_end_timestamp_sets_the_trial(client: stripe.StripeClient) -> None:
    trial_end = int(time.time()) + 10 * 86400

    subscription = completed_subscription(client, subscription_data={"trial_end": trial_end})
    with pytest.raises(stripe.InvalidRequestError) as too_soon:
        client.v1.checkout.sessions.create(
            checkout_params(subscription_data={"trial_end": int(time.time()) + 3600})
        )
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.checkout.sessions.create(
            checkout_params(subscription_data={"trial_days": 3})  # type: ignore[typeddict-unknown-key]
        )

    assert subscription.status == "trialing"
    assert subscription.trial_end == trial_end
    assert too_soon.value.param == "subscription_data[trial_end]"
    assert unknown.value.code == "parameter_unknown"
    assert unknown.value.param == "subscription_data[trial_days]"


def schedule_cancel_in_the_portal(client: stripe.StripeClient, subscription_id: str) -> None:
    customer = str(client.v1.subscriptions.retrieve(subscription_id).customer)
    portal = client.v1.billing_portal.sessions.create({"customer": customer})
    assert pay(portal.url, action="cancel", subscription=subscription_id).status_code == 200


def test_portal_cancels_at_period_end(client: stripe.StripeClient, receiver: Receiver) -> None:
    subscription = completed_subscription(client)
    portal = client.v1.billing_portal.sessions.create(
        {"customer": str(subscription.customer), "return_url": "https://app.example.com/account"}
    )
    assert portal.url.endswith(f"/p/session/{portal.id}")
    assert subscription.id in requests.get(portal.url, timeout=5).text

    canceled = pay(portal.url, action="cancel", subscription=subscription.id)
    unknown = pay(portal.url, action="cancel", subscription="sub_other")

    assert canceled.status_code == 200
    assert "Your subscription will be canceled." in canceled.text
    assert "Cancel subscription" not in canceled.text
    assert unknown.status_code == 404
    after = client.v1.subscriptions.retrieve(subscription.id)
    assert after.status == "active"
    assert after.cancel_at_period_end is True
    assert after.cancel_at == after["items"]["data"][0]["current_period_end"]
    updated = wait_for(
        lambda: [
            e
            for e in receiver.events("customer.subscription.updated")
            if e.data.object["id"] == subscription.id
        ]
    )
    assert updated[0].data.previous_attributes["cancel_at_period_end"] is False


def test_portal_needs_a_known_customer(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.billing_portal.sessions.create({"return_url": "https://app.example.com"})
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.billing_portal.sessions.create({"customer": "cus_nope"})

    assert missing.value.code == "parameter_missing"
    assert unknown.value.code == "resource_missing"


def test_cancel_at_period_end_then_delete_ends_the_subscription(
    client: stripe.StripeClient, receiver: Receiver
) -> None:
    subscription = completed_subscription(client)

    schedule_cancel_in_the_portal(client, subscription.id)
    deleted = client.v1.subscriptions.cancel(subscription.id)
    again = client.v1.subscriptions.cancel(subscription.id)

    assert deleted.status == "canceled"
    assert deleted.cancel_at_period_end is True
    assert again.ended_at == deleted.ended_at
    assert deleted.ended_at is not None
    gone = wait_for(
        lambda: [
            e
            for e in receiver.events("customer.subscription.deleted")
            if e.data.object["id"] == subscription.id
        ]
    )
    assert gone[0].data.object["status"] == "canceled"


def test_failed_payment_makes_past_due_and_paying_makes_active(
    client: stripe.StripeClient, sandbox: RunningSandbox, receiver: Receiver
) -> None:
    subscription = completed_subscription(client)
    admin = f"{sandbox.url}/_sandbox/subscriptions/{subscription.id}"

    failed = requests.post(f"{admin}/fail_payment", timeout=5).json()
    assert client.v1.subscriptions.retrieve(subscription.id).status == "past_due"
    paid = requests.post(f"{admin}/pay", timeout=5).json()

    assert failed["invoice"]["status"] == "open"
    assert paid["invoice"]["id"] == failed["invoice"]["id"]
    assert paid["invoice"]["status"] == "paid"
    assert client.v1.subscriptions.retrieve(subscription.id).status == "active"
    failures = wait_for(
        lambda: [
            e
            for e in receiver.events("invoice.payment_failed")
            if e.data.object["id"] == failed["invoice"]["id"]
        ]
    )
    assert failures[0].data.object["next_payment_attempt"] is not None
    assert wait_for(
        lambda: [
            e
            for e in receiver.events("invoice.paid")
            if e.data.object["id"] == failed["invoice"]["id"]
        ]
    )


def test_period_end_ends_a_subscription_set_to_cancel(
    client: stripe.StripeClient, sandbox: RunningSandbox, receiver: Receiver
) -> None:
    subscription = completed_subscription(client)
    schedule_cancel_in_the_portal(client, subscription.id)

    answer = requests.post(
        f"{sandbox.url}/_sandbox/subscriptions/{subscription.id}/end_period", timeout=5
    )

    assert answer.json()["subscription"]["status"] == "canceled"
    assert client.v1.subscriptions.retrieve(subscription.id).status == "canceled"
    assert wait_for(
        lambda: [
            e
            for e in receiver.events("customer.subscription.deleted")
            if e.data.object["id"] == subscription.id
        ]
    )


def test_short_trial_sends_trial_will_end(client: stripe.StripeClient, receiver: Receiver) -> None:
    subscription = completed_subscription(client, subscription_data={"trial_period_days": 2})

    ending = wait_for(
        lambda: [
            e
            for e in receiver.events("customer.subscription.trial_will_end")
            if e.data.object["id"] == subscription.id
        ]
    )
    assert ending[0].data.object["status"] == "trialing"


def test_idempotency_key_replays_and_refuses_other_parameters(
    client: stripe.StripeClient, sandbox: RunningSandbox
) -> None:
    key = str(uuid.uuid4())

    first = client.v1.customers.create({"email": "a@example.com"}, {"idempotency_key": key})
    again = client.v1.customers.create({"email": "a@example.com"}, {"idempotency_key": key})
    raw = requests.post(
        f"{sandbox.url}/v1/customers",
        data={"email": "a@example.com"},
        headers={"Authorization": f"Bearer {KEY}", "Idempotency-Key": key},
        timeout=5,
    )
    with pytest.raises(stripe.IdempotencyError) as caught:
        client.v1.customers.create({"email": "b@example.com"}, {"idempotency_key": key})

    assert again.id == first.id
    assert raw.json()["id"] == first.id
    assert raw.headers["Idempotent-Replayed"] == "true"
    assert caught.value.http_status == 400
    assert "can only be used with the same parameters" in str(caught.value.user_message)
    assert [
        c for c in stripe_records(sandbox, "customers").values() if c["email"] == "a@example.com"
    ] == [stripe_records(sandbox, "customers")[first.id]]


def test_webhook_is_retried_after_a_500_and_can_be_resent(
    client: stripe.StripeClient, sandbox: RunningSandbox, receiver: Receiver
) -> None:
    subscription = completed_subscription(client)
    with receiver.lock:
        receiver.fail_type = "customer.subscription.updated"
    schedule_cancel_in_the_portal(client, subscription.id)

    first = wait_for(
        lambda: [
            d
            for d in stripe_records(sandbox, "webhook deliveries").values()
            if d["delivered"]
            and d["type"] == "customer.subscription.updated"
            and stripe_records(sandbox, "events")[d["event"]]["data"]["object"]["id"]
            == subscription.id
        ]
    )[0]
    assert [a["status"] for a in first["attempts"]] == [500, 200]
    resent = requests.post(f"{sandbox.url}/_sandbox/events/{first['event']}/resend", timeout=5)

    assert resent.status_code == 200
    again = wait_for(
        lambda: [e for e in receiver.events() if e.id == first["event"]][2:]
    )  # the failed attempt, its retry, the resend: the same event id three times
    assert again[0].data.object["id"] == subscription.id
    # The count drops once the sandbox has recorded the answer, just after the receiver got it.
    assert wait_for(
        lambda: stripe_records(sandbox, "events")[first["event"]]["pending_webhooks"] == 0
    )


def test_rate_limit_answers_429_in_stripes_format() -> None:
    with running(StripeSandbox(rate_per_second=2)) as handle:
        answers = [
            requests.get(
                f"{handle.url}/v1/subscriptions/sub_nope",
                headers={"Authorization": f"Bearer {KEY}"},
                timeout=5,
            )
            for _ in range(3)
        ]
        client = stripe.StripeClient(KEY, base_addresses={"api": handle.url})
        with pytest.raises(stripe.RateLimitError):
            client.v1.customers.create()

    assert [a.status_code for a in answers] == [404, 404, 429]
    assert answers[2].json()["error"]["code"] == "rate_limit"
    assert answers[2].json()["error"]["type"] == "invalid_request_error"
    assert answers[2].headers["Request-Id"].startswith("req_")


def test_payment_method_types_limit_the_hosted_page() -> None:
    # The spec subset omits this real parameter; the Stripe checker declares it from the API
    # reference (UNLISTED_PARAMETERS), so the spec step and the contract check both accept it.
    sandbox = StripeSandbox(contract=True)
    with running(sandbox) as handle:
        client = stripe.StripeClient(KEY, base_addresses={"api": handle.url})
        card_only = client.v1.checkout.sessions.create(
            checkout_params(payment_method_types=["card"])
        )
        with pytest.raises(stripe.InvalidRequestError) as caught:
            client.v1.checkout.sessions.create(checkout_params(payment_method_types=["cash"]))
        page = requests.get(str(card_only.url), timeout=5).text

    assert card_only.payment_method_types == ["card"]
    assert "Card number" in page
    assert "PayPal" not in page
    assert caught.value.param == "payment_method_types[0]"
    assert sandbox.contract is not None
    assert sandbox.contract.violations == []


def test_latency_fault_slows_answers(client: stripe.StripeClient, sandbox: RunningSandbox) -> None:
    sandbox.sandbox.faults.latency_ms = 300
    started = time.monotonic()

    client.v1.customers.create()

    assert time.monotonic() - started >= 0.3


def test_server_error_fault_answers_500_api_error(
    client: stripe.StripeClient, sandbox: RunningSandbox
) -> None:
    requests.post(f"{sandbox.url}/_sandbox/faults", json={"server_error_rate": 1}, timeout=5)

    with pytest.raises(stripe.APIError) as caught:
        client.v1.customers.create()

    assert caught.value.http_status == 500
    assert caught.value.error is not None
    assert caught.value.error.type == "api_error"


def test_drop_after_commit_keeps_the_customer_and_a_retry_replays_it(
    sandbox: RunningSandbox,
) -> None:
    key = str(uuid.uuid4())
    headers = {"Authorization": f"Bearer {KEY}", "Idempotency-Key": key}
    form = {"email": "dropped@example.com"}
    sandbox.sandbox.faults.drop_after_commit_rate = 1.0

    with pytest.raises(requests.ConnectionError):
        requests.post(
            f"{sandbox.url}/v1/customers",
            data=form,
            headers=headers,
            timeout=5,
        )
    sandbox.sandbox.faults.drop_after_commit_rate = 0.0
    retry = requests.post(
        f"{sandbox.url}/v1/customers",
        data=form,
        headers=headers,
        timeout=5,
    )

    stored = [
        c for c in stripe_records(sandbox, "customers").values() if c["email"] == form["email"]
    ]
    assert len(stored) == 1
    assert retry.json()["id"] == stored[0]["id"]
    assert retry.headers["Idempotent-Replayed"] == "true"


def test_rate_limit_fault_answers_429(client: stripe.StripeClient, sandbox: RunningSandbox) -> None:
    sandbox.sandbox.faults.rate_limit_rate = 1.0

    with pytest.raises(stripe.RateLimitError) as caught:
        client.v1.customers.create()

    assert caught.value.http_status == 429
    assert caught.value.error is not None
    assert caught.value.error.code == "rate_limit"


def test_down_fault_answers_503(client: stripe.StripeClient, sandbox: RunningSandbox) -> None:
    requests.post(f"{sandbox.url}/_sandbox/faults", json={"down_for_seconds": 5}, timeout=5)

    with pytest.raises(stripe.APIError) as caught:
        client.v1.customers.create()

    assert caught.value.http_status == 503


def test_inspection_page_lists_what_was_created(
    client: stripe.StripeClient, sandbox: RunningSandbox
) -> None:
    subscription = completed_subscription(client)

    page = requests.get(f"{sandbox.url}/_sandbox/", timeout=5).text
    state = requests.get(f"{sandbox.url}/_sandbox/state", timeout=5).json()

    assert subscription.id in page
    assert str(subscription.customer) in page
    for kind in ("customers", "checkout sessions", "subscriptions", "invoices", "events"):
        assert f"<h2>{kind} (" in page
    assert "webhook deliveries" in state
    assert any(s["id"] == subscription.id for s in state["subscriptions"])


def test_valid_traffic_matched_the_spec(sandbox: RunningSandbox) -> None:
    contract = sandbox.sandbox.contract
    assert contract is not None

    assert contract.checked > 20
    assert [json.dumps(v.__dict__) for v in contract.violations] == []


def test_the_spec_step_refuses_a_checkout_without_line_items_before_the_handler(
    sandbox: RunningSandbox,
) -> None:
    stand_in = sandbox.sandbox
    assert isinstance(stand_in, StripeSandbox)
    stored = len(stand_in.checkout_sessions), len(stand_in.records("customers"))

    answer = requests.post(
        f"{sandbox.url}/v1/checkout/sessions",
        data={"mode": "subscription", "success_url": "https://app.example.com/billing/success"},
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=5,
    )

    assert answer.status_code == 400
    assert answer.json() == {
        "error": {
            "type": "invalid_request_error",
            "code": "parameter_missing",
            "doc_url": "https://stripe.com/docs/error-codes/parameter-missing",
            "message": "Missing required param: line_items.",
            "param": "line_items",
        }
    }
    assert "Request-Id" in answer.headers
    assert (len(stand_in.checkout_sessions), len(stand_in.records("customers"))) == stored


@pytest.mark.parametrize(
    ("path", "form", "param"),
    [
        (
            "/v1/checkout/sessions",
            {
                "mode": "subscription",
                "line_items[0][price]": PRICE,
                "line_items[0][quantity]": "1",
                "line_items[0][discount]": "10",
            },
            "line_items[0][discount]",
        ),
        ("/v1/customers", {"email": "a@example.com", "address[planet]": "Mars"}, "address[planet]"),
    ],
)
def test_the_spec_step_refuses_unknown_nested_parameters_before_the_handler(
    sandbox: RunningSandbox, path: str, form: dict[str, str], param: str
) -> None:
    # Stripe refuses unknown parameters at every level; the spec subset closes only the top.
    stand_in = sandbox.sandbox
    assert isinstance(stand_in, StripeSandbox)
    stored = len(stand_in.checkout_sessions), len(stand_in.records("customers"))

    answer = requests.post(
        f"{sandbox.url}{path}", data=form, headers={"Authorization": f"Bearer {KEY}"}, timeout=5
    )

    assert answer.status_code == 400
    assert answer.json()["error"] == {
        "type": "invalid_request_error",
        "code": "parameter_unknown",
        "doc_url": "https://stripe.com/docs/error-codes/parameter-unknown",
        "message": f"Received unknown parameter: {param}",
        "param": param,
    }
    assert (len(stand_in.checkout_sessions), len(stand_in.records("customers"))) == stored
