"""The project carries its own copy of the vendors' API descriptions (`vendor-specs/`), so a
clone anywhere passes its tests; where the team's shared folder is beside the project, the
copy must not drift from it."""

from __future__ import annotations

import filecmp
from pathlib import Path

from connectors.registry import PROVIDERS
from sandbox.contract import SPECS_DIR
from sandbox.registry import SANDBOXES, sandbox_class

PROJECT_COPY = Path(__file__).resolve().parent.parent.parent / "vendor-specs"
SHARED = PROJECT_COPY.parent.parent / "shared" / "vendor-specs"


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_the_sandboxes_read_the_projects_copy() -> None:
    assert SPECS_DIR.resolve() == PROJECT_COPY.resolve()


def test_every_spec_file_a_provider_or_sandbox_names_is_in_the_project() -> None:
    named = {spec for p in PROVIDERS for spec in p.spec_files}
    named |= {spec for name in SANDBOXES for spec in sandbox_class(name).spec_files}
    missing = sorted(spec for spec in named if not (PROJECT_COPY / spec).is_file())
    assert missing == []


def test_the_copy_matches_the_shared_specs_where_they_exist() -> None:
    if not SHARED.is_dir():
        return  # a clone outside the team's machines: the copy is all there is
    shared, copy = _files(SHARED), _files(PROJECT_COPY)
    assert sorted(shared - copy) == [], "in the shared specs, missing from vendor-specs/"
    differing = sorted(f for f in shared & copy if not filecmp.cmp(SHARED / f, PROJECT_COPY / f))
    assert differing == [], "vendor-specs/ differs from the shared specs"
