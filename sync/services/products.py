"""Products by SKU between the accounting system and HubSpot, in the direction the tenant
chose (reference 001, "Les articles"): the leading side's product is created on the other
side, or updated there in the fields the tenant lets an update overwrite, so that texts
enriched on the receiving side stay.

Each SKU is one PRODUCT transfer (object id = the SKU), shown in the activity log with what
was read and what was written. Its run looks the product up by SKU on both sides before it
writes, so a run that is repeated (a lost answer, a killed worker, an import resumed inside
a page) finds what the last one created and updates it instead of creating it twice. Two
products with the same SKU on one side are a visible failure of that SKU, never merged.

Changes come from the initial import (imports.py pages through the leading side), from
polling the accounting system's articles (feeds.py), and from HubSpot's product webhooks
(events.py)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Protocol, runtime_checkable

from django.core.cache import cache

from accounts.models import Tenant
from connectors import errors
from connectors.base import AccountingConnector
from connectors.hubspot.client import HubSpotClient
from connectors.shapes import Article, ArticleField, ArticlePage
from sync.messages import Message, Refusal, note_entries
from sync.models import ImportJob, ObjectLink, Transfer, TransferAttempt, TransferSettings
from sync.services import context, runs
from sync.services.handlers import HANDLERS, TransferHandler
from sync.services.runs import Run, plain, run_save
from sync.services.transitions import transfer_transition

State = Transfer.State
Outcome = TransferAttempt.Outcome
Direction = TransferSettings.ProductDirection
EVERY_FIELD = frozenset(ArticleField)


class Catalogue(Protocol):
    """One side's products, as the engine uses them."""

    label: str

    def page(self, cursor: str) -> ArticlePage: ...
    def find(self, sku: str) -> Article | None: ...
    def create(self, article: Article) -> Article: ...
    def update(
        self, vendor_id: str, article: Article, *, overwrite: frozenset[ArticleField]
    ) -> Article: ...
    def archive(self, vendor_id: str) -> bool: ...


@runtime_checkable
class BatchCatalogue(Catalogue, Protocol):
    """A side that looks up and creates many products per call (HubSpot): the import writes
    a whole chunk of a page with a few calls instead of two per product."""

    batch_size: int

    def find_many(self, skus: list[str]) -> dict[str, tuple[Article, ...]]: ...
    def create_many(self, articles: list[Article]) -> dict[str, Article]:
        """The created products by SKU; one the side refused is left out."""
        ...


class AccountingCatalogue:
    def __init__(self, connector: AccountingConnector) -> None:
        self.connector = connector
        self.label = connector.provider.label

    def page(self, cursor: str) -> ArticlePage:
        return self.connector.articles_page(cursor)

    def find(self, sku: str) -> Article | None:
        return self.connector.find_article(sku)

    def create(self, article: Article) -> Article:
        return self.connector.create_article(article)

    def update(
        self, vendor_id: str, article: Article, *, overwrite: frozenset[ArticleField]
    ) -> Article:
        return self.connector.update_article(vendor_id, article, overwrite=overwrite)

    def archive(self, vendor_id: str) -> bool:
        if not self.connector.capabilities.can_archive_articles:
            return False
        self.connector.archive_article(vendor_id)
        return True


class HubSpotCatalogue:
    """HubSpot's product library. Its search index follows a write by a few seconds, so a
    product the search does not find yet is also looked for by the ids remembered for its SKU
    (from HubSpot's events and from the products written here)."""

    label = "HubSpot"
    batch_size = 100  # HubSpot's batch and search IN limit

    def __init__(self, hubspot: HubSpotClient, *, tenant: Tenant, system: str) -> None:
        self.hubspot = hubspot
        self.tenant = tenant
        self.system = system

    def page(self, cursor: str) -> ArticlePage:
        return self.hubspot.products_page(cursor)

    def find(self, sku: str) -> Article | None:
        found = self.hubspot.find_product(sku)
        if found is not None:
            return found
        for product_id in _linked_product_ids(tenant=self.tenant, system=self.system, sku=sku):
            product = self.hubspot.read_product(product_id)
            if product is not None and product.sku.strip() == sku:
                return product
        return None

    def create(self, article: Article) -> Article:
        created = self.hubspot.create_product(article)
        self._remember({article.sku.strip(): created})
        return created

    def update(
        self, vendor_id: str, article: Article, *, overwrite: frozenset[ArticleField]
    ) -> Article:
        return self.hubspot.update_product(vendor_id, article, overwrite=overwrite)

    def archive(self, vendor_id: str) -> bool:
        self.hubspot.archive_product(vendor_id)
        return True

    def find_many(self, skus: list[str]) -> dict[str, tuple[Article, ...]]:
        return self.hubspot.find_products(skus)

    def create_many(self, articles: list[Article]) -> dict[str, Article]:
        created = self.hubspot.create_products(articles)
        self._remember(created)
        return created

    def _remember(self, created: dict[str, Article]) -> None:
        for sku, product in created.items():
            link_hubspot_product(
                tenant=self.tenant, system=self.system, product_id=product.vendor_id, sku=sku
            )


