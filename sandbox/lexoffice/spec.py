"""The spec step for lexware office: openapi-core's findings named the way lexoffice names
them, `lineItems[1].unitPrice.currency` (the `field` example of the spec's RegularError), with
the bean-validation constraint that failed (`NOTNULL`, `SIZE`, ...)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from flask import Request

from sandbox.contract import ContractChecker, SpecProblem, _load

# Hibernate Validator's German messages, as the docs' samples show them ("darf nicht null sein").
NOT_NULL = "darf nicht null sein"
SIZE_MAX = 2147483647


@dataclass(frozen=True)
class LexofficeProblem(SpecProblem):
    constraint: str = "PATTERN"  # NOTNULL, SIZE or PATTERN

    @property
    def is_missing(self) -> bool:
        return self.constraint == "NOTNULL"


class LexofficeChecker(ContractChecker):
    def request_problems(self, req: Request) -> list[SpecProblem] | None:
        """As the shared checker, with each schema error kept whole: a line item is `oneOf`
        priced or text, and its fault is named inside the branch its `type` picks."""
        from openapi_core.templating.paths.exceptions import PathError
        from openapi_core.validation.request.exceptions import (
            MissingRequestBody,
            MissingRequiredParameter,
            ParameterValidationError,
        )

        spec_request = self.spec_request(req)
        for spec_file in self.spec_files:
            validator = _load(spec_file).request_validator
            try:
                path, operation, _, path_result, _ = validator._find_path(spec_request)
            except PathError:
                continue
            spec_request.parameters.path = path_result.variables
            problems: list[SpecProblem] = []
            for error in [
                *validator._iter_parameters_errors(spec_request, operation, path),
                *validator._iter_body_errors(spec_request, operation),
            ]:
                if type(error) is MissingRequestBody:  # an optional body left out
                    continue
                if isinstance(error, ParameterValidationError):
                    location, name = error.location, error.name
                else:
                    location, name = "body", ""
                if isinstance(error, MissingRequiredParameter):
                    problems.append(LexofficeProblem(location, name, NOT_NULL, "NOTNULL"))
                    continue
                schema_errors = list(getattr(error.__cause__, "schema_errors", None) or [])
                if not schema_errors:
                    problems.append(LexofficeProblem(location, name, str(error.__cause__ or error)))
                for schema_error in schema_errors:
                    for problem in _named(location, name, schema_error):
                        if problem not in problems:
                            problems.append(problem)
            return problems
        return None


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
