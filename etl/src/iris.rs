//! The iris schema every input CSV must follow, and the bundled dataset.
//!
//! The column names are those of scikit-learn's `load_iris()`, which is also
//! the source of the 150 rows in `data/iris.csv`.

/// Number of feature columns.
pub const FEATURE_COUNT: usize = 4;

/// Feature column names, in the order of the model's weights and scaler.
pub const FEATURE_NAMES: [&str; FEATURE_COUNT] = [
    "sepal length (cm)",
    "sepal width (cm)",
    "petal length (cm)",
    "petal width (cm)",
];

/// Name of the column with the class index.
pub const TARGET_COLUMN: &str = "target";

/// Class names, indexed by the class index in the target column.
pub const CLASS_NAMES: [&str; CLASS_COUNT] = ["setosa", "versicolor", "virginica"];

/// Number of classes.
pub const CLASS_COUNT: usize = 3;

/// The bundled iris CSV (scikit-learn's copy), compiled into the binary so
/// that the program needs no file at run time.
pub const BUNDLED_IRIS_CSV: &[u8] = include_bytes!("../data/iris.csv");

/// Returns the bundled iris CSV bytes, ready to pass to [`crate::train`].
pub fn bundled_iris() -> &'static [u8] {
    BUNDLED_IRIS_CSV
}
