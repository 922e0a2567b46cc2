"""HubSpot, the CRM the deals come from. It is the source, not an accounting system, so it
does not implement `AccountingConnector`.

What is HubSpot's and nobody else's lives here: its OAuth install and token refresh, the
deal path `/crm/v3/objects/0-3` of its spec, batch reads of at most 100 records, the primary
company label of associations v4 (typeId 5), the deal pipelines with their stage
probabilities (sent as strings or numbers), the free-text country field, its error body
(`message`, `category`) and its limit of 110 requests per 10 s per installing account.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import suppress
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote, urlencode

import requests
from django.conf import settings
from django.core.cache import cache
from django_countries import countries

from connectors import errors, oauth
from connectors.credentials import TokenSet, access_token
from connectors.http import HttpClient, VendorApi
from connectors.models import Connection
from connectors.ratelimit import Rate
from connectors.shapes import Address, Company, Deal, LineItem, Person

# 110 requests per 10 s per installing account for OAuth apps: a bucket of 10 refilled at
# 10 per second never sends more than 110 in any 10 s window.
RATE = Rate(per_second=10, burst=10)
BATCH_LIMIT = 100  # records per batch read
PAGE_LIMIT = 100  # records per page of a list

DEAL_PATH = "/crm/v3/objects/0-3"  # the deals spec names deals by their objectTypeId
DEAL_PROPERTIES = ("dealname", "pipeline", "dealstage", "amount", "closedate", "deal_currency_code")
COMPANY_PROPERTIES = ("name", "domain", "phone", "address", "address2", "zip", "city", "country")
CONTACT_PROPERTIES = (
    "firstname",
    "lastname",
    "email",
    "phone",
    "address",
    "zip",
    "city",
    "country",
)
LINE_ITEM_PROPERTIES = (
    "name",
    "description",
    "quantity",
    "price",
    "hs_sku",
    "hs_discount_percentage",
    "hs_position_on_quote",
)
# HubSpot-defined association type of a deal's primary company (associations v4).
PRIMARY_COMPANY_TYPE_ID = 5

DEFAULT_EXCLUSION_PROPERTY = "not_to_accounting"  # checkbox "Not to accounting"
CHECKED_VALUES = frozenset({"true", "yes", "ja", "1", "on"})

# Deal properties the product writes back; HubSpot refuses unknown properties.
QUOTE_NUMBER_PROPERTY = "apiup_quote_number"
QUOTE_URL_PROPERTY = "apiup_quote_url"
PROPERTY_GROUP = {"name": "apiup", "label": "APIUP", "displayOrder": -1}
QUOTE_PROPERTIES = (
    {
        "name": QUOTE_NUMBER_PROPERTY,
        "label": "Quote number (APIUP)",
        "description": "Number of the quote APIUP created in the accounting system.",
        "groupName": PROPERTY_GROUP["name"],
        "type": "string",
        "fieldType": "text",
        "formField": False,
    },
    {
        "name": QUOTE_URL_PROPERTY,
        "label": "Quote link (APIUP)",
        "description": "Link to the quote APIUP created in the accounting system.",
        "groupName": PROPERTY_GROUP["name"],
        "type": "string",
        "fieldType": "text",
        "formField": False,
    },
)
QUOTE_PROPERTIES_CACHE_SECONDS = 24 * 3600

# Names HubSpot users type into the free-text country field that django-countries does not
# know in English or German.
COUNTRY_ALIASES = {
    "brd": "DE",
    "suisse": "CH",
    "svizzera": "CH",
    "svizra": "CH",
    "helvetia": "CH",
    "osterreich": "AT",
    "oesterreich": "AT",
    "uk": "GB",
    "great britain": "GB",
    "england": "GB",
    "usa": "US",
    "united states of america": "US",
    "italia": "IT",
    "espana": "ES",
    "españa": "ES",
    "nederland": "NL",
    "holland": "NL",
    "belgique": "BE",
    "belgie": "BE",
    "belgië": "BE",
    "polska": "PL",
    "danmark": "DK",
    "sverige": "SE",
    "norge": "NO",
}


class ArchivedInHubSpot(errors.NotFound):
    """The record exists but was deleted (archived) in HubSpot."""


def read_error(response: requests.Response) -> str:
    """HubSpot's error body: `message` (human words) and `category`; the OAuth endpoints
    answer `status` + `message`, newer ones `error` + `error_description`."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    if not isinstance(body, Mapping):
        return str(body)[:500]
    for key in ("message", "error_description", "status", "category", "error"):
        value = body.get(key)
        if isinstance(value, str) and value:
            return value
    return str(body)[:500]


