"""The HubSpot client against the HubSpot sandbox over real HTTP: the OAuth install, token
refresh (once for many callers), deals with company, contact and line items in few calls,
pipelines, contacts and companies, the exclusion property and the quote write-back. Every
request must validate against HubSpot's saved spec (the sandbox's contract checker)."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest
import requests
from django.db import close_old_connections, connection
from django.test import override_settings
from flask import Flask, Response, request

from connectors import errors, oauth
from connectors.credentials import TokenSet
from connectors.hubspot import mapping
from connectors.hubspot.client import ArchivedInHubSpot, HubSpotClient, portal_of
from connectors.hubspot.mapping import DOCUMENT_PROPERTIES
from connectors.hubspot.provider import PROVIDER
from connectors.models import Connection
from sandbox.core import RunningSandbox, running
from sandbox.hubspot.app import HubSpotSandbox
from tests.factories import ConnectionFactory

FIXTURES = Path(__file__).parent / "fixtures" / "hubspot"
# A portal of its own per run: the rate-limit buckets under var/ are shared by every test run
# on this machine.
PORTAL = 4_700_000 + secrets.randbelow(100_000)
REDIRECT_URI = "http://localhost:8000/connectors/hubspot/callback"
TOKEN_PATH = "/oauth/v1/token"
CLIENT_ID, CLIENT_SECRET = oauth.client_credentials(PROVIDER)


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def _own_cache() -> Iterator[None]:
    """The pipelines and the write-back properties are cached per portal; each test starts
    with an empty cache of its own instead of clearing the shared one under var/."""
    backend = "django.core.cache.backends.locmem.LocMemCache"
    location = f"hubspot-tests-{secrets.token_hex(4)}"
    with override_settings(CACHES={"default": {"BACKEND": backend, "LOCATION": location}}):
        yield


@pytest.fixture
def hub() -> Iterator[RunningSandbox]:
    sandbox = HubSpotSandbox(
        contract=True,
        portals={PORTAL: "Beispiel GmbH"},
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        extra_properties={
            "contacts": ["not_to_accounting", "keine_buchhaltung"],
            "companies": ["not_to_accounting"],
        },
    )
    with running(sandbox) as handle:
        yield handle


def _sandbox(handle: RunningSandbox) -> HubSpotSandbox:
    sandbox = handle.sandbox
    assert isinstance(sandbox, HubSpotSandbox)
    return sandbox


def _violations(handle: RunningSandbox) -> list[Any]:
    assert handle.sandbox.contract is not None
    return handle.sandbox.contract.violations


def _install(handle: RunningSandbox, *, verifier: str | None = None) -> tuple[str, str]:
    """Runs the consent screen as a browser would; returns (code, code_verifier)."""
    verifier = verifier or secrets.token_urlsafe(48)
    url = oauth.authorization_url(
        PROVIDER,
        state="state-1",
        redirect_uri=REDIRECT_URI,
        code_verifier=verifier,
        oauth_url=handle.url,
    )
    # The first request to a sandbox loads HubSpot's OpenAPI files for the contract check,
    # which takes seconds on a busy machine.
    consent = requests.get(url, timeout=30)
    assert consent.status_code == 200, consent.text
    params = dict(parse_qsl(urlsplit(url).query))
    answer = requests.post(
        f"{handle.url}/oauth/authorize",
        data={**params, "portal_id": str(PORTAL), "decision": "approve"},
        allow_redirects=False,
        timeout=30,
    )
    location = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert location["state"] == ["state-1"]
    return location["code"][0], verifier


def _exchange(handle: RunningSandbox, code: str, verifier: str) -> TokenSet:
    """The code exchange; HubSpot's token endpoint is on its API host."""
    return oauth.exchange_code(
        PROVIDER, code=code, redirect_uri=REDIRECT_URI, code_verifier=verifier, oauth_url=handle.url
    )


