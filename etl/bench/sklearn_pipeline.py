"""The etl pipeline in pandas + scikit-learn, as the benchmark's baseline.

It does the same work as `etl --input CSV`: read the CSV, drop rows with a
missing, non-numeric or non-finite value, an unknown label or an exact
duplicate (counted by reason, first reason wins), split 80/20 stratified,
standardize on the training rows, fit multinomial logistic regression
(lbfgs, C=1, max_iter=100, tol=1e-4), evaluate on the test rows, and write
model.json and metrics.json atomically into the output directory.

Usage: python sklearn_pipeline.py INPUT.csv OUTPUT_DIR [SEED]
"""

import hashlib
import json
import os
import sys
import tempfile

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

FEATURES = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
TARGET = "target"


def clean(raw: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Drops invalid rows in the etl's order of reasons and counts them."""
    dropped = {}
    missing = raw.isna().any(axis=1)
    dropped["missing_value"] = int(missing.sum())
    frame = raw[~missing]

    numeric = frame[FEATURES].apply(pd.to_numeric, errors="coerce")
    non_numeric = numeric.isna().any(axis=1)
    dropped["non_numeric"] = int(non_numeric.sum())
    numeric = numeric[~non_numeric]
    target = pd.to_numeric(frame.loc[~non_numeric, TARGET], errors="coerce")

    non_finite = ~np.isfinite(numeric.to_numpy()).all(axis=1)
    dropped["non_finite"] = int(non_finite.sum())
    numeric, target = numeric[~non_finite], target[~non_finite]

    unknown = ~target.isin([0, 1, 2])
    dropped["unknown_label"] = int(unknown.sum())
    clean_frame = numeric[~unknown].assign(**{TARGET: target[~unknown].astype(np.int64)})

    duplicate = clean_frame.duplicated()
    dropped["duplicate"] = int(duplicate.sum())
    return clean_frame[~duplicate], dropped


def publish(directory: str, name: str, document: dict) -> None:
    """Writes a JSON file through a temporary file, fsync and rename."""
    handle, temporary = tempfile.mkstemp(prefix=f".{name}.", dir=directory)
    with os.fdopen(handle, "w") as out:
        json.dump(document, out, indent=2)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, os.path.join(directory, name))


def main() -> None:
    path, output_dir = sys.argv[1], sys.argv[2]
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 42

    digest = hashlib.sha256()
    with open(path, "rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    raw = pd.read_csv(path, usecols=FEATURES + [TARGET], keep_default_na=False, na_values=[""])
    rows_read = len(raw)
    frame, dropped = clean(raw)
    del raw

    x = frame[FEATURES].to_numpy()
    y = frame[TARGET].to_numpy()
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, stratify=y, random_state=seed
    )
    scaler = StandardScaler().fit(x_train)
    model = LogisticRegression(C=1.0, max_iter=100, tol=1e-4)
    model.fit(scaler.transform(x_train), y_train)

    predicted = model.predict(scaler.transform(x_test))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_test, predicted, zero_division=0
    )
    metrics = {
        "accuracy": accuracy_score(y_test, predicted),
        "precision": precision.tolist(),
        "recall": recall.tolist(),
        "f1": f1.tolist(),
        "support": support.tolist(),
        "confusion_matrix": confusion_matrix(y_test, predicted).tolist(),
    }
    rows = {"read": rows_read, "dropped": dropped, "train": len(y_train), "test": len(y_test)}
    os.makedirs(output_dir, exist_ok=True)
    publish(output_dir, "metrics.json", {"metrics": metrics, "rows": rows})
    publish(output_dir, "model.json", {
        "feature_names": FEATURES,
        "scaler": {"mean": scaler.mean_.tolist(), "scale": scaler.scale_.tolist()},
        "weights": model.coef_.tolist(),
        "intercepts": model.intercept_.tolist(),
        "metrics": metrics,
        "rows": rows,
        "input_sha256": digest.hexdigest(),
        "iterations": int(model.n_iter_[0]),
    })
    print(f"accuracy {metrics['accuracy']:.4f} on {len(y_test)} test rows "
          f"({len(y_train)} training rows), dropped {dropped}, "
          f"lbfgs iterations {int(model.n_iter_[0])}")


if __name__ == "__main__":
    main()
