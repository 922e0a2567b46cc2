"""Shared steps of the mapper's HTTP tests."""

from __future__ import annotations

from typing import Any

import requests

from sync.models import Transfer
from sync.services import transfers
from tests.factories import TransferFactory
from tests.sync.conftest import PORTAL, World

# The path of the create call of each system's quote, as its sandbox records it.
QUOTE_PATHS = {
    "lexoffice": "/v1/quotations",
    "bexio": "/2.0/kb_offer",
    "sevdesk": "/Order/Factory/saveOrder",
    "qonto": "/v2/quotes",
    "eaccounting": "/quotes",
}


def transfer_quote(world: World, deal_id: str) -> Transfer:
    transfer = Transfer.objects.get(
        pk=TransferFactory(
            tenant=world.tenant,
            kind=Transfer.Kind.QUOTE,
            object_id=deal_id,
            system=world.system,
            state=Transfer.State.PENDING,
            error="",
        ).pk
    )
    transfers.run_transfer(str(transfer.pk), enqueue=lambda *a, **k: None, paced=True)
    transfer.refresh_from_db()
    return transfer


def sent_quotes(world: World) -> list[Any]:
    """The bodies of every quote the accounting sandbox accepted, oldest first."""
    sandbox: Any = world.accounting.sandbox
    return [
        call.request_body
        for call in sandbox.api_calls()
        if call.method == "POST"
        and call.path.endswith(QUOTE_PATHS[world.system])
        and call.status < 300
    ]


def define_property(world: World, object_type: str, name: str, label: str) -> None:
    """A custom property made in the portal through HubSpot's properties API."""
    token = world.hubspot_sandbox.issue_token(PORTAL)
    group = {"deals": "dealinformation", "companies": "companyinformation",
             "contacts": "contactinformation"}[object_type]  # fmt: skip
    response = requests.post(
        f"{world.hubspot.url}/crm/v3/properties/{object_type}",
        json={
            "name": name,
            "label": label,
            "type": "string",
            "fieldType": "text",
            "groupName": group,
        },
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