def _connection(handle: RunningSandbox, **credentials: Any) -> Connection:
    token = _sandbox(handle).issue_token(PORTAL)
    stored = ConnectionFactory(
        system="hubspot",
        external_account_id=str(PORTAL),
        credentials={
            "access_token": token,
            "refresh_token": "",
            "expires_at": time.time() + 1800,
            **credentials,
        },
    )
    assert isinstance(stored, Connection)
    return stored


def _client(handle: RunningSandbox, stored: Connection) -> HubSpotClient:
    client = HubSpotClient(connection=stored, base_url=handle.url)
    client.client.sleep = lambda _: None
    return client


# -- OAuth ------------------------------------------------------------------------------


def test_the_authorization_url_asks_for_the_scopes_with_a_pkce_challenge() -> None:
    url = oauth.authorization_url(
        PROVIDER,
        state="s",
        redirect_uri=REDIRECT_URI,
        code_verifier="v" * 43,
        oauth_url="https://hs.test",
    )
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://hs.test/oauth/authorize"
    assert PROVIDER.oauth is not None
    assert query["client_id"] == [CLIENT_ID]
    assert query["scope"] == [" ".join(PROVIDER.oauth.scopes)]
    assert "%20" in parts.query
    assert "+" not in parts.query
    assert query["code_challenge_method"] == ["S256"]
    assert query["code_challenge"] == [oauth.code_challenge("v" * 43)]
    assert "=" not in query["code_challenge"][0]


def test_install_exchanges_the_code_and_finds_the_portal(hub: RunningSandbox) -> None:
    code, verifier = _install(hub)
    tokens = _exchange(hub, code, verifier)
    assert tokens.access_token
    assert tokens.refresh_token
    assert tokens.expires_in == 1800
    assert portal_of(tokens.access_token, base_url=hub.url) == (
        str(PORTAL),
        "beispiel-gmbh.example",
    )
    assert _violations(hub) == []


def test_a_code_with_the_wrong_verifier_is_refused_with_hubspots_words(
    hub: RunningSandbox,
) -> None:
    code, _ = _install(hub)
    with pytest.raises(errors.PermanentError) as caught:
        _exchange(hub, code, "not-the-one")
    assert caught.value.vendor_message == "code_verifier does not match"
    assert "not-the-one" not in str(caught.value)


def test_refresh_gives_a_new_access_token(hub: RunningSandbox) -> None:
    code, verifier = _install(hub)
    first = _exchange(hub, code, verifier)
    # The client's refresher, as its authenticator calls it: the token endpoint on the API host.
    unsaved = Connection(system="hubspot", credentials={})
    fresh = HubSpotClient(connection=unsaved, base_url=hub.url).refresh(first.refresh_token)
    assert fresh.access_token != first.access_token
    assert fresh.refresh_token == first.refresh_token  # HubSpot keeps the refresh token
    assert portal_of(fresh.access_token, base_url=hub.url)[0] == str(PORTAL)
    assert _violations(hub) == []


def test_a_refused_refresh_token_requires_reconnecting(hub: RunningSandbox) -> None:
    with pytest.raises(errors.ReconnectRequired) as caught:
        oauth.refresh(PROVIDER, "revoked-refresh-token", oauth_url=hub.url)
    assert caught.value.vendor_message == "missing or unknown refresh token"
    assert "revoked-refresh-token" not in str(caught.value)


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_deal_reads_on_an_expired_token_refresh_once(
    hub: RunningSandbox,
) -> None:
    code, verifier = _install(hub)
    tokens = _exchange(hub, code, verifier)
    stored = _connection(
        hub,
        access_token="expired-token",
        refresh_token=tokens.refresh_token,
        expires_at=time.time() - 5,
    )
    deal_id = _sandbox(hub).seed_deal(
        PORTAL, name="Wartung", line_items=[{"name": "Wartung", "quantity": 1, "price": 90}]
    )
    hub.sandbox.faults.update({"latency_ms": 50})  # a slow HubSpot makes the race likely
    deals: list[str] = []
    failures: list[BaseException] = []

    def read() -> None:
        try:
            own = Connection.objects.get(pk=stored.pk)
            deals.append(_client(hub, own).read_deal(deal_id).name)
        except BaseException as exc:
            failures.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=read) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert deals == ["Wartung"] * 20
    refreshes = list(hub.sandbox.api_calls(path_prefix=TOKEN_PATH))
    assert len(refreshes) == 2  # the install's code exchange and ONE refresh
    assert refreshes[1].request_body["grant_type"] == "refresh_token"
    assert Connection.objects.get(pk=stored.pk).credentials["access_token"] != "expired-token"
    assert _violations(hub) == []


