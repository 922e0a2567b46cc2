"""Walks every URL of the project as a user of another tenant.

Every URL that names an object must answer 404 for another tenant's object, and no page
without parameters may show another tenant's data. A new URL with a parameter fails this
test until the view states its model, which is how it joins the walk.
"""

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from accounts.models import Invitation
from accounts.tenancy import TenantOwnedModel
from sync.models import DocumentRule
from tests.factories import ConnectionFactory, TenantFactory, TransferFactory, UserFactory

# Not tenant data: keys in e-mailed links, the admin (staff only, tested below).
EXEMPT_NAMESPACES = {"admin"}
EXEMPT_MODULE_PREFIXES = ("allauth.", "django.", "rest_framework.")
# The invitation link's token is its own authority (tests/accounts/test_invitations.py); a
# vendor's webhook names its system, and its signed events their account
# (tests/sync/test_vendor_webhooks.py).
EXEMPT_NAMES = {"accounts:invitation_open", "vendor_webhook"}


def _invitation(**kwargs: Any) -> Invitation:
    return Invitation.objects.create(
        tenant=TenantFactory(),
        email="eingeladen@example.com",
        token_hash=uuid.uuid4().hex,
        expires_at=timezone.now() + dt.timedelta(days=7),
        **kwargs,
    )


FACTORIES: dict[str, Callable[[], Any]] = {
    "Connection": ConnectionFactory,
    "Transfer": TransferFactory,
    "Invitation": _invitation,
    "DocumentRule": lambda: DocumentRule.objects.create(
        tenant=TenantFactory(), stage_id="closedwon", document="invoice"
    ),
}


def _walk(
    patterns: list[Any], prefix: str = "", namespace: str = ""
) -> Iterator[tuple[str, str, Any]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = entry.namespace or namespace
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name or ""
            yield prefix + str(entry.pattern), name, entry


def _model_of(pattern: URLPattern) -> type[TenantOwnedModel] | None:
    callback = pattern.callback
    view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    model = getattr(view_class, "model", None)
    if isinstance(model, type) and issubclass(model, TenantOwnedModel):
        return model
    return None


def _project_patterns() -> list[tuple[str, str, URLPattern]]:
    found = []
    for route, name, pattern in _walk(get_resolver().url_patterns):
        namespace = name.split(":")[0] if ":" in name else ""
        module = getattr(pattern.callback, "__module__", "")
        if namespace in EXEMPT_NAMESPACES or module.startswith(EXEMPT_MODULE_PREFIXES):
            continue
        if name in EXEMPT_NAMES:
            continue
        found.append((route, name, pattern))
    return found


@pytest.fixture
def other_tenant_client(db) -> Client:  # type: ignore[no-untyped-def]
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(UserFactory())
    return client


@pytest.mark.django_db
def test_every_object_url_answers_404_to_another_tenant(other_tenant_client: Client) -> None:
    checked = []
    for route, name, pattern in _project_patterns():
        if not pattern.pattern.regex.groupindex:
            continue
        model = _model_of(pattern)
        assert model is not None, (
            f"URL {route} ({name}) takes parameters but its view states no tenant-owned "
            "model; derive it from TenantScopedMixin / TenantScopedViewSet."
        )
        foreign = FACTORIES[model.__name__]()
        kwargs = dict.fromkeys(pattern.pattern.regex.groupindex, foreign.pk)
        if "format" in kwargs:
            continue
        url = reverse(name, kwargs=kwargs)
        for method in ("get", "post", "put", "patch", "delete"):
            response = getattr(other_tenant_client, method)(url)
            assert response.status_code in (404, 405), (method, url, response.status_code)
        assert model.objects.filter(pk=foreign.pk).exists(), f"{url} changed a foreign object"
        checked.append(url)
    assert len(checked) >= 2, checked  # the HTML detail page and the API detail at least


@pytest.mark.django_db
def test_pages_without_parameters_show_no_foreign_data(other_tenant_client: Client) -> None:
    foreign = ConnectionFactory(account_name="Fremde Buchhaltung AG")
    visited = 0
    for route, name, pattern in _project_patterns():
        if pattern.pattern.regex.groupindex or not name:
            continue
        response = other_tenant_client.get(reverse(name), follow=True)
        body = response.content.decode(errors="replace")
        assert "Fremde Buchhaltung AG" not in body, route
        assert str(foreign.pk) not in body, route
        visited += 1
    assert visited >= 2


@pytest.mark.django_db
def test_admin_is_closed_to_customers(other_tenant_client: Client) -> None:
    response = other_tenant_client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert "login" in response["Location"]


def test_a_view_cannot_override_the_scoped_queryset() -> None:
    from django.views.generic import DetailView

    from accounts.tenancy import TenantScopedMixin

    with pytest.raises(TypeError, match="scope_queryset"):

        class Leaky(TenantScopedMixin, DetailView):  # type: ignore[type-arg]
            def get_queryset(self):  # type: ignore[no-untyped-def]
                return []
