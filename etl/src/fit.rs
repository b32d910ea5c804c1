//! Multinomial logistic regression with `linfa-logistic`, and the conversion
//! of its fitted parameters to the artifact's layout.

use linfa::prelude::*;
use linfa_logistic::{MultiFittedLogisticRegression, MultiLogisticRegression};
use ndarray::{s, Array1, Array2, Axis};
use tracing::{debug, info};

use crate::{EtlError, TrainConfig};

/// A fitted linfa model whose labels are class indices.
pub type FittedModel = MultiFittedLogisticRegression<f64, usize>;

/// Training sets with more rows than this many times [`WARM_START_ROWS`]
/// start from a fit on a subsample.
const WARM_START_FACTOR: usize = 4;

/// Rows of the subsample whose fit is the starting point on large inputs.
const WARM_START_ROWS: usize = 1 << 16;

/// Fits the model on standardized `records` with class-index `targets`.
///
/// linfa minimizes the summed (not the mean) loss plus
/// `l2_penalty / 2 * |W|^2`, so `l2_penalty` equals scikit-learn's `1 / C`.
/// The gradient tolerance is per row and is scaled by the row count to
/// match the summed loss.
///
/// On a large training set the solver starts from the fit on an evenly
/// spaced subsample, which leaves only a few iterations over all rows.
/// Both fits stop at the same tolerance per row, so the result is the
/// optimum of the same objective as a fit that starts from zero.
///
/// NOTE: the time of the fit over all rows varies with the data: 1.0 to
/// 2.8 s on generated 1,000,000-row files and 6.3 s on a 2,000,000-row one,
/// on a shared 2-core machine. linfa's L-BFGS first steps along the whole
/// summed gradient, far too long a step for a loss summed over many rows.
/// linfa-logistic 0.8.1 also computes log-sum-exp against the largest score
/// of the whole matrix rather than of each row, so on such a step the loss
/// of rows far below that score is clamped. The likely result, not yet
/// confirmed by counting, is a line search with a varying number of
/// evaluations.
pub fn fit_model(
    records: Array2<f64>,
    targets: Array1<usize>,
    config: &TrainConfig,
) -> Result<FittedModel, EtlError> {
    fit_with_warm_start(records, targets, config, WARM_START_ROWS)
}

fn fit_with_warm_start(
    records: Array2<f64>,
    targets: Array1<usize>,
    config: &TrainConfig,
    warm_start_rows: usize,
) -> Result<FittedModel, EtlError> {
    let rows = records.nrows();
    let initial_params = if rows > WARM_START_FACTOR * warm_start_rows {
        warm_start(&records, &targets, config, warm_start_rows)
    } else {
        None
    };

    info!(
        rows,
        l2_penalty = config.l2_penalty,
        max_iterations = config.max_iterations,
        warm_start = initial_params.is_some(),
        "training multinomial logistic regression"
    );
    let mut params = solver(config, rows, config.l2_penalty);
    if let Some(initial_params) = initial_params {
        params = params.initial_params(initial_params);
    }
    params
        .fit(&Dataset::new(records, targets))
        .map_err(|source| EtlError::Fit { source })
}

fn solver(config: &TrainConfig, rows: usize, l2_penalty: f64) -> MultiLogisticRegression<f64> {
    MultiLogisticRegression::default()
        .alpha(l2_penalty)
        .max_iterations(config.max_iterations)
        .gradient_tolerance(config.gradient_tolerance * rows as f64)
}

/// Fits about `sample_rows` evenly spaced rows and returns the parameters in the layout of
/// linfa's `initial_params`: one row per feature, then the intercepts.
///
/// Returns `None`, and training starts from zero, when the subsample lacks
/// a class (the shapes would differ) or its fit fails.
fn warm_start(
    records: &Array2<f64>,
    targets: &Array1<usize>,
    config: &TrainConfig,
    sample_rows: usize,
) -> Option<Array2<f64>> {
    let step = records.nrows() / sample_rows;
    let sample_records = records.slice(s![..;step, ..]).to_owned();
    let sample_targets = targets.slice(s![..;step]).to_owned();
    if distinct_labels(&sample_targets) != distinct_labels(targets) {
        debug!("warm start skipped: the subsample lacks a class");
        return None;
    }

    // The penalty is scaled with the row count so that it weighs as much
    // against the subsample's summed loss as against the full one.
    let sample_rows = sample_records.nrows();
    let l2_penalty = config.l2_penalty * sample_rows as f64 / records.nrows() as f64;
    debug!(sample_rows, "fitting the warm start");
    let fitted = match solver(config, sample_rows, l2_penalty)
        .fit(&Dataset::new(sample_records, sample_targets))
    {
        Ok(fitted) => fitted,
        Err(error) => {
            debug!(%error, "warm start skipped: the subsample fit failed");
            return None;
        }
    };
    let intercept = fitted.intercept().view().insert_axis(Axis(0));
    ndarray::concatenate(Axis(0), &[fitted.params().view(), intercept]).ok()
}

