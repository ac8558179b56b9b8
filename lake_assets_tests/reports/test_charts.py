"""Chart specs from data (pure functions: frames in, Vega-Lite out), rendering, and the quarantine reader."""

from __future__ import annotations

import datetime as dt

import orjson
import pandas as pd
import pytest

from lake_assets.reports.charts import (
    HEIGHT,
    NO_CDC_DATA,
    NO_DATA,
    OTHER,
    TOP_SERIES,
    WIDTH,
    WINDOW_DAYS,
    chart_for,
    last_days,
)
from lake_assets.reports.data import UNREADABLE, read_quarantine
from lake_assets.reports.render import png_size, render_html, render_png
from lake_assets.reports.specs import CDC_FRESHNESS, FUNNEL, QUARANTINE, SALES
from lake_assets.settings import SettingsError, load_quicksight_settings
from lake_assets.sources.quarantine import quarantine_record
from lake_assets.storage.object_store import LocalObjectStore


def inline_rows(spec: dict) -> list[dict]:
    """The rows a Vega-Lite spec carries inline (Altair puts them under ``datasets``), all layers."""
    return [row for rows in spec.get("datasets", {}).values() for row in rows if "note" not in row]


def texts(spec: dict) -> list[str]:
    return [row["note"] for rows in spec.get("datasets", {}).values() for row in rows if "note" in row]


def sales_frame(days: list[dt.date], products: int) -> pd.DataFrame:
    rows = [(d, f"p{n}", 1, 1, 100 * (n + 1)) for d in days for n in range(products)]
    return pd.DataFrame(rows, columns=["dt", "product_id", "orders", "units", "revenue_cents"])


def test_sales_chart_scales_cents_and_folds_small_products_into_other() -> None:
    day = dt.date(2026, 11, 20)
    frame = sales_frame([day], TOP_SERIES + 3)
    spec = chart_for(SALES, frame)
    rows = inline_rows(spec)
    by_product = {r["product_id"]: r["revenue"] for r in rows}
    assert len(by_product) == TOP_SERIES + 1 and OTHER in by_product
    # The top products keep their own revenue (cents / 100); the three smallest are summed as "other".
    assert by_product[f"p{TOP_SERIES + 2}"] == pytest.approx((TOP_SERIES + 3) * 100 / 100)
    assert by_product[OTHER] == pytest.approx(sum(range(1, 4)))
    assert sum(by_product.values()) == pytest.approx(frame["revenue_cents"].sum() / 100)
    assert spec["mark"]["type"] == "bar" and spec["encoding"]["color"]["field"] == "product_id"
    assert (spec["width"], spec["height"]) == (WIDTH, HEIGHT) and not texts(spec)


def test_funnel_chart_draws_one_line_per_step_in_funnel_order() -> None:
    frame = pd.DataFrame(
        [(dt.date(2026, 11, 20), 100, 60, 20, 5)],
        columns=[
            "dt",
            "sessions",
            "sessions_with_product_view",
            "sessions_with_cart_add",
            "sessions_with_order",
        ],
    )
    spec = chart_for(FUNNEL, frame)
    [row] = inline_rows(spec)
    assert row == {
        "day": "2026-11-20",
        "Sessions": 100,
        "Viewed a product": 60,
        "Added to cart": 20,
        "Ordered": 5,
    }
    fold = next(t for t in spec["transform"] if "fold" in t)
    assert fold["fold"] == ["Sessions", "Viewed a product", "Added to cart", "Ordered"]
    assert spec["encoding"]["color"]["scale"]["domain"] == fold["fold"]
    assert spec["mark"]["type"] == "line"


def test_time_charts_keep_the_last_window_of_days_ending_at_the_newest_day() -> None:
    first = dt.date(2026, 1, 1)
    days = [first + dt.timedelta(days=n) for n in range(WINDOW_DAYS + 10)]
    kept = last_days(sales_frame(days, 1), "dt")
    assert len(kept) == WINDOW_DAYS and kept["dt"].min() == days[10] and kept["dt"].max() == days[-1]
    shown = {r["day"] for r in inline_rows(chart_for(SALES, sales_frame(days, 1)))}
    assert shown == {d.isoformat() for d in days[10:]}


@pytest.mark.parametrize("report", [SALES, FUNNEL, QUARANTINE, CDC_FRESHNESS], ids=lambda r: r.name)
def test_an_empty_source_renders_an_empty_chart_with_a_note(report) -> None:
    columns = ["table", "status", "last_commit", "age_hours"] if report is CDC_FRESHNESS else report.columns
    spec = chart_for(report, pd.DataFrame(columns=list(columns)))
    rows = [r for r in inline_rows(spec) if "expected" not in r]  # the freshness rule's one row is not data
    assert rows == [] and texts(spec) in ([NO_DATA], [NO_CDC_DATA])
    assert png_size(render_png(spec)) == (WIDTH, HEIGHT)


