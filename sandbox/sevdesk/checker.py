"""The contract check of sevDesk requests, where the saved spec is older than sevDesk's own."""

from __future__ import annotations

from flask import Request
from werkzeug.datastructures import ImmutableMultiDict

from sandbox.contract import ContractChecker, SpecRequest

FROM_ORDER_PATH = "/api/v1/Invoice/Factory/createInvoiceFromOrder"


class SevdeskChecker(ContractChecker):
    """The saved spec still requires `invoice[id]` and `invoice[objectName]` query parameters
    on createInvoiceFromOrder, which sevDesk's current spec dropped (fact sheet: "send the
    body only"): a body-only request is checked as if they were there, the body in full."""

    def spec_request(self, req: Request) -> SpecRequest:
        spec_request = super().spec_request(req)
        query = spec_request.parameters.query
        if req.path == FROM_ORDER_PATH and "invoice[id]" not in query:
            stale = [("invoice[id]", "0"), ("invoice[objectName]", "Invoice")]
            spec_request.parameters.query = ImmutableMultiDict([*query.items(multi=True), *stale])
        return spec_request
