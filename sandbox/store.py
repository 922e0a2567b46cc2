"""The records every vendor stand-in keeps, declared once per vendor and served by one store.

A vendor declares its resources (`Resource`): what the collection is called, how its ids look,
whether updates carry an optimistic version, which query parameters filter it and how it is
sorted. `Store` keeps the records per owner (the account a credential belongs to, so one
customer never sees another's records) with create, read, update, delete and select; the paging
styles (`OffsetPaging`, `PageNumberPaging`, `CursorPaging`) cut a list the way each vendor does
and say what its answer needs (totals, next page, next cursor). Rendering the answer stays with
the vendor: that is where the formats differ.
"""

from __future__ import annotations

import copy
import itertools
import threading
import time
import uuid
from collections.abc import (
    Callable,
    ItemsView,
    Iterable,
    Iterator,
    Mapping,
    MutableMapping,
    ValuesView,
)
from dataclasses import dataclass, field
from typing import Any, Literal

Record = dict[str, Any]
IdStyle = Literal["uuid", "sequence", "hex"]
# A filter gets the record and the query parameter's value and says whether the record matches.
Filter = Callable[[Record, str], bool]


class NotFound(LookupError):
    """No record with that id for that owner (answered as the vendor's 404)."""


class VersionConflict(Exception):
    """An update named a version other than the stored one (lexware office answers 409)."""

    def __init__(self, stored: int) -> None:
        super().__init__(f"stored version is {stored}")
        self.stored = stored


class BadPaging(ValueError):
    """A paging parameter is not a number or out of its range; the message says which."""


def equals(field_name: str) -> Filter:
    """The usual filter: the field's value, as text, is the parameter's value."""

    def matches(record: Record, value: str) -> bool:
        return str(record.get(field_name, "")) == value

    return matches


def contains(field_name: str) -> Filter:
    """Case-insensitive substring match, the way most vendors' name searches behave."""

    def matches(record: Record, value: str) -> bool:
        return value.casefold() in str(record.get(field_name) or "").casefold()

    return matches


@dataclass(frozen=True)
class Resource:
    """One kind of record a vendor keeps."""

    name: str
    ids: IdStyle = "uuid"
    id_field: str = "id"
    # Stripe-like prefixes ("cus_"); only for `hex` ids.
    id_prefix: str = ""
    # `sequence` ids count per owner (bexio numbers each account's records from 1).
    first_id: int = 1
    # Ids the vendor hands out itself (sevDesk counts one sequence across all its objects);
    # None for the id style above.
    new_id: Callable[[], Any] | None = None
    # The field an optimistic update must repeat; None when the vendor has no versions.
    version_field: str | None = None
    first_version: int = 0
    created_field: str | None = None
    updated_field: str | None = None
    # Query parameter → filter, for `Store.select(params=...)`.
    filters: Mapping[str, Filter] = field(default_factory=dict)
    # The field lists are sorted by, and whether newest (highest) first.
    sort_field: str | None = None
    descending: bool = False


Stamp = Callable[[float], Any]


def epoch_millis(at: float) -> int:
    return int(at * 1000)


