"""Write a synthetic iris-like CSV for the etl benchmark.

Rows are drawn from one Gaussian per class, with the per-class means and
standard deviations of the real iris measurements, and rounded to two
decimals (so some rows repeat by chance). A small share of rows is made
dirty on purpose, so that both pipelines also exercise their cleaning:
empty fields, text, infinities, unknown labels and exact duplicates.

Usage: python generate.py OUTPUT.csv [ROWS] [SEED]
"""

import sys

import numpy as np

HEADER = "sepal length (cm),sepal width (cm),petal length (cm),petal width (cm),target"

# Per-class mean and standard deviation of the four iris features,
# computed from scikit-learn's load_iris().
MEANS = np.array([
    [5.006, 3.428, 1.462, 0.246],
    [5.936, 2.770, 4.260, 1.326],
    [6.588, 2.974, 5.552, 2.026],
])
STDS = np.array([
    [0.349, 0.375, 0.172, 0.104],
    [0.511, 0.311, 0.465, 0.196],
    [0.630, 0.319, 0.546, 0.272],
])

# Share of rows given each defect.
DIRTY_SHARE = 0.0005


def main() -> None:
    path = sys.argv[1]
    rows = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    rng = np.random.default_rng(seed)

    classes = rng.integers(0, 3, size=rows)
    features = np.abs(rng.normal(MEANS[classes], STDS[classes])).round(2)
    text = [
        [f"{value:.2f}" for value in row] + [str(label)]
        for row, label in zip(features.tolist(), classes.tolist())
    ]

    dirty = int(rows * DIRTY_SHARE)
    picks = rng.choice(rows, size=5 * dirty, replace=False).reshape(5, dirty)
    for row in picks[0]:
        text[row][rng.integers(0, 5)] = ""
    for row in picks[1]:
        text[row][rng.integers(0, 4)] = "n/a"
    for row in picks[2]:
        text[row][rng.integers(0, 4)] = "inf"
    for row in picks[3]:
        text[row][4] = "7"
    for source, row in zip(picks[4][::2], picks[4][1::2]):
        text[row] = list(text[source])

    with open(path, "w", encoding="ascii") as out:
        out.write(HEADER + "\n")
        out.writelines(",".join(fields) + "\n" for fields in text)


if __name__ == "__main__":
    main()