@pytest.mark.django_db
def test_a_token_hubspot_rejects_is_refreshed_once_and_the_call_repeated(
    hub: RunningSandbox,
) -> None:
    code, verifier = _install(hub)
    tokens = _exchange(hub, code, verifier)
    # Valid by our clock, unknown to HubSpot (revoked, or another install replaced it).
    stored = _connection(hub, access_token="revoked", refresh_token=tokens.refresh_token)
    client = _client(hub, stored)
    assert client.won_stage_ids("default") == {"closedwon"}
    assert len(hub.sandbox.api_calls(path_prefix=TOKEN_PATH)) == 2  # exchange + one refresh
    assert [c.status for c in hub.sandbox.api_calls(path_prefix="/crm")] == [401, 200]
    assert stored.credentials["access_token"] != "revoked"


@pytest.mark.django_db
def test_a_refused_refresh_marks_the_connection_for_reconnecting(hub: RunningSandbox) -> None:
    stored = _connection(
        hub, access_token="old", refresh_token="revoked", expires_at=time.time() - 5
    )
    with pytest.raises(errors.ReconnectRequired):
        _client(hub, stored).read_deal("1")
    assert Connection.objects.get(pk=stored.pk).status == Connection.Status.NEEDS_RECONNECT
    assert hub.sandbox.api_calls(path_prefix="/crm") == []


@pytest.mark.django_db
def test_a_connection_without_tokens_asks_for_reconnecting_without_a_call() -> None:
    stored = ConnectionFactory(system="hubspot", external_account_id=str(PORTAL), credentials={})
    client = HubSpotClient(connection=stored, base_url="http://127.0.0.1:9")

    with pytest.raises(errors.ReconnectRequired):
        client.read_deal("1")

    assert client.client.calls == 0
    assert Connection.objects.get(pk=stored.pk).status == Connection.Status.NEEDS_RECONNECT


class ScopeCheckingHubSpotSandbox(HubSpotSandbox):
    """Answers HubSpot's 403 MISSING_SCOPES to a token granted scopes without deals reads."""

    def register_routes(self, app: Flask) -> None:
        super().register_routes(app)

        @app.before_request
        def missing_scope() -> Response | None:
            # Runs before the sandbox's own pipeline, which registers its hooks later.
            token = request.headers.get("Authorization", "")[7:].strip()
            with self.lock:
                access = self.access_tokens.get(token)
            scopes = access.scopes if access is not None else []
            if (
                request.path.startswith("/crm/")
                and scopes
                and "crm.objects.deals.read" not in scopes
            ):
                return self.error_response(
                    403, "This app hasn't been granted all required scopes to make this call."
                )
            return None


@pytest.mark.django_db
def test_a_token_without_a_scope_marks_the_connection_for_reconnecting() -> None:
    with running(ScopeCheckingHubSpotSandbox(portals={PORTAL: "Beispiel GmbH"})) as handle:
        token = _sandbox(handle).issue_token(PORTAL, scopes=["oauth"])
        stored = _connection(handle, access_token=token, refresh_token="kept")
        client = _client(handle, stored)

        with pytest.raises(errors.ReconnectRequired) as caught:
            client.won_stage_ids("default")

        assert caught.value.status == 403
        assert client.client.calls == 1  # a missing scope is neither refreshed nor retried
        assert handle.sandbox.api_calls(path_prefix=TOKEN_PATH) == []
    assert Connection.objects.get(pk=stored.pk).status == Connection.Status.NEEDS_RECONNECT


