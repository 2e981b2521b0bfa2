"""One calibrated confidence from many signals: logistic regression, then Platt or isotonic
calibration, fitted with scikit-learn and stored as plain numbers.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(200, 2)); y = (x[:, 0] + 0.3 * rng.normal(size=200) > 0).astype(int)
    >>> rows = [{"a": a, "b": b} for a, b in x]
    >>> cal = Calibrator.fit(rows, y, signals=["a", "b"], pipeline_version="v1")
    >>> round(cal.predict({"a": 2.0, "b": 0.0}), 2) > 0.9, round(cal.predict({"a": -2.0, "b": 0.0}), 2) < 0.1
    (True, True)

How it is fitted: `CalibratedClassifierCV(..., ensemble=False)` fits the calibration map on
out-of-fold scores (stratified folds, fixed seed) and the regression on every label, so the map
never sees a score the regression was fitted on. Platt scaling below `ISOTONIC_FROM` labels
(isotonic steps overfit a small set), isotonic from there. The file keeps the regression's and
the map's numbers as JSON, never a pickle: loading a calibrator runs no code. A file fitted for
another pipeline version or signal set is refused, naming the mismatch.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..files import write_atomic

__all__ = ["Calibrator", "CalibrationError", "MIN_LABELS", "MIN_PER_CLASS", "ISOTONIC_FROM", "FORMAT"]

MIN_LABELS = 40  # fewer labelled runs than this cannot fit five folds and a calibration map
MIN_PER_CLASS = 8  # and each fold needs right and wrong answers
ISOTONIC_FROM = 400
FORMAT = 1


class CalibrationError(ConfigError):
    """A calibrator that cannot be fitted or loaded as asked."""


@dataclass
class Calibrator:
    signals: list[str]
    pipeline_version: str
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    method: str  # "sigmoid" (Platt) or "isotonic"
    calibration: dict  # sigmoid: {"a", "b"}; isotonic: {"x", "y"}
    labels: int = 0
    positive_rate: float = 0.0
    fitted: str = ""
    format: int = FORMAT
    extra: dict = field(default_factory=dict)

    # -- fitting ---------------------------------------------------------------------------------

    @classmethod
    def fit(
        cls,
        rows: Sequence[Mapping[str, float | None]],
        correct: Sequence[int | bool],
        *,
        signals: Sequence[str],
        pipeline_version: str,
        method: str = "auto",
        seed: int = 0,
        folds: int = 5,
    ) -> Calibrator:
        """Fit on labelled runs: `rows` of signals and whether each answer was right."""
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        y = np.asarray([int(bool(c)) for c in correct])
        if len(rows) != len(y):
            raise CalibrationError(f"{len(rows)} rows of signals but {len(y)} labels; give one label per run")
        right, wrong = int(y.sum()), int(len(y) - y.sum())
        if len(y) < MIN_LABELS or min(right, wrong) < MIN_PER_CLASS:
            raise CalibrationError(
                f"too few labelled runs to fit a calibrator: {len(y)} ({right} right, {wrong} wrong); it needs "
                f"at least {MIN_LABELS}, with at least {MIN_PER_CLASS} right and {MIN_PER_CLASS} wrong"
            )
        x = cls._matrix(rows, list(signals))
        if method == "auto":
            method = "isotonic" if len(y) >= ISOTONIC_FROM else "sigmoid"
        if method not in ("sigmoid", "isotonic"):
            raise CalibrationError(f"method must be 'sigmoid', 'isotonic' or 'auto' (got {method!r})")
        model = CalibratedClassifierCV(
            make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
            method=method,
            cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
            ensemble=False,
        ).fit(x, y)
        fitted = model.calibrated_classifiers_[0]
        scaler, regression = fitted.estimator[0], fitted.estimator[1]
        mapping = fitted.calibrators[0]
        if method == "sigmoid":
            calibration = {"a": float(mapping.a_), "b": float(mapping.b_)}
        else:
            calibration = {"x": mapping.X_thresholds_.tolist(), "y": mapping.y_thresholds_.tolist()}
        return cls(
            signals=list(signals),
            pipeline_version=pipeline_version,
            mean=scaler.mean_.tolist(),
            scale=scaler.scale_.tolist(),
            coef=regression.coef_[0].tolist(),
            intercept=float(regression.intercept_[0]),
            method=method,
            calibration=calibration,
            labels=len(y),
            positive_rate=right / len(y),
            fitted=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        )

    @classmethod
    def out_of_fold(
        cls,
        rows: Sequence[Mapping[str, float | None]],
        correct: Sequence[int | bool],
        *,
        signals: Sequence[str],
        seed: int = 0,
        folds: int = 5,
        **options,
    ) -> np.ndarray:
        """Each run's probability from a calibrator fitted without it: what choosing a threshold
        on the fitting split should look at, since in-sample scores flatter the score."""
        from sklearn.model_selection import StratifiedKFold

        y = np.asarray([int(bool(c)) for c in correct])
        scores = np.empty(len(y))
        for train, held in StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y):
            fitted = cls.fit([rows[i] for i in train], y[train], signals=signals, pipeline_version="", **options)
            scores[held] = fitted.predict_many([rows[i] for i in held])
        return scores

    @staticmethod
    def _matrix(
        rows: Sequence[Mapping[str, float | None]], signals: list[str], means: Sequence[float] | None = None
    ) -> np.ndarray:
        """The signals as a matrix. A run that lacks a signal (a fallback tier that gives no
        log-probabilities) gets the signal's mean, which on the standardized scale is no evidence
        either way; fitting refuses a signal that most runs lack."""
        x = np.full((len(rows), len(signals)), np.nan)
        for i, row in enumerate(rows):
            for j, name in enumerate(signals):
                value = row.get(name)
                if value is not None and math.isfinite(float(value)):
                    x[i, j] = float(value)
        for j, name in enumerate(signals):
            absent = np.isnan(x[:, j])
            if means is None and absent.mean() > 0.5:
                raise CalibrationError(
                    f"signal {name!r} is missing in {int(absent.sum())} of {len(rows)} runs; fit without it "
                    f"(signals=[...]): this provider or tier does not give it"
                )
            if absent.any():
                x[absent, j] = means[j] if means is not None else np.nanmean(x[:, j])
        return x

    # -- scoring ---------------------------------------------------------------------------------

    def predict_many(self, rows: Sequence[Mapping[str, float | None]]) -> np.ndarray:
        """Calibrated probabilities that each answer is right."""
        x = self._matrix(rows, self.signals, self.mean)
        z = ((x - np.asarray(self.mean)) / np.asarray(self.scale)) @ np.asarray(self.coef) + self.intercept
        if self.method == "sigmoid":  # sklearn's _SigmoidCalibration: expit(-(a z + b))
            return 1.0 / (1.0 + np.exp(self.calibration["a"] * z + self.calibration["b"]))
        return np.interp(z, self.calibration["x"], self.calibration["y"])  # clipped at the ends

    def predict(self, signals: Mapping[str, float | None]) -> float:
        """The calibrated probability for one run's signals."""
        return float(self.predict_many([signals])[0])

    def weights(self) -> dict[str, float]:
        """Each signal's weight on the standardized scale: which signals the score leans on."""
        return dict(zip(self.signals, self.coef))

    # -- files -----------------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the calibrator as JSON, atomically."""
        return write_atomic(Path(path), json.dumps(asdict(self), indent=1) + "\n")

    @classmethod
    def load(
        cls, path: str | Path, *, pipeline_version: str | None = None, signals: Sequence[str] | None = None
    ) -> Calibrator:
        """Read a calibrator; refuse one fitted for another pipeline version or signal set."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            calibrator = cls(**data)
        except FileNotFoundError as exc:
            raise CalibrationError(f"no calibrator at {path}; fit one with Calibrator.fit(...).save(path)") from exc
        except (ValueError, TypeError) as exc:
            raise CalibrationError(f"{path} is not a calibrator file ({exc}); fit it again") from exc
        if calibrator.format != FORMAT:
            raise CalibrationError(f"{path} has format {calibrator.format}; this toolkit reads format {FORMAT}")
        if pipeline_version is not None and calibrator.pipeline_version != pipeline_version:
            raise CalibrationError(
                f"{path} was fitted for pipeline version {calibrator.pipeline_version}, not {pipeline_version}; "
                f"refit it on this pipeline's labelled runs"
            )
        if signals is not None and list(signals) != calibrator.signals:
            raise CalibrationError(
                f"{path} was fitted on signals {calibrator.signals}, not {list(signals)}; refit it with these signals"
            )
        return calibrator
