//! Held-out evaluation: accuracy, per-class precision, recall and F1, and
//! the confusion matrix.
//!
//! Predictions come from [`model_artifact::Model::predict`] on the artifact
//! that is published, so the metrics describe exactly what the API serves.

use model_artifact::{ClassMetrics, Metrics, Model};

use crate::dataset::Features;
use crate::EtlError;

/// Predicts every test row with `model` and compares with the actual classes.
pub fn evaluate(
    model: &Model,
    features: &[Features],
    classes: &[u8],
    test_rows: &[usize],
    class_count: usize,
) -> Result<Metrics, EtlError> {
    let mut confusion_matrix = vec![vec![0u64; class_count]; class_count];
    for &row in test_rows {
        let prediction = model
            .predict(&features[row])
            .map_err(|source| EtlError::Predict { row, source })?;
        confusion_matrix[usize::from(classes[row])][prediction.class_index] += 1;
    }
    Ok(metrics_from_confusion(confusion_matrix))
}

/// Computes the metrics of a `confusion_matrix[actual][predicted]`.
///
/// A ratio with a zero denominator is 0.0, as scikit-learn's
/// `classification_report` reports it with `zero_division=0`.
pub fn metrics_from_confusion(confusion_matrix: Vec<Vec<u64>>) -> Metrics {
    let class_count = confusion_matrix.len();
    let total: u64 = confusion_matrix.iter().flatten().sum();
    let correct: u64 = (0..class_count).map(|c| confusion_matrix[c][c]).sum();

    let per_class = (0..class_count)
        .map(|class| {
            let true_positives = confusion_matrix[class][class];
            let support: u64 = confusion_matrix[class].iter().sum();
            let predicted: u64 = confusion_matrix.iter().map(|row| row[class]).sum();
            let precision = ratio(true_positives, predicted);
            let recall = ratio(true_positives, support);
            let f1 = if precision + recall > 0.0 {
                2.0 * precision * recall / (precision + recall)
            } else {
                0.0
            };
            ClassMetrics {
                class,
                precision,
                recall,
                f1,
                support,
            }
        })
        .collect();

    Metrics {
        accuracy: ratio(correct, total),
        per_class,
        confusion_matrix,
    }
}

fn ratio(numerator: u64, denominator: u64) -> f64 {
    if denominator == 0 {
        return 0.0;
    }
    numerator as f64 / denominator as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_match_scikit_learn() {
        // Reference values from scikit-learn 1.9.1:
        //   y_true = [0]*5 + [1]*4 + [2]*3
        //   y_pred = [0,0,0,0,1, 1,1,2,0, 2,2,2]
        //   precision_recall_fscore_support(y_true, y_pred, zero_division=0)
        let metrics = metrics_from_confusion(vec![vec![4, 1, 0], vec![1, 2, 1], vec![0, 0, 3]]);
        assert_eq!(metrics.accuracy, 9.0 / 12.0);

        let precision: Vec<f64> = metrics.per_class.iter().map(|m| m.precision).collect();
        let recall: Vec<f64> = metrics.per_class.iter().map(|m| m.recall).collect();
        let f1: Vec<f64> = metrics.per_class.iter().map(|m| m.f1).collect();
        let support: Vec<u64> = metrics.per_class.iter().map(|m| m.support).collect();
        assert_eq!(precision, vec![0.8, 2.0 / 3.0, 0.75]);
        assert_eq!(recall, vec![0.8, 0.5, 1.0]);
        assert_eq!(support, vec![5, 4, 3]);
        for (found, expected) in f1.iter().zip([0.8, 0.5714285714285714, 0.8571428571428571]) {
            assert!((found - expected).abs() < 1e-15, "f1 {found} != {expected}");
        }
    }

    #[test]
    fn never_predicted_class_scores_zero() {
        // Class 2 is never predicted and has no test rows of its own.
        let metrics = metrics_from_confusion(vec![vec![2, 0, 0], vec![1, 1, 0], vec![0, 0, 0]]);
        let last = &metrics.per_class[2];
        assert_eq!(last.precision, 0.0);
        assert_eq!(last.recall, 0.0);
        assert_eq!(last.f1, 0.0);
        assert_eq!(last.support, 0);
        assert_eq!(metrics.accuracy, 0.75);
    }
}