# -- deals ------------------------------------------------------------------------------


def _seed_fixture_deal(handle: RunningSandbox) -> str:
    seed = fixture("deal-won-with-company-contact-line-items")
    return _sandbox(handle).seed_deal(
        PORTAL,
        name=seed["name"],
        amount=seed["amount"],
        pipeline=seed["pipeline"],
        stage=seed["stage"],
        properties=seed["properties"],
        company=seed["company"],
        contact=seed["contact"],
        line_items=seed["line_items"],
    )


@pytest.mark.django_db
def test_read_deal_maps_company_contact_and_three_line_items_in_four_calls(
    hub: RunningSandbox,
) -> None:
    deal_id = _seed_fixture_deal(hub)
    client = _client(hub, _connection(hub))

    deal = client.read_deal(deal_id)

    assert client.client.calls <= 4
    assert len(hub.sandbox.api_calls(path_prefix="/crm")) == client.client.calls
    assert (deal.hubspot_id, deal.portal_id, deal.name) == (
        deal_id,
        str(PORTAL),
        "Website-Relaunch Beispiel GmbH",
    )
    assert (deal.pipeline_id, deal.stage_id, deal.currency) == ("default", "closedwon", "EUR")
    assert deal.amount == Decimal("3750.00")
    assert str(deal.close_date) == "2026-11-20"
    company = deal.company
    assert company is not None
    assert (company.name, company.domain, company.phone) == (
        "Beispiel GmbH",
        "beispiel.de",
        "+49 30 1234567",
    )
    assert company.address.street == "Hauptstraße 12, Aufgang B"
    assert (company.address.postcode, company.address.city) == ("10115", "Berlin")
    assert company.address.country_code == "DE"
    assert company.hubspot_id
    contact = deal.contact
    assert contact is not None
    assert (contact.first_name, contact.last_name, contact.email) == (
        "Erika",
        "Mustermann",
        "erika@beispiel.de",
    )
    assert (contact.address.city, contact.address.country_code) == ("Zürich", "CH")
    assert [i.name for i in deal.line_items] == ["Konzeption", "Umsetzung", "Hosting"]
    first, second, third = deal.line_items
    assert (first.quantity, first.unit_price, first.sku) == (Decimal(1), Decimal(1200), "KON-1")
    assert first.description == "Workshop und Konzept"
    assert (second.quantity, second.discount_percent) == (Decimal("2.5"), Decimal(10))
    assert (third.quantity, third.unit_price, third.discount_percent) == (
        Decimal(12),
        Decimal(25),
        Decimal(0),
    )
    assert all(i.tax_rate is None for i in deal.line_items)  # the tenant's default applies
    assert all(i.hubspot_id for i in deal.line_items)
    # Batch reads, never one GET per line item.
    paths = [c.path for c in hub.sandbox.api_calls(path_prefix="/crm")]
    assert paths == [
        f"/crm/v3/objects/0-3/{deal_id}",
        "/crm/v3/objects/companies/batch/read",
        "/crm/v3/objects/contacts/batch/read",
        "/crm/v3/objects/line_items/batch/read",
    ]
    assert _violations(hub) == []


@pytest.mark.django_db
def test_the_primary_company_is_taken_from_the_association_labels(hub: RunningSandbox) -> None:
    sandbox = _sandbox(hub)
    deal_id = sandbox.seed_deal(PORTAL, name="Zwei Firmen", company={"name": "Erste AG"})
    second = sandbox.seed_object(PORTAL, "companies", {"name": "Zweite GmbH"})
    sandbox.associate(PORTAL, "deals", deal_id, "companies", second, primary=True)
    client = _client(hub, _connection(hub))

    deal = client.read_deal(deal_id)

    assert deal.company is not None
    assert deal.company.name == "Zweite GmbH"
    assert deal.contact is None
    assert deal.line_items == ()
    assert client.client.calls == 3  # deal, associations v4, company
    assert _violations(hub) == []