class Store:
    """The records of every declared resource, per owner, safe across request threads."""

    def __init__(self, resources: Iterable[Resource], *, stamp: Stamp = epoch_millis) -> None:
        self.resources = {r.name: r for r in resources}
        self._stamp = stamp
        self._lock = threading.RLock()
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self._records: dict[str, dict[tuple[str, str], Record]] = {
                name: {} for name in self.resources
            }
            self._sequences: dict[tuple[str, str], itertools.count[int]] = {}

    # -- writes -------------------------------------------------------------------------------

    def create(self, resource: str, owner: str, record: Record) -> Record:
        """Stores a copy of `record` with a new id, its first version and stamps (an id or
        stamp the record brings is kept: seeded records); returns the stored copy."""
        spec = self.resources[resource]
        stored = copy.deepcopy(record)
        now = self._stamp(time.time())
        with self._lock:
            if stored.get(spec.id_field) is None:
                stored[spec.id_field] = self._new_id(spec, owner)
            if spec.version_field:
                stored[spec.version_field] = spec.first_version
            if spec.created_field:
                stored.setdefault(spec.created_field, now)
            if spec.updated_field:
                stored.setdefault(spec.updated_field, now)
            self._records[resource][(owner, str(stored[spec.id_field]))] = stored
        return copy.deepcopy(stored)

    def update(
        self,
        resource: str,
        owner: str,
        record_id: Any,
        changes: Mapping[str, Any],
        *,
        version: int | None = None,
        replace: bool = False,
    ) -> Record:
        """Merges `changes` into the record (or replaces its content with them, keeping id,
        version and creation stamp). With `version`, refuses a stale update."""
        spec = self.resources[resource]
        with self._lock:
            stored = self._stored(resource, owner, record_id)
            if spec.version_field and version not in (None, stored[spec.version_field]):
                raise VersionConflict(stored[spec.version_field])
            kept = {
                key: stored[key]
                for key in (spec.id_field, spec.version_field, spec.created_field)
                if key and key in stored
            }
            if replace:
                stored.clear()
            stored.update(copy.deepcopy(dict(changes)))
            stored.update(kept)
            if spec.version_field:
                stored[spec.version_field] = kept[spec.version_field] + 1
            if spec.updated_field:
                stored[spec.updated_field] = self._stamp(time.time())
            return copy.deepcopy(stored)

    def delete(self, resource: str, owner: str, record_id: Any) -> Record:
        with self._lock:
            self._stored(resource, owner, record_id)
            return self._records[resource].pop((owner, str(record_id)))

    # -- reads --------------------------------------------------------------------------------

    def get(self, resource: str, owner: str, record_id: Any) -> Record:
        with self._lock:
            return copy.deepcopy(self._stored(resource, owner, record_id))

    def find(self, resource: str, owner: str, record_id: Any) -> Record | None:
        try:
            return self.get(resource, owner, record_id)
        except NotFound:
            return None

    def select(
        self,
        resource: str,
        owner: str,
        *,
        params: Mapping[str, str] | None = None,
        where: Callable[[Record], bool] | None = None,
    ) -> list[Record]:
        """The owner's records that match every declared filter present in `params` and
        `where`, in the resource's order."""
        spec = self.resources[resource]
        active = [
            (spec.filters[name], value)
            for name, value in (params or {}).items()
            if name in spec.filters and value != ""
        ]
        with self._lock:
            rows = [
                copy.deepcopy(record)
                for (record_owner, _), record in self._records[resource].items()
                if record_owner == owner
                and all(matches(record, value) for matches, value in active)
                and (where is None or where(record))
            ]
        sort_field = spec.sort_field
        if sort_field:
            rows.sort(key=lambda r: _sortable(r.get(sort_field)), reverse=spec.descending)
        return rows

    def locate(self, resource: str, record_id: Any) -> tuple[str, Record] | None:
        """The owner and record of an id in any owner's records (the vendor's own app)."""
        wanted = str(record_id)
        with self._lock:
            for (owner, stored_id), record in self._records[resource].items():
                if stored_id == wanted:
                    return owner, copy.deepcopy(record)
        return None

    def everything(self, resource: str) -> list[tuple[str, Record]]:
        """Every owner's records, for the inspection page."""
        with self._lock:
            return [(owner, copy.deepcopy(r)) for (owner, _), r in self._records[resource].items()]

    # -- internals ----------------------------------------------------------------------------

    def _stored(self, resource: str, owner: str, record_id: Any) -> Record:
        try:
            return self._records[resource][(owner, str(record_id))]
        except KeyError:
            raise NotFound(f"{resource} {record_id}") from None

    def _new_id(self, spec: Resource, owner: str) -> Any:
        if spec.new_id is not None:
            return spec.new_id()
        if spec.ids == "sequence":
            counter = self._sequences.setdefault((spec.name, owner), itertools.count(spec.first_id))
            return next(counter)
        if spec.ids == "hex":
            return spec.id_prefix + uuid.uuid4().hex[:24]
        return str(uuid.uuid4())


class Records(MutableMapping[Any, Record]):
    """One resource's records by id, live: every owner's (for tests that look inside) or one
    owner's, which a test may also write. `key` turns a stored id into the key (int for
    numeric ids)."""

    def __init__(
        self, store: Store, resource: str, owner: str | None = None, key: Callable[[Any], Any] = str
    ) -> None:
        self.store, self.resource, self.owner, self.key = store, resource, owner, key

    def _rows(self) -> dict[Any, Record]:
        id_field = self.store.resources[self.resource].id_field
        rows = self.store.everything(self.resource)
        return {self.key(r[id_field]): r for o, r in rows if self.owner in (None, o)}

    def values(self) -> ValuesView[Record]:
        # One copy of the resource for the whole walk: the mixin's would copy it per record.
        return self._rows().values()

    def items(self) -> ItemsView[Any, Record]:
        return self._rows().items()

    def __getitem__(self, record_id: Any) -> Record:
        if self.owner is None:
            located = self.store.locate(self.resource, record_id)
            found = located[1] if located else None
        else:
            found = self.store.find(self.resource, self.owner, record_id)
        if found is None:
            raise KeyError(record_id)
        return found

    def __setitem__(self, record_id: Any, record: Record) -> None:
        assert self.owner is not None, "a record is written into one owner's records"
        if record_id in self:
            self.store.update(self.resource, self.owner, record_id, record, replace=True)
        else:
            self.store.create(self.resource, self.owner, {**record, "id": record_id})

    def __delitem__(self, record_id: Any) -> None:
        self.store.delete(self.resource, self.owner or "", record_id)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows())

    def __len__(self) -> int:
        return len(self._rows())


