"""Train the two sample regressions the sample endpoint serves.

Both learn scikit-learn's bundled diabetes data (no download), so the samples rebuild offline.
model-2 is a deliberately different model so that a blue/green split is visible in responses.
Run: python assets/samples/train.py
"""

from __future__ import annotations

from pathlib import Path

import joblib
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Lasso, Ridge

ONLINE = Path(__file__).resolve().parent / "endpoints" / "online"
MODEL_FILE = "sklearn_regression_model.pkl"


def train() -> dict[str, Path]:
    features, target = load_diabetes(return_X_y=True)
    models = {"model-1": Ridge(alpha=1.0), "model-2": Lasso(alpha=0.5)}
    written: dict[str, Path] = {}
    for name, estimator in models.items():
        estimator.fit(features, target)
        out = ONLINE / name / "model" / MODEL_FILE
        out.parent.mkdir(parents=True, exist_ok=True)
        # compress=3 keeps the committed pickles to a few hundred bytes.
        joblib.dump(estimator, out, compress=3)
        written[name] = out
    return written


if __name__ == "__main__":
    for name, path in train().items():
        print(f"{name}: {path} ({path.stat().st_size} bytes)")
