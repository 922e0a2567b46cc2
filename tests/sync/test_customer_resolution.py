"""Two HubSpot records that stand for one customer never become two vendor customers, even
when their transfers run at the same moment."""

import threading
import time

import pytest
from django.db import connection

from connectors.shapes import Company, Customer, CustomerKind, CustomerRef
from sync.services import customers
from tests.factories import ConnectionFactory, TenantFactory
from tests.fakes.memory import ACCEPTED_KEY, MemoryBooks, MemoryConnector


class SlowVendor(MemoryConnector):
    """A vendor whose create takes a moment, so that an unguarded search-then-create of two
    transfers overlaps."""

    def create_customer(self, customer: Customer) -> CustomerRef:
        time.sleep(0.3)
        return super().create_customer(customer)


@pytest.mark.django_db(transaction=True)
def test_two_companies_with_one_email_resolved_at_once_make_one_customer() -> None:
    tenant = TenantFactory()
    books = MemoryBooks()
    vendor = SlowVendor(
        connection=ConnectionFactory(tenant=tenant, credentials={"api_key": ACCEPTED_KEY}),
        books=books,
    )
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
    assert len(books.customers) == 1
    assert books.calls.count("create_customer") == 1
