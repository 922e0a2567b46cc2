"""The spec step for lexware office: openapi-core's findings named the way lexoffice names
them, `lineItems[1].unitPrice.currency` (the `field` example of the spec's RegularError), with
the bean-validation constraint that failed (`NOTNULL`, `SIZE`, ...)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sandbox.contract import ContractChecker, SpecProblem, error_location, schema_errors
from sandbox.lexoffice.errors import NOT_NULL, Violation

SIZE_MAX = 2147483647


@dataclass(frozen=True)
class LexofficeProblem(SpecProblem):
    constraint: str = "PATTERN"  # NOTNULL, SIZE or PATTERN

    @property
    def is_missing(self) -> bool:
        return self.constraint == "NOTNULL"


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
    return isinstance(problem, LexofficeProblem) and problem.is_missing


def violation(problem: SpecProblem) -> Violation:
    """The problem as an entry of the regular format's `details`."""
    constraint = problem.constraint if isinstance(problem, LexofficeProblem) else "PATTERN"
    return Violation(problem.field or problem.location, constraint, problem.message)
