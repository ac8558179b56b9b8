"""final/reports/*: the dashboards as assets; the chart shows in the Dagster UI, the page is in the lake.

Each report is one unpartitioned asset over all of its source (a chart shows the last ``WINDOW_DAYS`` days
of data): a day's rerun of a final table changes the same chart, and one asset per report keeps "the chart
is current" a single status in the UI instead of one per day. Reports follow their sources eagerly; unlike
the table assets they also run while older daily partitions of their sources are missing (a lake that
starts today has nothing before today). The CDC freshness report also re-renders hourly, because the ages
it draws grow with the clock, not with commits.
"""

from collections.abc import Sequence

import dagster as dg

from lake_assets.access.policy import AccessDenied, Policy
from lake_assets.assets.keys import current_key, final_key
from lake_assets.assets.partitions import EAGER
from lake_assets.checks.freshness import DAILY_LAG
from lake_assets.reports.specs import (
    CDC_FRESHNESS,
    FUNNEL,
    QUARANTINE,
    REPORTS,
    SALES,
    ReportInputs,
    consumer,
)
from lake_assets.resources.lake import LakeResource
from lake_assets.sources.cdc.specs import CdcTableSpec

REPORT_GROUP = "final"
# Eager on any upstream update, without waiting for every upstream day to exist (the daily partitions start
# on a fixed day, with gaps where no data came) and without the latest-window rule (late days count too).
REPORT_EAGER = EAGER.without(~dg.AutomationCondition.any_deps_missing()).with_label("eager (reports)")
HOURLY = dg.AutomationCondition.cron_tick_passed("0 * * * *") & ~dg.AutomationCondition.in_progress()


def report_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["final", "reports", name])


def cdc_current_tables(specs: Sequence[CdcTableSpec]) -> list[str]:
    """The Iceberg tables of the CDC tables' current state, as the merge names them."""
    from lake_assets.layers.cdc import current_table  # the merge's naming rule (imports Spark's API)

    return [current_table(s).identifier for s in specs]


def _page(store_uri: str) -> dg.MetadataValue:
    return dg.MetadataValue.url(store_uri) if "://" in store_uri else dg.MetadataValue.path(store_uri)


def build_report_asset(
    name: str,
    deps: Sequence[dg.AssetKey],
    condition: dg.AutomationCondition,
    inputs: ReportInputs,
    policy: Policy,
) -> dg.AssetsDefinition:
    spec = REPORTS[name]
    where = f"`{spec.table}`" if spec.table else "the lake"
    reader = policy.read_as.get(consumer(name), "nobody yet (add it under read_as)")

    @dg.asset(
        key=report_key(name),
        deps=list(deps),
        group_name=REPORT_GROUP,
        kinds={"altair", "html"},
        automation_condition=condition,
        description=f"{spec.description} Chart of {where} as `{reader}` may read it (the access "
        f"policy's read_as): PNG and an interactive page under `final/reports/{name}/`.",
    )
    def report(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
        # Altair, pandas and vl-convert load in the run that renders, not in every process that loads this.
        from lake_assets.reports.build import build_report
        from lake_assets.reports.render import png_data_uri

        try:
            built = build_report(name, lake.store, lake.catalog, policy, inputs)
        except AccessDenied as exc:
            raise dg.Failure(description=f"report {name}: {exc}") from None
        width, height = built.rendered.size
        keys = built.rendered.keys
        note = " (no data yet)" if built.rows.empty else ""
        context.log.info(f"report {name}: {len(built.rows)} rows -> {lake.store.uri(keys['html'])}")
        return dg.MaterializeResult(
            metadata={
                "chart": dg.MetadataValue.md(
                    f"![{spec.title}]({png_data_uri(built.rendered.png)})\n\n{spec.description}{note}"
                ),
                "page": _page(lake.store.uri(keys["html"])),
                "image": _page(lake.store.uri(keys["png"])),
                "rows": dg.MetadataValue.int(len(built.rows)),
                "read_as": dg.MetadataValue.text(built.read_as),
                "image_size": dg.MetadataValue.text(f"{width}x{height}"),
            }
        )

    return report


def build_report_assets(
    cdc_specs: Sequence[CdcTableSpec], quarantine_deps: Sequence[dg.AssetKey], policy: Policy
) -> list[dg.AssetsDefinition]:
    """The four reports, each read as its ``read_as`` principal of ``policy``. ``quarantine_deps``: the raw
    assets, whose runs follow every intake batch (the intake writes its quarantine records beside the
    landing batch) and write the file sources' quarantine."""
    freshness = ReportInputs(cdc_current_tables(cdc_specs), DAILY_LAG.total_seconds() / 3600)
    plain = ReportInputs()
    return [
        build_report_asset(SALES.name, [final_key("daily_product_sales")], REPORT_EAGER, plain, policy),
        build_report_asset(FUNNEL.name, [final_key("daily_funnel")], REPORT_EAGER, plain, policy),
        build_report_asset(QUARANTINE.name, quarantine_deps, REPORT_EAGER, plain, policy),
        build_report_asset(
            CDC_FRESHNESS.name, [current_key(s) for s in cdc_specs], REPORT_EAGER | HOURLY, freshness, policy
        ),
    ]
