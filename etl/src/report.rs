//! The evaluation table printed to standard output.

use std::fmt::Write;

use model_artifact::ModelArtifact;

/// Formats accuracy, per-class metrics and the confusion matrix as a table.
pub fn metrics_table(artifact: &ModelArtifact) -> String {
    let metrics = &artifact.metrics;
    let names: Vec<&str> = artifact.classes.iter().map(|c| c.name.as_str()).collect();
    let width = names
        .iter()
        .map(|name| name.len())
        .max()
        .unwrap_or(0)
        .max(9);
    let mut table = String::new();

    // `fmt::Write` for String never returns an error, so the results are ignored.
    let _ = writeln!(
        table,
        "accuracy {:.4} on {} test rows ({} training rows)",
        metrics.accuracy, artifact.rows.test, artifact.rows.train
    );
    let _ = writeln!(
        table,
        "\n{:width$}  precision  recall     f1  support",
        "class"
    );
    for (class, name) in metrics.per_class.iter().zip(&names) {
        let _ = writeln!(
            table,
            "{name:width$}  {:>9.4}  {:>6.4}  {:>6.4}  {:>7}",
            class.precision, class.recall, class.f1, class.support
        );
    }

    let _ = write!(
        table,
        "\nconfusion matrix (rows: actual, columns: predicted)\n{:width$}",
        ""
    );
    for name in &names {
        let _ = write!(table, "  {name:>width$}");
    }
    table.push('\n');
    for (row, name) in metrics.confusion_matrix.iter().zip(&names) {
        let _ = write!(table, "{name:width$}");
        for count in row {
            let _ = write!(table, "  {count:>width$}");
        }
        table.push('\n');
    }
    table
}
