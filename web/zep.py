"""What the ZEP pages read besides the linked pairs (sync.services.zep): the portal's deal
pipelines with their stages, to pick the stages whose deals become projects."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from accounts.models import Tenant
from connectors import errors
from connectors.hubspot.client import HubSpotClient
from sync.services import context

logger = logging.getLogger(__name__)

PIPELINES_PATH = "/crm/v3/pipelines/deals"


@dataclass(frozen=True, slots=True)
class Stage:
    stage_id: str
    label: str
    pipeline: str


def deal_stages(*, tenant: Tenant) -> list[Stage] | None:
    """Every deal stage of every pipeline of the tenant's portal, in HubSpot's order; None when
    HubSpot cannot be asked (not connected, refused, unreachable): the page then offers the
    stage ids stored so far and a field to type others."""
    try:
        hubspot = HubSpotClient(connection=context.hubspot_connection(tenant=tenant))
        body = hubspot.request("GET", PIPELINES_PATH).json()
    except (errors.ConnectorError, ValueError) as exc:
        logger.info("deal pipelines not read (%s)", type(exc).__name__)
        return None
    stages = []
    for pipeline in body.get("results") or []:
        for stage in pipeline.get("stages") or []:
            stages.append(
                Stage(
                    stage_id=str(stage["id"]),
                    label=str(stage.get("label") or stage["id"]),
                    pipeline=str(pipeline.get("label") or pipeline.get("id") or ""),
                )
            )
    return stages
