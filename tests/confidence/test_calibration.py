"""The calibrator: fitted with scikit-learn, stored as numbers, refused when it does not fit."""

import json

import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from toolkit.confidence import CalibrationError, Calibrator
from toolkit.confidence.calibration import MIN_LABELS, MIN_PER_CLASS


def labelled(n: int = 120, seed: int = 1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    y = (x[:, 0] - 0.5 * x[:, 1] + 0.7 * rng.normal(size=n) > 0).astype(int)
    return x, y, [{"a": a, "b": b} for a, b in x]


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_stored_numbers_give_the_same_probabilities_as_scikit_learn(method):
    x, y, rows = labelled()
    calibrator = Calibrator.fit(rows, y, signals=["a", "b"], pipeline_version="v1", method=method)
    reference = CalibratedClassifierCV(
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
        method=method,
        cv=StratifiedKFold(5, shuffle=True, random_state=0),
        ensemble=False,
    ).fit(x, y)
    assert np.allclose(calibrator.predict_many(rows), reference.predict_proba(x)[:, 1], atol=1e-9)
    assert calibrator.labels == 120 and calibrator.positive_rate == y.mean()
    assert calibrator.weights()["a"] > 0 > calibrator.weights()["b"]  # the signs the data was made with


def test_auto_picks_platt_for_a_small_set():
    _, y, rows = labelled()
    assert Calibrator.fit(rows, y, signals=["a", "b"], pipeline_version="v1").method == "sigmoid"


def test_too_few_labels_are_refused_with_the_number_needed():
    _, y, rows = labelled(30)
    with pytest.raises(CalibrationError, match=f"30 .*it needs at least {MIN_LABELS}"):
        Calibrator.fit(rows, y, signals=["a"], pipeline_version="v1")
    _, y, rows = labelled(60)
    y = np.r_[np.ones(55, int), np.zeros(5, int)]
    with pytest.raises(
        CalibrationError, match=f"55 right, 5 wrong.*at least {MIN_PER_CLASS} right and {MIN_PER_CLASS} wrong"
    ):
        Calibrator.fit(rows, y, signals=["a"], pipeline_version="v1")


def test_a_signal_some_runs_lack_gets_its_mean_and_one_most_runs_lack_is_refused():
    _, y, rows = labelled()
    rows[3] = {"a": 1.0, "b": None}  # a fallback tier without log-probabilities, say
    calibrator = Calibrator.fit(rows, y, signals=["a", "b"], pipeline_version="v1")
    mean_b = calibrator.mean[1]
    assert calibrator.predict({"a": 1.0, "b": None}) == calibrator.predict({"a": 1.0, "b": mean_b})
    _, y, rows = labelled()
    lacking = [{"a": r["a"], "b": None if i % 3 else r["b"]} for i, r in enumerate(rows)]  # 80 of 120
    with pytest.raises(CalibrationError, match="signal 'b' is missing in 80 of 120 runs; fit without it"):
        Calibrator.fit(lacking, y, signals=["a", "b"], pipeline_version="v1")


def test_save_and_load_round_trip_and_refuse_another_version_or_signal_set(tmp_path):
    _, y, rows = labelled()
    calibrator = Calibrator.fit(rows, y, signals=["a", "b"], pipeline_version="v1")
    path = calibrator.save(tmp_path / "cal.json")
    assert "pickle" not in path.read_text() and json.loads(path.read_text())["signals"] == ["a", "b"]
    loaded = Calibrator.load(path, pipeline_version="v1", signals=["a", "b"])
    assert loaded.predict(rows[0]) == calibrator.predict(rows[0])
    with pytest.raises(CalibrationError, match="fitted for pipeline version v1, not v2; refit"):
        Calibrator.load(path, pipeline_version="v2")
    with pytest.raises(CalibrationError, match=r"fitted on signals \['a', 'b'\], not \['a'\]"):
        Calibrator.load(path, signals=["a"])
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(CalibrationError, match="is not a calibrator file"):
        Calibrator.load(tmp_path / "bad.json")
    with pytest.raises(CalibrationError, match="no calibrator at"):
        Calibrator.load(tmp_path / "missing.json")


def test_out_of_fold_scores_come_from_calibrators_that_did_not_see_the_run():
    x, y, rows = labelled(200)
    scores = Calibrator.out_of_fold(rows, y, signals=["a", "b"])
    assert scores.shape == (200,) and ((0 <= scores) & (scores <= 1)).all()
    in_sample = Calibrator.fit(rows, y, signals=["a", "b"], pipeline_version="v1").predict_many(rows)
    assert not np.allclose(scores, in_sample)  # another calibrator for each fold
