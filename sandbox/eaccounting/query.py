"""How eAccounting's answers look and how its lists are queried: the spec (its checker and
schemas, every one of which forbids the fields it does not name), Visma's timestamps, and the
generic query options.

Visma's generic query options are documented on developer.vismaonline.com, not in the spec
file: pages `$page` (from 1) of `$pagesize` rows (default and maximum are the sandbox's
assumption), and OData's `$filter` (its changelog "New filter" shows
`GET /v2/customerinvoices?$filter=HasAutoInvoiceError eq true`), of which the sandbox
understands `<Field> eq <literal>` joined by `and` (`EmailAddress eq 'a@b.nl'`,
`Number eq 'SKU-1'`, `IsActive eq true`); anything else is refused with a 400."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from functools import cache
from typing import Any

from jsonschema_path import SchemaPath
from openapi_core import Config, OpenAPI

from sandbox.contract import SPECS_DIR, ContractChecker
from sandbox.store import PageNumberPaging, Record

SPEC_FILE = "eaccounting/eaccounting-openapi.normalized.json"
SCHEMAS = json.loads((SPECS_DIR / SPEC_FILE).read_text(encoding="utf-8"))["components"]["schemas"]
PAGING = PageNumberPaging(50, 1000, first_page=1, page_param="$page", size_param="$pagesize")
CLAUSE = re.compile(r"\s*(\w+)\s+eq\s+('(?:[^']|'')*'|[\w.:+-]+)\s*(?:and\s+(?=\S)|$)")
# A resource's record, and a document's rows, as the spec's schemas.
SCHEMA_OF = {"customers": "CustomerApi", "articles": "ArticleApi", "quotes": "QuoteApi",
             "orders": "OrderApi", "customerinvoicedrafts": "CustomerInvoiceDraftApi",
             "customerinvoices": "CustomerInvoiceApi", "termsofpayments": "TermsOfPaymentApi",
             "units": "UnitApi", "articleaccountcodings": "ArticleAccountCodingApi",
             "vatcodes": "VatCodeApi", "bankaccounts": "BankAccountApi"}  # fmt: skip
ROWS_OF = {
    "QuoteApi": "QuoteRowApi",
    "OrderApi": "OrderRowApi",
    "CustomerInvoiceDraftApi": "CustomerInvoiceDraftRowApi",
    "CustomerInvoiceApi": "CustomerInvoiceRowApi",
}


class BadFilter(ValueError):
    """A `$filter` the sandbox cannot read (answered 400)."""


@cache
def clauses(expression: str) -> tuple[tuple[str, Any], ...]:
    """`A eq 'x' and B eq 2` as ((A, "x"), (B, 2))."""
    found, at = [], 0
    while at < len(expression):
        match = CLAUSE.match(expression, at)
        if match is None or match.end() == at:
            raise BadFilter(f"The query specified in the URI is not valid: {expression}")
        field, literal = match.groups()
        try:
            value = literal[1:-1].replace("''", "'") if literal[0] == "'" else json.loads(literal)
        except ValueError:
            raise BadFilter(f"The literal {literal} is not valid") from None
        found.append((field, value))
        at = match.end()
    return tuple(found)


def odata_filter(record: Record, expression: str) -> bool:
    return all(record.get(field) == value for field, value in clauses(expression))


def modified_since(record: Record, value: str) -> bool:
    return moment(record["ModifiedUtc"]) >= moment(value)


def moment(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def visma_time(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def day(when: datetime) -> str:
    """A date, which the spec types as a date-time."""
    return when.strftime("%Y-%m-%dT00:00:00Z")


def shaped(schema: str, record: Record) -> Record:
    """The record with only the fields of the spec's schema, its rows with their schema's."""
    fields = SCHEMAS[schema]["properties"]
    shown = {key: value for key, value in record.items() if key in fields}
    if schema in ROWS_OF:
        shown["Rows"] = [shaped(ROWS_OF[schema], row) for row in record.get("Rows") or []]
    return shown


class EAccountingChecker(ContractChecker):
    def openapi(self, spec_file: str) -> Any:
        return _unchecked_spec(spec_file)


@cache
def _unchecked_spec(spec_file: str) -> Any:
    # The normalized file passes openapi-spec-validator (tests/sandbox/test_eaccounting.py);
    # validating its 250 paths again at every start would take 2.4 of the 2.6 s it loads in.
    path = SchemaPath.from_file_path(str(SPECS_DIR / spec_file))
    return OpenAPI(path, config=Config(spec_validator_cls=None))
