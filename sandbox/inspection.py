"""The sandbox's own page: what it holds, for a person looking at the demo or a test run."""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sandbox.core import VendorSandbox

DOCUMENT_STATUSES = ("paid", "partially_paid", "voided", "accepted", "rejected", "open")


def inspection_page(sandbox: VendorSandbox) -> str:
    """The page at /_sandbox/: every record the sandbox holds, newest 200 per kind, and a form
    to change a document as the vendor's app would."""
    sections = []
    for kind, rows in sandbox.inspect().items():
        columns = sorted({key for row in rows for key in row})[:12]
        head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
        body = "".join(
            "<tr>"
            + "".join(f"<td>{html.escape(_cell(row.get(c)))}</td>" for c in columns)
            + "</tr>"
            for row in rows[-200:]
        )
        sections.append(
            f"<h2>{html.escape(kind)} ({len(rows)})</h2>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(sandbox.title)} sandbox</title>"
        "<style>body{font:14px system-ui;margin:2rem}table{border-collapse:collapse;"
        "margin-bottom:2rem}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}"
        "</style></head><body>"
        f"<h1>{html.escape(sandbox.title)} sandbox</h1>{_DOCUMENT_FORM}"
        f"{''.join(sections) or '<p>Empty.</p>'}"
        "</body></html>"
    )


# What a user does in the vendor's app to a document, for the demo: mark it paid and watch
# the deal in HubSpot follow.
_DOCUMENT_FORM = (
    "<form method='post' action='/_sandbox/documents/status'><fieldset>"
    "<legend>Change a document as the vendor's app would</legend>"
    "<select name='kind'><option>invoice</option><option>quote</option><option>order</option>"
    "</select> <input name='id' placeholder='document id' required> "
    "<select name='status'>"
    + "".join(f"<option>{s}</option>" for s in DOCUMENT_STATUSES)
    + "</select> <input name='amount' placeholder='amount paid (partial)'> "
    "<button>Apply</button></fieldset></form>"
)


def _cell(value: Any) -> str:
    if isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) < 120 else text[:117] + "..."
    return "" if value is None else str(value)