@pytest.mark.django_db
def test_a_company_with_only_a_domain(hub: RunningSandbox) -> None:
    deal_id = _sandbox(hub).seed_deal(
        PORTAL,
        name="Nur Domain",
        company={"domain": "nur-domain.ch", "country": "Schweiz"},
        line_items=[{"name": "Beratung", "quantity": "3", "price": "150"}],
    )
    deal = _client(hub, _connection(hub)).read_deal(deal_id)
    assert deal.company is not None
    assert (deal.company.name, deal.company.domain) == ("", "nur-domain.ch")
    assert deal.company.address.country_code == "CH"
    assert not deal.company.address.is_complete
    assert deal.currency == ""  # none on the deal: the portal's currency, decided by the caller
    assert deal.close_date is None
    assert _violations(hub) == []


@pytest.mark.django_db
def test_an_unknown_deal_is_not_found_with_hubspots_message(hub: RunningSandbox) -> None:
    with pytest.raises(errors.NotFound) as caught:
        _client(hub, _connection(hub)).read_deal("999")
    assert caught.value.vendor_message == "resource not found"
    assert len(hub.sandbox.api_calls()) == 1  # a 404 is not retried


# -- pipelines --------------------------------------------------------------------------


@pytest.mark.django_db
def test_pipelines_with_two_won_stages_are_read_once_per_portal(hub: RunningSandbox) -> None:
    stored = _connection(hub)
    client = _client(hub, stored)
    assert client.won_stage_ids("98765000") == {"98765002", "98765003"}
    assert client.won_stage_ids("default") == {"closedwon"}
    assert client.stage_probability("98765000", "98765001") == Decimal("0.5")
    # Another client of the same portal finds the pipelines in the cache.
    assert _client(hub, stored).stage_probability("default", "closedlost") == Decimal(0)
    assert len(hub.sandbox.api_calls(path_prefix="/crm/v3/pipelines")) == 1
    with pytest.raises(errors.NotFound):
        client.won_stage_ids("no-such-pipeline")
    assert _violations(hub) == []


@pytest.mark.django_db
def test_numeric_probabilities_count_like_strings(hub: RunningSandbox) -> None:
    sandbox = _sandbox(hub)
    for stage in sandbox.pipelines[PORTAL][1]["stages"]:
        stage["metadata"]["probability"] = float(stage["metadata"]["probability"])  # 1.0
    assert _client(hub, _connection(hub)).won_stage_ids("98765000") == {"98765002", "98765003"}
    # A number breaks HubSpot's schema (metadata values are strings): only the answer does.
    assert {v.where for v in _violations(hub)} == {"response"}


@pytest.mark.django_db
def test_the_pipeline_cache_time_is_configurable(hub: RunningSandbox) -> None:
    client = _client(hub, _connection(hub))
    with override_settings(HUBSPOT_PIPELINE_CACHE_SECONDS=0):  # 0: not kept at all
        client.won_stage_ids("default")
        client.won_stage_ids("default")
    assert len(hub.sandbox.api_calls(path_prefix="/crm/v3/pipelines")) == 2
    client.won_stage_ids("default")
    client.won_stage_ids("default")
    assert len(hub.sandbox.api_calls(path_prefix="/crm/v3/pipelines")) == 3


# -- contacts and companies -------------------------------------------------------------


@pytest.mark.django_db
def test_paging_through_250_contacts_with_a_resumable_cursor(hub: RunningSandbox) -> None:
    sandbox = _sandbox(hub)
    for n in range(250):
        sandbox.seed_object(
            PORTAL, "contacts", {"firstname": f"P{n}", "lastname": "Muster", "country": "AT"}
        )
    client = _client(hub, _connection(hub))

    pages = list(client.iter_contact_pages())

    assert [len(people) for people, _ in pages] == [100, 100, 50]
    assert pages[-1][1] is None
    names = [person.first_name for people, _ in pages for person, _ in people]
    assert names == [f"P{n}" for n in range(250)]
    assert {person.address.country_code for people, _ in pages for person, _ in people} == {"AT"}
    # An import interrupted after the first page resumes from the stored cursor.
    resumed = list(client.iter_contact_pages(pages[0][1]))
    assert [len(people) for people, _ in resumed] == [100, 50]
    assert resumed[0][0][0][0].first_name == "P100"
    assert client.client.calls == 5
    assert _violations(hub) == []


