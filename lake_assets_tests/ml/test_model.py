"""The baseline model's metrics against the trivial baseline, and its check, on synthetic matrices."""

from __future__ import annotations

import numpy as np
import pytest

from lake_assets.ml.model import train_and_evaluate


def _matrix(rng: np.random.Generator, rows: int, informative: bool) -> np.ndarray:
    x = rng.normal(size=(rows, 5))
    # informative: the label follows feature 0; otherwise it is independent of every feature
    p = 1 / (1 + np.exp(-(2.0 * x[:, 0] - 1.0))) if informative else np.full(rows, 0.3)
    y = (rng.random(rows) < p).astype(float)
    return np.column_stack([y, x])


def test_an_informative_model_beats_the_base_rate() -> None:
    rng = np.random.default_rng(1)
    _, ev = train_and_evaluate(*(_matrix(rng, n, True) for n in (2000, 600, 600)))
    assert ev.beats_baseline
    assert ev.validation.auc > 0.75 and ev.test.auc > 0.75
    assert ev.validation.log_loss < ev.validation.baseline_log_loss
    base = ev.train_base_rate
    y = _matrix(np.random.default_rng(1), 2000, True)[:, 0]  # the same train labels, rebuilt
    assert base == pytest.approx(y.mean())
    expected = -(
        ev.validation.positive_rate * np.log(base) + (1 - ev.validation.positive_rate) * np.log(1 - base)
    )
    assert ev.validation.baseline_log_loss == pytest.approx(expected)  # the constant's log loss, by hand


@pytest.mark.parametrize("seed", [2, 3, 4])
def test_on_random_labels_the_model_does_not_beat_the_baseline(seed: int) -> None:
    rng = np.random.default_rng(seed)
    _, ev = train_and_evaluate(*(_matrix(rng, n, False) for n in (2000, 1500, 600)))
    assert not ev.beats_baseline, ev


def test_a_split_with_one_class_is_a_clear_error() -> None:
    rng = np.random.default_rng(5)
    train = _matrix(rng, 200, True)
    one_class = _matrix(rng, 50, True)
    one_class[:, 0] = 0
    with pytest.raises(ValueError, match="both classes"):
        train_and_evaluate(train, one_class, train)
    with pytest.raises(ValueError, match="both classes"):
        train_and_evaluate(one_class, train, train)
