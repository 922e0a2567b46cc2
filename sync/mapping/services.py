"""Reads and writes of mappings: the rules in force for a tenant's system and flow, saving a
new version (checked against the vendor's spec and the portal's properties), export and
import as JSON, the record of which version a transfer used, and the HubSpot values rules
read."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from accounts.models import Tenant, User
from connectors import errors
from connectors.base import AccountingConnector
from connectors.hubspot.client import HubSpotClient
from sync.mapping import rules as mapping_rules
from sync.mapping import targets
from sync.mapping.models import FieldMapping, MappingUse, MappingVersion
from sync.mapping.rules import FORMAT, MappingInvalid, Rules
from sync.models import Transfer

logger = logging.getLogger(__name__)

# HubSpot's object type (in its paths) of each object a rule can read.
HUBSPOT_TYPES = {"deal": "deals", "company": "companies", "contact": "contacts"}


@dataclass(frozen=True)
class InForce:
    """A flow's rules and the version they come from (None: the standard mapping)."""

    rules: Rules
    version: MappingVersion | None

    @property
    def number(self) -> int:
        return self.version.number if self.version is not None else 0


STANDARD = InForce(rules=mapping_rules.STANDARD_RULES, version=None)


def mapping_in_force(*, tenant: Tenant, system: str, flow: str) -> InForce:
    version = (
        MappingVersion.objects.for_tenant(tenant)
        .filter(mapping__system=system, mapping__flow=flow)
        .order_by("-number")
        .first()
    )
    if version is None:
        return STANDARD
    try:
        return InForce(rules=mapping_rules.rules_from(version.rules), version=version)
    except MappingInvalid:
        # Saved by a version of the product that knew fields this one does not.
        logger.warning("mapping version %s unreadable; the standard applies", version.pk)
        return InForce(rules=mapping_rules.STANDARD_RULES, version=version)


def mapping_versions(*, tenant: Tenant, system: str, flow: str) -> list[MappingVersion]:
    return list(
        MappingVersion.objects.for_tenant(tenant)
        .filter(mapping__system=system, mapping__flow=flow)
        .select_related("created_by")
        .order_by("-number")[:50]
    )


def portal_property_names(*, hubspot: HubSpotClient | None) -> dict[str, set[str]] | None:
    """The portal's property names by object; None when HubSpot cannot be asked now (the
    save then does not check names)."""
    if hubspot is None:
        return None
    try:
        return {
            obj: {str(p["name"]) for p in hubspot.portal_properties(kind)}
            for obj, kind in HUBSPOT_TYPES.items()
        }
    except errors.ConnectorError as exc:
        logger.warning("portal properties not read (%s)", type(exc).__name__)
        return None


def mapping_save(
    *,
    tenant: Tenant,
    system: str,
    flow: str,
    data: Any,
    user: User | None,
    hubspot: HubSpotClient | None = None,
    accounting: AccountingConnector | None = None,
    origin: str = "saved",
) -> MappingVersion:
    """Saves `data` (the rules' JSON) as the flow's next version. Raises MappingInvalid with
    every problem: fields the vendor does not have or requires, values beyond its spec's
    limits, properties the portal does not have (when `hubspot` can be asked), a default
    customer the accounting system does not have (when `accounting` can be asked)."""
    if flow not in targets.FLOWS:
        raise MappingInvalid([_("Unknown flow: %(flow)s.") % {"flow": flow}])
    parsed = mapping_rules.rules_from(data)
    for key in parsed.fields:
        if targets.BY_KEY[key].flow != flow:
            raise MappingInvalid([_("Unknown field: %(field)s.") % {"field": key}])
    mapping_rules.check(parsed, system=system, known=portal_property_names(hubspot=hubspot))
    if parsed.default_debtor and accounting is not None:
        _check_default_debtor(parsed.default_debtor, accounting)
    for _attempt in range(3):
        try:
            with transaction.atomic():
                mapping, _created = FieldMapping.objects.get_or_create(
                    tenant=tenant, system=system, flow=flow
                )
                mapping = FieldMapping.objects.select_for_update().get(pk=mapping.pk)
                last = mapping.versions.order_by("-number").first()
                return MappingVersion.objects.create(
                    tenant=tenant,
                    mapping=mapping,
                    number=(last.number if last else 0) + 1,
                    rules=parsed.as_json(),
                    created_by=user,
                    origin=origin,
                )
        except IntegrityError:
            continue  # saved at the same moment by someone else: the next number
    raise MappingInvalid([_("The mapping was changed at the same time; please save again.")])