def _linked_product_ids(*, tenant: Tenant, system: str, sku: str) -> list[str]:
    return list(
        ObjectLink.objects.for_tenant(tenant)
        .filter(system=system, object_type=Transfer.ObjectType.PRODUCT, vendor_number=sku[:64])
        .values_list("object_id", flat=True)[:3]
    )


def overwrite_of(settings: TransferSettings) -> frozenset[ArticleField]:
    chosen = settings.product_overwrite if isinstance(settings.product_overwrite, list) else []
    return frozenset(ArticleField(name) for name in chosen if name in set(ArticleField))


def sides(*, tenant: Tenant) -> tuple[Catalogue, Catalogue]:
    """(leading side, receiving side) for the tenant's direction; PermanentError when off
    or when the accounting system has no catalogue by SKU."""
    settings = context.transfer_settings(tenant=tenant)
    connector = context.accounting_connector(tenant=tenant)
    if not connector.capabilities.articles:
        raise errors.UnsupportedByVendor(
            f"{connector.provider.label} has no article catalogue by SKU in its API."
        )
    accounting = AccountingCatalogue(connector)
    hubspot = HubSpotCatalogue(
        HubSpotClient(connection=context.hubspot_connection(tenant=tenant)),
        tenant=tenant,
        system=connector.provider.key,
    )
    if settings.product_direction == Direction.TO_HUBSPOT:
        return accounting, hubspot
    if settings.product_direction == Direction.TO_ACCOUNTING:
        return hubspot, accounting
    raise errors.PermanentError("Products are not synchronised (the setting is off).")


def _differs(current: Article, wanted: Article, overwrite: frozenset[ArticleField]) -> bool:
    """Whether an update would change anything the tenant lets it overwrite. Prices are
    compared net, and a tax rate only where both sides keep one (HubSpot keeps none)."""
    if ArticleField.NAME in overwrite and (wanted.name or None) != (current.name or None):
        return True
    if ArticleField.DESCRIPTIONS in overwrite and any(
        (getattr(wanted, n) or None) != (getattr(current, n) or None)
        for n in ("description", "long_description")
    ):
        return True
    if ArticleField.PRICE in overwrite:
        mine, theirs = _net(wanted), _net(current)
        if mine is None or theirs is None:
            if mine is not theirs:
                return True
        elif mine.compare(theirs):
            return True
        mine_rate, their_rate = wanted.tax_rate, current.tax_rate
        if mine_rate is not None and their_rate is not None and mine_rate.compare(their_rate):
            return True
    return False


def _net(article: Article) -> Decimal | None:
    price = article.unit_price
    if price is not None and article.price_is_gross and article.tax_rate:
        return (price / (1 + article.tax_rate / 100)).quantize(Decimal("0.01"))
    return price


