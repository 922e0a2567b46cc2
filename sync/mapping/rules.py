"""A mapping's rules as data: where each target field's value comes from, and the standard
mappings of the references (payment terms, tax rate per country, default debtor, exclusion
property). Pure: parsing and checking a mapping's JSON, and working out values from the
HubSpot records' properties.

A target without a rule keeps the product's own behaviour ("standard"), so the empty
mapping is the default mapping and changes nothing."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _

from sync.mapping import targets

STANDARD, PROPERTY, CONSTANT, TEMPLATE, LOOKUP, NONE = (
    "standard",
    "property",
    "constant",
    "template",
    "lookup",
    "none",
)
KINDS = (STANDARD, PROPERTY, CONSTANT, TEMPLATE, LOOKUP, NONE)
# {dealname}, {company.name}: a property of the flow's own object, or of a named one.
PLACEHOLDER = re.compile(r"\{(?:(deal|company|contact)\.)?([A-Za-z0-9_]+)\}")
PROPERTY_NAME = re.compile(r"[A-Za-z0-9_]{1,100}")
FORMAT = 1  # the export's format number


class MappingInvalid(ValueError):
    """A mapping that cannot be saved; `problems` are sentences for the user."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Source:
    kind: str = STANDARD
    # deal, company or contact (property, lookup); "" = the flow's own: the deal for quotes,
    # for customers the company or contact that becomes the customer.
    object: str = ""
    property: str = ""
    value: str = ""  # the constant, or the template's text
    table: tuple[tuple[str, str], ...] = ()  # lookup: HubSpot value -> value sent
    default: str = ""  # lookup: for a value the table does not have

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind}
        if self.kind in (PROPERTY, LOOKUP):
            data.update(object=self.object, property=self.property)
        if self.kind in (CONSTANT, TEMPLATE):
            data["value"] = self.value
        if self.kind == LOOKUP:
            data.update(table=[list(row) for row in self.table], default=self.default)
        return data


@dataclass(frozen=True)
class Rules:
    fields: Mapping[str, Source] = field(default_factory=dict)
    # Standard mappings (references 001, 003, 004).
    tax_rates: Mapping[str, Decimal] = field(default_factory=dict)  # country -> percent
    # country -> the vendor's revenue account id, where its spec has one (targets.py)
    revenue_accounts: Mapping[str, str] = field(default_factory=dict)
    default_debtor: str = ""  # the vendor's customer id documents go to when unresolved
    exclusion_property: str = ""  # "" = the one of the transfer settings

    @property
    def is_standard(self) -> bool:
        return not (
            self.fields
            or self.tax_rates
            or self.revenue_accounts
            or self.default_debtor
            or self.exclusion_property
        )

    def source(self, key: str) -> Source:
        return self.fields.get(key) or Source()

    def as_json(self) -> dict[str, Any]:
        return {
            "fields": {key: source.as_json() for key, source in sorted(self.fields.items())},
            "tax_rates": {c: f"{r.normalize():f}" for c, r in sorted(self.tax_rates.items())},
            "revenue_accounts": dict(sorted(self.revenue_accounts.items())),
            "default_debtor": self.default_debtor,
            "exclusion_property": self.exclusion_property,
        }

    def properties(self, flow: str, *, own: str = "") -> dict[str, set[str]]:
        """The HubSpot properties the rules read, by object; `own`: the object a rule without
        one reads (the customer flow's is the company or the contact that is the customer)."""
        wanted: dict[str, set[str]] = {}
        own = own or targets.PRIMARY_OBJECT[flow]
        for key, source in self.fields.items():
            if targets.BY_KEY[key].flow != flow:
                continue
            if source.kind in (PROPERTY, LOOKUP):
                wanted.setdefault(source.object or own, set()).add(source.property)
            elif source.kind == TEMPLATE:
                for obj, name in PLACEHOLDER.findall(source.value):
                    wanted.setdefault(obj or own, set()).add(name)
        return wanted


STANDARD_RULES = Rules()


def _text(value: Any, limit: int = 5000) -> str:
    return str(value if value is not None else "").strip()[:limit]


def source_from(data: Any) -> Source:
    if not isinstance(data, Mapping):
        raise MappingInvalid([_("A field's rule is not an object.")])
    kind = str(data.get("kind") or STANDARD)
    if kind not in KINDS:
        raise MappingInvalid([_("Unknown kind of source: %(kind)s.") % {"kind": kind}])
    table_data = data.get("table") or []
    table = tuple(
        (_text(row[0], 500), _text(row[1], 5000))
        for row in table_data
        if isinstance(row, list | tuple) and len(row) == 2 and _text(row[0], 500)
    )
    return Source(
        kind=kind,
        object=_text(data.get("object"), 20),
        property=_text(data.get("property"), 100),
        value=str(data.get("value") or "")[:5000],
        table=table,
        default=_text(data.get("default"), 5000),
    )