@pytest.mark.django_db
def test_companies_page_too(hub: RunningSandbox) -> None:
    sandbox = _sandbox(hub)
    sandbox.seed_object(PORTAL, "companies", {"name": "A", "not_to_accounting": "true"})
    sandbox.seed_object(PORTAL, "companies", {"name": "B"})
    pages = list(_client(hub, _connection(hub)).iter_company_pages())
    assert [[(c.name, skip) for c, skip in companies] for companies, _ in pages] == [
        [("A", True), ("B", False)]
    ]


@pytest.mark.django_db
def test_the_exclusion_property_lets_the_caller_skip(hub: RunningSandbox) -> None:
    sandbox = _sandbox(hub)
    excluded = sandbox.seed_object(
        PORTAL, "contacts", {"lastname": "Intern", "not_to_accounting": "true"}
    )
    included = sandbox.seed_object(
        PORTAL, "contacts", {"lastname": "Kunde", "not_to_accounting": "false"}
    )
    custom = sandbox.seed_object(
        PORTAL, "contacts", {"lastname": "Eigen", "keine_buchhaltung": "true"}
    )
    company = sandbox.seed_object(PORTAL, "companies", {"name": "Firma", "country": "France"})
    client = _client(hub, _connection(hub))

    person, skip = client.get_contact(excluded)
    assert (person.last_name, person.hubspot_id, skip) == ("Intern", excluded, True)
    assert client.get_contact(included)[1] is False
    assert client.get_contact(custom)[1] is False
    assert client.get_contact(custom, exclusion_property="keine_buchhaltung")[1] is True
    found, skip = client.get_company(company)
    assert (found.name, found.address.country_code, skip) == ("Firma", "FR", False)
    assert _violations(hub) == []


@pytest.mark.django_db
def test_a_deleted_contact_is_archived_and_an_unknown_one_not_found(hub: RunningSandbox) -> None:
    sandbox = _sandbox(hub)
    contact_id = sandbox.seed_object(PORTAL, "contacts", {"lastname": "Weg"})
    sandbox.archive_object(PORTAL, "contacts", contact_id, "CRM_UI")
    client = _client(hub, _connection(hub))
    with pytest.raises(ArchivedInHubSpot):
        client.get_contact(contact_id)
    with pytest.raises(errors.NotFound) as caught:
        client.get_company("12345")
    assert not isinstance(caught.value, ArchivedInHubSpot)
    assert _violations(hub) == []


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Deutschland", "DE"),
        ("germany", "DE"),
        ("DE", "DE"),
        ("DEU", "DE"),
        ("Schweiz", "CH"),
        ("Suisse", "CH"),
        ("Switzerland", "CH"),
        ("Frankreich", "FR"),
        ("Österreich", "AT"),
        ("Austria", "AT"),
        ("U.S.A.", "US"),
        ("", ""),
        ("Atlantis", ""),
    ],
)
def test_free_text_countries_become_iso_codes(text: str, code: str) -> None:
    assert mapping.country_code(text) == code


# -- write-back -------------------------------------------------------------------------


def _deal_properties(handle: RunningSandbox, deal_id: str) -> dict[str, str]:
    properties: dict[str, str] = _sandbox(handle).store.get("deals", str(PORTAL), deal_id)[
        "properties"
    ]
    return properties


