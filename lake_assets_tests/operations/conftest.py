"""Fixtures for the operations tests: a registry with a schema fix, and events it changes the verdict on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import orjson
import pytest

from lake_assets.registry.registry import DEFAULT_SCHEMAS_DIR
from lake_assets_tests.lake_helpers import event

VALID = [event(n) for n in range(1, 7)]
FIXED = [event(n, campaign="spring") for n in range(10, 14)]  # unknown_field now; valid after the fix
NEW_REASON = [event(n, campaign=7) for n in (20, 21)]  # unknown_field now; wrong_type after the fix
STILL_FAILING = [event(30, device="tv"), event(31, device="tv"), b'{"event_type": "page_view", ']


@pytest.fixture
def fixed_registry(tmp_path: Path) -> Path:
    """The shipped registry, copied, with a page_view v2 adding an optional ``campaign`` (BACKWARD)."""
    root = tmp_path / "schemas"
    shutil.copytree(DEFAULT_SCHEMAS_DIR, root)
    folder = root / "events" / "page_view"
    schema = json.loads((folder / "v1.avsc").read_text())
    schema["fields"].append({"name": "campaign", "type": ["null", "string"], "default": None})
    (folder / "v2.avsc").write_text(json.dumps(schema))
    return root


def event_ids(lines: list[bytes]) -> list[str]:
    return [orjson.loads(line)["event_id"] for line in lines]