# -- OAuth install and refresh ---------------------------------------------------------------


def _oauth_http(base_url: str | None, *, max_attempts: int = 3) -> HttpClient:
    api = VendorApi(
        name="hubspot",
        base_url=base_url or settings.VENDOR_API_URLS["hubspot"],
        max_attempts=max_attempts,
    )
    return HttpClient(api, auth_headers=dict, limiter_key="oauth", read_error=read_error)


def authorization_url(
    *, state: str, redirect_uri: str, code_verifier: str, oauth_url: str | None = None
) -> str:
    """Where the customer installs the app: HubSpot's consent screen. The token endpoint of
    HubSpot's spec takes a `code_verifier`, so the authorization carries its S256 challenge."""
    params = {
        "client_id": settings.HUBSPOT_CLIENT_ID,
        "redirect_uri": redirect_uri,
        "scope": " ".join(settings.HUBSPOT_SCOPES),
        "state": state,
        "code_challenge": oauth.code_challenge(code_verifier),
        "code_challenge_method": "S256",
    }
    base = (oauth_url or settings.VENDOR_API_URLS["hubspot_oauth"]).rstrip("/")
    # HubSpot's docs separate scopes with %20, not "+".
    return f"{base}/oauth/authorize?{urlencode(params, quote_via=quote)}"


def _token_set(body: Mapping[str, Any]) -> TokenSet:
    return TokenSet(
        access_token=str(body["access_token"]),
        refresh_token=str(body.get("refresh_token") or ""),
        expires_in=float(body.get("expires_in") or 0),
    )


def exchange_code(
    *, code: str, redirect_uri: str, code_verifier: str, base_url: str | None = None
) -> TokenSet:
    """The authorization code from the redirect, exchanged for the first token pair."""
    response = _oauth_http(base_url).request(
        "POST",
        "/oauth/v1/token",
        data={
            "grant_type": "authorization_code",
            "client_id": settings.HUBSPOT_CLIENT_ID,
            "client_secret": settings.HUBSPOT_CLIENT_SECRET,
            "redirect_uri": redirect_uri,
            "code": code,
            "code_verifier": code_verifier,
        },
        expected=(200,),
    )
    return _token_set(response.json())


def refresh(refresh_token: str, *, base_url: str | None = None) -> TokenSet:
    """A new access token. HubSpot answers a refused refresh token with 400 and
    `BAD_REFRESH_TOKEN` (`invalid_grant` in the RFC 6749 fields): only reconnecting helps."""
    response = _oauth_http(base_url).request(
        "POST",
        "/oauth/v1/token",
        data={
            "grant_type": "refresh_token",
            "client_id": settings.HUBSPOT_CLIENT_ID,
            "client_secret": settings.HUBSPOT_CLIENT_SECRET,
            "refresh_token": refresh_token,
        },
        idempotent=True,  # the refresh token stays valid: asking twice does no harm
        expected=(200, 400),
    )
    if response.status_code == 400:
        message = read_error(response)
        try:
            body = response.json()
        except ValueError:
            body = {}
        refused = isinstance(body, Mapping) and (
            body.get("error") == "invalid_grant" or body.get("status") == "BAD_REFRESH_TOKEN"
        )
        if refused:
            raise errors.ReconnectRequired(
                "HubSpot refused the refresh token.", vendor_message=message, status=400
            )
        raise errors.PermanentError(
            "HubSpot refused the token refresh.", vendor_message=message, status=400
        )
    return _token_set(response.json())


