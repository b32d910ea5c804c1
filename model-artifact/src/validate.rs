//! Structural checks that turn a parsed [`ModelArtifact`] into a usable model.

use std::collections::HashSet;

use crate::{ArtifactError, ModelArtifact};

/// Checks labels, shapes and numbers, in that order.
pub(crate) fn check(artifact: &ModelArtifact) -> Result<(), ArtifactError> {
    check_labels(artifact)?;
    check_shapes(artifact)?;
    check_numbers(artifact)
}

fn check_labels(artifact: &ModelArtifact) -> Result<(), ArtifactError> {
    let labels = |reason: String| Err(ArtifactError::Labels { reason });

    if artifact.feature_names.is_empty() {
        return labels("feature_names is empty".to_owned());
    }
    let mut seen = HashSet::new();
    for name in &artifact.feature_names {
        if !seen.insert(name.as_str()) {
            return labels(format!("feature name {name:?} appears twice"));
        }
    }
    if artifact.classes.len() < 2 {
        return labels(format!(
            "a classifier needs at least 2 classes, found {}",
            artifact.classes.len()
        ));
    }
    for (position, class) in artifact.classes.iter().enumerate() {
        if class.index != position {
            return labels(format!(
                "classes[{position}] has index {}, expected {position}",
                class.index
            ));
        }
    }
    Ok(())
}

fn check_shapes(artifact: &ModelArtifact) -> Result<(), ArtifactError> {
    let features = artifact.feature_names.len();
    let classes = artifact.classes.len();

    expect_len("scaler.mean", features, artifact.scaler.mean.len())?;
    expect_len("scaler.scale", features, artifact.scaler.scale.len())?;
    expect_len("weights", classes, artifact.weights.len())?;
    for (class, row) in artifact.weights.iter().enumerate() {
        expect_len(&format!("weights[{class}]"), features, row.len())?;
    }
    expect_len("intercepts", classes, artifact.intercepts.len())?;

    let metrics = &artifact.metrics;
    expect_len("metrics.per_class", classes, metrics.per_class.len())?;
    expect_len(
        "metrics.confusion_matrix",
        classes,
        metrics.confusion_matrix.len(),
    )?;
    for (class, row) in metrics.confusion_matrix.iter().enumerate() {
        expect_len(
            &format!("metrics.confusion_matrix[{class}]"),
            classes,
            row.len(),
        )?;
    }
    Ok(())
}

fn expect_len(field: &str, expected: usize, found: usize) -> Result<(), ArtifactError> {
    if expected == found {
        return Ok(());
    }
    Err(ArtifactError::Shape {
        field: field.to_owned(),
        expected,
        found,
    })
}

fn check_numbers(artifact: &ModelArtifact) -> Result<(), ArtifactError> {
    expect_finite("scaler.mean", &artifact.scaler.mean)?;
    expect_finite("scaler.scale", &artifact.scaler.scale)?;
    for (position, &value) in artifact.scaler.scale.iter().enumerate() {
        if value <= 0.0 {
            return Err(ArtifactError::InvalidScale {
                field: format!("scaler.scale[{position}]"),
                value,
            });
        }
    }
    for (class, row) in artifact.weights.iter().enumerate() {
        expect_finite(&format!("weights[{class}]"), row)?;
    }
    expect_finite("intercepts", &artifact.intercepts)
}

fn expect_finite(field: &str, values: &[f64]) -> Result<(), ArtifactError> {
    match values.iter().position(|value| !value.is_finite()) {
        None => Ok(()),
        Some(position) => Err(ArtifactError::NonFinite {
            field: format!("{field}[{position}]"),
            value: values[position],
        }),
    }
}
