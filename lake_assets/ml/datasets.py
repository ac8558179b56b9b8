"""Splits by time of the feature table, exported in the layout SageMaker's built-in algorithms read.

``final/ml/<dataset>/<split>/part-00000.csv``: CSV, no header, the label in the first column (XGBoost and
Linear Learner with ``text/csv``), one prefix per channel; ``final/ml/<dataset>/manifest.json`` names the
columns, row counts, day ranges and the principal the export read as. The export reads the feature table as
the access policy's ``read_as`` principal for ``final/ml/<dataset>`` (its row filter applies; a column the
matrix needs that it may not read refuses the export): the files hold only what that principal may read,
whoever reads the bucket prefix (the SageMaker role). Each split's prefix is replaced as a whole
(``publish_dir``), then the manifest is written last, so a reader that follows the manifest never sees a mix
of two exports.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lake_assets.access.policy import Policy
from lake_assets.access.views import restricted_frame
from lake_assets.ml import DATASET
from lake_assets.ml.features import FEATURE_TABLE
from lake_assets.storage import ObjectStore, Zone
from lake_assets.storage.zones import zone_prefix
from lake_assets.tables.iceberg import current_snapshot_id, qualified, table_exists
from lake_assets.transforms.features import (
    LABEL,
    LABEL_DAYS,
    MATRIX_COLUMNS,
    MATRIX_INPUTS,
    SPLITS,
    model_matrix,
    split_days,
    with_split,
)

CONTENT_TYPE = "text/csv"
PART = "part-00000.csv"


class DatasetError(ValueError):
    """The feature table cannot give the data sets (missing, too few labelled days); the message says why."""


def dataset_prefix(dataset: str = DATASET) -> str:
    """``final/ml/<dataset>/``."""
    return zone_prefix(Zone.FINAL, "ml", dataset)


def split_prefix(split: str, dataset: str = DATASET) -> str:
    """``final/ml/<dataset>/<split>/``: one SageMaker channel."""
    return dataset_prefix(dataset) + f"{split}/"


def manifest_key(dataset: str = DATASET) -> str:
    return dataset_prefix(dataset) + "manifest.json"


@dataclass
class SplitInfo:
    prefix: str
    uri: str
    rows: int
    positives: int
    first_day: str
    last_day: str


@dataclass
class Manifest:
    dataset: str
    table: str
    snapshot_id: int | None
    content_type: str
    label: str
    columns: list[str]
    gap_days: int
    read_as: str = ""
    splits: dict[str, SplitInfo] = field(default_factory=dict)

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2).encode() + b"\n"

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        raw: dict[str, Any] = json.loads(data)
        raw["splits"] = {k: SplitInfo(**v) for k, v in raw["splits"].items()}
        return cls(**raw)


def read_manifest(store: ObjectStore, dataset: str = DATASET) -> Manifest:
    key = manifest_key(dataset)
    if not store.exists(key):
        raise DatasetError(
            f"no data sets at {store.uri(dataset_prefix(dataset))}: materialize final/ml/{dataset} first"
        )
    return Manifest.from_json(store.get_bytes(key))


def consumer(dataset: str = DATASET) -> str:
    """The data set's asset key as the policy's ``read_as`` names it."""
    return f"final/ml/{dataset}"


def labelled_rows(session: SparkSession, policy: Policy, dataset: str = DATASET) -> tuple[DataFrame, str]:
    """The labelled rows of the feature table as the data set's reader may read them, and the reader."""
    principal, access = policy.consumer_view(consumer(dataset), FEATURE_TABLE.identifier, MATRIX_INPUTS)
    if not table_exists(session, FEATURE_TABLE):
        raise DatasetError(
            f"{FEATURE_TABLE.identifier} does not exist: materialize final/ml/customer_day_features first"
        )
    rows = restricted_frame(access, session.table(qualified(FEATURE_TABLE)), MATRIX_INPUTS)
    return rows.where(F.col(LABEL).isNotNull()), principal


def _csv(frame: DataFrame) -> tuple[bytes, int, int]:
    """The split's model matrix as headerless CSV in (dt, customer_id) order; (bytes, rows, positives)."""
    pdf = model_matrix(frame.orderBy("dt", "customer_id")).toPandas()
    out = io.StringIO()
    pdf.to_csv(out, header=False, index=False, lineterminator="\n")
    return out.getvalue().encode(), len(pdf), int(pdf[LABEL].sum()) if len(pdf) else 0


def export_splits(
    session: SparkSession, store: ObjectStore, policy: Policy, dataset: str = DATASET, gap: int = LABEL_DAYS
) -> Manifest:
    """Split the labelled feature rows (as the data set's reader may read them) by day (``split_days``),
    write each split's CSV, then the manifest. ``AccessDenied`` when the reader may not read them."""
    rows, principal = labelled_rows(session, policy, dataset)
    first, last = rows.agg(F.min("dt"), F.max("dt")).first()
    if first is None:
        raise DatasetError(
            f"{FEATURE_TABLE.identifier} has no labelled rows: a day is labelled once the {LABEL_DAYS} days "
            "after it are in the lake"
        )
    try:
        ranges = split_days(first, last, gap=gap)
    except ValueError as exc:
        raise DatasetError(f"{FEATURE_TABLE.identifier}: {exc}") from exc
    split_rows = with_split(rows, ranges).cache()
    try:
        manifest = Manifest(
            dataset,
            FEATURE_TABLE.identifier,
            current_snapshot_id(session, FEATURE_TABLE),
            CONTENT_TYPE,
            LABEL,
            list(MATRIX_COLUMNS),
            gap,
            principal,
        )
        for split in SPLITS:
            data, count, positives = _csv(split_rows.where(F.col("split") == split))
            prefix = split_prefix(split, dataset)
            with store.staging_dir() as staged:
                (staged / PART).write_bytes(data)
                store.publish_dir(staged, prefix)
            start, end = ranges[split]
            manifest.splits[split] = SplitInfo(
                prefix, store.uri(prefix), count, positives, start.isoformat(), end.isoformat()
            )
    finally:
        split_rows.unpersist()
    store.put_bytes(manifest_key(dataset), manifest.to_json())
    return manifest
