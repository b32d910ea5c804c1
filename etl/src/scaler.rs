//! Z-score standardization, fitted on the training rows only.

use model_artifact::Scaler;
use ndarray::Array2;

use crate::dataset::Features;
use crate::iris::FEATURE_COUNT;

/// Fits the mean and the population standard deviation (as scikit-learn's
/// `StandardScaler` does) of each feature over `rows`.
///
/// A feature whose deviation is zero, or lost in rounding error relative to
/// its mean, gets scale 1.0 so that standardizing does not divide by zero.
pub fn fit_scaler(features: &[Features], rows: &[usize]) -> Scaler {
    let count = rows.len() as f64;
    let mut mean = [0.0; FEATURE_COUNT];
    for &row in rows {
        for (sum, value) in mean.iter_mut().zip(features[row]) {
            *sum += value;
        }
    }
    mean.iter_mut().for_each(|sum| *sum /= count);

    // A second pass over the centred values avoids the cancellation of
    // the one-pass sum-of-squares formula.
    let mut variance = [0.0; FEATURE_COUNT];
    for &row in rows {
        for ((sum, value), mean) in variance.iter_mut().zip(features[row]).zip(mean) {
            *sum += (value - mean) * (value - mean);
        }
    }
    let scale = variance
        .iter()
        .zip(mean)
        .map(|(sum, mean)| {
            let deviation = (sum / count).sqrt();
            if deviation > 10.0 * f64::EPSILON * mean.abs() {
                deviation
            } else {
                1.0
            }
        })
        .collect();

    Scaler {
        mean: mean.to_vec(),
        scale,
    }
}

/// Returns the standardized `rows` as an `(rows, features)` matrix.
pub fn standardize(features: &[Features], rows: &[usize], scaler: &Scaler) -> Array2<f64> {
    let mut matrix = Array2::zeros((rows.len(), FEATURE_COUNT));
    for (mut out, &row) in matrix.rows_mut().into_iter().zip(rows) {
        for (j, value) in features[row].iter().enumerate() {
            out[j] = (value - scaler.mean[j]) / scaler.scale[j];
        }
    }
    matrix
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaler_uses_training_rows_only() {
        let features = [
            [1.0, 10.0, 5.0, 0.0],
            [3.0, 10.0, 5.0, 0.0],
            [1000.0, -50.0, 7.0, 0.0],
        ];
        let scaler = fit_scaler(&features, &[0, 1]);
        assert_eq!(scaler.mean, vec![2.0, 10.0, 5.0, 0.0]);
        // Population deviation of [1, 3] is 1; the other features are
        // constant over rows 0 and 1, so their scale is 1.
        assert_eq!(scaler.scale, vec![1.0, 1.0, 1.0, 1.0]);
    }

    #[test]
    fn scaler_matches_population_deviation() {
        let features = [
            [2.0, 0.0, 0.0, 0.0],
            [4.0, 0.0, 0.0, 0.0],
            [4.0, 0.0, 0.0, 0.0],
            [4.0, 0.0, 0.0, 0.0],
            [5.0, 0.0, 0.0, 0.0],
            [5.0, 0.0, 0.0, 0.0],
            [7.0, 0.0, 0.0, 0.0],
            [9.0, 0.0, 0.0, 0.0],
        ];
        let rows: Vec<usize> = (0..8).collect();
        let scaler = fit_scaler(&features, &rows);
        // The textbook example: mean 5 and population deviation exactly 2.
        assert_eq!(scaler.mean[0], 5.0);
        assert_eq!(scaler.scale[0], 2.0);

        let matrix = standardize(&features, &[0, 7], &scaler);
        assert_eq!(matrix[[0, 0]], -1.5);
        assert_eq!(matrix[[1, 0]], 2.0);
    }

    #[test]
    fn near_constant_feature_gets_unit_scale() {
        // 0.1 + 0.2 and 0.3 differ by one rounding step of about 5.6e-17.
        let features = [[0.1 + 0.2, 1.0, 1.0, 1.0], [0.3, 2.0, 1.0, 1.0]];
        let scaler = fit_scaler(&features, &[0, 1]);
        assert_eq!(scaler.scale[0], 1.0);
        assert_eq!(scaler.scale[1], 0.5);
    }
}
