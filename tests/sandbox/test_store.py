"""The generic layers every vendor stand-in is built on: the store, its paging styles and the
routes of declared resources."""

from __future__ import annotations

import functools
from typing import Any

import pytest
import requests
from flask import Flask, Request, Response

from sandbox.core import Refusal, TokenBucket, VendorSandbox, running
from sandbox.routes import Endpoint, serve_endpoints
from sandbox.store import (
    BadPaging,
    CursorPaging,
    NotFound,
    OffsetPaging,
    Page,
    PageNumberPaging,
    Record,
    Records,
    Resource,
    Store,
    VersionConflict,
    contains,
    equals,
)

CONTACTS = Resource(
    "contacts",
    ids="sequence",
    version_field="version",
    created_field="created",
    filters={"email": equals("email"), "name": contains("name")},
    sort_field="id",
)


def test_records_are_kept_per_owner() -> None:
    store = Store([CONTACTS])
    store.create("contacts", "a", {"name": "Muster GmbH"})
    second = store.create("contacts", "a", {"name": "Beispiel AG"})
    other = store.create("contacts", "b", {"name": "Other AG"})

    assert [r["name"] for r in store.select("contacts", "a")] == ["Muster GmbH", "Beispiel AG"]
    with pytest.raises(NotFound):
        store.get("contacts", "b", second["id"])
    # Each owner numbers its own records from the first id.
    assert (second["id"], other["id"]) == (2, 1)


def test_records_show_one_owners_records_or_everyones_live() -> None:
    store = Store([CONTACTS])
    mine, everyone = Records(store, "contacts", "a"), Records(store, "contacts", key=int)
    store.create("contacts", "b", {"name": "Other AG"})
    mine[7] = {"name": "Muster GmbH"}  # a test may put a record in place

    assert dict(mine) == {"7": store.get("contacts", "a", 7)}
    assert 7 in mine
    assert 1 not in mine
    mine[7] = {"name": "Beispiel AG"}
    assert store.get("contacts", "a", 7)["name"] == "Beispiel AG"
    assert sorted(everyone) == [1, 7]
    del mine[7]
    assert len(everyone) == 1


def test_walking_every_record_copies_the_resource_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # A benchmark's tally walks thousands of quotes: a copy of them all per record was hours.
    store = Store([CONTACTS])
    for number in range(50):
        store.create("contacts", "a", {"name": f"Kunde {number}"})
    store.create("contacts", "b", {"name": "Other AG"})
    copies: list[str] = []
    everything = store.everything

    def counted(resource: str) -> list[tuple[str, Record]]:
        copies.append(resource)
        return everything(resource)

    monkeypatch.setattr(store, "everything", counted)
    everyone, mine = Records(store, "contacts", key=int), Records(store, "contacts", "a")

    assert len([r["name"] for r in everyone.values()]) == 50  # b's record 1 hides a's
    assert sorted(r["name"] for _, r in mine.items()) == sorted(f"Kunde {n}" for n in range(50))
    assert copies == ["contacts", "contacts"]


def test_a_stale_version_is_refused_and_the_record_stays() -> None:
    store = Store([CONTACTS])
    record = store.create("contacts", "a", {"name": "Alt"})
    updated = store.update("contacts", "a", record["id"], {"name": "Neu"}, version=0)

    assert updated["version"] == 1
    assert updated["created"] == record["created"]
    with pytest.raises(VersionConflict):
        store.update("contacts", "a", record["id"], {"name": "Verloren"}, version=0)
    assert store.get("contacts", "a", record["id"])["name"] == "Neu"


def test_filters_apply_only_when_declared_and_given() -> None:
    store = Store([CONTACTS])
    store.create("contacts", "a", {"name": "Muster GmbH", "email": "m@example.com"})
    store.create("contacts", "a", {"name": "Beispiel AG", "email": "b@example.com"})

    assert [r["name"] for r in store.select("contacts", "a", params={"name": "muster"})] == [
        "Muster GmbH"
    ]
    assert len(store.select("contacts", "a", params={"email": "", "unknown": "x"})) == 2


def test_a_record_is_located_whoever_owns_it() -> None:
    store = Store([CONTACTS])
    record = store.create("contacts", "b", {"name": "Other AG"})

    assert store.locate("contacts", record["id"]) == ("b", record)
    assert store.locate("contacts", 99) is None


def test_stored_records_are_copies() -> None:
    store = Store([CONTACTS])
    record = store.create("contacts", "a", {"name": "X", "tags": ["a"]})
    record["tags"].append("changed outside")

    assert store.get("contacts", "a", record["id"])["tags"] == ["a"]


ROWS = [{"id": f"r{n}"} for n in range(5)]


def test_offset_paging() -> None:
    page = OffsetPaging(default_limit=2, max_limit=3).cut(ROWS, {"offset": "3"})
    assert [r["id"] for r in page.items] == ["r3", "r4"]
    assert page.total == 5
    with pytest.raises(BadPaging):
        OffsetPaging(default_limit=2, max_limit=3).cut(ROWS, {"limit": "4"})