def test_freshness_chart_marks_overdue_tables_against_the_expectation() -> None:
    frame = pd.DataFrame(
        [("intermediate.cdc_a", "fresh", "x", 1.5), ("intermediate.cdc_b", "overdue", "y", 40.0)],
        columns=["table", "status", "last_commit", "age_hours"],
    )
    spec = chart_for(CDC_FRESHNESS, frame, expected_hours=26)
    assert {r["table"]: r["age_hours"] for r in inline_rows(spec) if "table" in r} == {
        "intermediate.cdc_a": 1.5,
        "intermediate.cdc_b": 40.0,
    }
    assert [r["expected"] for r in inline_rows(spec) if "expected" in r] == [26]
    assert "26 h" in spec["title"]["text"]


def test_the_page_is_self_contained_and_carries_the_spec() -> None:
    frame = sales_frame([dt.date(2026, 11, 20)], 1).assign(product_id="product-zeta-42")
    page = render_html(chart_for(SALES, frame))
    assert "<script src=" not in page.replace(" ", "")  # no CDN: the Vega libraries are inlined
    assert "product-zeta-42" in page and "vegaEmbed" in page


def test_png_size_refuses_what_is_not_a_png() -> None:
    with pytest.raises(ValueError, match="not a PNG"):
        png_size(b"GIF89a" + b"\0" * 30)


def test_quarantine_counts_every_record_by_day_and_kind(tmp_path) -> None:
    store = LocalObjectStore(tmp_path)
    received = dt.datetime(2026, 11, 21, 10, tzinfo=dt.UTC).timestamp()
    events = [
        quarantine_record(b"{", "malformed JSON", "malformed_json", "t", received, 1),
        quarantine_record(b"{}", "missing field", "missing_field", "t", received, 2),
        quarantine_record(b"[", "malformed JSON", "malformed_json", "t", received + 86400, 3),
    ]
    store.put_bytes("quarantine/events/2026/11/21/10/shop-1-x.jsonl", b"\n".join(events) + b"\n")
    # A file source's records carry no received_at: the object's write day counts.
    file_record = orjson.dumps(
        {"reason": "bad", "kind": "wrong_type", "source": "products", "line_number": 4}
    )
    store.put_bytes("quarantine/files/products/a.csv/part-00000.jsonl", file_record + b"\nnot json\n\n")
    written = (
        dt.datetime.fromtimestamp(
            (tmp_path / "quarantine/files/products/a.csv/part-00000.jsonl").stat().st_mtime, dt.UTC
        )
        .date()
        .isoformat()
    )
    frame = read_quarantine(store)
    got = {(r.day, r.kind): r.records for r in frame.itertuples()}
    assert got == {
        ("2026-11-21", "malformed_json"): 1,
        ("2026-11-21", "missing_field"): 1,
        ("2026-11-22", "malformed_json"): 1,
        (written, "wrong_type"): 1,
        (written, UNREADABLE): 1,
    }


def test_quarantine_of_an_empty_lake_is_an_empty_frame(tmp_path) -> None:
    frame = read_quarantine(LocalObjectStore(tmp_path))
    assert frame.empty and list(frame.columns) == list(QUARANTINE.columns)


def test_quicksight_settings_name_the_bad_variable() -> None:
    assert load_quicksight_settings({}).account_id is None
    good = load_quicksight_settings(
        {"LAKE_QUICKSIGHT_ACCOUNT_ID": "123456789012", "LAKE_QUICKSIGHT_ID_PREFIX": "shop-lake"}
    )
    assert (good.account_id, good.id_prefix) == ("123456789012", "shop-lake")
    for name, value in (
        ("LAKE_QUICKSIGHT_ACCOUNT_ID", "12345"),
        ("LAKE_QUICKSIGHT_PRINCIPAL_ARN", "arn:aws:iam::123456789012:user/x"),
        ("LAKE_QUICKSIGHT_ID_PREFIX", "a b"),
    ):
        with pytest.raises(SettingsError, match=name):
            load_quicksight_settings({name: value})


def test_compact_png_keeps_every_pixel_and_shrinks_the_file() -> None:
    import zlib

    import vl_convert as vlc

    from lake_assets.reports.charts import VL_VERSION
    from lake_assets.reports.render import compact_png, png_chunks

    days = [dt.date(2026, 9, 1) + dt.timedelta(days=n) for n in range(60)]
    spec = chart_for(SALES, sales_frame(days, 12))
    rendered = vlc.vegalite_to_png(spec, vl_version=VL_VERSION)
    compact = compact_png(rendered)

    def pixels(png: bytes) -> bytes:
        return zlib.decompress(b"".join(data for kind, data in png_chunks(png) if kind == b"IDAT"))

    assert pixels(compact) == pixels(rendered) and png_size(compact) == png_size(rendered)
    kinds = [k for k, _ in png_chunks(rendered)]
    collapsed = [k for i, k in enumerate(kinds) if k != b"IDAT" or kinds[i - 1] != b"IDAT"]
    assert [k for k, _ in png_chunks(compact)] == collapsed  # the other chunks kept, in order
    assert len(compact) < len(rendered) / 3
    with pytest.raises(ValueError, match="truncated"):
        png_chunks(compact[:-5])
