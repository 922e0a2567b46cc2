"""Routes for declared resources: list, create, read, update and delete served from the store.

A vendor stand-in declares its endpoints (`Endpoint`: resource, path, paging, operations) and
calls `serve_endpoints`; the answers go through the vendor's hooks (the methods of
`VendorSandbox` under "hooks of the declared resources", with defaults), so only what differs
between vendors is written per vendor: how a new record is filled in (numbers, defaults), how a
list is ordered and a record and a list are rendered, which answers a create, a delete, a
missing record, a stale version and a bad page get. A create and an update run their hooks and
the store's write under the sandbox's lock, so a vendor's numbering, uniqueness and version
checks see no other write in between.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from flask import Flask, Response, request

from sandbox.store import (
    BadPaging,
    CursorPaging,
    NotFound,
    OffsetPaging,
    Page,
    PageNumberPaging,
    VersionConflict,
)

if TYPE_CHECKING:
    from sandbox.core import VendorSandbox

Operation = Literal["list", "create", "read", "update", "delete"]
Paging = OffsetPaging | PageNumberPaging | CursorPaging
ALL_OPERATIONS: tuple[Operation, ...] = ("list", "create", "read", "update", "delete")


@dataclass(frozen=True)
class Endpoint:
    """A collection path of one resource and what the vendor serves under it."""

    resource: str
    path: str  # the collection, e.g. "/v1/contacts"; a record is at path + "/<id>"
    paging: Paging | None = None
    operations: tuple[Operation, ...] = ALL_OPERATIONS
    update_method: Literal["PUT", "PATCH", "POST"] = "PUT"
    # The Flask converter of the id: "int" for numeric ids, "string" otherwise.
    id_converter: Literal["int", "string"] = "string"
    create_status: int = 201
    delete_status: int = 204
    # False where the vendor's create of this resource is not one a lost answer may follow
    # (the drop-after-commit fault is for the creates the product must reconcile).
    drop_after_commit: bool = True
    # True where the vendor's update replaces the whole record (a PUT of lexware office).
    replace_on_update: bool = False
    paging_error_status: int = 400
    # A collection under one record (`/Order/<int:parent_id>/getPositions`): the record's
    # resource and the filter that selects its children. A list answers only that record's
    # children, or `missing_response` when it does not exist.
    parent: tuple[str, str] | None = None


def serve_endpoints(app: Flask, sandbox: VendorSandbox, endpoints: Iterable[Endpoint]) -> None:
    for endpoint in endpoints:
        _serve(app, sandbox, endpoint)


def view_name(endpoint: Endpoint, operation: Operation) -> str:
    """The Flask endpoint name of one declared operation, for a vendor that wraps its view."""
    return f"{endpoint.resource}_{endpoint.path}.{operation}"


def _serve(app: Flask, sandbox: VendorSandbox, endpoint: Endpoint) -> None:
    item = f"{endpoint.path}/<{endpoint.id_converter}:record_id>"
    routes: dict[Operation, tuple[str, str, Callable[..., Response]]] = {
        "list": (endpoint.path, "GET", lambda **parent: _list(sandbox, endpoint, **parent)),
        "create": (endpoint.path, "POST", lambda: _create(sandbox, endpoint)),
        "read": (item, "GET", lambda record_id: _read(sandbox, endpoint, record_id)),
        "update": (
            item,
            endpoint.update_method,
            lambda record_id: _update(sandbox, endpoint, record_id),
        ),
        "delete": (item, "DELETE", lambda record_id: _delete(sandbox, endpoint, record_id)),
    }
    for operation in endpoint.operations:
        rule, method, view = routes[operation]
        app.add_url_rule(rule, view_name(endpoint, operation), view, methods=[method])


def _body() -> Any:
    return request.get_json(silent=True) if request.is_json else request.form.to_dict()


def _list(sandbox: VendorSandbox, endpoint: Endpoint, parent_id: Any = None) -> Response:
    params: dict[str, str] = request.args.to_dict()
    if endpoint.parent is not None:
        parent_resource, children_filter = endpoint.parent
        if sandbox.store.find(parent_resource, sandbox.owner(), parent_id) is None:
            return sandbox.missing_response(endpoint, parent_id)
        params[children_filter] = str(parent_id)
    rows = sandbox.store.select(endpoint.resource, sandbox.owner(), params=params)
    rows = sandbox.ordered(endpoint, rows)
    if endpoint.paging is None:
        return sandbox.render_page(endpoint, Page(rows, len(rows), limit=len(rows)))
    try:
        page = endpoint.paging.cut(rows, request.args)
    except BadPaging as exc:
        return sandbox.paging_error_response(endpoint, exc)
    return sandbox.render_page(endpoint, page)


def _create(sandbox: VendorSandbox, endpoint: Endpoint) -> Response:
    with sandbox.lock:
        record = sandbox.new_record(endpoint, _body())
        stored = sandbox.store.create(endpoint.resource, sandbox.owner(), record)
    if endpoint.drop_after_commit:
        sandbox.after_commit()
    return sandbox.created_response(endpoint, stored)


def _read(sandbox: VendorSandbox, endpoint: Endpoint, record_id: Any) -> Response:
    try:
        record = sandbox.store.get(endpoint.resource, sandbox.owner(), record_id)
    except NotFound:
        return sandbox.missing_response(endpoint, record_id)
    return sandbox.json(sandbox.render(endpoint, record))


def _update(sandbox: VendorSandbox, endpoint: Endpoint, record_id: Any) -> Response:
    store = sandbox.store
    spec = store.resources[endpoint.resource]
    try:
        with sandbox.lock:
            stored = store.get(endpoint.resource, sandbox.owner(), record_id)
            body = _body()
            changes = sandbox.record_changes(endpoint, stored, body)
            version = body.get(spec.version_field) if spec.version_field and body else None
            updated = store.update(
                endpoint.resource,
                sandbox.owner(),
                record_id,
                changes,
                version=version,
                replace=endpoint.replace_on_update,
            )
    except NotFound:
        return sandbox.missing_response(endpoint, record_id)
    except VersionConflict as exc:
        return sandbox.conflict_response(endpoint, exc.stored)
    return sandbox.json(sandbox.render(endpoint, updated))


def _delete(sandbox: VendorSandbox, endpoint: Endpoint, record_id: Any) -> Response:
    try:
        deleted = sandbox.store.delete(endpoint.resource, sandbox.owner(), record_id)
    except NotFound:
        return sandbox.missing_response(endpoint, record_id)
    return sandbox.deleted_response(endpoint, deleted)
