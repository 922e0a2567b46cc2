"""Finding or creating the vendor customer that stands for a HubSpot company or contact:
the stored link first, then by e-mail, then by name, else a new customer.

A document for a linked customer takes the link as it is, without asking the vendor, and the
contact person made sure of for that vendor customer before: one vendor call for the document
alone. Should the vendor refuse that document, `link_check` reads the customer once to see
whether the link was the reason."""

from __future__ import annotations

import hashlib

from accounts.models import Tenant
from apiup.locks import named_lock
from connectors.base import AccountingConnector
from connectors.shapes import Customer, CustomerRef, Person
from sync.messages import Message, Refusal
from sync.models import ObjectLink


def _link(tenant: Tenant, system: str, object_type: str, object_id: str) -> ObjectLink | None:
    return (
        ObjectLink.objects.for_tenant(tenant)
        .filter(system=system, object_type=object_type, object_id=object_id)
        .first()
    )


def link_store(
    *, tenant: Tenant, system: str, object_type: str, object_id: str, ref: CustomerRef
) -> None:
    # A contact person remembered for another vendor customer is not this one's.
    ObjectLink.objects.for_tenant(tenant).filter(
        system=system, object_type=object_type, object_id=object_id
    ).exclude(vendor_id=ref.vendor_id).update(contact_person_digest="", contact_person_id="")
    ObjectLink.objects.update_or_create(
        tenant=tenant,
        system=system,
        object_type=object_type,
        object_id=object_id,
        defaults={"vendor_id": ref.vendor_id, "vendor_number": ref.number},
    )


def customer_resolve(
    *,
    tenant: Tenant,
    connector: AccountingConnector,
    customer: Customer,
    object_type: str,
    object_id: str,
    update_existing: bool,
    hold_writes: Message | None = None,
    default_debtor: str = "",
    trust_link: bool = False,
) -> tuple[CustomerRef, str]:
    """Returns the vendor customer and how it was found: linked, email, name or created.
    `trust_link`: a linked customer is taken as the link has it, without reading it (for a
    document, whose own answer tells when the customer is gone; see `link_check`).
    `hold_writes`: the customer is only looked up; where it would be created or updated, the
    transfer is refused with this message instead (its data are incomplete).
    `default_debtor`: the vendor's id of the tenant's default customer, which a customer
    that is not found stands for instead of being created (how: "default_debtor").

    Creating is not idempotent at any vendor; if a create's answer is lost, the next attempt
    finds the customer by e-mail or name instead of creating a second one."""
    system = connector.provider.key
    if trust_link and not update_existing:
        link = _link(tenant, system, object_type, object_id)
        if link is not None:
            return CustomerRef(vendor_id=link.vendor_id, number=link.vendor_number), "linked"
    # A quote transfer and the contact's own transfer may resolve the same customer at once;
    # without the locks both could search, find nothing, and create it twice. The second lock
    # covers two HubSpot records that stand for one customer (same e-mail, or same name).
    match = customer.lookup_email.casefold() or " ".join(customer.display_name.casefold().split())
    match_key = hashlib.sha256(match.encode()).hexdigest()[:32]  # no address in lock names
    with (
        named_lock(f"customer:{tenant.pk}:{system}:{object_type}:{object_id}"),
        named_lock(f"customer-match:{tenant.pk}:{system}:{match_key}"),
    ):
        return _resolve(
            tenant=tenant,
            connector=connector,
            customer=customer,
            object_type=object_type,
            object_id=object_id,
            update_existing=update_existing,
            hold_writes=hold_writes,
            default_debtor=default_debtor,
        )


