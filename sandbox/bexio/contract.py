"""Which spec files the bexio sandbox is checked against."""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from functools import cache
from pathlib import Path

from sandbox.contract import SPECS_DIR

DERIVED_SPEC = "bexio/bexio-derived-openapi.yaml"
UNOFFICIAL_SPEC = "bexio/bexio-openapi.apievangelist-unofficial.yml"
# Unquoted in a YAML flow mapping, this description splits into a second key
# ("2 = person": null), which makes the whole file an invalid OpenAPI document that
# openapi-core refuses to load. Prism is lenient and never noticed.
_SPEC_BUG = "description: 1 = company, 2 = person }"
_SPEC_FIX = "description: '1 = company, 2 = person' }"


@cache
def derived_spec_path() -> str:
    """The derived spec, with its one YAML slip fixed in a private copy (the shared folder
    is read-only). Once the shared file is fixed, the shared file itself is used."""
    text = (SPECS_DIR / DERIVED_SPEC).read_text(encoding="utf-8")
    if _SPEC_BUG not in text:
        return DERIVED_SPEC
    fixed = text.replace(_SPEC_BUG, _SPEC_FIX)
    folder = Path(tempfile.gettempdir()) / "apiup-sandbox"
    folder.mkdir(exist_ok=True)
    target = folder / f"bexio-derived-{hashlib.sha256(fixed.encode()).hexdigest()[:12]}.yaml"
    if not target.exists():
        # Written under a private name, then renamed: parallel test processes never read
        # half a file.
        partial = folder / f"{target.name}.{os.getpid()}.{threading.get_ident()}"
        partial.write_text(fixed, encoding="utf-8")
        partial.replace(target)
    # An absolute path: the shared checker joins it to its specs folder, which keeps it.
    return str(target)


def spec_files() -> tuple[str, ...]:
    # The derived file first; the unofficial one only for the operations the derived one
    # lacks (GET /2.0/kb_offer, GET /2.0/kb_invoice/{id}).
    return (derived_spec_path(), UNOFFICIAL_SPEC)