def portal_of(token: str, *, base_url: str | None = None) -> tuple[str, str]:
    """The HubSpot account (portal id, hub domain) an access token belongs to."""
    # One attempt only: a retry would log the path, and the path holds the token.
    response = _oauth_http(base_url, max_attempts=1).request(
        "GET", f"/oauth/v1/access-tokens/{quote(token, safe='')}", expected=(200,)
    )
    body = response.json()
    return str(body["hub_id"]), str(body.get("hub_domain") or "")


# -- mapping ------------------------------------------------------------------------------


def country_code(value: str | None) -> str:
    """ISO 3166-1 alpha-2 for HubSpot's free-text country ("Deutschland", "CH", "Austria"),
    or "" when it cannot be told."""
    text = re.sub(r"\s+", " ", (value or "").replace(".", "")).strip()
    if not text:
        return ""
    if len(text) <= 3 and text.isalpha():
        code = countries.alpha2(text)
        if code:
            return str(code)
    for language in ("en", "de"):
        found = countries.by_name(text, language=language)
        if isinstance(found, str) and found:
            return found
    return COUNTRY_ALIASES.get(text.casefold(), "")


def _text(properties: Mapping[str, Any], name: str) -> str:
    value = properties.get(name)
    return "" if value is None else str(value).strip()


def _decimal(value: Any) -> Decimal | None:
    if value is None or str(value).strip() == "":
        return None
    try:
        return Decimal(str(value).strip())
    except InvalidOperation:
        return None


def _date(value: Any) -> dt.date | None:
    """HubSpot dates come as ISO date-times ("2026-11-30T00:00:00Z"), dates, or epoch ms."""
    text = "" if value is None else str(value).strip()
    if not text:
        return None
    if text.isdigit():
        return dt.datetime.fromtimestamp(int(text) / 1000, dt.UTC).date()
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.UTC).date()
    except ValueError:
        pass
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return None


def excluded(record: Mapping[str, Any], exclusion_property: str) -> bool:
    """Whether the record's exclusion checkbox ("Not to accounting") is ticked."""
    value = (record.get("properties") or {}).get(exclusion_property)
    return str(value or "").strip().casefold() in CHECKED_VALUES


def _address(properties: Mapping[str, Any], *, second_line: str = "") -> Address:
    street = _text(properties, "address")
    extra = _text(properties, second_line) if second_line else ""
    return Address(
        street=", ".join(part for part in (street, extra) if part),
        postcode=_text(properties, "zip"),
        city=_text(properties, "city"),
        country_code=country_code(_text(properties, "country")),
    )


def company_from(record: Mapping[str, Any]) -> Company:
    properties = record.get("properties") or {}
    return Company(
        name=_text(properties, "name"),
        domain=_text(properties, "domain"),
        phone=_text(properties, "phone"),
        address=_address(properties, second_line="address2"),
        hubspot_id=str(record["id"]),
    )


def person_from(record: Mapping[str, Any]) -> Person:
    properties = record.get("properties") or {}
    return Person(
        first_name=_text(properties, "firstname"),
        last_name=_text(properties, "lastname"),
        email=_text(properties, "email"),
        phone=_text(properties, "phone"),
        address=_address(properties),
        hubspot_id=str(record["id"]),
    )


def line_item_from(record: Mapping[str, Any]) -> LineItem:
    properties = record.get("properties") or {}
    quantity = _decimal(properties.get("quantity"))
    return LineItem(
        name=_text(properties, "name"),
        quantity=Decimal(1) if quantity is None else quantity,
        unit_price=_decimal(properties.get("price")) or Decimal(0),
        description=_text(properties, "description"),
        sku=_text(properties, "hs_sku"),
        # HubSpot's line items name a tax rate group by id only (hs_tax_rate_group_id), which
        # is in none of the saved specs: the tenant's default rate applies.
        tax_rate=None,
        discount_percent=_decimal(properties.get("hs_discount_percentage")) or Decimal(0),
        hubspot_id=str(record["id"]),
    )