def customer_find(
    *,
    tenant: Tenant,
    connector: AccountingConnector,
    customer: Customer,
    object_type: str,
    object_id: str,
) -> tuple[CustomerRef | None, str]:
    """Looks the customer up without writing anything: the stored link first, then by
    e-mail, then by name. Returns (None, "created") when it would be created."""
    link = _link(tenant, connector.provider.key, object_type, object_id)
    if link is not None:
        ref = connector.get_customer(link.vendor_id)
        if ref is not None:
            return ref, "linked"
    if customer.lookup_email:
        ref = connector.find_customer_by_email(customer)
        if ref is not None:
            return ref, "email"
    ref = connector.find_customer_by_name(customer)
    if ref is not None:
        return ref, "name"
    return None, "created"


def _resolve(
    *,
    tenant: Tenant,
    connector: AccountingConnector,
    customer: Customer,
    object_type: str,
    object_id: str,
    update_existing: bool,
    hold_writes: Message | None = None,
    default_debtor: str = "",
) -> tuple[CustomerRef, str]:
    system = connector.provider.key
    ref, how = customer_find(
        tenant=tenant,
        connector=connector,
        customer=customer,
        object_type=object_type,
        object_id=object_id,
    )
    if ref is None and default_debtor:
        # Not linked: the next document of this customer looks for it again.
        return CustomerRef(vendor_id=default_debtor), "default_debtor"
    if hold_writes is not None and (ref is None or update_existing):
        raise Refusal(hold_writes)
    if ref is None:
        ref = connector.create_customer(customer)
        how = "created"
    elif update_existing:
        ref = connector.update_customer(ref, customer)
    link_store(tenant=tenant, system=system, object_type=object_type, object_id=object_id, ref=ref)
    return ref, how


def _person_digest(person: Person) -> str:
    # Who the person is at the vendor (its contact persons are told apart by name and
    # e-mail), whichever HubSpot contact stands for it.
    who = "\x1f".join((person.email.casefold(), person.first_name, person.last_name))
    return hashlib.sha256(who.encode()).hexdigest()[:32]


def contact_person_remembered(
    *, tenant: Tenant, system: str, vendor_id: str, person: Person
) -> str | None:
    """The vendor's id of the company's contact person when this very person was made sure
    of for the same vendor customer before, through any HubSpot record linked to it ("" where
    the vendor's documents name no person); None when the vendor has to be asked."""
    return (
        ObjectLink.objects.for_tenant(tenant)
        .filter(system=system, vendor_id=vendor_id, contact_person_digest=_person_digest(person))
        .values_list("contact_person_id", flat=True)
        .first()
    )


def contact_person_remember(
    *,
    tenant: Tenant,
    system: str,
    object_type: str,
    object_id: str,
    person: Person,
    vendor_id: str,
) -> None:
    digest, vendor_id = _person_digest(person), vendor_id[:64]
    # A link that holds this person already is not written again (every document asks).
    ObjectLink.objects.for_tenant(tenant).filter(
        system=system, object_type=object_type, object_id=object_id
    ).exclude(contact_person_digest=digest, contact_person_id=vendor_id).update(
        contact_person_digest=digest, contact_person_id=vendor_id
    )


def link_check(
    *,
    tenant: Tenant,
    connector: AccountingConnector,
    ref: CustomerRef,
    object_type: str,
    object_id: str,
) -> bool:
    """The vendor refused a document for a customer named as its link has it, or with a
    remembered contact person. Forgets the contact persons remembered for that customer and
    reads it: one that is gone is unlinked, so that the next attempt finds or creates it anew.
    True when the next attempt may succeed where this one failed (the customer was gone, or a
    remembered contact person was in use)."""
    system = connector.provider.key
    remembered = ObjectLink.objects.for_tenant(tenant).filter(
        system=system, vendor_id=ref.vendor_id
    )
    person_was_remembered = remembered.exclude(contact_person_digest="").exists()
    remembered.update(contact_person_digest="", contact_person_id="")
    if connector.get_customer(ref.vendor_id) is None:
        ObjectLink.objects.for_tenant(tenant).filter(
            system=system, object_type=object_type, object_id=object_id
        ).delete()
        return True
    return person_was_remembered