def rules_from(data: Any) -> Rules:
    """Rules from their JSON (a saved version, or an import); raises MappingInvalid."""
    if not isinstance(data, Mapping):
        raise MappingInvalid([_("The mapping is not a JSON object.")])
    problems: list[str] = []
    fields: dict[str, Source] = {}
    for key, raw in (data.get("fields") or {}).items():
        if key not in targets.BY_KEY:
            problems.append(_("Unknown field: %(field)s.") % {"field": key})
            continue
        try:
            source = source_from(raw)
        except MappingInvalid as invalid:
            problems += invalid.problems
            continue
        if source.kind != STANDARD:
            fields[key] = source
    tax_rates: dict[str, Decimal] = {}
    for country, rate in (data.get("tax_rates") or {}).items():
        code = str(country).strip().upper()
        try:
            value = Decimal(str(rate).replace(",", "."))
        except InvalidOperation:
            value = Decimal(-1)
        if not re.fullmatch(r"[A-Z]{2}", code) or not Decimal(0) <= value <= Decimal(100):
            problems.append(
                _("Tax rate for %(country)s: give a country code and a rate between 0 and 100.")
                % {"country": code or "?"}
            )
            continue
        tax_rates[code] = value
    revenue_accounts: dict[str, str] = {}
    for country, account in (data.get("revenue_accounts") or {}).items():
        code, account_id = str(country).strip().upper(), _text(account, 64)
        if not re.fullmatch(r"[A-Z]{2}", code) or not account_id:
            problems.append(
                _("Revenue account for %(country)s: give a country code and an account.")
                % {"country": code or "?"}
            )
            continue
        revenue_accounts[code] = account_id
    exclusion = _text(data.get("exclusion_property"), 100)
    if exclusion and not PROPERTY_NAME.fullmatch(exclusion):
        problems.append(_("The exclusion property is not a HubSpot property name."))
    if problems:
        raise MappingInvalid(problems)
    return Rules(
        fields=fields,
        tax_rates=tax_rates,
        revenue_accounts=revenue_accounts,
        default_debtor=_text(data.get("default_debtor"), 64),
        exclusion_property=exclusion,
    )


# -- checks when saving --------------------------------------------------------------------


def check(rules: Rules, *, system: str, known: Mapping[str, set[str]] | None = None) -> None:
    """Refuses what the vendor would refuse or what cannot work: a required field left
    empty, a constant or lookup value longer than the vendor's limit or outside its allowed
    values, a payment term that is no number of days, a property the portal does not have
    (`known`: the portal's property names by object, when they could be read)."""
    problems: list[str] = []
    offered = {
        vt.target.key: vt for flow in targets.FLOWS for vt in targets.targets_for(system, flow)
    }
    for key, source in rules.fields.items():
        vendor_target = offered.get(key)
        label = str(targets.BY_KEY[key].label)
        if vendor_target is None:
            problems.append(
                _("%(field)s: this accounting system has no such field.") % {"field": label}
            )
            continue
        spec = vendor_target.spec
        if source.kind == NONE and spec.required:
            problems.append(
                _("%(field)s is required by the accounting system and cannot be left empty.")
                % {"field": label}
            )
        if source.kind in (PROPERTY, LOOKUP) and not PROPERTY_NAME.fullmatch(source.property):
            problems.append(_("%(field)s: choose a HubSpot property.") % {"field": label})
        if source.kind in (PROPERTY, LOOKUP) and source.object not in ("", *targets.OBJECTS):
            problems.append(_("%(field)s: unknown HubSpot object.") % {"field": label})
        if source.kind == TEMPLATE and not PLACEHOLDER.search(source.value):
            problems.append(
                _("%(field)s: a template names at least one property, like {dealname}.")
                % {"field": label}
            )
        if source.kind == CONSTANT and not source.value.strip() and spec.required:
            problems.append(
                _("%(field)s is required by the accounting system and cannot be empty.")
                % {"field": label}
            )
        fixed = [source.value] if source.kind == CONSTANT else []
        if source.kind == LOOKUP:
            fixed = [value for _, value in source.table] + (
                [source.default] if source.default else []
            )
        for value in fixed:
            problems += _value_problems(
                value, label=label, spec=spec, kind=vendor_target.target.kind
            )
        if source.kind == TEMPLATE:
            problems += _template_problems(source.value, label=label, spec=spec)
        if known is not None and source.kind in (PROPERTY, LOOKUP, TEMPLATE):
            own = targets.PRIMARY_OBJECT[vendor_target.target.flow]
            names = (
                [(source.object or own, source.property)]
                if source.kind != TEMPLATE
                else [(obj or own, name) for obj, name in PLACEHOLDER.findall(source.value)]
            )
            for obj, name in names:
                # A customer rule's own object is the company or the contact: either will do.
                own_objects = ("company", "contact") if obj == own == "company" else (obj,)
                if all(o in known and name not in known[o] for o in own_objects):
                    problems.append(
                        _("%(field)s: HubSpot has no %(object)s property “%(name)s”.")
                        % {"field": label, "object": str(targets.OBJECTS[obj]), "name": name}
                    )
    problems += _revenue_account_problems(rules, system=system)
    if problems:
        raise MappingInvalid(problems)