def _position(index: int, record: Mapping[str, Any]) -> tuple[float, int]:
    position = _decimal((record.get("properties") or {}).get("hs_position_on_quote"))
    return (float(position) if position is not None else float("inf"), index)


def _probability(value: Any) -> Decimal | None:
    """`metadata.probability` is a string in live answers ("1.0") and a number in the spec's
    example (1.0); both mean the same."""
    return _decimal(value)


# -- the client ---------------------------------------------------------------------------


class HubSpotClient:
    """One tenant's HubSpot account. Every call carries the connection's access token,
    refreshed once per expiry under the connection's row lock, and once more when HubSpot
    answers 401."""

    def __init__(self, *, connection: Connection | None = None, base_url: str | None = None):
        self.connection = connection
        self.base_url = base_url or settings.VENDOR_API_URLS["hubspot"]
        self.http = HttpClient(
            VendorApi(name="hubspot", base_url=self.base_url, rate=RATE),
            auth_headers=dict,
            limiter_key=self.portal_key,
            read_error=read_error,
        )

    @property
    def pipeline_cache_seconds(self) -> int:
        """How long the deal pipelines are remembered (5 minutes unless configured)."""
        return int(getattr(settings, "HUBSPOT_PIPELINE_CACHE_SECONDS", 300))

    @property
    def portal_key(self) -> str:
        """Rate-limit bucket and cache key: HubSpot's limits are per installing account."""
        if self.connection is None:
            return "no-connection"
        if self.connection.external_account_id:
            return f"portal-{self.connection.external_account_id}"
        return f"connection-{self.connection.pk}"

    # -- tokens and calls ------------------------------------------------------------------

    def refresh(self, refresh_token: str) -> TokenSet:
        """The refresher for `connectors.credentials.access_token`."""
        return refresh(refresh_token, base_url=self.base_url)

    def _connection(self) -> Connection:
        if self.connection is None:
            raise errors.ReconnectRequired("HubSpot is not connected.")
        return self.connection

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
        expected: tuple[int, ...] = (200, 201, 202, 204),
    ) -> requests.Response:
        connection = self._connection()
        token = access_token(connection, refresh=self.refresh)
        for attempt in (1, 2):
            try:
                return self.http.request(
                    method,
                    path,
                    params=params,
                    json=json,
                    headers={"Authorization": f"Bearer {token}"},
                    idempotent=idempotent,
                    expected=expected,
                )
            except errors.AuthorizationExpired as exc:
                if isinstance(exc, errors.ReconnectRequired) or exc.status != 401 or attempt == 2:
                    raise
                # HubSpot refused a token we thought valid (revoked, clock skew): one refresh.
                token = access_token(connection, refresh=self.refresh, rejected_token=token)
        raise AssertionError("unreachable")  # pragma: no cover

    def _get_json(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = self._call("GET", path, params=params).json()
        return body

    def _batch_read(
        self, object_type: str, ids: Iterable[str], properties: Iterable[str]
    ) -> dict[str, dict[str, Any]]:
        """Records by id, up to 100 per call; ids HubSpot does not know are left out."""
        wanted = list(dict.fromkeys(ids))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), BATCH_LIMIT):
            chunk = wanted[start : start + BATCH_LIMIT]
            response = self._call(
                "POST",
                f"/crm/v3/objects/{object_type}/batch/read",
                json={
                    "inputs": [{"id": object_id} for object_id in chunk],
                    "properties": list(properties),
                    "propertiesWithHistory": [],  # required by the spec
                },
                idempotent=True,
                expected=(200, 207),  # 207: some ids were not found
            )
            for record in response.json().get("results") or []:
                found[str(record["id"])] = record
        return found

    # -- deals -----------------------------------------------------------------------------

    def deal_in_won_stage(self, deal_id: str) -> bool:
        """1 call (plus the cached pipelines): whether the deal now stands in a won stage."""
        record = self._get_json(
            f"{DEAL_PATH}/{quote(str(deal_id), safe='')}", {"properties": "pipeline,dealstage"}
        )
        properties = record.get("properties") or {}
        pipeline, stage = properties.get("pipeline") or "", properties.get("dealstage") or ""
        return bool(pipeline and stage) and stage in self.won_stage_ids(pipeline)

    def read_deal(self, deal_id: str) -> Deal:
        """The deal with its primary company (else the first), its first contact and its line
        items. Calls: the deal with its associations, one batch read each for the company,
        the contact and the line items (per 100), and one associations v4 read only when
        the deal has more than one company."""
        record = self._get_json(
            f"{DEAL_PATH}/{quote(str(deal_id), safe='')}",
            {
                "properties": ",".join(DEAL_PROPERTIES),
                "associations": "companies,contacts,line_items",
            },
        )
        properties = record.get("properties") or {}
        company_ids = self._associated(record, "companies")
        contact_ids = self._associated(record, "contacts")
        line_item_ids = self._associated(record, "line_items")
        company_id = self._primary_company(str(record["id"]), company_ids)

        company = contact = None
        if company_id:
            found = self._batch_read("companies", [company_id], COMPANY_PROPERTIES)
            if company_id in found:
                company = company_from(found[company_id])
        if contact_ids:
            found = self._batch_read("contacts", contact_ids[:1], CONTACT_PROPERTIES)
            if contact_ids[0] in found:
                contact = person_from(found[contact_ids[0]])
        items: list[dict[str, Any]] = []
        if line_item_ids:
            found = self._batch_read("line_items", line_item_ids, LINE_ITEM_PROPERTIES)
            listed = [found[i] for i in line_item_ids if i in found]
            # The order of the quote in HubSpot; association order where it is not set.
            items = [r for _, r in sorted(enumerate(listed), key=lambda p: _position(*p))]

        return Deal(
            hubspot_id=str(record["id"]),
            portal_id=self._connection().external_account_id,
            name=_text(properties, "dealname"),
            pipeline_id=_text(properties, "pipeline"),
            stage_id=_text(properties, "dealstage"),
            # Empty: the deal is in the portal's company currency, which this read does not
            # know; the transfer applies its default.
            currency=_text(properties, "deal_currency_code").upper(),
            amount=_decimal(properties.get("amount")),
            close_date=_date(properties.get("closedate")),
            company=company,
            contact=contact,
            line_items=tuple(line_item_from(item) for item in items),
        )

    def _associated(self, record: Mapping[str, Any], to_type: str) -> list[str]:
        """Ids associated with the deal, in HubSpot's order, each once (a primary company is
        listed twice: once per association type)."""
        associations = record.get("associations") or {}
        # Live answers have been seen to key line items as "line items".
        group = associations.get(to_type) or associations.get(to_type.replace("_", " ")) or {}
        ids = [str(item["id"]) for item in group.get("results") or []]
        if (group.get("paging") or {}).get("next"):
            # More than the deal read carries: the rest through associations v4.
            ids = [link[0] for link in self._associations_v4(str(record["id"]), to_type)]
        return list(dict.fromkeys(ids))

    def _associations_v4(self, deal_id: str, to_type: str) -> list[tuple[str, list[int]]]:
        """(id, HUBSPOT_DEFINED typeIds) of every record of `to_type` linked to the deal."""
        links: list[tuple[str, list[int]]] = []
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 500}
            if after:
                params["after"] = after
            body = self._get_json(
                f"/crm/v4/objects/deals/{quote(deal_id, safe='')}/associations/{to_type}", params
            )
            for item in body.get("results") or []:
                types = [
                    int(kind["typeId"])
                    for kind in item.get("associationTypes") or []
                    if kind.get("category") == "HUBSPOT_DEFINED"
                ]
                links.append((str(item["toObjectId"]), types))
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return links

    def _primary_company(self, deal_id: str, company_ids: list[str]) -> str:
        if len(company_ids) <= 1:
            return company_ids[0] if company_ids else ""
        # The deal read does not say which one is primary; associations v4 labels do.
        links = self._associations_v4(deal_id, "companies")
        primary = next((i for i, types in links if PRIMARY_COMPANY_TYPE_ID in types), None)
        return primary or company_ids[0]

    # -- pipelines -------------------------------------------------------------------------

    def _pipelines(self, *, fresh: bool = False) -> dict[str, dict[str, str]]:
        """{pipeline id: {stage id: probability as a decimal string ("" when none)}},
        cached per portal."""
        key = f"hubspot:{self.portal_key}:deal-pipelines"
        if not fresh:
            cached = cache.get(key)
            if cached is not None:
                return dict(cached)
        body = self._get_json("/crm/v3/pipelines/deals")
        pipelines: dict[str, dict[str, str]] = {}
        for pipeline in body.get("results") or []:
            stages = {}
            for stage in pipeline.get("stages") or []:
                probability = _probability((stage.get("metadata") or {}).get("probability"))
                stages[str(stage["id"])] = "" if probability is None else str(probability)
            pipelines[str(pipeline["id"])] = stages
        cache.set(key, pipelines, self.pipeline_cache_seconds)
        return pipelines

    def _stages(self, pipeline_id: str, stage_id: str | None = None) -> dict[str, str]:
        pipelines = self._pipelines()
        stages = pipelines.get(pipeline_id)
        if stages is None or (stage_id is not None and stage_id not in stages):
            # Created or changed since the cache was filled.
            stages = self._pipelines(fresh=True).get(pipeline_id)
        if stages is None:
            raise errors.NotFound(f"HubSpot has no deal pipeline {pipeline_id}.")
        return stages

    def is_won_stage(self, stage_id: str) -> bool:
        """Whether a stage id (as a webhook names it, without its pipeline) is a won stage of
        any pipeline; stage ids are unique within a portal."""
        for fresh in (False, True):
            for stages in self._pipelines(fresh=fresh).values():
                if stage_id in stages:
                    probability = stages[stage_id]
                    return bool(probability) and Decimal(probability) == 1
        return False

    def won_stage_ids(self, pipeline_id: str) -> set[str]:
        """Stages with a probability of 100 % ("closed won"); a pipeline may have several."""
        return {
            stage_id
            for stage_id, probability in self._stages(pipeline_id).items()
            if probability and Decimal(probability) == 1
        }

    def stage_probability(self, pipeline_id: str, stage_id: str) -> Decimal | None:
        """The stage's probability between 0 and 1, None when the stage has none."""
        stages = self._stages(pipeline_id, stage_id)
        if stage_id not in stages:
            raise errors.NotFound(f"HubSpot has no stage {stage_id} in pipeline {pipeline_id}.")
        return Decimal(stages[stage_id]) if stages[stage_id] else None

    # -- contacts and companies ------------------------------------------------------------

    def _record(
        self, object_type: str, object_id: str, properties: Iterable[str]
    ) -> dict[str, Any]:
        path = f"/crm/v3/objects/{object_type}/{quote(str(object_id), safe='')}"
        names = ",".join(dict.fromkeys(properties))
        try:
            return self._get_json(path, {"properties": names})
        except errors.NotFound as missing:
            # Deleted records are archived: tell "deleted" from "never existed".
            try:
                self._get_json(path, {"properties": "hs_object_id", "archived": "true"})
            except errors.NotFound:
                raise missing from None
            raise ArchivedInHubSpot(
                f"HubSpot {object_type} {object_id} was deleted.", status=404
            ) from None

    def get_contact(
        self, contact_id: str, *, exclusion_property: str = DEFAULT_EXCLUSION_PROPERTY
    ) -> tuple[Person, bool]:
        """The contact and whether it is excluded from transfer. Raises NotFound
        (ArchivedInHubSpot when deleted)."""
        record = self._record("contacts", contact_id, (*CONTACT_PROPERTIES, exclusion_property))
        return person_from(record), excluded(record, exclusion_property)

    def get_company(
        self, company_id: str, *, exclusion_property: str = DEFAULT_EXCLUSION_PROPERTY
    ) -> tuple[Company, bool]:
        """The company and whether it is excluded from transfer. Raises NotFound
        (ArchivedInHubSpot when deleted)."""
        record = self._record("companies", company_id, (*COMPANY_PROPERTIES, exclusion_property))
        return company_from(record), excluded(record, exclusion_property)

    def _pages(
        self, object_type: str, properties: Iterable[str], after: str | None
    ) -> Iterator[tuple[list[dict[str, Any]], str | None]]:
        names = ",".join(dict.fromkeys(properties))
        while True:
            params: dict[str, Any] = {"limit": PAGE_LIMIT, "properties": names}
            if after:
                params["after"] = after
            body = self._get_json(f"/crm/v3/objects/{object_type}", params)
            after = ((body.get("paging") or {}).get("next") or {}).get("after") or None
            yield list(body.get("results") or []), after
            if after is None:
                return

    def iter_contact_pages(
        self, after: str | None = None, *, exclusion_property: str = DEFAULT_EXCLUSION_PROPERTY
    ) -> Iterator[tuple[list[tuple[Person, bool]], str | None]]:
        """Every contact, 100 per call, as (contacts with their exclusion flag, cursor of the
        next page or None). Store the cursor to resume an interrupted import."""
        for records, next_after in self._pages(
            "contacts", (*CONTACT_PROPERTIES, exclusion_property), after
        ):
            yield (
                [(person_from(record), excluded(record, exclusion_property)) for record in records],
                next_after,
            )

    def iter_company_pages(
        self, after: str | None = None, *, exclusion_property: str = DEFAULT_EXCLUSION_PROPERTY
    ) -> Iterator[tuple[list[tuple[Company, bool]], str | None]]:
        """Every company, 100 per call, like `iter_contact_pages`."""
        for records, next_after in self._pages(
            "companies", (*COMPANY_PROPERTIES, exclusion_property), after
        ):
            yield (
                [
                    (company_from(record), excluded(record, exclusion_property))
                    for record in records
                ],
                next_after,
            )

    # -- write-back ------------------------------------------------------------------------

    def write_back_quote(self, deal_id: str, *, number: str, url: str) -> None:
        """Writes the quote's number and link to the deal (properties created once per
        portal). One call once the properties are known to exist."""
        self.ensure_quote_properties()
        path = f"{DEAL_PATH}/{quote(str(deal_id), safe='')}"
        body = {"properties": {QUOTE_NUMBER_PROPERTY: number, QUOTE_URL_PROPERTY: url}}
        try:
            self._call("PATCH", path, json=body, idempotent=True)
        except errors.PermanentError as exc:
            if "PROPERTY_DOESNT_EXIST" not in exc.vendor_message:
                raise
            # Someone deleted a property since it was made: make it again, once.
            self.ensure_quote_properties(fresh=True)
            self._call("PATCH", path, json=body, idempotent=True)

    def ensure_quote_properties(self, *, fresh: bool = False) -> None:
        """Creates the deal properties the write-back needs, in the group "APIUP", unless
        they exist. Remembered per portal, so this costs calls once."""
        key = f"hubspot:{self.portal_key}:quote-properties"
        if not fresh and cache.get(key):
            return
        names = [definition["name"] for definition in QUOTE_PROPERTIES]
        response = self._call(
            "POST",
            "/crm/v3/properties/deals/batch/read",
            json={
                "archived": False,
                "dataSensitivity": "non_sensitive",
                "inputs": [{"name": name} for name in names],
            },
            idempotent=True,
            expected=(200, 207),
        )
        existing = {str(p.get("name")) for p in response.json().get("results") or []}
        missing = [d for d in QUOTE_PROPERTIES if d["name"] not in existing]
        if missing:
            with suppress(errors.Conflict):  # the group exists
                self._call("POST", "/crm/v3/properties/deals/groups", json=PROPERTY_GROUP)
            for definition in missing:
                with suppress(errors.Conflict):  # made meanwhile by another worker
                    self._call("POST", "/crm/v3/properties/deals", json=definition)
        cache.set(key, True, QUOTE_PROPERTIES_CACHE_SECONDS)
