//! Training settings and their validation, checked before any data is read.

use std::collections::BTreeMap;

use crate::EtlError;

/// Settings of one training run: the split and the solver's hyperparameters.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// Seed of the shuffle before the train/test split.
    pub seed: u64,
    /// Fraction of each class held out for evaluation, in (0, 1).
    pub test_fraction: f64,
    /// L2 regularization strength (linfa's `alpha`, scikit-learn's `1 / C`).
    pub l2_penalty: f64,
    /// Maximum number of L-BFGS iterations.
    pub max_iterations: u64,
    /// Convergence tolerance on the gradient norm of the mean loss per
    /// training row.
    pub gradient_tolerance: f64,
}

impl Default for TrainConfig {
    /// Returns the command line defaults: seed 42, 20% test rows, and
    /// scikit-learn's `LogisticRegression` defaults (C = 1, 100 iterations,
    /// tol = 1e-4).
    fn default() -> Self {
        TrainConfig {
            seed: 42,
            test_fraction: 0.2,
            l2_penalty: 1.0,
            max_iterations: 100,
            gradient_tolerance: 1e-4,
        }
    }
}

impl TrainConfig {
    /// Checks every setting and names the first invalid one.
    pub fn validate(&self) -> Result<(), EtlError> {
        let invalid = |name: &'static str, value: String, expected: &'static str| {
            Err(EtlError::InvalidConfig {
                name,
                value,
                expected,
            })
        };
        if !(self.test_fraction > 0.0 && self.test_fraction < 1.0) {
            return invalid(
                "test fraction",
                self.test_fraction.to_string(),
                "a number greater than 0 and less than 1",
            );
        }
        if !(self.l2_penalty.is_finite() && self.l2_penalty >= 0.0) {
            return invalid(
                "L2 penalty",
                self.l2_penalty.to_string(),
                "a finite number of 0 or more",
            );
        }
        if self.max_iterations == 0 {
            return invalid("max iterations", "0".to_owned(), "an integer of 1 or more");
        }
        if !(self.gradient_tolerance.is_finite() && self.gradient_tolerance > 0.0) {
            return invalid(
                "gradient tolerance",
                self.gradient_tolerance.to_string(),
                "a finite number greater than 0",
            );
        }
        Ok(())
    }

    /// Returns the settings by name, as the artifact records them.
    pub fn parameters(&self) -> BTreeMap<String, serde_json::Value> {
        BTreeMap::from([
            ("seed".to_owned(), self.seed.into()),
            ("test_fraction".to_owned(), self.test_fraction.into()),
            ("l2_penalty".to_owned(), self.l2_penalty.into()),
            ("max_iterations".to_owned(), self.max_iterations.into()),
            (
                "gradient_tolerance".to_owned(),
                self.gradient_tolerance.into(),
            ),
        ])
    }
}

/// Checks a quality-gate threshold: an accuracy in [0, 1].
pub fn validate_min_accuracy(min_accuracy: f64) -> Result<(), EtlError> {
    if (0.0..=1.0).contains(&min_accuracy) {
        return Ok(());
    }
    Err(EtlError::InvalidConfig {
        name: "min accuracy",
        value: min_accuracy.to_string(),
        expected: "a number from 0 to 1",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid() {
        assert!(TrainConfig::default().validate().is_ok());
    }

    #[test]
    fn invalid_settings_are_named() {
        let cases = [
            (
                TrainConfig {
                    test_fraction: 1.0,
                    ..TrainConfig::default()
                },
                "test fraction",
            ),
            (
                TrainConfig {
                    test_fraction: f64::NAN,
                    ..TrainConfig::default()
                },
                "test fraction",
            ),
            (
                TrainConfig {
                    l2_penalty: -1.0,
                    ..TrainConfig::default()
                },
                "L2 penalty",
            ),
            (
                TrainConfig {
                    max_iterations: 0,
                    ..TrainConfig::default()
                },
                "max iterations",
            ),
            (
                TrainConfig {
                    gradient_tolerance: 0.0,
                    ..TrainConfig::default()
                },
                "gradient tolerance",
            ),
        ];
        for (config, expected_name) in cases {
            match config.validate() {
                Err(EtlError::InvalidConfig { name, .. }) => assert_eq!(name, expected_name),
                other => panic!("{expected_name}: expected InvalidConfig, got {other:?}"),
            }
        }
    }

    #[test]
    fn min_accuracy_range() {
        assert!(validate_min_accuracy(0.0).is_ok());
        assert!(validate_min_accuracy(1.0).is_ok());
        assert!(validate_min_accuracy(1.5).is_err());
        assert!(validate_min_accuracy(f64::NAN).is_err());
    }
}