@pytest.mark.django_db
def test_write_back_creates_its_properties_once_then_takes_one_call(hub: RunningSandbox) -> None:
    sandbox = _sandbox(hub)
    first = sandbox.seed_deal(PORTAL, name="Erster Auftrag")
    second = sandbox.seed_deal(PORTAL, name="Zweiter Auftrag")
    stored = _connection(hub)
    client = _client(hub, stored)

    client.write_back_quote(first, number="AN-2026-0042", url="https://buchhaltung.test/q/42")

    assert [(c.method, c.path, c.status) for c in hub.sandbox.api_calls(path_prefix="/crm")] == [
        ("POST", "/crm/v3/properties/deals/batch/read", 207),
        ("POST", "/crm/v3/properties/deals/groups", 201),
        *[("POST", "/crm/v3/properties/deals", 201)] * len(DOCUMENT_PROPERTIES),
        ("PATCH", f"/crm/v3/objects/0-3/{first}", 200),
    ]
    created = sandbox.custom_properties[(PORTAL, "deals")]
    assert {name: d["groupName"] for name, d in created.items()} == {
        str(d["name"]): "apiup" for d in DOCUMENT_PROPERTIES
    }
    # The statuses are a choice HubSpot users can filter deals by, in German and English.
    status = created["apiup_invoice_status"]
    assert status["type"] == "enumeration"
    assert {"label": "Bezahlt / Paid", "value": "paid"}.items() <= status["options"][6].items()
    assert created["apiup_invoice_open_amount"]["type"] == "number"
    assert _deal_properties(hub, first)["apiup_quote_number"] == "AN-2026-0042"
    assert _deal_properties(hub, first)["apiup_quote_url"] == "https://buchhaltung.test/q/42"

    # Known for the portal now: another client, another deal, one call.
    other = _client(hub, stored)
    other.write_back_quote(second, number="AN-2026-0043", url="https://buchhaltung.test/q/43")
    assert other.client.calls == 1
    assert _deal_properties(hub, second)["apiup_quote_number"] == "AN-2026-0043"
    assert _violations(hub) == []


@pytest.mark.django_db
def test_a_write_back_property_deleted_meanwhile_is_made_again(hub: RunningSandbox) -> None:
    sandbox = _sandbox(hub)
    deal_id = sandbox.seed_deal(PORTAL, name="Auftrag")
    client = _client(hub, _connection(hub))
    client.ensure_quote_properties()
    with sandbox.lock:  # a HubSpot admin deletes one of them
        del sandbox.custom_properties[(PORTAL, "deals")]["apiup_quote_url"]
    calls_before = client.client.calls

    client.write_back_quote(deal_id, number="AN-7", url="https://buchhaltung.test/q/7")

    assert _deal_properties(hub, deal_id)["apiup_quote_url"] == "https://buchhaltung.test/q/7"
    statuses = [c.status for c in hub.sandbox.api_calls(path_prefix="/crm")][calls_before:]
    # Refused PATCH, read (one missing), group exists, property made, PATCH again.
    assert statuses == [400, 207, 409, 201, 200]
    assert _violations(hub) == []


@pytest.mark.django_db
def test_a_write_back_to_a_deleted_deal_fails_visibly(hub: RunningSandbox) -> None:
    client = _client(hub, _connection(hub))
    client.ensure_quote_properties()
    with pytest.raises(errors.NotFound):
        client.write_back_quote("404404", number="AN-1", url="https://buchhaltung.test/q/1")


@pytest.mark.django_db
def test_the_contract_check_would_catch_a_request_outside_the_spec() -> None:
    """The guard for every `violations == []` above: a batch read without the spec's required
    `propertiesWithHistory`, accepted by a lenient sandbox, is recorded."""
    with running(
        HubSpotSandbox(contract=True, portals={PORTAL: "Beispiel GmbH"}, require_spec_fields=False)
    ) as lenient:
        client = _client(lenient, _connection(lenient))
        client.request(
            "POST",
            "/crm/v3/objects/contacts/batch/read",
            json={"inputs": [], "properties": []},
            idempotent=True,
        )
        assert [(v.where, v.path) for v in _violations(lenient)] == [
            ("request", "/crm/v3/objects/contacts/batch/read")
        ]


# -- paging that does not end -----------------------------------------------------------