def _check_default_debtor(vendor_id: str, accounting: AccountingConnector) -> None:
    """1 call: the default customer exists at the vendor. An answer that may change (the
    vendor unreachable, a rate limit) leaves the check to the transfer."""
    label = accounting.provider.label
    try:
        found = accounting.get_customer(vendor_id)
    except errors.PermanentError as refused:
        found = None
        logger.info("default customer refused by %s (%s)", label, type(refused).__name__)
    except errors.ConnectorError as exc:
        logger.warning("default customer not checked (%s)", type(exc).__name__)
        return
    if found is None:
        raise MappingInvalid(
            [
                _("%(system)s has no customer with the id %(id)s for the default customer.")
                % {"system": label, "id": vendor_id}
            ]
        )


def mapping_export(
    *, tenant: Tenant, system: str, flow: str, number: int | None = None
) -> dict[str, Any]:
    """The mapping in force, or its version `number` (raises MappingVersion.DoesNotExist
    where the tenant has no such version), as JSON."""
    if number is None:
        in_force = mapping_in_force(tenant=tenant, system=system, flow=flow)
    else:
        version = (
            MappingVersion.objects.for_tenant(tenant)
            .filter(mapping__system=system, mapping__flow=flow)
            .get(number=number)
        )
        in_force = InForce(rules=mapping_rules.rules_from(version.rules), version=version)
    return {
        "format": FORMAT,
        "system": system,
        "flow": flow,
        "version": in_force.number,
        "rules": in_force.rules.as_json(),
    }


def mapping_import(
    *,
    tenant: Tenant,
    system: str,
    flow: str,
    data: Any,
    user: User | None,
    hubspot: HubSpotClient | None = None,
    accounting: AccountingConnector | None = None,
) -> MappingVersion:
    """An exported mapping as the flow's next version, checked like a save."""
    if not isinstance(data, dict) or data.get("format") != FORMAT or "rules" not in data:
        raise MappingInvalid([_("This file is no mapping export.")])
    if data.get("system") != system or data.get("flow") != flow:
        raise MappingInvalid(
            [
                _("This export is for %(system)s / %(flow)s.")
                % {"system": str(data.get("system")), "flow": str(data.get("flow"))}
            ]
        )
    return mapping_save(
        tenant=tenant,
        system=system,
        flow=flow,
        data=data["rules"],
        user=user,
        hubspot=hubspot,
        accounting=accounting,
        origin="imported",
    )


def mapping_use_record(*, transfer: Transfer, flow: str, in_force: InForce) -> None:
    MappingUse.objects.update_or_create(
        tenant=transfer.tenant,
        transfer=transfer,
        flow=flow,
        defaults={"version": in_force.version},
    )


def mapping_uses(*, transfer: Transfer) -> list[MappingUse]:
    """The mapping versions the transfer's last run used, per flow, with who saved them and
    when (a use without a version: the standard mapping)."""
    return list(
        MappingUse.objects.for_tenant(transfer.tenant)
        .filter(transfer=transfer)
        .select_related("version__created_by", "version__mapping")
        .order_by("flow")
    )


def mapping_used(*, transfer: Transfer) -> dict[str, int]:
    """The version number of each flow's mapping the transfer's last run used (0: standard)."""
    return {
        use.flow: (use.version.number if use.version else 0)
        for use in MappingUse.objects.for_tenant(transfer.tenant)
        .filter(transfer=transfer)
        .select_related("version")
    }


def source_values(
    *, hubspot: HubSpotClient, wanted: dict[str, set[str]], ids: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """The HubSpot properties rules read, by object: 1 call per object whose properties a
    rule names (none for the standard mapping)."""
    values: dict[str, dict[str, Any]] = {}
    for obj, names in wanted.items():
        object_id = ids.get(obj, "")
        if names and object_id:
            values[obj] = hubspot.record_properties(HUBSPOT_TYPES[obj], object_id, names)
    return values
