"""Rendering time per report chart (Vega-Lite through vl-convert), PNG and HTML, against a trivial chart.

Prints figures; never a timed test. Run from the repo root:

    .venv/bin/python bench/bench_reports.py [--days 90] [--products 50] [--repeat 7]

Setup (not timed): frames shaped like each report's source over a full window (``--days`` days;
``--products`` products a day for sales, 8 quarantine reason kinds a day, 11 CDC tables). The baseline,
timed in the same run and interleaved with the others, is a one-mark chart (a single bar, one row): what
vl-convert costs for any chart at all. Timed, ``--repeat`` times each (medians): building the spec from the
frame (Altair), ``render_png`` (vl-convert, then ``compact_png``: the size before and after is printed)
and ``render_html`` (the Vega libraries inlined). The first render of the
process (vl-convert starting its JavaScript engine) is printed on its own.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import altair as alt  # noqa: E402
import pandas as pd  # noqa: E402
import vl_convert as vlc  # noqa: E402

from lake_assets.reports.charts import VL_VERSION, chart_for  # noqa: E402
from lake_assets.reports.render import compact_png, render_html, render_png  # noqa: E402
from lake_assets.reports.specs import CDC_FRESHNESS, FUNNEL, QUARANTINE, SALES  # noqa: E402


def frames(days: int, products: int) -> dict[str, tuple]:
    first = dt.date(2026, 11, 30) - dt.timedelta(days=days - 1)
    dates = [first + dt.timedelta(days=n) for n in range(days)]
    sales = pd.DataFrame(
        [(d, f"p{p:03d}", 1, 2, 100 * (p + 1)) for d in dates for p in range(products)],
        columns=["dt", "product_id", "orders", "units", "revenue_cents"],
    )
    funnel = pd.DataFrame(
        [(d, 40_000, 20_000, 6_000, 1_500) for d in dates],
        columns=[
            "dt",
            "sessions",
            "sessions_with_product_view",
            "sessions_with_cart_add",
            "sessions_with_order",
        ],
    )
    quarantine = pd.DataFrame(
        [(d.isoformat(), f"kind_{k}", k + 1) for d in dates for k in range(8)],
        columns=["day", "kind", "records"],
    )
    fresh = pd.DataFrame(
        [(f"intermediate.cdc_shop_t{n}", "fresh", "", float(n)) for n in range(11)],
        columns=["table", "status", "last_commit", "age_hours"],
    )
    return {
        "daily_sales": (SALES, sales),
        "daily_funnel": (FUNNEL, funnel),
        "quarantine": (QUARANTINE, quarantine),
        "cdc_freshness": (CDC_FRESHNESS, fresh),
    }


def baseline_spec() -> dict:
    return alt.Chart(pd.DataFrame({"x": ["a"], "y": [1]})).mark_bar().encode(x="x:N", y="y:Q").to_dict()


def timed(fn, *args) -> float:  # noqa: ANN001
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--products", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"Vega-Lite {VL_VERSION}; {args.days} days, {args.products} products, {args.repeat} repeats"
    )
    base = baseline_spec()
    print(f"first PNG render of the process (engine start): {timed(render_png, base) * 1000:.0f} ms")
    print(f"first HTML render of the process: {timed(render_html, base) * 1000:.0f} ms")
    cases = frames(args.days, args.products)
    specs = {name: chart_for(spec, frame) for name, (spec, frame) in cases.items()}
    times: dict[str, dict[str, list[float]]] = {
        n: {"spec": [], "png": [], "html": []} for n in ["baseline", *cases]
    }
    for _ in range(args.repeat):  # interleaved: drift hits every chart alike
        times["baseline"]["spec"].append(timed(baseline_spec))
        times["baseline"]["png"].append(timed(render_png, base))
        times["baseline"]["html"].append(timed(render_html, base))
        for name, (spec, frame) in cases.items():
            times[name]["spec"].append(timed(chart_for, spec, frame))
            times[name]["png"].append(timed(render_png, specs[name]))
            times[name]["html"].append(timed(render_html, specs[name]))
    med = {n: {k: statistics.median(v) * 1000 for k, v in t.items()} for n, t in times.items()}
    print(
        f"\n{'chart':<16} {'rows':>6} {'spec ms':>8} {'PNG ms':>8} {'x base':>7} {'HTML ms':>8} {'x base':>7}"
    )
    for name, m in med.items():
        rows = 1 if name == "baseline" else len(cases[name][1])
        png, html = m["png"] / med["baseline"]["png"], m["html"] / med["baseline"]["html"]
        print(
            f"{name:<16} {rows:>6} {m['spec']:>8.1f} {m['png']:>8.1f} {png:>7.2f}"
            f" {m['html']:>8.1f} {html:>7.2f}"
        )
    print(f"\n{'chart':<16} {'PNG as rendered':>16} {'compacted':>10}")
    for name, spec in {"baseline": base, **specs}.items():
        rendered = vlc.vegalite_to_png(spec, vl_version=VL_VERSION)
        print(f"{name:<16} {len(rendered) / 1024:>13.0f} KB {len(compact_png(rendered)) / 1024:>7.0f} KB")
    total = sum(m["spec"] + m["png"] + m["html"] for n, m in med.items() if n != "baseline")
    print(f"\nall four reports (spec + PNG + HTML): {total:.0f} ms")


if __name__ == "__main__":
    main()
