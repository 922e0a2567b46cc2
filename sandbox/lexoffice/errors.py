"""lexoffice's error bodies: the regular format of the newer endpoints (quotations, invoices,
profile) and the legacy `IssueList` of the contacts endpoint (fact sheet, "Errors")."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from typing import Any
from zoneinfo import ZoneInfo

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