def product_write(
    *,
    run: Run,
    article: Article | None,
    sku: str,
    source: Catalogue,
    target: Catalogue,
    overwrite: frozenset[ArticleField],
    matches: tuple[Article, ...] | None = None,
) -> None:
    """Brings the receiving side's product of `sku` in line with `article` (None: it is gone
    on the leading side) and ends the run. `matches`: the receiving side's products of `sku`
    when the caller has just read them (None: looked up here)."""
    transfer = run.transfer
    generation = transfer.generation
    _record_read(run, article, sku)
    if matches is not None and len(matches) > 1:
        raise Refusal(Message("products.duplicate_sku", {"sku": sku, "system": target.label}))
    try:
        found = target.find(sku) if matches is None else (matches[0] if matches else None)
    except errors.Conflict:
        raise Refusal(
            Message("products.duplicate_sku", {"sku": sku, "system": target.label})
        ) from None
    if article is None:
        if found is None:
            note = Message("products.gone_on_both_sides", {"system": target.label})
        elif target.archive(found.vendor_id):
            note = Message("products.archived", {"system": target.label})
        else:
            note = Message("products.archive_by_hand", {"system": target.label, "sku": sku})
        _finish(run, generation, note)
        return
    if found is None:
        written = target.create(article)
        transfer.sent_payload = plain(article)
        note = Message("products.created", {"system": target.label})
    elif _differs(found, article, overwrite):
        written = target.update(found.vendor_id, article, overwrite=overwrite)
        transfer.sent_payload = {
            "overwrite": sorted(overwrite),
            **{k: v for k, v in plain(article).items() if k in _fields_of(overwrite)},
        }
        note = Message("products.updated", {"system": target.label})
    else:
        written = found
        note = Message("products.unchanged", {"system": target.label})
    _record_written(run, generation, article, written, note)


def _record_read(run: Run, article: Article | None, sku: str) -> None:
    run.transfer.title = (article.name if article else sku)[:255]
    run.transfer.source_payload = plain(article) if article else {"sku": sku, "deleted": True}
    run_save(run, "title", "source_payload")


def _record_written(
    run: Run, generation: int, article: Article, written: Article, note: Message
) -> None:
    run.transfer.vendor_id = written.vendor_id[:64]
    run.transfer.vendor_number = article.sku.strip()[:64]
    run_save(run, "sent_payload", "vendor_id", "vendor_number")
    # This state of the product is written: a poll that returns it again passes it by.
    change_seen(tenant=run.tenant, article=article)
    _finish(run, generation, note)


def _fields_of(overwrite: frozenset[ArticleField]) -> set[str]:
    names = {"sku"}
    if ArticleField.NAME in overwrite:
        names.add("name")
    if ArticleField.DESCRIPTIONS in overwrite:
        names |= {"description", "long_description"}
    if ArticleField.PRICE in overwrite:
        names |= {"unit_price", "price_is_gross", "tax_rate"}
    return names


def _finish(run: Run, generation: int, note: Message) -> None:
    run.transfer.notes = note_entries(note)
    run_save(run, "notes")
    if not runs.run_finish(
        run=run, state=State.DONE, outcome=Outcome.SUCCEEDED, at_generation=generation
    ):
        runs.run_again(run=run)  # changed again meanwhile


class ProductTransfer(TransferHandler):
    """One SKU, written to the receiving side as the leading side has it now."""

    reopen_from = frozenset({State.DONE, State.SKIPPED, State.FAILED})
    follows_changes = True

    def run(self, run: Run) -> None:
        source, target = sides(tenant=run.tenant)
        settings = context.transfer_settings(tenant=run.tenant)
        sku = run.transfer.object_id
        try:
            article = source.find(sku)
        except errors.Conflict:
            raise Refusal(
                Message("products.duplicate_sku", {"sku": sku, "system": source.label})
            ) from None
        product_write(
            run=run,
            article=article,
            sku=sku,
            source=source,
            target=target,
            overwrite=overwrite_of(settings),
        )


HANDLERS[Transfer.Kind.PRODUCT] = ProductTransfer()


def product_request(*, tenant: Tenant, sku: str, enqueue: Callable[[str], None]) -> Transfer | None:
    """A product of `sku` changed on the leading side: its transfer runs (again)."""
    from django.db import transaction

    from sync.services.events import transfer_request

    if not sku.strip():
        return None
    transfer, has_work = transfer_request(
        tenant=tenant,
        kind=Transfer.Kind.PRODUCT,
        object_type=Transfer.ObjectType.PRODUCT,
        object_id=sku.strip()[:64],
    )
    if has_work:
        transaction.on_commit(lambda: enqueue(str(transfer.pk)))
    return transfer


