"""Two HubSpot records that stand for one customer never become two vendor customers, even
when their transfers run at the same moment."""

import threading
import time

import pytest
from django.db import connection

from connectors.base import AccountingConnector
from connectors.shapes import (
    AccountInfo,
    Capabilities,
    Company,
    Customer,
    CustomerKind,
    CustomerRef,
    Quote,
    QuoteRef,
)
from sync.services import customers
from tests.factories import ConnectionFactory, TenantFactory


class SlowVendor(AccountingConnector):
    """A vendor whose create takes a moment, so that an unguarded search-then-create of two
    transfers overlaps."""

    system = "lexoffice"
    capabilities = Capabilities(
        title_max_length=None,
        currencies=None,
        can_delete_customers=False,
        has_idempotency_keys=False,
        can_create_invoices=False,
        quote_is_draft=True,
    )
    created: list[Customer]
    guard = threading.Lock()

    def verify(self) -> AccountInfo:
        return AccountInfo(account_id="1", name="Slow")

    def find_customer_by_email(self, customer: Customer) -> CustomerRef | None:
        with self.guard:
            found = [c for c in self.created if c.lookup_email == customer.lookup_email]
        return CustomerRef(vendor_id="1") if found else None

    def find_customer_by_name(self, customer: Customer) -> CustomerRef | None:
        return None

    def get_customer(self, vendor_id: str) -> CustomerRef | None:
        return CustomerRef(vendor_id=vendor_id)

    def create_customer(self, customer: Customer) -> CustomerRef:
        time.sleep(0.3)
        with self.guard:
            self.created.append(customer)
            return CustomerRef(vendor_id=str(len(self.created)))

    def update_customer(self, ref: CustomerRef, customer: Customer) -> CustomerRef:
        return ref

    def create_quote(self, quote: Quote) -> QuoteRef:
        raise NotImplementedError

    def find_quote(self, reference: str, *, customer_id: str = "") -> QuoteRef | None:
        return None


@pytest.mark.django_db(transaction=True)
def test_two_companies_with_one_email_resolved_at_once_make_one_customer() -> None:
    tenant = TenantFactory()
    vendor = SlowVendor(connection=ConnectionFactory(tenant=tenant))
    vendor.created = []
    errors: list[BaseException] = []

    def resolve(company_id: str) -> None:
        company = Company(name="Beispiel GmbH", email="info@beispiel.de", hubspot_id=company_id)
        try:
            customers.customer_resolve(
                tenant=tenant,
                connector=vendor,
                customer=Customer(kind=CustomerKind.COMPANY, company=company),
                object_type="company",
                object_id=company_id,
                update_existing=False,
            )
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=resolve, args=(str(n),)) for n in (101, 102)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert len(vendor.created) == 1
