"""Settings shared by every environment, assembled from one module per concern."""

import django_stubs_ext

from .accounts import *  # noqa: F403
from .billing import *  # noqa: F403
from .core import *  # noqa: F403
from .observability import *  # noqa: F403
from .queue import *  # noqa: F403
from .vendors import *  # noqa: F403

# Lets runtime code write the generic forms the type checker wants (ModelAdmin[Tenant]).
django_stubs_ext.monkeypatch()