def change_seen(*, tenant: Tenant, article: Article) -> bool:
    """Whether this state of the article (its marker) was handed on already: a poll's
    overlap returns it again."""
    key = f"article-change:{tenant.pk}:{article.sku}:{article.marker}"
    return not cache.add(key, 1, 24 * 3600)


# -- the initial import ------------------------------------------------------------------


def seen_elsewhere(*, job_id: str, article: Article) -> bool:
    """Whether the import met another product of the leading side with this SKU before
    (remembered for the import's lifetime)."""
    key = f"product-import:{job_id}:{article.sku}"
    first = cache.get(key)
    if first is None:
        cache.set(key, article.vendor_id, 7 * 24 * 3600)
        return False
    return bool(first != article.vendor_id)


def _import_claim(
    *, tenant: Tenant, system: str, job_id: str, article: Article, source: Catalogue
) -> Run | None:
    """The claimed run of one product of the leading side's page, as its own transfer; None
    when it needs no write (no SKU, its own run has it in hand, or a second product of the
    leading side with the same SKU: that one fails visibly)."""
    sku = article.sku.strip()
    if not sku:
        return None  # a product without SKU has nothing to be matched by
    transfer, _ = Transfer.objects.select_related("tenant").get_or_create(
        tenant=tenant,
        kind=Transfer.Kind.PRODUCT,
        object_type=Transfer.ObjectType.PRODUCT,
        object_id=sku[:64],
        defaults={"system": system},
    )
    duplicate = seen_elsewhere(job_id=job_id, article=article)
    if transfer.state != State.PENDING:
        transfer_transition(
            transfer=transfer,
            to=State.PENDING,
            only_from=ProductTransfer.reopen_from,
            next_attempt_at=None,
        )
    run = runs.run_claim(transfer_id=str(transfer.pk))
    if run is not None and duplicate:
        runs.run_finish(
            run=run,
            state=State.FAILED,
            outcome=Outcome.FAILED,
            error=Message("products.duplicate_sku", {"sku": sku, "system": source.label}),
            retryable=True,
        )
        return None
    return run


def import_chunk(
    *,
    tenant: Tenant,
    system: str,
    job_id: str,
    articles: tuple[Article, ...],
    source: Catalogue,
    target: Catalogue,
    overwrite: frozenset[ArticleField],
    wait: Callable[..., None],
) -> None:
    """Products of the leading side's page, each as its own transfer. A side that batches
    (HubSpot) is read once for the chunk and gets its new products in one create; a repeated
    chunk (a lost answer, a resumed import) reads what the last one created and creates only
    the rest."""
    batched = isinstance(target, BatchCatalogue)
    matches: dict[str, tuple[Article, ...]] = {}
    if isinstance(target, BatchCatalogue):
        matches = target.find_many([a.sku.strip() for a in articles])
    to_create: list[tuple[Run, Article]] = []
    try:
        for article in articles:
            run = _import_claim(
                tenant=tenant, system=system, job_id=job_id, article=article, source=source
            )
            if run is None:
                continue
            sku = article.sku.strip()
            if batched and not matches.get(sku):
                to_create.append((run, article))
                continue
            # A new product gets every field; an existing one only those the tenant chose.
            runs.run_guarded(
                run=run,
                work=_writer(article, source, target, overwrite, matches.get(sku)),
                retry=wait,
            )
    except errors.ConnectorError as failure:
        for run, _ in to_create:  # the chunk is repeated: its new products wait for it
            runs.run_release(run=run, failure=failure)
        raise
    if to_create:
        assert isinstance(target, BatchCatalogue)
        _create_together(to_create, target=target, source=source, overwrite=overwrite, wait=wait)


def _writer(
    article: Article,
    source: Catalogue,
    target: Catalogue,
    overwrite: frozenset[ArticleField],
    matches: tuple[Article, ...] | None,
) -> Callable[[Run], None]:
    def write(run: Run) -> None:
        product_write(
            run=run,
            article=article,
            sku=article.sku.strip(),
            source=source,
            target=target,
            overwrite=overwrite,
            matches=matches,
        )

    return write


