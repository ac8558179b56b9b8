"""The cost of enforcing the access policy: ``lake query --as`` against the same query unrestricted.

Prints figures; never a timed test. Run from the repo root:

    .venv/bin/python bench/bench_access.py [--rows 300000] [--repeat 7]

Setup (printed, not timed): a lake with ``final.shop_daily_product_sales`` as a real Iceberg table (pyiceberg,
``--rows`` rows over 60 days in 6 appends: 6 data files) in the lake's SQLite catalog, and the shipped policy
(``lake_assets/access/policy.yaml``): ``marketing`` reads the table without ``revenue_cents`` and only from
2026-11-01 (about half the days here).

Timed, each query ``--repeat`` times, alternating the two so drift hits both alike: ``query.run_sql`` as the
``lake query`` command runs it (a new connection, the catalog listed, the Iceberg views made, the query run,
the result printed), once unrestricted (the baseline) and once ``--as marketing`` (the statement parsed, the
granted columns and rows handed to a fresh locked connection, then the query). The ratio is restricted /
unrestricted of the medians; the aim is at or under 1.2x.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pyarrow as pa  # noqa: E402
from pyiceberg.catalog.sql import SqlCatalog  # noqa: E402

from lake_assets.access.policy import load_policy  # noqa: E402
from lake_assets.query import run_sql  # noqa: E402
from lake_assets.storage.object_store import LocalObjectStore  # noqa: E402
from lake_assets.tables.catalog import CATALOG_NAME, CatalogConfig  # noqa: E402

SCHEMA = pa.schema(
    [
        ("dt", pa.date32()),
        ("product_id", pa.string()),
        ("units", pa.int64()),
        ("orders", pa.int64()),
        ("revenue_cents", pa.int64()),
    ]
)
QUERIES = {
    "whole table, aggregated": "SELECT count(*), sum(units) FROM final.shop_daily_product_sales",
    "one week, by product": (
        "SELECT product_id, sum(units) AS units FROM final.shop_daily_product_sales "
        "WHERE dt BETWEEN DATE '2026-11-10' AND DATE '2026-11-16' GROUP BY 1 ORDER BY 2 DESC LIMIT 10"
    ),
    "top rows": "SELECT * FROM final.shop_daily_product_sales ORDER BY units DESC LIMIT 5",
}


def build(root: Path, rows: int) -> CatalogConfig:
    catalog = CatalogConfig.for_lake(str(root))
    catalog.sqlite_path.parent.mkdir(parents=True)
    cat = SqlCatalog(CATALOG_NAME, uri=catalog.uri, warehouse=catalog.warehouse)
    cat.create_namespace("final")
    table = cat.create_table(
        "final.shop_daily_product_sales",
        SCHEMA,
        location=catalog.table_location("final", "shop_daily_product_sales"),
    )
    start = dt.date(2026, 10, 3)
    per_append = rows // 6
    for part in range(6):
        n = range(part * per_append, (part + 1) * per_append)
        table.append(
            pa.table(
                {
                    "dt": [start + dt.timedelta(days=i % 60) for i in n],
                    "product_id": [f"p{i % 5000:04d}" for i in n],
                    "units": [1 + i % 7 for i in n],
                    "orders": [1 + i % 3 for i in n],
                    "revenue_cents": [(1 + i % 7) * 250 for i in n],
                },
                schema=SCHEMA,
            )
        )
    return catalog


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print(
        f"bench_access {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; {platform.machine()}, "
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; Python {platform.python_version()}"
    )
    policy = load_policy()
    with tempfile.TemporaryDirectory(prefix="bench-access-") as tmp:
        started = time.perf_counter()
        catalog = build(Path(tmp), args.rows)
        store = LocalObjectStore(tmp)
        print(f"setup: {args.rows:,} rows in 6 files, {time.perf_counter() - started:.1f} s (not timed)")
        run_sql(store, "SELECT 1", catalog=catalog)  # warm-up: imports, extension loading
        print(f"\n{'query':<26} {'unrestricted':>13} {'as marketing':>13} {'ratio':>7}")
        ratios = []
        for label, sql in QUERIES.items():
            plain: list[float] = []
            restricted: list[float] = []
            for _ in range(args.repeat):
                for principal, times in ((None, plain), ("marketing", restricted)):
                    t0 = time.perf_counter()
                    run_sql(
                        store, sql, catalog=catalog, principal=principal, policy=policy if principal else None
                    )
                    times.append(time.perf_counter() - t0)
            a, b = statistics.median(plain), statistics.median(restricted)
            ratios.append(b / a)
            print(f"{label:<26} {a * 1000:>10.0f} ms {b * 1000:>10.0f} ms {b / a:>6.2f}x")
        ratio = statistics.median(ratios)
        print(f"\nmedian ratio {ratio:.2f}x (aim <= 1.2x); medians of {args.repeat} runs each")


if __name__ == "__main__":
    main()
