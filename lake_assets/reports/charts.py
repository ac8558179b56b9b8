"""The reports' Vega-Lite charts, built with Altair from pandas frames and the reports' specs (``specs.py``).

The Altair chart here and the QuickSight visual (``reports/quicksight.py``) are both built from the same
``ReportSpec``, so the two cannot drift apart. No Dagster, no Spark, no storage: frames in, a Vega-Lite spec
(a dict) out.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from lake_assets.reports.specs import CDC_FRESHNESS, NO_COMMIT, ReportSpec

WIDTH, HEIGHT = 720, 400  # the PNG's size at scale 1 (autosize "fit" makes the whole image this size)
WINDOW_DAYS = 90  # the days a time chart shows, ending at the newest day in the data
TOP_SERIES = 8  # more series than this: the rest are summed as "other" (a legend stays readable)
OTHER = "other"
NO_DATA = "no data yet"
NO_CDC_DATA = "no CDC table committed yet"
VL_VERSION = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])  # the Vega-Lite Altair writes: "6.4"


def _frame(title: str, read_as: str | None) -> dict:
    """Top-level properties: the size of the whole image (autosize "fit", padding included), the title, and
    whose view of the data it is."""
    subtitle = f"as {read_as} may read it (access policy)" if read_as else alt.Undefined
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "title": alt.TitleParams(title, subtitle=subtitle),
        "autosize": alt.AutoSizeParams(type="fit", contains="padding"),
    }


def with_note(chart: alt.TopLevelMixin, note: str) -> alt.LayerChart:
    """The chart with a line of text in its middle: an empty report says why it is empty."""
    text = (
        alt.Chart(pd.DataFrame({"note": [note]}))
        .mark_text(fontSize=16, color="#666")
        # In the middle of the plot area, whatever room the axes and legend leave it.
        .encode(text="note:N", x=alt.value(alt.expr("width / 2")), y=alt.value(alt.expr("height / 2")))
    )
    return alt.layer(chart, text)


def last_days(frame: pd.DataFrame, column: str, days: int = WINDOW_DAYS) -> pd.DataFrame:
    """Rows of the ``days`` days ending at the newest day present (not at today: a re-render of the same
    data draws the same chart, and a lake whose data stopped still shows its last weeks)."""
    if frame.empty:
        return frame
    day = pd.to_datetime(frame[column])
    return frame[day > day.max() - pd.Timedelta(days=days)]


def top_series(frame: pd.DataFrame, spec: ReportSpec, keep: int = TOP_SERIES) -> pd.DataFrame:
    """The ``keep`` series with the largest total of the first measure; the others summed as ``other``."""
    if spec.series is None or frame[spec.series].nunique() <= keep:
        return frame
    first = spec.measures[0].column
    top = frame.groupby(spec.series)[first].sum().nlargest(keep).index
    named = frame[spec.series].where(frame[spec.series].isin(top), OTHER)
    columns = [m.column for m in spec.measures]
    return frame.assign(**{spec.series: named}).groupby([spec.x, spec.series], as_index=False)[columns].sum()


def time_chart(
    spec: ReportSpec, frame: pd.DataFrame, read_as: str | None = None
) -> alt.Chart | alt.LayerChart:
    """A chart of the spec's measures per day: stacked bars by series, or one line per measure."""
    rows = top_series(last_days(frame, spec.x), spec)
    data = pd.DataFrame({"day": pd.to_datetime(rows[spec.x]).dt.strftime("%Y-%m-%d")})
    for m in spec.measures:
        data[m.name] = rows[m.column].astype("float64") * m.scale
    if spec.series:
        data[spec.series] = rows[spec.series].astype("string")
    # Days as bands (one bar per day, one label per day; labels that would overlap are left out).
    axis = alt.Axis(format="%b %d", labelAngle=0, labelOverlap=True)
    x = alt.X("utcyearmonthdate(day):O", title="Day (UTC)", axis=axis)
    if len(spec.measures) > 1:  # one line per measure, in the spec's order (the funnel's steps)
        order = [m.label for m in spec.measures]
        data = data.rename(columns={m.name: m.label for m in spec.measures})
        chart = alt.Chart(data).transform_fold(order, as_=["step", "value"])
        y = alt.Y("value:Q", title=spec.measures[0].label)
        color = alt.Color("step:N", title="Step", sort=order, scale=alt.Scale(domain=order))
        tooltip = [
            alt.Tooltip("utcyearmonthdate(day):O", title="Day", format="%Y-%m-%d"),
            "step:N",
            "value:Q",
        ]
    else:
        m = spec.measures[0]
        chart = alt.Chart(data)
        y = alt.Y(f"sum({m.name}):Q", title=m.label, stack="zero" if spec.mark == "bar" else None)
        color = alt.Color(f"{spec.series}:N", title=spec.series_label) if spec.series else alt.Undefined
        tooltip = [
            alt.Tooltip("utcyearmonthdate(day):O", title="Day", format="%Y-%m-%d"),
            *([alt.Tooltip(f"{spec.series}:N", title=spec.series_label)] if spec.series else []),
            alt.Tooltip(f"sum({m.name}):Q", title=m.label, format=",.2f" if m.scale != 1 else ","),
        ]
    mark = chart.mark_bar() if spec.mark == "bar" else chart.mark_line(point=True)
    drawn = mark.encode(x=x, y=y, color=color, tooltip=tooltip)
    return (with_note(drawn, NO_DATA) if data.empty else drawn).properties(**_frame(spec.title, read_as))


def freshness_chart(
    spec: ReportSpec, frame: pd.DataFrame, expected_hours: float, read_as: str | None = None
) -> alt.LayerChart:
    """Horizontal bars of hours since each table's last commit, a rule at the expectation; a table with no
    commit yet is listed with status ``NO_COMMIT`` (and no bar); with no commit at all, a note says so."""
    data = frame.assign(age_hours=frame["age_hours"].astype("float64"))
    y = alt.Y("table:N", title=None, sort="-x")
    status = alt.Color(
        "status:N",
        title=spec.series_label,
        scale=alt.Scale(domain=["fresh", "overdue", NO_COMMIT], range=["#4c78a8", "#e45756", "#aaa"]),
    )
    bars = (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X("age_hours:Q", title=spec.measures[0].label),
            y=y,
            color=status,
            tooltip=["table:N", "status:N", "last_commit:N", alt.Tooltip("age_hours:Q", format=",.1f")],
        )
    )
    rule = (
        alt.Chart(pd.DataFrame({"expected": [expected_hours]}))
        .mark_rule(strokeDash=[4, 4], color="#666")
        .encode(x="expected:Q")
    )
    nothing = data.empty or (data["status"] == NO_COMMIT).all()
    layers = [bars, rule] + ([with_note(bars, NO_CDC_DATA).layer[1]] if nothing else [])
    return alt.layer(*layers).properties(
        **_frame(f"{spec.title} (expected within {expected_hours:g} h)", read_as)
    )


def chart_for(
    spec: ReportSpec, frame: pd.DataFrame, *, expected_hours: float = 26.0, read_as: str | None = None
) -> dict:
    """The report's Vega-Lite spec (a dict with the rows inlined) for ``frame``, subtitled with the
    principal whose view ``frame`` is."""
    if spec.name == CDC_FRESHNESS.name:
        return freshness_chart(spec, frame, expected_hours, read_as).to_dict()
    return time_chart(spec, frame, read_as).to_dict()
