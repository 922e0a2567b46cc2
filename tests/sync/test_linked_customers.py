"""A document for a customer linked before is made with one vendor call: the link and the
contact person made sure of before are taken as they are. Should the vendor refuse the
document because the customer is gone, the link is checked and the customer found anew."""

from typing import Any

import pytest
from django.utils import translation

from sync.models import ObjectLink, Transfer, TransferAttempt
from sync.services import transfers
from tests.sync.conftest import PORTAL, World, run_here

pytestmark = pytest.mark.django_db(transaction=True)


def _quote(world: World, deal_id: str) -> Transfer:
    return run_here(world, Transfer.Kind.QUOTE, deal_id)


def _another_deal_of_the_same_company(world: World, first_deal: str, name: str) -> str:
    hubspot = world.hubspot_sandbox
    deal_id = hubspot.seed_deal(
        PORTAL,
        name=name,
        stage="closedwon",
        line_items=[{"name": "Wartung", "quantity": "1", "price": "100.00"}],
    )
    for kind in ("companies", "contacts"):
        for other in hubspot.linked(PORTAL, "deals", first_deal, kind):
            hubspot.associate(PORTAL, "deals", deal_id, kind, other, primary=kind == "companies")
    return deal_id


def _calls_after(world: World, seen: int) -> list[str]:
    calls = world.accounting.sandbox.api_calls()[seen:]
    return [f"{call.method} {call.path}" for call in calls]


def test_a_quote_for_a_linked_company_is_one_call_and_a_deleted_customer_is_found_anew(
    world_factory: Any,
) -> None:
    world: World = world_factory("lexoffice", subscriptions=[])
    lexoffice: Any = world.accounting.sandbox
    first_deal = world.won_deal(name="Erster Auftrag")
    assert _quote(world, first_deal).state == Transfer.State.DONE
    link = ObjectLink.objects.get(tenant=world.tenant, object_type="company")
    assert link.contact_person_digest  # Anna Muster, made sure of with the company

    seen = len(lexoffice.api_calls())
    second = _quote(world, _another_deal_of_the_same_company(world, first_deal, "Zweiter"))
    assert second.state == Transfer.State.DONE, second.error
    assert _calls_after(world, seen) == ["POST /v1/quotations"]

    # Someone deletes the customer in lexware office: the next quote is refused once for
    # it, the link is checked and dropped, and the retry makes the customer and the quote.
    owner = next(o for o, c in lexoffice.store.everything("contacts") if c["id"] == link.vendor_id)
    lexoffice.store.delete("contacts", owner, link.vendor_id)
    third_deal = _another_deal_of_the_same_company(world, first_deal, "Dritter")
    third = _quote(world, third_deal)
    assert third.state in Transfer.ACTIVE_STATES  # to be tried again
    assert third.next_attempt_at is not None
    attempt = TransferAttempt.objects.filter(transfer=third).latest("started_at")
    with translation.override("en"):
        assert "looked up again" in attempt.error_text
    assert not ObjectLink.objects.filter(pk=link.pk).exists()

    Transfer.objects.filter(pk=third.pk).update(next_attempt_at=None)
    transfers.run_transfer(str(third.pk), enqueue=lambda *a, **k: None, paced=True)
    third.refresh_from_db()
    assert third.state == Transfer.State.DONE, third.error
    new_link = ObjectLink.objects.get(tenant=world.tenant, object_type="company")
    assert new_link.vendor_id != link.vendor_id
    quote = lexoffice.quotations[third.vendor_id]
    assert quote["address"]["contactId"] == new_link.vendor_id
    made = [
        q for q in lexoffice.quotations.values() if q["address"]["contactId"] == new_link.vendor_id
    ]
    assert len(made) == 1  # the refused attempt left no quote behind

    # Another HubSpot company of the same customer: found by its e-mail, with the contact
    # person made sure of before for that customer; two calls.
    seen = len(lexoffice.api_calls())
    fourth = _quote(world, world.won_deal(name="Vierter"))
    assert fourth.state == Transfer.State.DONE, fourth.error
    assert fourth.customer_vendor_id == new_link.vendor_id
    assert [call.split("?")[0] for call in _calls_after(world, seen)] == [
        "GET /v1/contacts",
        "POST /v1/quotations",
    ]
