"""Writes `eaccounting-openapi.normalized.json` from Visma's published file beside it.

The published file declares the path parameter of `/articlelabels/{articlelabelid}` and
`/customerlabels/{customerlabelid}` as `articleLabelId` / `customerLabelId`, which OpenAPI
validators refuse (a template name must match its parameter). The copy names the two path
keys as their parameters do; the `get` of the first joins the `put` and `delete` already
published under `/articlelabels/{articleLabelId}`. Nothing else changes. Written as JSON; it
loads in about 0.2 s (as the YAML does with libyaml); validating its 250 paths takes 2.4 s more,
which the sandbox's contract checker skips for this file because a test validates it once.

Run: python vendor-specs/eaccounting/normalize.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
PUBLISHED = HERE / "eaccounting-openapi.yaml"
NORMALIZED = HERE / "eaccounting-openapi.normalized.json"
RENAMED = {
    "/articlelabels/{articlelabelid}": "/articlelabels/{articleLabelId}",
    "/customerlabels/{customerlabelid}": "/customerlabels/{customerLabelId}",
}


def normalized(spec: dict[str, Any]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for key, item in spec["paths"].items():
        key = RENAMED.get(key, key)
        paths[key] = {**paths.get(key, {}), **item}
    return {**spec, "paths": paths}


def main() -> None:
    spec = yaml.safe_load(PUBLISHED.read_text(encoding="utf-8"))
    text = json.dumps(normalized(spec), ensure_ascii=False, indent=1)
    NORMALIZED.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
