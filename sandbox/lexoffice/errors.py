"""lexoffice's error bodies: the regular format of the newer endpoints (quotations, invoices,
profile) and the legacy `IssueList` of the contacts endpoint (fact sheet, "Errors"); and the spec
step's findings named the way lexoffice names them, `lineItems[1].unitPrice.currency` (the
`field` example of the spec's RegularError), with the bean-validation constraint that failed
(`NOTNULL`, `SIZE`, ...)."""

from __future__ import annotations

import secrets
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from typing import Any
from zoneinfo import ZoneInfo

from sandbox.contract import ContractChecker, SpecProblem, error_location, schema_errors

BERLIN = ZoneInfo("Europe/Berlin")

# Hibernate Validator's German messages, as the docs' samples show them.
NOT_NULL = "darf nicht null sein"
# The docs' sample message for a request that fails validation.
VALIDATION_FAILED = "Validation failed for request. Please see details list for specific causes."


def lexoffice_timestamp(moment: datetime | None = None) -> str:
    """`yyyy-MM-ddTHH:mm:ss.SSSXXX` in German local time, the form lexoffice writes dates in."""
    return (moment or datetime.now(BERLIN)).astimezone(BERLIN).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Violation:
    """One entry of `details` in the regular format. `violation` names the bean-validation
    constraint that failed, as in the docs' sample (`NOTNULL`)."""

    field: str
    violation: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"violation": self.violation, "field": self.field, "message": self.message}


@dataclass(frozen=True)
class Issue:
    """One entry of a legacy `IssueList`."""

    i18n_key: str
    source: str | None
    type: str = "validation_failure"

    def as_json(self) -> dict[str, Any]:
        return {
            "i18nKey": self.i18n_key,
            "source": self.source,
            "type": self.type,
            "additionalData": None,
            "args": None,
        }


def missing(source: str) -> Issue:
    return Issue("missing_entity", source)


def invalid(source: str) -> Issue:
    return Issue("invalid_value", source)


def regular_body(
    status: int, path: str, message: str, details: list[Violation] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "timestamp": lexoffice_timestamp(),
        "status": status,
        "error": HTTPStatus(status).phrase,
        "path": path,
        "traceId": secrets.token_hex(6),
        "message": message,
    }
    if details is not None:
        body["details"] = [violation.as_json() for violation in details]
    return body


def legacy_body(issues: list[Issue]) -> dict[str, Any]:
    return {"IssueList": [issue.as_json() for issue in issues]}


# -- the spec step's findings --------------------------------------------------------------

SIZE_MAX = 2147483647


@dataclass(frozen=True)
class LexofficeProblem(SpecProblem):
    constraint: str = "PATTERN"  # NOTNULL, SIZE or PATTERN


class LexofficeChecker(ContractChecker):
    """The shared checker, with each schema error kept whole: a line item is `oneOf` priced or
    text, and its fault is named inside the branch its `type` picks."""

    def problems_from(self, error: Exception) -> list[SpecProblem]:
        from openapi_core.validation.request.exceptions import MissingRequiredParameter

        location, name = error_location(error)
        if isinstance(error, MissingRequiredParameter):
            return [LexofficeProblem(location, name, NOT_NULL, "NOTNULL")]
        if not schema_errors(error):
            return [LexofficeProblem(location, name, str(error.__cause__ or error))]
        # Branches of a `oneOf` may report the same fault twice; lexoffice lists it once.
        return list(dict.fromkeys(super().problems_from(error)))

    def describe(self, location: str, name: str, schema_error: Any) -> list[SpecProblem]:
        return list(_named(location, name, schema_error))


def _named(location: str, name: str, error: Any) -> list[LexofficeProblem]:
    if error.validator in ("oneOf", "anyOf") and error.context:
        branches: dict[Any, list[Any]] = defaultdict(list)
        for sub in error.context:
            branches[sub.relative_schema_path[0]].append(sub)
        # A branch whose `type` enum refuses the item is not the item's kind (text or priced).
        fitting = [
            errors
            for errors in branches.values()
            if not any(e.validator == "enum" and list(e.relative_path) == ["type"] for e in errors)
        ] or list(branches.values())
        return [p for errors in fitting for sub in errors for p in _named(location, name, sub)]
    steps = list(error.absolute_path)
    constraint, message = "PATTERN", error.message
    if error.validator == "required":
        # One error per missing member, named only in the message.
        steps.append(error.message.split("'")[1] if error.message.count("'") >= 2 else "")
        constraint, message = "NOTNULL", NOT_NULL
    elif error.validator == "not" and "required" in error.validator_value:
        # `oneOf` company or person: the branch names the member that must not be there.
        steps.append(error.validator_value["required"][0])
    elif error.validator in ("maxLength", "maxItems"):
        constraint, message = "SIZE", f"Größe muss zwischen 0 und {error.validator_value} sein"
    elif error.validator in ("minLength", "minItems", "minProperties"):
        constraint = "SIZE"
        message = f"Größe muss zwischen {error.validator_value} und {SIZE_MAX} sein"
    return [
        LexofficeProblem(location, _field([name, *steps] if name else steps), message, constraint)
    ]


def _field(steps: list[Any]) -> str:
    """`lineItems[1].unitPrice.currency`: indexes in brackets, names joined by dots."""
    field = ""
    for step in steps:
        if isinstance(step, int):
            field += f"[{step}]"
        elif step != "":
            field += f".{step}" if field else str(step)
    return field


def is_missing(problem: SpecProblem) -> bool:
    return isinstance(problem, LexofficeProblem) and problem.constraint == "NOTNULL"


def violation(problem: SpecProblem) -> Violation:
    """The problem as an entry of the regular format's `details`."""
    constraint = problem.constraint if isinstance(problem, LexofficeProblem) else "PATTERN"
    return Violation(problem.field or problem.location, constraint, problem.message)
