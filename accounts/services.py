"""Writes that concern users, tenants, roles and invitations."""

import datetime as dt
import secrets
import time

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts import selectors
from accounts.models import Invitation, Role, Tenant, User
from accounts.roles import INVITABLE_ROLES


@transaction.atomic
def tenant_create_for_user(
    *,
    user: User,
    company_name: str,
    first_name: str,
    last_name: str,
    street: str,
    house_number: str,
    postcode: str,
    city: str,
    country: str,
) -> Tenant:
    """Step 2 of registration: the customer's company, which the registering user owns."""
    locked_user = User.objects.select_for_update().get(pk=user.pk)
    if locked_user.tenant_id is not None:
        return locked_user.tenant  # type: ignore[return-value]
    tenant = Tenant.objects.create(
        company_name=company_name,
        first_name=first_name,
        last_name=last_name,
        street=street,
        house_number=house_number,
        postcode=postcode,
        city=city,
        country=country,
    )
    locked_user.tenant = tenant
    locked_user.role = Role.OWNER
    locked_user.save(update_fields=["tenant", "role"])
    user.tenant = tenant
    user.role = Role.OWNER
    return tenant


# -- roles ------------------------------------------------------------------------------------


class LastOwner(Exception):
    """A company without an owner could no longer pay, change roles or close its account."""


def _locked_member(*, tenant: Tenant, member: User) -> tuple[User, int]:
    """The member under a row lock, and how many owners the tenant has while the lock holds
    (every member is locked, so two owners cannot demote each other at the same moment)."""
    members = list(User.objects.select_for_update().filter(tenant=tenant).order_by("pk"))
    locked = next((m for m in members if m.pk == member.pk), None)
    if locked is None:  # left the company since the page was shown
        raise User.DoesNotExist("not a member of this tenant")
    return locked, sum(1 for m in members if m.role == Role.OWNER)


@transaction.atomic
def member_role_change(*, tenant: Tenant, member: User, role: str) -> User:
    locked, owners = _locked_member(tenant=tenant, member=member)
    if locked.role == Role.OWNER and role != Role.OWNER and owners <= 1:
        raise LastOwner
    locked.role = Role(role)
    locked.save(update_fields=["role"])
    return locked


@transaction.atomic
def member_remove(*, tenant: Tenant, member: User) -> None:
    """The person leaves the company but keeps their login, so they may register a company
    of their own or accept another invitation later."""
    locked, owners = _locked_member(tenant=tenant, member=member)
    if locked.role == Role.OWNER and owners <= 1:
        raise LastOwner
    locked.tenant = None
    locked.role = Role.MEMBER
    locked.save(update_fields=["tenant", "role"])


# -- invitations ------------------------------------------------------------------------------


class InvitationRateLimited(Exception):
    pass


class InvitationInvalid(Exception):
    """Unknown, expired, revoked or already accepted: the invitee is told the same for all."""


class InvitationForAnotherAddress(Exception):
    pass


class AccountOfAnotherCompany(Exception):
    pass


def _invitation_budget_spent(*, tenant: Tenant) -> bool:
    # Every attempt counts, refused addresses too: otherwise the count would tell the inviter
    # which addresses were refused.
    key = f"invitations:{tenant.pk}:{int(time.time() // 3600)}"
    cache.add(key, 0, timeout=3600)
    try:
        sent = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=3600)
        sent = 1
    return sent > settings.INVITATIONS_PER_HOUR


def invitation_create(
    *, tenant: Tenant, invited_by: User, email: str, role: str
) -> Invitation | None:
    """Invites a colleague: a pending invitation and a mail with a link naming the company.

    An address that belongs to another company is refused without a word to the inviter: its
    invitation is listed like any other, but no mail is sent and it can never be accepted
    (invitation_accept refuses a member of another company), so the team page looks the same
    either way. An address already in this company gets nothing (None). Raises
    InvitationRateLimited when the company has sent its invitations for this hour."""
    if Role(role) not in INVITABLE_ROLES:
        raise ValueError(f"invitations are for {INVITABLE_ROLES}, not {role}")
    email = email.strip().lower()
    if _invitation_budget_spent(tenant=tenant):
        raise InvitationRateLimited
    companies = {user.tenant_id for user in selectors.users_with_email(email=email)} - {None}
    if tenant.pk in companies:
        return None
    refused = bool(companies)
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic():
        # Inviting again replaces the open invitation: the newest mail holds the valid link.
        Invitation.objects.for_tenant(tenant).filter(
            email=email, accepted_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=now)
        invitation = Invitation.objects.create(
            tenant=tenant,
            email=email,
            role=role,
            invited_by=invited_by,
            token_hash=selectors.invitation_token_hash(token),
            expires_at=now + dt.timedelta(days=settings.INVITATION_EXPIRY_DAYS),
        )
        if not refused:
            transaction.on_commit(lambda: _invitation_mail_send(invitation=invitation, token=token))
    return invitation


def _invitation_mail_send(*, invitation: Invitation, token: str) -> None:
    context = {
        "company": invitation.tenant.display_name,
        "inviter": invitation.invited_by.email if invitation.invited_by else "",
        "role": invitation.get_role_display(),
        "url": settings.PUBLIC_BASE_URL
        + reverse("accounts:invitation_open", kwargs={"token": token}),
        "expires_at": invitation.expires_at,
    }
    subject = render_to_string("accounts/email/invitation_subject.txt", context)
    send_mail(
        subject=settings.ACCOUNT_EMAIL_SUBJECT_PREFIX + " ".join(subject.split()),
        message=render_to_string("accounts/email/invitation_message.txt", context),
        from_email=None,
        recipient_list=[invitation.email],
    )


def invitation_revoke(*, invitation: Invitation) -> bool:
    """False when it was accepted or revoked already."""
    return bool(
        Invitation.objects.filter(
            pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=timezone.now())
    )


@transaction.atomic
def invitation_accept(*, token: str, user: User) -> Tenant:
    """The signed-in invitee joins the inviting company with the invited role."""
    invitation = (
        Invitation.objects.select_for_update()
        .select_related("tenant")
        .filter(token_hash=selectors.invitation_token_hash(token))
        .first()
    )
    if invitation is None or not selectors.invitation_is_open(invitation=invitation):
        raise InvitationInvalid
    if user.email.lower() != invitation.email:
        raise InvitationForAnotherAddress
    locked = User.objects.select_for_update().get(pk=user.pk)
    if locked.tenant_id is not None and locked.tenant_id != invitation.tenant_id:
        raise AccountOfAnotherCompany
    if locked.tenant_id is None:
        locked.tenant = invitation.tenant
        locked.role = Role(invitation.role)
        locked.save(update_fields=["tenant", "role"])
    # The link reached this mailbox, which proves the address like a confirmation mail.
    if not EmailAddress.objects.filter(user=locked, email__iexact=invitation.email).update(
        verified=True
    ):
        EmailAddress.objects.create(
            user=locked,
            email=invitation.email,
            primary=not EmailAddress.objects.filter(user=locked, primary=True).exists(),
            verified=True,
        )
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = locked
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    user.tenant, user.role = locked.tenant, locked.role
    return invitation.tenant
