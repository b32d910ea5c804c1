//! Scoring a feature vector: standardize, linear scores, softmax, argmax.

use crate::{Model, PredictError};

/// The outcome of scoring one feature vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Index of the most probable class; the lowest index wins a tie.
    pub class_index: usize,
    /// Probability per class, in class-index order; they sum to 1.
    pub probabilities: Vec<f64>,
}

impl Model {
    /// Scores `features`, given in [`Model::feature_names`] order.
    ///
    /// Rejects a vector of the wrong length, with a non-finite value, or
    /// so large that a class score overflows, so that no input can make the
    /// model return NaN probabilities.
    pub fn predict(&self, features: &[f64]) -> Result<Prediction, PredictError> {
        let artifact = self.artifact();
        let expected = artifact.feature_names.len();
        if features.len() != expected {
            return Err(PredictError::FeatureCount {
                expected,
                found: features.len(),
            });
        }
        if let Some(position) = features.iter().position(|value| !value.is_finite()) {
            return Err(PredictError::NonFinite {
                name: artifact.feature_names[position].clone(),
                value: features[position],
            });
        }

        let scaler = &artifact.scaler;
        let scores: Vec<f64> = artifact
            .weights
            .iter()
            .zip(&artifact.intercepts)
            .map(|(weights, intercept)| {
                let mut score = *intercept;
                for (j, weight) in weights.iter().enumerate() {
                    score += weight * (features[j] - scaler.mean[j]) / scaler.scale[j];
                }
                score
            })
            .collect();
        // Finite inputs far outside the training range (1e300, say) can
        // overflow a score to infinity or NaN, and softmax would then
        // return NaN probabilities.
        if scores.iter().any(|score| !score.is_finite()) {
            return Err(PredictError::OutOfRange);
        }

        let probabilities = softmax(&scores);
        Ok(Prediction {
            class_index: argmax(&probabilities),
            probabilities,
        })
    }
}

/// Softmax shifted by the maximum score so that `exp` cannot overflow.
fn softmax(scores: &[f64]) -> Vec<f64> {
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = scores.iter().map(|score| (score - max).exp()).collect();
    let total: f64 = exps.iter().sum();
    exps.iter().map(|value| value / total).collect()
}

fn argmax(values: &[f64]) -> usize {
    let mut best = 0;
    for (index, &value) in values.iter().enumerate() {
        if value > values[best] {
            best = index;
        }
    }
    best
}
