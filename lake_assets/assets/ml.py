"""final/ml/*: the ML data sets as assets: feature table, splits exported for SageMaker, a baseline model.

Partitioning: the feature table is daily (a day's rows are rebuilt on their own, a range of days in one
run: single-run backfills), but it is not eager: a day's label needs the 7 days after it and its features
the 27 before, so it is rebuilt on demand or by a backfill of a range (the upstream mapping says which
event days a feature day reads). The splits and the model are unpartitioned: each is a function of the
whole labelled table (a split by time needs every day at once).
"""

import warnings
from collections.abc import Iterator, Sequence

import dagster as dg

from lake_assets.access.policy import AccessDenied, Policy
from lake_assets.assets.keys import history_key, intermediate_event_key
from lake_assets.assets.partitions import DAILY, SINGLE_RUN
from lake_assets.assets.table_commit import committed_results
from lake_assets.layers.cdc import history_table
from lake_assets.ml.datasets import (
    DATASET,
    DatasetError,
    consumer,
    export_splits,
    manifest_key,
    read_manifest,
)
from lake_assets.ml.features import CHECKS, EVENT_INPUTS, FEATURE_TABLE, run_features
from lake_assets.ml.model import MIN_AUC_LIFT, read_split, save_model, train_and_evaluate
from lake_assets.resources.lake import LakeResource
from lake_assets.resources.spark import SparkResource
from lake_assets.sources.cdc.specs import CdcTableSpec
from lake_assets.transforms.features import LABEL_DAYS, SPLITS, WINDOWS

FEATURES_KEY = dg.AssetKey(["final", "ml", "customer_day_features"])
SPLITS_KEY = dg.AssetKey(["final", "ml", DATASET])
MODEL_KEY = dg.AssetKey(["final", "ml", f"{DATASET}_baseline"])
BASELINE_CHECK = "beats_trivial_baseline"
CUSTOMERS = ("shop", "customers")  # the CDC table whose history gives the customer attributes
# Feature day D reads event days D-27 .. D+7; near either end of the partitions some of them do not exist.
with warnings.catch_warnings():  # the flag is marked beta in Dagster 1.13; the mapping needs it
    warnings.simplefilter("ignore", dg.BetaWarning)
    EVENT_WINDOW = dg.TimeWindowPartitionMapping(
        start_offset=-(max(WINDOWS) - 1), end_offset=LABEL_DAYS, allow_nonexistent_upstream_partitions=True
    )


def build_features_asset(customers: CdcTableSpec) -> dg.AssetsDefinition:
    history = history_table(customers)

    @dg.asset(
        key=FEATURES_KEY,
        deps=[
            *(
                dg.AssetDep(intermediate_event_key(s), partition_mapping=EVENT_WINDOW)
                for s in EVENT_INPUTS.values()
            ),
            history_key(customers),
        ],
        group_name="ml",
        kinds={"spark", "iceberg"},
        partitions_def=DAILY,
        backfill_policy=SINGLE_RUN,
        description=(
            "Per customer and day: orders, spend, sessions and abandoned carts over the trailing 7 and 28 "
            "days, the customer's attributes as they were that day (SCD2 history), and the label 'orders in "
            f"the next 7 days'. Point in time correct (docs/ML.md). Iceberg `{FEATURE_TABLE.identifier}`."
        ),
        metadata={"dagster/table_name": FEATURE_TABLE.identifier},
        check_specs=[c.spec(FEATURES_KEY) for c in CHECKS],
    )
    def customer_day_features(
        context: dg.AssetExecutionContext, lake: LakeResource, spark: SparkResource
    ) -> Iterator[dg.AssetCheckResult | dg.MaterializeResult]:
        days = context.partition_keys
        session = spark.lake_session(lake.catalog)
        outcome = run_features(session, lake.catalog, lake.registry, history, days)
        yield from committed_results(outcome, lake.catalog, FEATURE_TABLE, {"partitions": len(days)})

    return customer_day_features