fn distinct_labels(targets: &Array1<usize>) -> Vec<usize> {
    let mut labels = targets.to_vec();
    labels.sort_unstable();
    labels.dedup();
    labels
}

/// Weights as `weights[class][feature]` and intercepts per class, both in
/// class-index order.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassWeights {
    pub weights: Vec<Vec<f64>>,
    pub intercepts: Vec<f64>,
}

/// Reorders linfa's parameters into the artifact's layout.
///
/// linfa stores `params` as `(features, classes)` with the columns in the
/// order of `fitted.classes()` (its sorted labels), while the artifact
/// stores one row of weights per class index.
pub fn class_weights(fitted: &FittedModel, class_count: usize) -> Result<ClassWeights, EtlError> {
    let params = fitted.params();
    let mut weights = Vec::with_capacity(class_count);
    let mut intercepts = Vec::with_capacity(class_count);
    for class in 0..class_count {
        let column = fitted
            .classes()
            .iter()
            .position(|&label| label == class)
            .ok_or(EtlError::MissingClassWeights { class })?;
        weights.push(params.column(column).to_vec());
        intercepts.push(fitted.intercept()[column]);
    }
    Ok(ClassWeights {
        weights,
        intercepts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a fitted model as linfa serializes it, with the classes stored in
    /// the order 2, 0, 1: column 0 of `params` belongs to class 2.
    fn permuted_model() -> FittedModel {
        let json = serde_json::json!({
            "intercept": {"v": 1, "dim": [3], "data": [0.2, 0.0, 0.1]},
            "params": {"v": 1, "dim": [2, 3], "data": [
                2.0, 0.0, 1.0,
                -2.0, 0.5, -1.0,
            ]},
            "classes": [2, 0, 1],
        });
        serde_json::from_value(json).expect("linfa's serialized form")
    }

    #[test]
    fn weights_follow_class_index() {
        let mapped = class_weights(&permuted_model(), 3).unwrap();
        assert_eq!(
            mapped.weights,
            vec![vec![0.0, 0.5], vec![1.0, -1.0], vec![2.0, -2.0]]
        );
        assert_eq!(mapped.intercepts, vec![0.0, 0.1, 0.2]);
    }

    #[test]
    fn mapped_weights_predict_like_linfa() {
        let fitted = permuted_model();
        let mapped = class_weights(&fitted, 3).unwrap();
        let records = ndarray::array![[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.3, 0.2], [0.0, -3.0]];
        let linfa_classes = fitted.predict(&records);
        for (row, &expected) in records.rows().into_iter().zip(&linfa_classes) {
            let scores: Vec<f64> = mapped
                .weights
                .iter()
                .zip(&mapped.intercepts)
                .map(|(w, b)| b + w[0] * row[0] + w[1] * row[1])
                .collect();
            let best = (0..3)
                .max_by(|&a, &b| scores[a].total_cmp(&scores[b]))
                .unwrap();
            assert_eq!(best, expected, "row {row}");
        }
    }

    /// Three overlapping Gaussian classes in two dimensions, from a seeded
    /// generator.
    fn synthetic(rows: usize) -> (Array2<f64>, Array1<usize>) {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let targets: Array1<usize> = (0..rows).map(|row| row % 3).collect();
        let records = Array2::from_shape_fn((rows, 2), |(row, column)| {
            let centre = [[-1.0, 0.0], [1.0, 0.5], [0.0, -1.0]][targets[row]][column];
            centre + rng.gen_range(-1.5..1.5)
        });
        (records, targets)
    }

    #[test]
    fn warm_start_reaches_same_optimum() {
        let config = TrainConfig {
            gradient_tolerance: 1e-9,
            max_iterations: 500,
            ..TrainConfig::default()
        };
        let (records, targets) = synthetic(6000);
        let cold =
            fit_with_warm_start(records.clone(), targets.clone(), &config, usize::MAX / 8).unwrap();
        let warm = fit_with_warm_start(records.clone(), targets.clone(), &config, 700).unwrap();
        assert!(warm_start(&records, &targets, &config, 700).is_some());

        for (cold, warm) in cold.params().iter().zip(warm.params()) {
            assert!((cold - warm).abs() < 1e-5, "weight {cold} != {warm}");
        }
        for (cold, warm) in cold.intercept().iter().zip(warm.intercept()) {
            assert!((cold - warm).abs() < 1e-5, "intercept {cold} != {warm}");
        }
    }

    #[test]
    fn warm_start_needs_every_class() {
        // Every 4th row of a 0, 1, 2 cycle has classes 0, 1 and 2, but every
        // 3rd row is always class 0.
        let (records, targets) = synthetic(3000);
        let config = TrainConfig::default();
        assert!(warm_start(&records, &targets, &config, 750).is_some());
        assert!(warm_start(&records, &targets, &config, 1000).is_none());
    }

    #[test]
    fn missing_class_is_an_error() {
        let mapped = class_weights(&permuted_model(), 4);
        assert!(matches!(
            mapped,
            Err(EtlError::MissingClassWeights { class: 3 })
        ));
    }
}
