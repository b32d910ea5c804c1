//! Multinomial logistic regression with `linfa-logistic`, and the conversion
//! of its fitted parameters to the artifact's layout.

use linfa::prelude::*;
use linfa_logistic::{MultiFittedLogisticRegression, MultiLogisticRegression};
use ndarray::{Array1, Array2};
use tracing::info;

use crate::{EtlError, TrainConfig};

/// A fitted linfa model whose labels are class indices.
pub type FittedModel = MultiFittedLogisticRegression<f64, usize>;

/// Fits the model on standardized `records` with class-index `targets`.
///
/// linfa minimizes the summed (not the mean) loss plus
/// `l2_penalty / 2 * |W|^2`, so `l2_penalty` equals scikit-learn's `1 / C`.
/// The gradient tolerance is per row and is scaled by the row count to
/// match the summed loss.
pub fn fit_model(
    records: Array2<f64>,
    targets: Array1<usize>,
    config: &TrainConfig,
) -> Result<FittedModel, EtlError> {
    let rows = records.nrows();
    let dataset = Dataset::new(records, targets);
    let params = MultiLogisticRegression::default()
        .alpha(config.l2_penalty)
        .max_iterations(config.max_iterations)
        .gradient_tolerance(config.gradient_tolerance * rows as f64);
    info!(
        rows,
        l2_penalty = config.l2_penalty,
        max_iterations = config.max_iterations,
        "training multinomial logistic regression"
    );
    params
        .fit(&dataset)
        .map_err(|source| EtlError::Fit { source })
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

    /// A fitted model as linfa serializes it, with the classes stored in
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

    #[test]
    fn missing_class_is_an_error() {
        let mapped = class_weights(&permuted_model(), 4);
        assert!(matches!(
            mapped,
            Err(EtlError::MissingClassWeights { class: 3 })
        ));
    }
}
