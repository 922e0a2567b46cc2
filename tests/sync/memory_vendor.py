"""An accounting system in memory, for tests of the transfer path that need no HTTP."""

from collections.abc import Callable

from connectors.base import AccountingConnector
from connectors.models import Connection, System
from connectors.shapes import AccountInfo, Capabilities, Customer, CustomerRef, Quote, QuoteRef


class MemoryVendor(AccountingConnector):
    """Creates customers in memory (`created`); `on_create` runs while one is being created,
    and may raise what the vendor would."""

    system = System.LEXOFFICE
    capabilities = Capabilities(
        title_max_length=None,
        currencies=None,
        can_delete_customers=False,
        has_idempotency_keys=False,
        can_create_invoices=False,
        quote_is_draft=True,
    )

    def __init__(self, *, connection: Connection) -> None:
        super().__init__(connection=connection)
        self.created: list[Customer] = []
        self.on_create: Callable[[], object] = lambda: None

    def verify(self) -> AccountInfo:
        return AccountInfo(account_id="1", name="Test")

    def find_customer_by_email(self, customer: Customer) -> CustomerRef | None:
        return None

    def find_customer_by_name(self, customer: Customer) -> CustomerRef | None:
        return None

    def get_customer(self, vendor_id: str) -> CustomerRef | None:
        return CustomerRef(vendor_id=vendor_id, number="K-" + vendor_id)

    def create_customer(self, customer: Customer) -> CustomerRef:
        self.on_create()
        self.created.append(customer)
        number = len(self.created)
        return CustomerRef(vendor_id=f"c-{number}", number=f"K-{number}")

    def update_customer(self, ref: CustomerRef, customer: Customer) -> CustomerRef:
        return ref

    def create_quote(self, quote: Quote) -> QuoteRef:
        raise NotImplementedError

    def find_quote(self, reference: str, *, customer_id: str = "") -> QuoteRef | None:
        return None