def _revenue_account_problems(rules: Rules, *, system: str) -> list[str]:
    """Revenue accounts only where the vendor's spec has a field for one, in its type."""
    if not rules.revenue_accounts:
        return []
    spec = targets.revenue_account_spec(system)
    if spec is None:
        return [_("This accounting system takes no revenue account on a quote's positions.")]
    problems = []
    for country, account in sorted(rules.revenue_accounts.items()):
        if spec.type == "integer" and not account.isdigit():
            problems.append(
                _("Revenue account for %(country)s: “%(account)s” is not an account id "
                  "(a whole number).")
                % {"country": country, "account": account[:40]}
            )  # fmt: skip
        elif spec.max_length is not None and len(account) > spec.max_length:
            problems.append(
                _("Revenue account for %(country)s: at most %(max)d characters.")
                % {"country": country, "max": spec.max_length}
            )
    return problems


def _template_problems(template: str, *, label: str, spec: Any) -> list[str]:
    """A template whose fixed text alone (its placeholders all empty) is longer than the
    vendor takes: every value it gives would be refused."""
    fixed = PLACEHOLDER.sub("", template).strip()
    if spec.max_length is None or len(fixed) <= spec.max_length:
        return []
    return [
        _("%(field)s: the template's fixed text alone is %(length)d characters long, without "
          "any HubSpot value; the accounting system takes at most %(max)d.")
        % {"field": label, "length": len(fixed), "max": spec.max_length}
    ]  # fmt: skip


def _is_amount(value: str) -> bool:
    text = value.strip().replace(",", ".")
    return text.count(".") <= 1 and text.replace(".", "").isdigit()


def _value_problems(value: str, *, label: str, spec: Any, kind: str) -> list[str]:
    problems = []
    if kind == "amount" and value.strip() and not _is_amount(value):
        problems.append(
            _("%(field)s: “%(value)s” is not an amount like 4.90.")
            % {"field": label, "value": value}
        )
    if kind == "days" and value.strip() and not value.strip().isdigit():
        problems.append(
            _("%(field)s: “%(value)s” is not a number of days.") % {"field": label, "value": value}
        )
    if spec.max_length is not None and len(value) > spec.max_length:
        problems.append(
            _("%(field)s: “%(value)s” is %(length)d characters long; the accounting system "
              "takes at most %(max)d.")
            % {"field": label, "value": value[:40], "length": len(value), "max": spec.max_length}
        )  # fmt: skip
    if spec.enum and value not in spec.enum:
        problems.append(
            _("%(field)s: “%(value)s” is not one of %(allowed)s.")
            % {"field": label, "value": value, "allowed": ", ".join(spec.enum)}
        )
    return problems


# -- values --------------------------------------------------------------------------------

Values = Mapping[str, Mapping[str, Any]]  # object -> property -> value, as HubSpot gives it


def _property(values: Values, obj: str, name: str) -> str:
    return _text((values.get(obj) or {}).get(name), 100_000)


def value_of(source: Source, values: Values, *, flow: str, own: str = "") -> str | None:
    """The value a rule gives; None for the standard rule (the product's own behaviour).
    `own`: the object a rule without one reads (see Rules.properties)."""
    own = own or targets.PRIMARY_OBJECT[flow]
    if source.kind == STANDARD:
        return None
    if source.kind == NONE:
        return ""
    if source.kind == CONSTANT:
        return source.value
    if source.kind == PROPERTY:
        return _property(values, source.object or own, source.property)
    if source.kind == TEMPLATE:
        return PLACEHOLDER.sub(
            lambda m: _property(values, m.group(1) or own, m.group(2)), source.value
        ).strip()
    found = _property(values, source.object or own, source.property)
    for key, value in source.table:
        if key.casefold() == found.casefold():
            return value
    return source.default