def _sortable(value: Any) -> tuple[int, Any]:
    # Records without the sort field go last; numbers and text never compare with each other.
    if value is None:
        return (2, "")
    if isinstance(value, (int, float)):
        return (0, value)
    return (1, str(value))


# -- paging -----------------------------------------------------------------------------------


@dataclass
class Page:
    """One cut of a list and what the vendor's answer says about the rest."""

    items: list[Record]
    total: int
    # Offset and page styles.
    offset: int = 0
    limit: int = 0
    number: int = 0
    total_pages: int = 0
    # Cursor styles: the cursor of the next page, None on the last one.
    next_cursor: str | None = None
    has_more: bool = False


def _int(args: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadPaging(f"{name} must be an integer") from None
    if not low <= value <= high:
        raise BadPaging(f"{name} must be between {low} and {high}")
    return value


@dataclass(frozen=True)
class OffsetPaging:
    """`limit` and `offset` (bexio, sevDesk)."""

    default_limit: int
    max_limit: int
    limit_param: str = "limit"
    offset_param: str = "offset"
    min_limit: int = 0

    def cut(self, rows: list[Record], args: Mapping[str, str]) -> Page:
        limit = _int(args, self.limit_param, self.default_limit, self.min_limit, self.max_limit)
        offset = _int(args, self.offset_param, 0, 0, 2**31)
        return Page(rows[offset : offset + limit], len(rows), offset=offset, limit=limit)


@dataclass(frozen=True)
class PageNumberPaging:
    """Numbered pages of a size (lexware office counts from 0, Qonto from 1)."""

    default_size: int
    max_size: int
    first_page: int = 0
    page_param: str = "page"
    size_param: str = "size"

    def cut(self, rows: list[Record], args: Mapping[str, str]) -> Page:
        size = _int(args, self.size_param, self.default_size, 1, self.max_size)
        number = _int(args, self.page_param, self.first_page, self.first_page, 2**31)
        start = (number - self.first_page) * size
        total_pages = -(-len(rows) // size)
        return Page(
            rows[start : start + size],
            len(rows),
            offset=start,
            limit=size,
            number=number,
            total_pages=total_pages,
            has_more=start + size < len(rows),
        )


@dataclass(frozen=True)
class CursorPaging:
    """A cursor naming where the next page starts: HubSpot's `after` (an opaque position) or
    Stripe's `starting_after` (the id of the last record seen)."""

    default_limit: int
    max_limit: int
    cursor_param: str = "after"
    limit_param: str = "limit"
    # "position": the cursor is an index into the list; "id": the id of the last record seen.
    cursor_kind: Literal["position", "id"] = "position"
    id_field: str = "id"

    def cut(self, rows: list[Record], args: Mapping[str, str]) -> Page:
        limit = _int(args, self.limit_param, self.default_limit, 1, self.max_limit)
        start = self._start(rows, args.get(self.cursor_param) or "")
        items = rows[start : start + limit]
        has_more = start + limit < len(rows)
        next_cursor = None
        if has_more:
            next_cursor = (
                str(start + limit)
                if self.cursor_kind == "position"
                else str(items[-1][self.id_field])
            )
        return Page(
            items, len(rows), offset=start, limit=limit, next_cursor=next_cursor, has_more=has_more
        )

    def _start(self, rows: list[Record], cursor: str) -> int:
        if not cursor:
            return 0
        if self.cursor_kind == "position":
            if not cursor.isdigit():
                raise BadPaging(f"{self.cursor_param} is not a cursor this list handed out")
            return int(cursor)
        for index, row in enumerate(rows):
            if str(row.get(self.id_field)) == cursor:
                return index + 1
        raise BadPaging(f"{self.cursor_param}: no such object {cursor}")
