"""The activity log speaks the reader's language: errors and notes are stored as codes with
parameters while the worker runs in German, and shown in English to an English reader and in
German to a German one. A vendor's own words stay as the vendor wrote them."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from accounts.models import User
from connectors import errors
from sync.models import Transfer
from sync.services import runs
from tests.factories import TransferFactory, UserFactory
from tests.sync.test_handlers import _deletion, run_now

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("every_tenant_pays")]
State = Transfer.State


def _page(user: User, transfer: Transfer, language: str) -> str:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(user)
    detail = client.get(reverse("sync:transfer_detail", args=[transfer.pk]))
    listing = client.get(reverse("sync:transfer_list"))
    return detail.content.decode() + listing.content.decode()


def _reader_of(transfer: Transfer) -> User:
    user: User = UserFactory(tenant=transfer.tenant)  # type: ignore[assignment]
    return user


def _german(text: str, **params: object) -> str:
    with translation.override("de"):
        german = _(text)
    # The test means something only where the catalogue translates the text.
    assert german != text
    return german % params if params else german


def _escaped(text: str) -> str:
    from django.utils.html import escape

    return str(escape(text))


def test_an_error_recorded_in_german_is_read_in_each_readers_language(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    transfer, _books, _hubspot = _deletion(monkeypatch, "contact", None)
    with translation.override("de"):  # the worker's language
        run_now(transfer)
    transfer.refresh_from_db()
    assert transfer.state == State.SKIPPED
    reader = _reader_of(transfer)

    text = (
        "A deletion was reported, but HubSpot still has this %(object)s: the customer in "
        "%(system)s was not deleted."
    )
    english = text % {"object": "contact", "system": "Memory Books"}
    german = _german(text, object=_german("contact"), system="Memory Books")

    page_en = _page(reader, transfer, "en")
    assert _escaped(english) in page_en
    assert _escaped(german) not in page_en
    page_de = _page(reader, transfer, "de")
    assert _escaped(german) in page_de
    assert _escaped(english) not in page_de


def _claimed(*, attempts: int = 0) -> runs.Run:
    transfer = TransferFactory(state=State.PENDING, error="", attempts=attempts)
    run = runs.run_claim(transfer_id=str(transfer.pk))
    assert run is not None
    return run


def test_the_vendors_own_words_stay_as_the_vendor_wrote_them() -> None:
    run = _claimed(attempts=runs.MAX_ATTEMPTS - 1)
    refusal = errors.TransientError("503", vendor_message="Dienst nicht verfügbar")
    with translation.override("de"):
        runs.run_retry_later(run=run, failure=refusal, enqueue=lambda *a, **k: None)
    transfer = Transfer.objects.get(pk=run.transfer.pk)
    assert transfer.state == State.FAILED
    reader = _reader_of(transfer)

    inner = "The vendor is not reachable right now (%(reason)s); it will be tried again."
    outer = "Gave up after %(n)d attempts: %(error)s"
    vendor_words = "Dienst nicht verfügbar"
    english = outer % {"n": 12, "error": inner % {"reason": vendor_words}}
    german = _german(outer, n=12, error=_german(inner, reason=vendor_words))

    assert _escaped(english) in _page(reader, transfer, "en")
    assert _escaped(german) in _page(reader, transfer, "de")


def test_a_permanent_refusal_shows_the_vendors_message_verbatim_in_every_language() -> None:
    run = _claimed()

    def refused(run: runs.Run) -> None:
        raise errors.PermanentError("400", vendor_message="Kontakt existiert nicht")

    with translation.override("de"):
        runs.run_guarded(run=run, work=refused, retry=lambda **_: None)
    transfer = Transfer.objects.get(pk=run.transfer.pk)
    reader = _reader_of(transfer)
    for language in ("en", "de"):
        assert "Kontakt existiert nicht" in _page(reader, transfer, language)


def test_notes_written_in_german_are_read_in_english() -> None:
    run = _claimed()
    from connectors.shapes import DocumentKind, QuoteRef
    from sync.services.handlers import DocumentTransfer

    hubspot = _WriteBackRefused()
    with translation.override("de"):
        DocumentTransfer(DocumentKind.QUOTE)._done(
            run,
            hubspot,
            QuoteRef("q-1", "A-1", ""),
            status="draft",
            reconciled=True,  # type: ignore[arg-type]
        )
    transfer = Transfer.objects.get(pk=run.transfer.pk)
    reader = _reader_of(transfer)

    found = "The quote had been created; it was not sent twice."
    not_written = "The quote number could not be written to the deal: %(error)s"
    rate = "The vendor's rate limit was reached; the transfer waits and tries again."
    page_en = _page(reader, transfer, "en")
    assert _escaped(found) in page_en
    assert _escaped(not_written % {"error": rate}) in page_en
    page_de = _page(reader, transfer, "de")
    assert _escaped(_german(found)) in page_de
    assert _escaped(_german(not_written, error=_german(rate))) in page_de


class _WriteBackRefused:
    def write_back_deal(self, object_id: str, properties: dict[str, str]) -> None:
        raise errors.RateLimited("429", wait_seconds=10)


def test_entries_written_before_codes_existed_are_shown_as_they_are() -> None:
    transfer = TransferFactory(error="lexware office antwortete 406", notes=["Alte Notiz"])
    reader = _reader_of(transfer)
    for language in ("en", "de"):
        page = _page(reader, transfer, language)
        assert "lexware office antwortete 406" in page
        assert "Alte Notiz" in page


def test_a_vendor_link_that_is_no_https_link_is_not_stored_or_written_back(settings) -> None:  # type: ignore[no-untyped-def]
    settings.SANDBOX_VENDORS, settings.DEBUG = False, False
    run = _claimed()
    from connectors.shapes import DocumentKind, QuoteRef
    from sync.services.handlers import DocumentTransfer

    hubspot = _WriteBackRecorded()
    created = QuoteRef("q-1", "A-1", "javascript:alert(1)")
    DocumentTransfer(DocumentKind.QUOTE)._done(
        run, hubspot, created, status="draft", reconciled=False
    )  # type: ignore[arg-type]
    transfer = Transfer.objects.get(pk=run.transfer.pk)
    assert transfer.vendor_url == ""
    assert hubspot.written == [{"apiup_quote_number": "A-1", "apiup_quote_status": "draft"}]


class _WriteBackRecorded:
    def __init__(self) -> None:
        self.written: list[dict[str, str]] = []

    def write_back_deal(self, object_id: str, properties: dict[str, str]) -> None:
        self.written.append(properties)


def test_what_the_rules_assumed_about_a_customer_is_read_in_each_readers_language() -> None:
    from connectors.rules import Placeholder, customer_for_deal
    from connectors.shapes import Address, Company
    from sync.messages import note_entries

    with translation.override("de"):
        customer = customer_for_deal(
            company=Company(domain="beispiel.de", address=Address(city="Köln")),
            contact=None,
            placeholder=Placeholder(),
            default_country="DE",
        )
    transfer = TransferFactory(notes=note_entries(*customer.notes))
    reader = _reader_of(transfer)

    from_domain = "The company has no name; its domain “%(name)s” was used."
    placeholders = "The company's address is incomplete; placeholder values (%(values)s) were used."
    values = "Musterfirma, Musterstraße, Musterstadt"
    page_en = _page(reader, transfer, "en")
    assert _escaped(from_domain % {"name": "beispiel.de"}) in page_en
    assert _escaped(placeholders % {"values": values}) in page_en
    page_de = _page(reader, transfer, "de")
    assert _escaped(_german(from_domain, name="beispiel.de")) in page_de


def test_an_import_that_failed_in_the_worker_is_read_in_each_readers_language() -> None:
    from sync.models import ImportJob
    from sync.services import imports
    from tests.factories import ConnectionFactory, TenantFactory

    tenant = TenantFactory()
    ConnectionFactory(tenant=tenant, system="lexoffice")  # HubSpot is not connected
    job = ImportJob.objects.create(tenant=tenant, object_type=Transfer.ObjectType.CONTACT)
    with translation.override("de"):  # the worker's language
        imports.import_run(str(job.pk), enqueue=lambda *_: None)
    job.refresh_from_db()
    assert job.state == ImportJob.State.FAILED

    refused = "The connection was refused (%(reason)s). Please reconnect it."
    reason = "HubSpot is not connected."
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(UserFactory(tenant=tenant))
    english = client.get(reverse("sync:transfer_list")).content.decode()
    assert _escaped(refused % {"reason": reason}) in english
    german = Client(HTTP_ACCEPT_LANGUAGE="de")
    german.force_login(UserFactory(tenant=tenant))
    page_de = german.get(reverse("sync:transfer_list")).content.decode()
    assert _escaped(_german(refused, reason=reason)) in page_de