class CursorHubSpotSandbox(HubSpotSandbox):
    """Answers every page of a list or of associations v4 with a next cursor: the same one
    each time ("repeated"), or always a new one ("endless")."""

    def __init__(self, *, cursor: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cursor = cursor

    def register_routes(self, app: Flask) -> None:
        super().register_routes(app)

        @app.after_request
        def never_last(response: Response) -> Response:
            paged = request.path.startswith("/crm/v4/objects/deals/") or request.path in {
                "/crm/v3/objects/contacts",
                "/crm/v3/objects/companies",
            }
            if request.method != "GET" or not paged or response.status_code != 200:
                return response
            body = json.loads(response.get_data())
            sent = int(request.args.get("after") or 0)
            after = "1" if self.cursor == "repeated" else str(sent + 1)
            body["paging"] = {"next": {"after": after}}
            response.set_data(json.dumps(body))
            return response


@pytest.fixture
def stuck_hub(request: pytest.FixtureRequest) -> Iterator[RunningSandbox]:
    sandbox = CursorHubSpotSandbox(cursor=request.param, portals={PORTAL: "Beispiel GmbH"})
    with running(sandbox) as handle:
        yield handle


@pytest.fixture
def few_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mapping, "ASSOCIATION_PAGES_MAX", 3)
    monkeypatch.setattr(mapping, "LIST_PAGES_MAX", 3)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("stuck_hub", "reason", "v4_calls"),
    [("repeated", "same cursor", 2), ("endless", "after 3 pages", 3)],
    indirect=["stuck_hub"],
)
def test_associations_v4_that_never_end_fail_the_deal_read_visibly(  # type: ignore[no-untyped-def]
    stuck_hub: RunningSandbox, few_pages, reason: str, v4_calls: int
) -> None:
    sandbox = _sandbox(stuck_hub)
    deal_id = sandbox.seed_deal(PORTAL, name="Zwei Firmen", company={"name": "Erste AG"})
    second = sandbox.seed_object(PORTAL, "companies", {"name": "Zweite GmbH"})
    sandbox.associate(PORTAL, "deals", deal_id, "companies", second, primary=True)
    client = _client(stuck_hub, _connection(stuck_hub))

    with pytest.raises(errors.PermanentError, match=reason):
        client.read_deal(deal_id)

    assert len(stuck_hub.sandbox.api_calls(path_prefix="/crm/v4/")) == v4_calls


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("stuck_hub", "reason", "list_calls"),
    [("repeated", "same cursor", 2), ("endless", "after 3 pages", 3)],
    indirect=["stuck_hub"],
)
def test_a_list_that_never_ends_fails_the_import_read_visibly(  # type: ignore[no-untyped-def]
    stuck_hub: RunningSandbox, few_pages, reason: str, list_calls: int
) -> None:
    for n in range(3):
        _sandbox(stuck_hub).seed_object(PORTAL, "contacts", {"firstname": f"P{n}"})
    client = _client(stuck_hub, _connection(stuck_hub))

    with pytest.raises(errors.PermanentError, match=reason):
        list(client.iter_contact_pages())

    assert len(stuck_hub.sandbox.api_calls(path_prefix="/crm/v3/objects/contacts")) == list_calls


@pytest.mark.parametrize(
    ("properties", "percent"),
    [
        ({"price": "200", "hs_discount_percentage": "15"}, Decimal(15)),
        ({"price": "200", "discount": "30"}, Decimal(15)),  # 30 off each unit of 200
        ({"price": "200", "hs_discount_percentage": "10", "discount": "30"}, Decimal(10)),
        ({"price": "0", "discount": "30"}, Decimal(0)),
        ({"price": "200"}, Decimal(0)),
    ],
)
def test_a_line_item_discount_is_a_percentage_of_the_unit_price(
    properties: dict[str, str], percent: Decimal
) -> None:
    item = mapping.line_item_from({"id": "1", "properties": {"name": "Brot", **properties}})

    assert item.discount_percent == percent
