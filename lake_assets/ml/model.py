"""A baseline model on the exported splits: logistic regression (scikit-learn), against the trivial baseline.

It reads the same CSV files SageMaker reads, so the figures describe the data sets as exported. The trivial
baseline predicts the train base rate for every row (AUC 0.5, the log loss of a constant); the model must
beat it on validation to pass ``beats_trivial_baseline``. Why scikit-learn: a convex, deterministic model
that trains on this data in well under a second on one core, with no service, and gives SageMaker's XGBoost
job a floor to compare with.
"""

from __future__ import annotations

import io
import json
import pickle
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from lake_assets.ml.datasets import DATASET, PART, Manifest, dataset_prefix
from lake_assets.storage import ObjectStore

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

# scikit-learn is imported where a model is fitted or scored, not at import: every process that loads the
# Dagster definitions (the code server, the daemon, each run, `lake status`) imports this module, and
# scikit-learn's import alone took 1.3 s of the definitions' 3.4 s.

MIN_AUC_LIFT = 0.02  # validation AUC must exceed 0.5 by this much (random labels stay within it)


@dataclass(frozen=True)
class Scores:
    auc: float
    log_loss: float
    baseline_log_loss: float
    rows: int
    positive_rate: float


@dataclass(frozen=True)
class Evaluation:
    train_rows: int
    train_base_rate: float
    validation: Scores
    test: Scores

    @property
    def beats_baseline(self) -> bool:
        v = self.validation
        return v.auc >= 0.5 + MIN_AUC_LIFT and v.log_loss < v.baseline_log_loss

    def metadata(self) -> dict[str, float | int | bool]:
        """Flat figures for asset metadata."""
        out: dict[str, float | int | bool] = {
            "train_rows": self.train_rows,
            "train_base_rate": round(self.train_base_rate, 6),
            "beats_baseline": self.beats_baseline,
        }
        for name, s in (("validation", self.validation), ("test", self.test)):
            out |= {
                f"{name}_auc": round(s.auc, 6),
                f"{name}_log_loss": round(s.log_loss, 6),
                f"{name}_baseline_log_loss": round(s.baseline_log_loss, 6),
                f"{name}_rows": s.rows,
            }
        return out


def _scores(y: np.ndarray, p: np.ndarray, base_rate: float) -> Scores:
    from sklearn.metrics import log_loss, roc_auc_score

    if len(y) == 0 or len(set(y.tolist())) < 2:
        raise ValueError(
            f"an evaluation split needs both classes; it has {len(y)} row(s), labels {set(y.tolist())}"
        )
    constant = np.full(len(y), base_rate)
    return Scores(
        float(roc_auc_score(y, p)),
        float(log_loss(y, p, labels=[0, 1])),
        float(log_loss(y, constant, labels=[0, 1])),
        len(y),
        float(y.mean()),
    )


def train_and_evaluate(
    train: np.ndarray, validation: np.ndarray, test: np.ndarray, seed: int = 0
) -> tuple[Pipeline, Evaluation]:
    """Fit on train (label in column 0), score validation and test against the train base rate."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y, x = train[:, 0].astype(int), train[:, 1:]
    if len(set(y.tolist())) < 2:
        raise ValueError(
            f"train needs both classes to fit a model; its {len(y)} row(s) are all {set(y.tolist())}"
        )
    base_rate = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=seed))
    model.fit(x, y)

    def score(split: np.ndarray) -> Scores:
        return _scores(split[:, 0].astype(int), model.predict_proba(split[:, 1:])[:, 1], base_rate)

    return model, Evaluation(len(y), base_rate, score(validation), score(test))


def read_split(store: ObjectStore, manifest: Manifest, split: str) -> np.ndarray:
    """A split's CSV as a float matrix (label first), as SageMaker reads it."""
    data = store.get_bytes(manifest.splits[split].prefix + PART)
    width = len(manifest.columns)
    if not data.strip():
        return np.empty((0, width))
    return np.loadtxt(io.BytesIO(data), delimiter=",", ndmin=2)


def model_prefix(dataset: str = DATASET) -> str:
    """``final/ml/<dataset>/model/``: the fitted pipeline and its metrics."""
    return dataset_prefix(dataset) + "model/"


def save_model(store: ObjectStore, model: Pipeline, evaluation: Evaluation, manifest: Manifest) -> str:
    """The pickled pipeline and ``metrics.json`` (with the columns it expects) under the model prefix."""
    prefix = model_prefix(manifest.dataset)
    metrics: dict[str, Any] = {
        "dataset": manifest.dataset,
        "features_snapshot_id": manifest.snapshot_id,
        "columns": manifest.columns,
        **asdict(evaluation),
        "beats_baseline": evaluation.beats_baseline,
    }
    with store.staging_dir() as staged:
        (staged / "model.pkl").write_bytes(pickle.dumps(model))
        (staged / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
        store.publish_dir(staged, prefix)
    return prefix
