"""A principal's view applied outside ``lake query``: Arrow data (the reports) and Spark frames (the ML
export) give the same rows and columns for the same ``TableAccess``."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from lake_assets.access.policy import TableAccess
from lake_assets.access.views import restricted_arrow, restricted_frame, select_sql

DATA = pa.table(
    {
        "dt": [dt.date(2026, 10, 31), dt.date(2026, 11, 1), dt.date(2026, 11, 2)],
        "product_id": ["a", "b", "c"],
        "revenue_cents": [100, 200, 300],
        "region": ["eu", "us", "eu"],
    }
)
ACCESSES = [
    TableAccess("final.t"),
    TableAccess("final.t", exclude=("revenue_cents",), row_filter="dt >= DATE '2026-11-01'"),
    # The filter names a column the principal does not see (as Lake Formation's data cells filters allow).
    TableAccess("final.t", include=("dt", "product_id"), row_filter="region = 'eu'"),
]


def test_select_sql_projects_and_filters() -> None:
    access = TableAccess("final.t", exclude=("revenue_cents", 'we"ird'), row_filter="x > 1")
    assert select_sql(access, '"final"."t"') == (
        'SELECT * EXCLUDE ("revenue_cents", "we""ird") FROM "final"."t" WHERE (x > 1)'
    )
    assert select_sql(access, "s", ["dt"]) == 'SELECT "dt" FROM s WHERE (x > 1)'


@pytest.mark.parametrize("access", ACCESSES)
def test_arrow_and_spark_give_the_same_view(spark, access: TableAccess) -> None:
    columns = ["dt", "product_id"]
    arrow = restricted_arrow(access, DATA, columns).to_pylist()
    frame = restricted_frame(access, spark.createDataFrame(DATA.to_pandas()), columns)
    assert sorted(arrow, key=str) == sorted((r.asDict() for r in frame.collect()), key=str)
    # Independently: the rows the filter keeps, by hand.
    keep = {
        None: {"a", "b", "c"},
        "dt >= DATE '2026-11-01'": {"b", "c"},
        "region = 'eu'": {"a", "c"},
    }[access.row_filter]
    assert {r["product_id"] for r in arrow} == keep


def test_a_hidden_column_is_never_returned() -> None:
    access = TableAccess("final.t", exclude=("revenue_cents",))
    with pytest.raises(ValueError, match="revenue_cents hidden by the policy"):
        restricted_arrow(access, DATA, ["dt", "revenue_cents"])
    assert access.hidden(["dt", "revenue_cents"]) == ["revenue_cents"]
    assert TableAccess("final.t", include=("dt",)).hidden(["dt", "region"]) == ["region"]
