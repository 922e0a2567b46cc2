"""HubSpot, the CRM the deals come from. It is the source, not an accounting system, so its
client is a `Connector` but no `AccountingConnector`.

What is HubSpot's and nobody else's lives in this package (`provider` declares its OAuth
install and its limit of 110 requests per 10 s per installing account, `mapping` its JSON):
the deal path `/crm/v3/objects/0-3` of its spec, batch reads of at most 100 records, the
primary company label of associations v4 (typeId 5), the deal pipelines with their stage
probabilities (sent as strings or numbers), the free-text country field and its error body
(`message`, `category`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import suppress
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.core.cache import cache

from connectors import errors
from connectors.base import Connector
from connectors.http import HttpClient, VendorApi
from connectors.hubspot import mapping
from connectors.hubspot.provider import PROVIDER
from connectors.registry import vendor_url
from connectors.shapes import Article, ArticleField, ArticlePage, Company, Deal, Person

DEAL_PATH = "/crm/v3/objects/0-3"  # the deals spec names deals by their objectTypeId
PRODUCTS_PATH = "/crm/v3/objects/products"
EVERY_GROUP = frozenset(ArticleField)  # a new product gets every field
# A search answers at most 200 records a page (the spec's PublicObjectSearchRequest.limit).
SEARCH_PAGE_LIMIT = 200
QUOTE_PROPERTIES_CACHE_SECONDS = 24 * 3600
PORTAL_PROPERTIES_CACHE_SECONDS = 3600  # a property made in HubSpot shows within the hour
SEARCH_LIMIT = 10  # records offered when the user looks for one by name
# What a search shows of each kind of record, and the object type in the spec's paths.
SEARCH_PROPERTIES = {
    "deals": ("dealname",),
    "companies": ("name", "domain"),
    "contacts": ("firstname", "lastname", "email"),
}
OBJECT_PATHS = {"deals": DEAL_PATH, "companies": "/crm/v3/objects/companies",
                "contacts": "/crm/v3/objects/contacts"}  # fmt: skip
ACCOUNT_DETAILS_CACHE_SECONDS = 24 * 3600


class ArchivedInHubSpot(errors.NotFound):
    """The record exists but was deleted (archived) in HubSpot."""


def portal_of(token: str, *, base_url: str | None = None) -> tuple[str, str]:
    """The HubSpot account (portal id, hub domain) an access token belongs to, asked once at
    install. The token is in the path, not in a header, so the call carries no credential."""
    # One attempt only: a retry would log the path, and the path holds the token.
    http = HttpClient(
        VendorApi(
            name=PROVIDER.label,
            base_url=base_url or vendor_url(PROVIDER, "api"),
            max_attempts=1,
        ),
        limiter_key="oauth",
        read_error=mapping.read_error,
    )
    response = http.request(
        "GET", f"/oauth/v1/access-tokens/{quote(token, safe='')}", expected=(200,)
    )
    body = response.json()
    return str(body["hub_id"]), str(body.get("hub_domain") or "")


def account_details_of(
    token: str, *, portal_id: str, base_url: str | None = None
) -> tuple[str, str]:
    """1 call: `GET /account-info/v3/details` (scope `oauth`), asked once at install: the
    portal's name as its owners see it in HubSpot ("" when HubSpot leaves it out) and its
    company currency, which is remembered for `HubSpotClient.company_currency`.
    `portalName` is in the spec's example answer only, not in its schema, so it is optional.
    Sent with the install's token apart from the connection, so that a refusal of this one
    read cannot mark the new connection for reconnecting."""
    http = HttpClient(
        VendorApi(
            name=PROVIDER.label,
            base_url=base_url or vendor_url(PROVIDER, "api"),
            max_attempts=1,
        ),
        limiter_key=f"account-{portal_id}",  # HubSpot counts an account's calls together
        read_error=mapping.read_error,
    )
    body = http.request(
        "GET",
        "/account-info/v3/details",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        expected=(200,),
    ).json()
    if not isinstance(body, dict):
        return "", ""
    currency = str(body.get("companyCurrency") or "").strip().upper()
    cache.set(_currency_key(f"portal-{portal_id}"), currency, ACCOUNT_DETAILS_CACHE_SECONDS)
    return str(body.get("portalName") or "").strip(), currency


def _currency_key(portal_key: str) -> str:
    return f"hubspot:{portal_key}:company-currency"


def _next_cursor(body: Mapping[str, Any], followed: set[str], *, what: str) -> str | None:
    """The next page's cursor, remembered in `followed`. A cursor already followed would ask
    for a page already read, again and again: the read fails instead."""
    after = mapping.next_after(body)
    if after is None:
        return None
    if after in followed:
        raise errors.PermanentError(
            f"HubSpot answered the same cursor twice while paging through {what}; "
            "stopped reading instead of asking for the same page again."
        )
    followed.add(after)
    return after


def _too_many_pages(what: str, pages: int) -> errors.PermanentError:
    return errors.PermanentError(
        f"HubSpot still offered more pages of {what} after {pages} pages, the most one read "
        "follows; stopped reading."
    )


class HubSpotClient(Connector):
    """One tenant's HubSpot account. Every call carries the connection's access token,
    refreshed once per expiry under the connection's row lock, and once more when HubSpot
    answers 401 (`connectors.auth.OAuth2Auth`)."""

    provider = PROVIDER
    read_error = staticmethod(mapping.read_error)

    @property
    def pipeline_cache_seconds(self) -> int:
        """How long the deal pipelines are remembered (5 minutes unless configured)."""
        return int(getattr(settings, "HUBSPOT_PIPELINE_CACHE_SECONDS", 300))

    @property
    def portal_key(self) -> str:
        """Cache key: what HubSpot keeps per installing account."""
        if self.connection.external_account_id:
            return f"portal-{self.connection.external_account_id}"
        return f"connection-{self.connection.pk}"

    # -- calls -----------------------------------------------------------------------------

    def _get_json(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = self.request("GET", path, params=params).json()
        return body

    def _batch_read(
        self, object_type: str, ids: Iterable[str], properties: Iterable[str]
    ) -> dict[str, dict[str, Any]]:
        """Records by id, up to 100 per call; ids HubSpot does not know are left out."""
        wanted = list(dict.fromkeys(ids))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), mapping.BATCH_LIMIT):
            chunk = wanted[start : start + mapping.BATCH_LIMIT]
            response = self.request(
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

    def deal_stage(self, deal_id: str) -> str:
        """1 call: the stage the deal stands in now ("" when it has none)."""
        record = self._get_json(
            f"{DEAL_PATH}/{quote(str(deal_id), safe='')}", {"properties": "dealstage"}
        )
        return str((record.get("properties") or {}).get("dealstage") or "")

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
                "properties": ",".join(mapping.DEAL_PROPERTIES),
                "associations": "companies,contacts,line_items",
            },
        )
        company_ids = self._associated(record, "companies")
        contact_ids = self._associated(record, "contacts")
        line_item_ids = self._associated(record, "line_items")
        company_id = self._primary_company(str(record["id"]), company_ids)

        company = contact = None
        if company_id:
            found = self._batch_read("companies", [company_id], mapping.COMPANY_PROPERTIES)
            if company_id in found:
                company = mapping.company_from(found[company_id])
        if contact_ids:
            found = self._batch_read("contacts", contact_ids[:1], mapping.CONTACT_PROPERTIES)
            if contact_ids[0] in found:
                contact = mapping.person_from(found[contact_ids[0]])
        items: list[Mapping[str, Any]] = []
        if line_item_ids:
            found = self._batch_read("line_items", line_item_ids, mapping.LINE_ITEM_PROPERTIES)
            items = mapping.in_quote_order([found[i] for i in line_item_ids if i in found])
        return mapping.deal_from(
            record,
            portal_id=self.connection.external_account_id,
            company=company,
            contact=contact,
            line_items=items,
        )

    def _associated(self, record: Mapping[str, Any], to_type: str) -> list[str]:
        """Ids associated with the deal, in HubSpot's order, each once (a primary company is
        listed twice: once per association type)."""
        ids, more = mapping.associated(record, to_type)
        if more:
            # More than the deal read carries: the rest through associations v4.
            ids = [link[0] for link in self._associations_v4(str(record["id"]), to_type)]
        return list(dict.fromkeys(ids))

    def _associations_v4(self, deal_id: str, to_type: str) -> list[tuple[str, list[int]]]:
        """(id, HUBSPOT_DEFINED typeIds) of every record of `to_type` linked to the deal."""
        links: list[tuple[str, list[int]]] = []
        after: str | None = None
        followed: set[str] = set()
        for _ in range(mapping.ASSOCIATION_PAGES_MAX):
            params: dict[str, Any] = {"limit": 500}
            if after:
                params["after"] = after
            body = self._get_json(
                f"/crm/v4/objects/deals/{quote(deal_id, safe='')}/associations/{to_type}", params
            )
            links += mapping.association_links(body)
            after = _next_cursor(body, followed, what=f"the deal's {to_type}")
            if not after:
                return links
        raise _too_many_pages(f"the deal's {to_type}", mapping.ASSOCIATION_PAGES_MAX)

    def _primary_company(self, deal_id: str, company_ids: list[str]) -> str:
        if len(company_ids) <= 1:
            return company_ids[0] if company_ids else ""
        # The deal read does not say which one is primary; associations v4 labels do.
        links = self._associations_v4(deal_id, "companies")
        primary = next((i for i, types in links if mapping.PRIMARY_COMPANY_TYPE_ID in types), None)
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
        pipelines = mapping.pipelines_from(self._get_json("/crm/v3/pipelines/deals"))
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
                    return mapping.is_won(stages[stage_id])
        return False

    def won_stage_ids(self, pipeline_id: str) -> set[str]:
        """Stages with a probability of 100 % ("closed won"); a pipeline may have several."""
        return {
            stage_id
            for stage_id, probability in self._stages(pipeline_id).items()
            if mapping.is_won(probability)
        }

    def stage_probability(self, pipeline_id: str, stage_id: str) -> Decimal | None:
        """The stage's probability between 0 and 1, None when the stage has none."""
        stages = self._stages(pipeline_id, stage_id)
        if stage_id not in stages:
            raise errors.NotFound(f"HubSpot has no stage {stage_id} in pipeline {pipeline_id}.")
        return Decimal(stages[stage_id]) if stages[stage_id] else None

    def pipeline_has_stage(self, pipeline_id: str, stage_id: str) -> bool:
        """Whether a deal of the pipeline can be moved to the stage (the pipelines cached)."""
        try:
            return stage_id in self._stages(pipeline_id, stage_id)
        except errors.NotFound:
            return False

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
        self, contact_id: str, *, exclusion_property: str = mapping.DEFAULT_EXCLUSION_PROPERTY
    ) -> tuple[Person, bool]:
        """The contact and whether it is excluded from transfer. Raises NotFound
        (ArchivedInHubSpot when deleted)."""
        record = self._record(
            "contacts", contact_id, (*mapping.CONTACT_PROPERTIES, exclusion_property)
        )
        return mapping.person_from(record), mapping.excluded(record, exclusion_property)

    def get_company(
        self, company_id: str, *, exclusion_property: str = mapping.DEFAULT_EXCLUSION_PROPERTY
    ) -> tuple[Company, bool]:
        """The company and whether it is excluded from transfer. Raises NotFound
        (ArchivedInHubSpot when deleted)."""
        record = self._record(
            "companies", company_id, (*mapping.COMPANY_PROPERTIES, exclusion_property)
        )
        return mapping.company_from(record), mapping.excluded(record, exclusion_property)

    def _pages(
        self, object_type: str, properties: Iterable[str], after: str | None
    ) -> Iterator[tuple[list[dict[str, Any]], str | None]]:
        names = ",".join(dict.fromkeys(properties))
        followed = {after} if after else set()
        for _ in range(mapping.LIST_PAGES_MAX):
            params: dict[str, Any] = {"limit": mapping.PAGE_LIMIT, "properties": names}
            if after:
                params["after"] = after
            body = self._get_json(f"/crm/v3/objects/{object_type}", params)
            after = _next_cursor(body, followed, what=object_type)
            yield list(body.get("results") or []), after
            if after is None:
                return
        raise _too_many_pages(object_type, mapping.LIST_PAGES_MAX)

    def iter_contact_pages(
        self,
        after: str | None = None,
        *,
        exclusion_property: str = mapping.DEFAULT_EXCLUSION_PROPERTY,
    ) -> Iterator[tuple[list[tuple[Person, bool]], str | None]]:
        """Every contact, 100 per call, as (contacts with their exclusion flag, cursor of the
        next page or None). Store the cursor to resume an interrupted import."""
        properties = (*mapping.CONTACT_PROPERTIES, exclusion_property)
        for records, next_after in self._pages("contacts", properties, after):
            people = [
                (mapping.person_from(r), mapping.excluded(r, exclusion_property)) for r in records
            ]
            yield people, next_after

    def iter_company_pages(
        self,
        after: str | None = None,
        *,
        exclusion_property: str = mapping.DEFAULT_EXCLUSION_PROPERTY,
    ) -> Iterator[tuple[list[tuple[Company, bool]], str | None]]:
        """Every company, 100 per call, like `iter_contact_pages`."""
        properties = (*mapping.COMPANY_PROPERTIES, exclusion_property)
        for records, next_after in self._pages("companies", properties, after):
            companies = [
                (mapping.company_from(r), mapping.excluded(r, exclusion_property)) for r in records
            ]
            yield companies, next_after

    def iter_customer_pages(
        self,
        object_type: str,
        after: str | None = None,
        *,
        exclusion_property: str = mapping.DEFAULT_EXCLUSION_PROPERTY,
        also: Iterable[str] = (),
    ) -> Iterator[tuple[list[tuple[Person | Company, bool, dict[str, Any]]], str | None]]:
        """Every contact or company (`object_type` "contacts" or "companies"), like
        `iter_contact_pages`, each with the values of the properties `also` names (those a
        customer mapping reads), read in the same calls; a value the record lacks is None."""
        extra = sorted(set(also))
        if object_type == "companies":
            own: tuple[str, ...] = mapping.COMPANY_PROPERTIES
            shape_from: Callable[[Mapping[str, Any]], Person | Company] = mapping.company_from
        else:
            own, shape_from = mapping.CONTACT_PROPERTIES, mapping.person_from
        properties = (*own, exclusion_property, *extra)
        for records, next_after in self._pages(object_type, properties, after):
            page = [
                (
                    shape_from(r),
                    mapping.excluded(r, exclusion_property),
                    {name: (r.get("properties") or {}).get(name) for name in extra},
                )
                for r in records
            ]
            yield page, next_after

    # -- write-back ------------------------------------------------------------------------

    def write_back_quote(self, deal_id: str, *, number: str, url: str) -> None:
        """Writes the quote's number and link to the deal."""
        self.write_back_deal(
            deal_id,
            {mapping.QUOTE_NUMBER_PROPERTY: number, mapping.QUOTE_URL_PROPERTY: url},
        )

    def write_back_deal(self, deal_id: str, properties: Mapping[str, str]) -> None:
        """Writes the product's properties (mapping.DOCUMENT_PROPERTIES; a stage move may
        come with them as `dealstage`) to the deal, creating them once per portal. One call
        once the properties are known to exist."""
        self.ensure_quote_properties()
        path = f"{DEAL_PATH}/{quote(str(deal_id), safe='')}"
        body = {"properties": dict(properties)}
        try:
            self.request("PATCH", path, json=body, idempotent=True)
        except errors.PermanentError as exc:
            if "PROPERTY_DOESNT_EXIST" not in exc.vendor_message:
                raise
            # Someone deleted a property since it was made: make it again, once.
            self.ensure_quote_properties(fresh=True)
            self.request("PATCH", path, json=body, idempotent=True)

    def ensure_quote_properties(self, *, fresh: bool = False) -> None:
        """Creates the deal properties the write-back needs (the documents' numbers, links
        and statuses), in the group "APIUP", unless they exist. Remembered per portal, so
        this costs calls once."""
        key = f"hubspot:{self.portal_key}:document-properties"
        if not fresh and cache.get(key):
            return
        names = [str(definition["name"]) for definition in mapping.DOCUMENT_PROPERTIES]
        response = self.request(
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
        missing = [d for d in mapping.DOCUMENT_PROPERTIES if d["name"] not in existing]
        if missing:
            with suppress(errors.Conflict):  # the group exists
                self.request("POST", "/crm/v3/properties/deals/groups", json=mapping.PROPERTY_GROUP)
            for definition in missing:
                with suppress(errors.Conflict):  # made meanwhile by another worker
                    self.request("POST", "/crm/v3/properties/deals", json=definition)
        cache.set(key, True, QUOTE_PROPERTIES_CACHE_SECONDS)

    # -- properties and records for the data mapping ----------------------------------------

    def portal_properties(self, object_type: str, *, fresh: bool = False) -> list[dict[str, Any]]:
        """1 call, remembered per portal for an hour: the properties of `object_type` (deals,
        companies, contacts), HubSpot's own and the portal's custom ones, as
        `GET /crm/v3/properties/{objectType}` describes them (name, label, type, fieldType,
        options, hubspotDefined), sorted by label."""
        key = f"hubspot:{self.portal_key}:properties:{object_type}"
        if not fresh:
            cached = cache.get(key)
            if cached is not None:
                return list(cached)
        body = self._get_json(f"/crm/v3/properties/{quote(object_type, safe='')}")
        found = mapping.properties_from(body)
        cache.set(key, found, PORTAL_PROPERTIES_CACHE_SECONDS)
        return found

    def record_properties(
        self, object_type: str, object_id: str, names: Iterable[str]
    ) -> dict[str, Any]:
        """1 call: the named properties of one record ({} for none asked); one the record
        has no value for is None."""
        wanted = sorted(set(names))
        if not wanted or not object_id:
            return {}
        path = f"{OBJECT_PATHS[object_type]}/{quote(str(object_id), safe='')}"
        record = self._get_json(path, {"properties": ",".join(wanted)})
        # HubSpot adds a few of its own (hs_object_id, createdate, ...): only those asked.
        found = record.get("properties") or {}
        return {name: found.get(name) for name in wanted}

    def search(self, object_type: str, text: str) -> list[tuple[str, str]]:
        """1 call: up to 10 deals, companies or contacts whose properties contain `text`,
        as (id, what the user reads), through `POST .../search` with a free-text query."""
        shown = SEARCH_PROPERTIES[object_type]
        body = self.request(
            "POST",
            f"{OBJECT_PATHS[object_type]}/search",
            json={
                "query": text.strip()[:3000],
                "filterGroups": [],
                "sorts": [],
                "properties": list(shown),
                "limit": SEARCH_LIMIT,
                "after": "0",
            },
            idempotent=True,
        ).json()
        return mapping.search_results(body, shown)

    # -- products by SKU ---------------------------------------------------------------------

    def products_page(self, cursor: str) -> ArticlePage:
        """1 call: up to 100 products in id order, from the `after` cursor."""
        params: dict[str, Any] = {"limit": 100, "properties": ",".join(mapping.PRODUCT_PROPERTIES)}
        if cursor:
            params["after"] = cursor
        body = self._get_json(PRODUCTS_PATH, params)
        products = tuple(mapping.product_of(r) for r in body.get("results") or [])
        after = ((body.get("paging") or {}).get("next") or {}).get("after")
        return ArticlePage(articles=products, next_cursor=str(after or ""))

    def find_product(self, sku: str) -> Article | None:
        """1 call: `POST .../products/search` on hs_sku, compared exactly again here."""
        body = self.request(
            "POST",
            f"{PRODUCTS_PATH}/search",
            json={
                "filterGroups": [
                    {"filters": [{"propertyName": "hs_sku", "operator": "EQ", "value": sku}]}
                ],
                "sorts": [],
                "properties": list(mapping.PRODUCT_PROPERTIES),
                "limit": 2,
                "after": "0",
            },
            idempotent=True,
        ).json()
        found = [
            mapping.product_of(r)
            for r in body.get("results") or []
            if str((r.get("properties") or {}).get("hs_sku") or "") == sku
        ]
        if len(found) > 1:
            raise errors.Conflict(f"HubSpot has several products with the SKU {sku}.")
        return found[0] if found else None

    def find_products(self, skus: Iterable[str]) -> dict[str, tuple[Article, ...]]:
        """1 call per 100 SKUs (more when HubSpot holds over 200 matches): the products whose
        hs_sku is one of `skus`, by SKU; an SKU HubSpot lacks maps to ()."""
        wanted = list(dict.fromkeys(s for s in skus if s))
        found: dict[str, tuple[Article, ...]] = dict.fromkeys(wanted, ())
        for start in range(0, len(wanted), mapping.BATCH_LIMIT):
            chunk = wanted[start : start + mapping.BATCH_LIMIT]
            after = "0"
            while after:
                body = self.request(
                    "POST",
                    f"{PRODUCTS_PATH}/search",
                    json={
                        "filterGroups": [
                            {
                                "filters": [
                                    {"propertyName": "hs_sku", "operator": "IN", "values": chunk}
                                ]
                            }
                        ],
                        "sorts": [],
                        "properties": list(mapping.PRODUCT_PROPERTIES),
                        "limit": SEARCH_PAGE_LIMIT,
                        "after": after,
                    },
                    idempotent=True,
                ).json()
                for record in body.get("results") or []:
                    product = mapping.product_of(record)
                    if product.sku in found:  # compared exactly again here
                        found[product.sku] += (product,)
                after = str(((body.get("paging") or {}).get("next") or {}).get("after") or "")
        return found

    def create_products(self, articles: Iterable[Article]) -> dict[str, Article]:
        """1 call per 100 products (`batch/create`): the created products by SKU. Each input
        carries its SKU as `objectWriteTraceId`, which the answer's record repeats (the answer
        need not list the properties that were set)."""
        wanted = list(articles)
        created: dict[str, Article] = {}
        for start in range(0, len(wanted), mapping.BATCH_LIMIT):
            chunk = wanted[start : start + mapping.BATCH_LIMIT]
            body = self.request(
                "POST",
                f"{PRODUCTS_PATH}/batch/create",
                json={
                    "inputs": [
                        {
                            "properties": mapping.product_properties(article, EVERY_GROUP),
                            "associations": [],
                            "objectWriteTraceId": article.sku,
                        }
                        for article in chunk
                    ]
                },
                expected=(201, 207),  # 207: some inputs failed; those are left out
            ).json()
            for record in body.get("results") or []:
                product = mapping.product_of(record)
                created[str(record.get("objectWriteTraceId") or product.sku)] = product
        return created

    def read_product(self, product_id: str) -> Article | None:
        """1 call: the product, or None when it is archived or unknown."""
        try:
            return mapping.product_of(
                self._get_json(
                    f"{PRODUCTS_PATH}/{quote(str(product_id), safe='')}",
                    {"properties": ",".join(mapping.PRODUCT_PROPERTIES)},
                )
            )
        except errors.NotFound:
            return None

    def create_product(self, article: Article) -> Article:
        """1 call; the create body carries `associations` as the spec requires."""
        body = {"properties": mapping.product_properties(article, EVERY_GROUP), "associations": []}
        created = self.request("POST", PRODUCTS_PATH, json=body).json()
        return mapping.product_of(created)

    def update_product(
        self, product_id: str, article: Article, *, overwrite: frozenset[ArticleField]
    ) -> Article:
        """1 call: `PATCH` of the SKU and the chosen fields only (HubSpot keeps the rest)."""
        updated = self.request(
            "PATCH",
            f"{PRODUCTS_PATH}/{quote(str(product_id), safe='')}",
            json={"properties": mapping.product_properties(article, overwrite)},
            idempotent=True,
        ).json()
        return mapping.product_of(updated)

    def archive_product(self, product_id: str) -> None:
        """1 call: `DELETE` (archives); one that is gone already is fine."""
        with suppress(errors.NotFound):
            self.request(
                "DELETE", f"{PRODUCTS_PATH}/{quote(str(product_id), safe='')}", expected=(204,)
            )

    # -- the account -----------------------------------------------------------------------

    def company_currency(self) -> str:
        """1 call, remembered per portal for a day: the portal's company currency
        (`GET /account-info/v3/details`, `companyCurrency`), the currency of every deal that
        names none. Empty when HubSpot names none."""
        key = _currency_key(self.portal_key)
        cached = cache.get(key)
        if cached is not None:
            return str(cached)
        details = self._get_json("/account-info/v3/details")
        currency = str(details.get("companyCurrency") or "").strip().upper()
        cache.set(key, currency, ACCOUNT_DETAILS_CACHE_SECONDS)
        return currency