def build_splits_asset(policy: Policy) -> dg.AssetsDefinition:
    reader = policy.read_as.get(consumer(), "nobody yet (add it under read_as)")

    @dg.asset(
        key=SPLITS_KEY,
        deps=[FEATURES_KEY],
        group_name="ml",
        kinds={"spark", "csv", "sagemaker"},
        description=(
            "Train / validation / test by feature day (the 7 days after train and after validation are in "
            "no split), as headerless CSV with the label first under final/ml/<dataset>/<split>/ "
            "(SageMaker's built-in algorithms' layout) and manifest.json, read as "
            f"`{reader}` may read the feature table (the access policy's read_as). Skipped (with the "
            "reason in the log) while the table has too few labelled days."
        ),
        output_required=False,
    )
    def customer_orders_splits(
        context: dg.AssetExecutionContext, lake: LakeResource, spark: SparkResource
    ) -> Iterator[dg.MaterializeResult]:
        try:
            manifest = export_splits(spark.lake_session(lake.catalog), lake.store, policy)
        except AccessDenied as exc:
            raise dg.Failure(description=f"final/ml/{DATASET}: {exc}") from None
        except DatasetError as exc:
            # A young lake (the demo's 3 days) has no 17 labelled days yet: nothing to export, which is not
            # a failure of the run that materializes everything; the model below is skipped with it.
            context.log.warning(f"final/ml/{DATASET}: not exported: {exc}")
            return
        metadata: dict[str, object] = {
            "features_snapshot_id": str(manifest.snapshot_id),
            "manifest": dg.MetadataValue.path(lake.store.uri(manifest_key())),
            "columns": ", ".join(manifest.columns),
            "read_as": manifest.read_as,
            "dagster/row_count": sum(s.rows for s in manifest.splits.values()),
        }
        for name, info in manifest.splits.items():
            metadata |= {
                f"{name}_rows": info.rows,
                f"{name}_positives": info.positives,
                f"{name}_days": f"{info.first_day} .. {info.last_day}",
                f"{name}_uri": dg.MetadataValue.path(info.uri),
            }
        yield dg.MaterializeResult(metadata=metadata)

    return customer_orders_splits


@dg.asset(
    key=MODEL_KEY,
    deps=[SPLITS_KEY],
    group_name="ml",
    kinds={"scikitlearn"},
    description=(
        "Logistic regression (scikit-learn) on the train split, scored on validation and test against the "
        "trivial baseline (the train base rate); the model and metrics.json under final/ml/<dataset>/model/."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            BASELINE_CHECK,
            asset=MODEL_KEY,
            description=f"Validation AUC >= {0.5 + MIN_AUC_LIFT} and log loss below the train base rate's",
        )
    ],
)
def customer_orders_baseline(lake: LakeResource) -> dg.MaterializeResult:
    store = lake.store
    try:
        manifest = read_manifest(store)
        splits = [read_split(store, manifest, s) for s in SPLITS]
        model, evaluation = train_and_evaluate(*splits)
    except (DatasetError, ValueError) as exc:
        raise dg.Failure(description=f"baseline model: {exc}") from exc
    prefix = save_model(store, model, evaluation, manifest)
    figures = evaluation.metadata()
    return dg.MaterializeResult(
        metadata={**figures, "model": dg.MetadataValue.path(store.uri(prefix + "model.pkl"))},
        check_results=[
            dg.AssetCheckResult(
                check_name=BASELINE_CHECK,
                passed=evaluation.beats_baseline,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={k: v for k, v in figures.items() if k.startswith("validation")},
            )
        ],
    )


def build_ml_assets(cdc_specs: Sequence[CdcTableSpec], policy: Policy) -> list[dg.AssetsDefinition]:
    """The ML assets, when the CDC tables include the shop's customers (their history gives attributes);
    the export reads as the policy's ``read_as`` principal for it."""
    customers = [s for s in cdc_specs if (s.source, s.table) == CUSTOMERS]
    if not customers:
        return []
    return [build_features_asset(customers[0]), build_splits_asset(policy), customer_orders_baseline]