def _create_together(
    claimed: list[tuple[Run, Article]],
    *,
    target: BatchCatalogue,
    source: Catalogue,
    overwrite: frozenset[ArticleField],
    wait: Callable[..., None],
) -> None:
    """One create for the chunk's new products. A failure that may pass frees them all and
    is raised (the import waits and repeats the chunk); any other failure, and a product the
    answer leaves out, is written on its own so that its own reason shows."""
    for run, article in claimed:
        _record_read(run, article, article.sku.strip())
    generations = {run.transfer.pk: run.transfer.generation for run, _ in claimed}
    try:
        written = target.create_many([a for _, a in claimed])
    except errors.ConnectorError as failure:
        if failure.retryable:
            for run, _ in claimed:
                runs.run_release(run=run, failure=failure)
            raise
        written = {}
    for run, article in claimed:
        created = written.get(article.sku.strip())
        if created is None:
            runs.run_guarded(
                run=run, work=_writer(article, source, target, overwrite, None), retry=wait
            )
            continue
        run.transfer.sent_payload = plain(article)
        note = Message("products.created", {"system": target.label})
        _record_written(run, generations[run.transfer.pk], article, created, note)


def link_hubspot_product(*, tenant: Tenant, system: str, product_id: str, sku: str) -> None:
    """Remembers which SKU a HubSpot product carries, for its deletion event (which names
    the product only)."""
    ObjectLink.objects.update_or_create(
        tenant=tenant,
        system=system,
        object_type=Transfer.ObjectType.PRODUCT,
        object_id=product_id,
        defaults={"vendor_id": sku[:64], "vendor_number": sku[:64]},
    )


def products_import_start(*, tenant: Tenant, enqueue: Callable[[str, float], None]) -> ImportJob:
    """Queues the import of the leading side's whole catalogue, unless one is under way."""
    from django.db import transaction

    running = (
        ImportJob.objects.for_tenant(tenant)
        .filter(
            object_type=Transfer.ObjectType.PRODUCT,
            state__in=[ImportJob.State.QUEUED, ImportJob.State.RUNNING],
        )
        .first()
    )
    job = running or ImportJob.objects.create(
        tenant=tenant, object_type=Transfer.ObjectType.PRODUCT
    )
    transaction.on_commit(lambda: enqueue(str(job.pk), 0))
    return job


def _distinct_skus(articles: tuple[Article, ...]) -> tuple[Article, ...]:
    """The longest start of `articles` without a repeated SKU: a repeated one goes into the
    next chunk, where it meets the first one's finished transfer and fails visibly."""
    seen: set[str] = set()
    for position, article in enumerate(articles):
        sku = article.sku.strip()
        if sku and sku in seen:
            return articles[:position]
        seen.add(sku)
    return articles


def import_slice(job: ImportJob, enqueue: Callable[[str, float], None]) -> None:
    """One slice of the catalogue import: pages of the leading side from the job's cursor,
    each product written to the other side; resumable inside a page."""
    import time

    from django.db import transaction

    from sync.services.imports import SLICE_SECONDS, import_failed, wait_with_the_job

    job.state = ImportJob.State.RUNNING
    job.save(update_fields=["state", "updated_at"])
    started = time.monotonic()

    try:
        source, target = sides(tenant=job.tenant)
        system = context.accounting_connector(tenant=job.tenant).provider.key
        overwrite = overwrite_of(context.transfer_settings(tenant=job.tenant))
        chunk_size = target.batch_size if isinstance(target, BatchCatalogue) else 1
        while True:
            page = source.page(job.cursor)
            while job.page_position < len(page.articles):
                chunk = _distinct_skus(page.articles[job.page_position :][:chunk_size])
                import_chunk(
                    tenant=job.tenant, system=system, job_id=str(job.pk), articles=chunk,
                    source=source, target=target, overwrite=overwrite, wait=wait_with_the_job,
                )  # fmt: skip
                job.page_position += len(chunk)
                job.processed += len(chunk)
                job.save(update_fields=["page_position", "processed", "updated_at"])
                if time.monotonic() - started > SLICE_SECONDS:
                    transaction.on_commit(lambda: enqueue(str(job.pk), 0))
                    return
            job.cursor = page.next_cursor
            job.page_position = 0
            done = not page.next_cursor
            job.state = ImportJob.State.DONE if done else job.state
            job.save(update_fields=["cursor", "page_position", "state", "updated_at"])
            if done:
                return
    except errors.ConnectorError as failure:
        import_failed(job, failure=failure, enqueue=enqueue)
