"""Reading sevDesk requests the way sevDesk does: `{id, objectName}` references, numbers, its
date formats, its answers for what the spec step cannot check, and the spec step itself where
the saved spec is older than sevDesk's own."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from flask import Request
from werkzeug.datastructures import ImmutableMultiDict

from sandbox.contract import ContractChecker, SpecRequest
from sandbox.core import Refusal

BERLIN = ZoneInfo("Europe/Berlin")  # sevDesk stamps dates in the accounts' local time


# A request sevDesk refuses; answered as `{"error": {"message", "code", "data"}}`.
SevdeskError = Refusal


class SevdeskChecker(ContractChecker):
    """The saved spec still requires `invoice[id]` and `invoice[objectName]` query parameters
    on createInvoiceFromOrder, which sevDesk's current spec dropped (fact sheet: "send the
    body only"): a body-only request is checked as if they were there, the body in full."""

    def spec_request(self, req: Request) -> SpecRequest:
        spec_request = super().spec_request(req)
        query = spec_request.parameters.query
        if (
            req.path == "/api/v1/Invoice/Factory/createInvoiceFromOrder"
            and "invoice[id]" not in query
        ):
            stale = [("invoice[id]", "0"), ("invoice[objectName]", "Invoice")]
            spec_request.parameters.query = ImmutableMultiDict([*query.items(multi=True), *stale])
        return spec_request


def reference(payload: dict[str, Any], field: str, object_name: str) -> int:
    """The id of an `{id, objectName}` reference the spec requires (the spec step has checked
    that it is there and has that shape)."""
    found = optional_reference(payload, field, object_name)
    assert found is not None
    return found


def optional_reference(payload: dict[str, Any], field: str, object_name: str) -> int | None:
    value = payload.get(field)
    if value is None:
        return None
    # The spec types every `objectName` as a plain string and names the model only in its
    # descriptions ("Model name, which is 'Contact'"), so the spec step lets another through.
    if value["objectName"] != object_name:
        raise SevdeskError(400, f"{field} must be of type {object_name}")
    return as_id(value["id"], field)


def as_id(value: Any, field: str) -> int:
    if isinstance(value, bool) or not re.fullmatch(r"[0-9]+", str(value)):
        raise SevdeskError(400, f"{field}: invalid id {value!r}")
    return int(value)


def number(payload: dict[str, Any], field: str) -> Decimal:
    found = optional_number(payload, field)
    assert found is not None
    return found


def optional_number(payload: dict[str, Any], field: str) -> Decimal | None:
    # The spec step has checked the type: integer or number.
    value = payload.get(field)
    return None if value is None else Decimal(str(value))


def document_date(payload: dict[str, Any], field: str) -> datetime:
    """`orderDate` / `invoiceDate`: "timestamp or dd.mm.yyyy"; ISO dates work as well.

    The patched spec's `orderDate` / `invoiceDate` descriptions; its patterns accept any
    digits, so an impossible date such as 31.02.2026 reaches this parser and is refused here."""
    value = payload[field]
    text = str(value).strip()
    try:
        if isinstance(value, int) or re.fullmatch(r"[0-9]{9,11}", text):
            return datetime.fromtimestamp(int(text), BERLIN)
        if match := re.fullmatch(r"([0-9]{1,2})\.([0-9]{1,2})\.([0-9]{4})", text):
            day, month, year = (int(part) for part in match.groups())
            return datetime(year, month, day, tzinfo=BERLIN)
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
            parsed = date.fromisoformat(text)
            return datetime(parsed.year, parsed.month, parsed.day, tzinfo=BERLIN)
        stamp = datetime.fromisoformat(text)
    except (ValueError, OverflowError) as exc:
        raise SevdeskError(400, f"{field}: invalid date {text!r}") from exc
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=BERLIN)


def timestamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def now() -> str:
    return timestamp(datetime.now(BERLIN))


def amount(value: Decimal) -> str:
    """sevDesk answers numbers as strings: "119", "12.5"; cents rounded commercially."""
    text = format(value.quantize(Decimal("0.01"), ROUND_HALF_UP).normalize(), "f")
    return "0" if text in ("-0", "0.00") else text


def ref(object_id: int, object_name: str) -> dict[str, Any]:
    return {"id": str(object_id), "objectName": object_name}


def int_ref(object_id: int, object_name: str) -> dict[str, Any]:
    # A few response models (ContactAddress, Contact.sevClient) type the id as integer.
    return {"id": object_id, "objectName": object_name}


def flag(payload: dict[str, Any], field: str, *, default: bool = False) -> bool:
    # The spec step has checked that it is a boolean.
    value = payload.get(field)
    return default if value is None else bool(value)


def texts(payload: dict[str, Any], *fields: str) -> dict[str, str]:
    """The fields the payload has (not null), as the text sevDesk answers them with."""
    return {field: str(payload[field]) for field in fields if payload.get(field) is not None}
