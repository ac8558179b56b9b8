"""``lake access plan`` with 1,000 grants against moto (``lake_assets/access/lakeformation.py``).

Setup (not timed): a moto server (Lake Formation grants) and the in-process data cells filter stand-in of the
tests (``lake_assets_tests/access/lakeformation_standin.py``: moto has no data cells filters); a policy of 100
principals x 10 tables = 1,000 table grants, every 4th with a column or row rule (250 data cells filters);
``apply`` of the plan on an empty catalog (about 1,200 permissions: SELECT per grant, DESCRIBE per database).
Timed: ``plan`` against that state (no changes expected), ``--repeat`` times. Baseline, in the same run: a
bare paging of ListPermissions over the same catalog through the same client and page size (what any plan
must read), and the ratio. The policy is built in memory: ``parse_policy`` of 1,000 grants takes minutes (it
recomposes the YAML for each grant's line number), which is not what this measures.

    .venv/bin/python bench/bench_access_plan.py [--principals 100] [--tables 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the fixtures live in lake_assets_tests

import moto  # noqa: E402

from lake_assets.access.lakeformation import PAGE_SIZE, apply, plan  # noqa: E402
from lake_assets.access.policy import Grant, Policy, Principal  # noqa: E402
from lake_assets_tests.access.lakeformation_standin import LakeFormationStandIn  # noqa: E402
from lake_assets_tests.fixtures.moto import moto_client, start_moto, stop_moto  # noqa: E402

CATALOG = "210987654321"


def generated_policy(principals: int, tables: int) -> Policy:
    """``principals`` x ``tables`` grants of one table each; every 4th excludes a column, every 8th of those
    also filters rows (line numbers as if written out, four lines a grant)."""
    names = [f"p{i:03d}" for i in range(principals)]
    grants = []
    for i, name in enumerate(names):
        for j in range(tables):
            database = "final" if j % 2 == 0 else "intermediate"
            n = i * tables + j
            restricted = n % 4 == 0
            grants.append(
                Grant(
                    name,
                    None,
                    (f"{database}.t{j}",),
                    None,
                    ("c1",) if restricted else (),
                    f"c2 > {i}" if restricted and n % 8 == 0 else None,
                    10 + 2 * principals + 4 * n,
                )
            )
    return Policy(
        Path("generated-policy.yaml"),
        {name: Principal(name, f"arn:aws:iam::123456789012:role/{name}", "") for name in names},
        tuple(grants),
        {},
    )


def list_all(client: Any, page_size: int) -> tuple[int, int]:
    """The baseline: every page of ListPermissions, nothing else. Returns (items, calls)."""
    items = calls = 0
    token = None
    while True:
        params: dict[str, Any] = {"CatalogId": CATALOG, "MaxResults": page_size}
        if token:
            params["NextToken"] = token
        page = client.list_permissions(**params)
        calls += 1
        items += len(page["PrincipalResourcePermissions"])
        token = page.get("NextToken")
        if not token:
            return items, calls


def timed(function: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--principals", type=int, default=100)
    parser.add_argument("--tables", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--page-size", type=int, default=PAGE_SIZE, help="MaxResults of the List calls")
    args = parser.parse_args()
    print(
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f}, Python {platform.python_version()}, moto {moto.__version__}"
    )
    policy = generated_policy(args.principals, args.tables)
    restricted = sum(1 for g in policy.grants if g.exclude or g.row_filter)
    print(
        f"policy: {len(policy.principals)} principals, {len(policy.grants):,} grants "
        f"({restricted} with a column or row rule)"
    )

    with tempfile.TemporaryDirectory(prefix="bench-access-") as tmp:
        started = time.perf_counter()
        endpoint, process = start_moto(Path(tmp) / "moto.log")
        print(f"moto up at {endpoint} in {time.perf_counter() - started:.1f} s")
        try:
            client = LakeFormationStandIn(moto_client("lakeformation", endpoint))
            seconds, empty = timed(plan, policy, client, CATALOG, page_size=args.page_size)
            print(
                f"\nfirst plan, empty catalog: {seconds:.2f} s: {len(empty.to_grant):,} to grant, "
                f"{len(empty.to_create)} filters to create"
            )
            seconds, done = timed(apply, empty, client)
            print(
                f"apply (setup, not the target): {len(done):,} changes in {seconds:.1f} s, "
                f"{client.calls['batch_grant_permissions']} BatchGrantPermissions calls, "
                f"{client.calls['create_data_cells_filter']} CreateDataCellsFilter calls"
            )

            plans, lists = [], []
            for _ in range(args.repeat):
                seconds, result = timed(plan, policy, client, CATALOG, page_size=args.page_size)
                assert result.empty, result.render()
                plans.append(seconds)
                seconds, (items, calls) = timed(list_all, client, args.page_size)
                lists.append(seconds)
            print(
                f"\nstate: {items:,} permissions in {calls} ListPermissions page(s) of up to "
                f"{args.page_size}; "
                f"{len(client.filters.filters)} data cells filters; plan's reads: {result.calls}"
            )
            print(f"{'':<38} {'median':>8} {'runs':>28}")
            for label, runs in (
                ("plan (no changes)", plans),
                ("baseline: ListPermissions pages only", lists),
            ):
                print(
                    f"{label:<38} {statistics.median(runs):>6.2f} s   "
                    f"{', '.join(f'{r:.2f}' for r in runs):>26}"
                )
            ratio = statistics.median(plans) / statistics.median(lists)
            print(
                f"\nlake access plan, {len(policy.grants):,} grants against moto: "
                f"{statistics.median(plans):.2f} s (target < 10 s); "
                f"{ratio:.2f}x the bare ListPermissions paging"
            )
        finally:
            stop_moto(process)


if __name__ == "__main__":
    main()
