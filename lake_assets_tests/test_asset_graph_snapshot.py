"""The whole asset graph as data, compared with a reviewed snapshot: a change to the graph shows in review.

Keys, upstream keys, groups, kinds, partitions, backfill policy, automation condition, the step that computes
each asset, and its checks (with blocking). After an intended change:
``.venv/bin/pytest lake_assets_tests/test_asset_graph_snapshot.py --update-snapshots``, then review the diff
of ``lake_assets_tests/snapshots/asset_graph.json`` with the change.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from lake_assets.definitions import build_definitions
from lake_assets.settings import LakeSettings

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.json"


def asset_graph(defs: dg.Definitions) -> dict[str, Any]:
    graph = defs.resolve_asset_graph()
    checks = {}
    for check_key in graph.asset_check_keys:
        spec = graph.get_check_spec(check_key)
        checks.setdefault(check_key.asset_key, []).append({"name": check_key.name, "blocking": spec.blocking})
    out: dict[str, Any] = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        condition = node.automation_condition
        out[key.to_user_string()] = {
            "deps": sorted(p.to_user_string() for p in node.parent_keys),
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "partitions": str(node.partitions_def) if node.partitions_def else None,
            "backfill_policy": str(node.backfill_policy) if node.backfill_policy else None,
            "automation": (condition.get_label() or type(condition).__name__) if condition else None,
            "step": defs.resolve_assets_def(key).node_def.name,
            "checks": sorted(checks.get(key, []), key=lambda c: c["name"]),
        }
    return out


def test_the_asset_graph_matches_its_reviewed_snapshot(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    current = asset_graph(build_definitions(LakeSettings(lake_root=str(tmp_path / "lake"))))
    text = json.dumps(current, indent=1, sort_keys=True) + "\n"
    if request.config.getoption("--update-snapshots"):
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(text)
    assert SNAPSHOT.exists(), f"no snapshot yet: run with --update-snapshots to write {SNAPSHOT}"
    reviewed = json.loads(SNAPSHOT.read_text())
    added, removed = sorted(set(current) - set(reviewed)), sorted(set(reviewed) - set(current))
    changed = sorted(k for k in set(current) & set(reviewed) if current[k] != reviewed[k])
    assert not (added or removed or changed), (
        f"the asset graph differs from {SNAPSHOT.name}: added {added}, removed {removed}, changed "
        + "; ".join(f"{k}: {reviewed[k]} -> {current[k]}" for k in changed)
        + ". If intended, rerun with --update-snapshots and commit the snapshot with the change."
    )
    assert len(current) > 20 and all(v["group"] for v in current.values())
