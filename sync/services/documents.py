"""Documents per deal stage ("deal enters stage S → create document D") and their status,
read from the accounting system and written to the HubSpot deal.

A deal goes through its documents in order: quote, order confirmation, invoice. Each is one
transfer (one per deal and kind, under the unique constraint), run by
handlers.DocumentTransfer; a later one is made from the earlier one where the vendor can
link them. What happens to a document in the accounting system (accepted, paid, voided)
comes back as a vendor event or from polling (feeds.py) and runs the deal's one
DOCUMENT_STATUS transfer, which reads every document's status and writes it to the deal."""

from __future__ import annotations

from dataclasses import dataclass

from accounts.models import Tenant
from connectors import errors
from connectors.base import AccountingConnector
from connectors.hubspot import mapping as hubspot_mapping
from connectors.hubspot.client import HubSpotClient
from connectors.shapes import Deal, DocumentKind, DocumentLink, DocumentState, DocumentStatus
from sync.messages import Message
from sync.models import DocumentRule, Transfer

# The order a sale goes through its documents.
SEQUENCE = (DocumentKind.QUOTE, DocumentKind.ORDER, DocumentKind.INVOICE)
DOCUMENT_KINDS: dict[str, DocumentKind] = {
    Transfer.Kind.QUOTE: DocumentKind.QUOTE,
    Transfer.Kind.ORDER: DocumentKind.ORDER,
    Transfer.Kind.INVOICE: DocumentKind.INVOICE,
}
TRANSFER_KINDS: dict[DocumentKind, str] = {
    document: kind for kind, document in DOCUMENT_KINDS.items()
}


@dataclass(frozen=True)
class Rule:
    stage_id: str  # a stage id, or DocumentRule.WON_STAGES
    pipeline_id: str
    document: DocumentKind
    finalize: bool = False


# A tenant without rules of its own: the product's first rule, a won deal makes a quote.
DEFAULT_RULES = (Rule(stage_id=DocumentRule.WON_STAGES, pipeline_id="", document=SEQUENCE[0]),)


def rules_of(*, tenant: Tenant) -> tuple[Rule, ...]:
    stored = DocumentRule.objects.for_tenant(tenant).order_by("created_at")
    rules = tuple(
        Rule(
            stage_id=rule.stage_id,
            pipeline_id=rule.pipeline_id,
            document=DocumentKind(rule.document),
            finalize=rule.finalize,
        )
        for rule in stored
    )
    return rules or DEFAULT_RULES


def _matches(rule: Rule, *, stage_id: str, pipeline_id: str, hubspot: HubSpotClient) -> bool:
    if rule.pipeline_id and pipeline_id and rule.pipeline_id != pipeline_id:
        return False
    if rule.stage_id == DocumentRule.WON_STAGES:
        if pipeline_id:
            return stage_id in hubspot.won_stage_ids(pipeline_id)
        return hubspot.is_won_stage(stage_id)
    return rule.stage_id == stage_id


def kinds_entered(
    *, tenant: Tenant, stage_id: str, hubspot: HubSpotClient, won_stage_ids: set[str]
) -> list[DocumentKind]:
    """The documents a deal entering `stage_id` asks for (a webhook names the stage, not its
    pipeline). `won_stage_ids`: the tenant's own choice of won stages, if it made one."""
    kinds = []
    for rule in rules_of(tenant=tenant):
        if rule.stage_id == DocumentRule.WON_STAGES and won_stage_ids:
            entered = stage_id in won_stage_ids
        else:
            entered = _matches(rule, stage_id=stage_id, pipeline_id="", hubspot=hubspot)
        if entered and rule.document not in kinds:
            kinds.append(rule.document)
    return kinds


def rule_for(
    *,
    tenant: Tenant,
    kind: DocumentKind,
    deal: Deal,
    hubspot: HubSpotClient,
    won_stage_ids: set[str],
) -> Rule | None:
    """The rule that makes `kind` for the deal where it is now: one for this kind at its
    stage, or, for a deal that has moved on since, one for a later document at its stage (the
    events of HubSpot come in no set order, and a deal moved to "invoiced" went through
    "won"). None: the deal is in no stage that asks for it."""
    later = SEQUENCE[SEQUENCE.index(kind) :]
    rules = rules_of(tenant=tenant)
    for wanted in later:
        for rule in rules:
            if rule.document is not wanted:
                continue
            if rule.stage_id == DocumentRule.WON_STAGES and won_stage_ids:
                here = deal.stage_id in won_stage_ids
            else:
                here = _matches(
                    rule, stage_id=deal.stage_id, pipeline_id=deal.pipeline_id, hubspot=hubspot
                )
            if here:
                own = [r for r in rules if r.document is kind]
                return rule if wanted is kind else (own[0] if own else rule)
    return None


class EarlierDocumentPending(errors.TransientError):
    """The deal's earlier document is still being created: this one waits for it, to be
    made from it."""

    message = Message("document.waiting_for_earlier")


def preceding_link(
    *, tenant: Tenant, deal_id: str, kind: DocumentKind, connector: AccountingConnector
) -> DocumentLink | None:
    """The deal's latest earlier document this one can be made from, where the vendor links
    them; None to make it on its own. Raises EarlierDocumentPending while such a document is
    still on its way."""
    capabilities = connector.capabilities
    for earlier in reversed(SEQUENCE[: SEQUENCE.index(kind)]):
        if not capabilities.can_link(kind, earlier):
            continue
        transfer = (
            Transfer.objects.for_tenant(tenant)
            .filter(
                kind=TRANSFER_KINDS[earlier],
                object_type=Transfer.ObjectType.DEAL,
                object_id=deal_id,
                system=connector.provider.key,
            )
            .only("state", "vendor_id")
            .first()
        )
        if transfer is None:
            continue
        if transfer.state in Transfer.ACTIVE_STATES:
            raise EarlierDocumentPending(f"waiting for the deal's {earlier}")
        if transfer.state == Transfer.State.DONE and transfer.vendor_id:
            return DocumentLink(kind=earlier, vendor_id=transfer.vendor_id)
    return None


def status_properties(kind: DocumentKind, state: DocumentState) -> dict[str, str]:
    """The deal properties of one document's state (mapping.DOCUMENT_PROPERTIES)."""
    name = hubspot_mapping.document_property
    values = {
        name(kind, "number"): state.number,
        name(kind, "status"): str(state.status),
    }
    if state.url:
        values[name(kind, "url")] = state.url
    if kind is DocumentKind.INVOICE:
        values[name(kind, "open_amount")] = (
            "" if state.open_amount is None else f"{state.open_amount:.2f}"
        )
        # A date property takes midnight UTC in milliseconds or the ISO date.
        values[name(kind, "paid_date")] = state.paid_date.isoformat() if state.paid_date else ""
    return values


def created_status(kind: DocumentKind, *, connector: AccountingConnector, finalize: bool) -> str:
    """The status a document has when it was just created."""
    draft = connector.capabilities.quote_is_draft if kind is DocumentKind.QUOTE else not finalize
    return str(DocumentStatus.DRAFT if draft else DocumentStatus.OPEN)