def test_page_number_paging_counts_from_the_vendors_first_page() -> None:
    qonto_like = PageNumberPaging(default_size=2, max_size=100, first_page=1)
    page = qonto_like.cut(ROWS, {"page": "3"})
    assert [r["id"] for r in page.items] == ["r4"]
    assert (page.total_pages, page.has_more) == (3, False)
    with pytest.raises(BadPaging):
        qonto_like.cut(ROWS, {"page": "0"})


@pytest.mark.parametrize("kind", ["position", "id"])
def test_cursor_paging_walks_every_record_once(kind: Any) -> None:
    paging = CursorPaging(default_limit=2, max_limit=10, cursor_kind=kind)
    seen: list[str] = []
    args: dict[str, str] = {}
    while True:
        page = paging.cut(ROWS, args)
        seen += [r["id"] for r in page.items]
        if page.next_cursor is None:
            break
        args = {"after": page.next_cursor}
    assert seen == [r["id"] for r in ROWS]


NOTES = Resource("notes", ids="sequence", filters={"contact": equals("contact")})


class _ToyVendor(VendorSandbox):
    """A vendor with two resources served entirely by the generic routes: contacts, and the
    notes of a contact under its path."""

    name = "toy"
    refuse_off_spec = False
    resources = (CONTACTS, NOTES)

    def credential_of(self, req: Request) -> str | None:
        return req.headers.get("X-Key") or None

    def register_routes(self, app: Flask) -> None:
        serve_endpoints(
            app,
            self,
            [
                Endpoint("contacts", "/contacts", OffsetPaging(10, 100), id_converter="int"),
                Endpoint(
                    "notes",
                    "/contacts/<int:parent_id>/notes",
                    operations=("list",),
                    parent=("contacts", "contact"),
                ),
            ],
        )
        app.add_url_rule("/refused", "refused", self.refused)

    def refused(self) -> Response:
        raise Refusal(418, "not here", detail="x")

    def error_response(self, status: int, message: str, **extra: Any) -> Response:
        return self.json({"message": message, **extra}, status)

    def render_page(self, endpoint: Endpoint, page: Page) -> Response:
        return self.json({"objects": page.items, "total": page.total})


def test_declared_resources_are_served_over_http_per_credential() -> None:
    session = requests.Session()
    session.request = functools.partial(session.request, timeout=5)  # type: ignore[method-assign]
    with running(_ToyVendor()) as vendor:
        a, b = {"X-Key": "a"}, {"X-Key": "b"}
        created = session.post(f"{vendor.url}/contacts", json={"name": "Muster"}, headers=a)
        assert created.status_code == 201
        url = f"{vendor.url}/contacts/{created.json()['id']}"

        assert session.get(url, headers=b).status_code == 404
        changed = session.put(url, json={"name": "Neu", "version": 0}, headers=a)
        assert changed.json()["version"] == 1
        assert session.put(url, json={"name": "x", "version": 0}, headers=a).status_code == 409
        assert session.get(f"{vendor.url}/contacts", headers=a).json()["total"] == 1
        assert session.get(f"{vendor.url}/contacts?limit=x", headers=a).status_code == 400
        assert session.delete(url, headers=a).status_code == 204
        assert session.get(url, headers=a).status_code == 404
        assert session.get(f"{vendor.url}/contacts").status_code == 401


def test_a_nested_collection_lists_one_records_children() -> None:
    vendor = _ToyVendor()
    client, key = vendor.app.test_client(), {"X-Key": "a"}
    contact = vendor.store.create("contacts", "a", {"name": "Muster"})
    vendor.store.create("notes", "a", {"contact": contact["id"], "text": "mine"})
    vendor.store.create("notes", "a", {"contact": 99, "text": "another's"})

    answer = client.get(f"/contacts/{contact['id']}/notes", headers=key)
    assert [n["text"] for n in answer.get_json()["objects"]] == ["mine"]
    assert client.get("/contacts/7/notes", headers=key).status_code == 404


def test_a_refusal_is_answered_in_the_vendors_error_format() -> None:
    answer = _ToyVendor().app.test_client().get("/refused", headers={"X-Key": "a"})
    assert (answer.status_code, answer.get_json()) == (418, {"message": "not here", "detail": "x"})


def test_the_token_bucket_answers_429_with_the_wait() -> None:
    vendor = _ToyVendor()
    vendor.token_bucket = TokenBucket(rate=0.5, capacity=1)
    client = vendor.app.test_client()

    assert client.get("/contacts", headers={"X-Key": "a"}).status_code == 200
    limited = client.get("/contacts", headers={"X-Key": "a"})
    assert limited.status_code == 429
    assert 1 < limited.get_json()["retry_after"] <= 2
