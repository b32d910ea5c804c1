//! Runs the real `etl` binary: exit codes, atomic publishing, and that a
//! failed run leaves the published model untouched.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use model_artifact::Model;

const IRIS_HEADER: &str =
    "sepal length (cm),sepal width (cm),petal length (cm),petal width (cm),target";

/// Runs `etl` with `args` and a clean `ETL_*` environment.
fn etl(args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_etl"));
    for (name, _) in std::env::vars() {
        if name.starts_with("ETL_") {
            command.env_remove(name);
        }
    }
    command.args(args).output().expect("etl runs")
}

fn train_into(dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["--output-dir", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    etl(&args)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Names of the files in `dir`, sorted.
fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Creates an output directory that contains a published model.
fn published_dir() -> (tempfile::TempDir, Vec<u8>, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let output = train_into(dir.path(), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let model = fs::read(dir.path().join("model.json")).unwrap();
    let metrics = fs::read(dir.path().join("metrics.json")).unwrap();
    (dir, model, metrics)
}

fn assert_unchanged(dir: &Path, model: &[u8], metrics: &[u8]) {
    assert_eq!(fs::read(dir.join("model.json")).unwrap(), model);
    assert_eq!(fs::read(dir.join("metrics.json")).unwrap(), metrics);
    assert_eq!(file_names(dir), ["metrics.json", "model.json"]);
}

fn write_csv(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    path
}

#[test]
fn default_run_publishes_model() {
    let (dir, model_bytes, metrics_bytes) = published_dir();
    assert_eq!(file_names(dir.path()), ["metrics.json", "model.json"]);

    let model = Model::from_bytes(&model_bytes).unwrap();
    assert!(model.artifact().metrics.accuracy >= 0.9);
    assert_eq!(model.artifact().rows.read, 150);

    let report: serde_json::Value = serde_json::from_slice(&metrics_bytes).unwrap();
    assert_eq!(report["model_version"], model.version());
    assert_eq!(
        report["metrics"]["accuracy"],
        model.artifact().metrics.accuracy
    );
}

#[test]
fn metrics_table_goes_to_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let output = train_into(dir.path(), &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with("accuracy "), "{stdout}");
    assert!(stdout.contains("confusion matrix"), "{stdout}");
    assert!(stderr(&output).contains("published model"));
}

#[test]
fn published_files_are_world_readable() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, _, _) = published_dir();
    for name in ["model.json", "metrics.json"] {
        let mode = fs::metadata(dir.path().join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644, "{name}");
    }
}

#[test]
fn environment_configures_run() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_etl"))
        .env("ETL_OUTPUT_DIR", dir.path())
        .env("ETL_SEED", "7")
        .env("ETL_TEST_FRACTION", "0.3")
        .env("ETL_L2_PENALTY", "0.5")
        .env("ETL_MAX_ITERATIONS", "50")
        .env("ETL_GRADIENT_TOLERANCE", "0.001")
        .env("ETL_MIN_ACCURACY", "0.5")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));

    let model = Model::load(&dir.path().join("model.json")).unwrap();
    let parameters = &model.artifact().training.parameters;
    assert_eq!(parameters["seed"], 7);
    assert_eq!(parameters["test_fraction"], 0.3);
    assert_eq!(parameters["l2_penalty"], 0.5);
    assert_eq!(parameters["max_iterations"], 50);
    assert_eq!(parameters["gradient_tolerance"], 0.001);
    // round(0.3 * 50) = 15 test rows per class, 49 virginica rows rounds to 15.
    assert_eq!(model.artifact().rows.test, 45);
}

#[test]
fn input_file_digest_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("iris.csv");
    fs::write(&input, etl::bundled_iris()).unwrap();
    let out = dir.path().join("out");
    let output = train_into(&out, &["--input", input.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let model = Model::load(&out.join("model.json")).unwrap();
    // `sha256sum etl/data/iris.csv`
    assert_eq!(
        model.artifact().training.input_sha256,
        "0ba79ae755c686ee02dfe1d2943772a46ded2433c4fde6dd7ad3b01c41ff5d3d"
    );
}

#[test]
fn missing_column_keeps_previous_model() {
    let (dir, model, metrics) = published_dir();
    let input_dir = tempfile::tempdir().unwrap();
    let input = write_csv(
        input_dir.path(),
        "bad.csv",
        "sepal length (cm),sepal width (cm),petal length (cm),target\n5.1,3.5,1.4,0\n",
    );
    let output = train_into(dir.path(), &["--input", input.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("petal width (cm)"),
        "{}",
        stderr(&output)
    );
    assert_unchanged(dir.path(), &model, &metrics);
}

#[test]
fn too_few_rows_keeps_previous_model() {
    let (dir, model, metrics) = published_dir();
    let input_dir = tempfile::tempdir().unwrap();
    let text = format!("{IRIS_HEADER}\n5.1,3.5,1.4,0.2,0\n7.0,3.2,4.7,1.4,1\nNaN,1,1,1,2\n");
    let input = write_csv(input_dir.path(), "short.csv", &text);
    let output = train_into(dir.path(), &["--input", input.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("too few rows left"),
        "{}",
        stderr(&output)
    );
    assert_unchanged(dir.path(), &model, &metrics);
}

#[test]
fn missing_input_file_is_invalid_input() {
    let (dir, model, metrics) = published_dir();
    let output = train_into(dir.path(), &["--input", "/nonexistent/iris.csv"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("/nonexistent/iris.csv"));
    assert_unchanged(dir.path(), &model, &metrics);
}

#[test]
fn quality_gate_keeps_previous_model() {
    let (dir, model, metrics) = published_dir();
    // A perfect score is not reached on the default split (one test row of
    // the 30 is misclassified), so the gate fails.
    let output = train_into(dir.path(), &["--min-accuracy", "1.0"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(stderr(&output).contains("below the minimum"));
    assert_unchanged(dir.path(), &model, &metrics);
}

#[test]
fn quality_gate_failure_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let output = train_into(dir.path(), &["--min-accuracy", "1.0"]);
    assert_eq!(output.status.code(), Some(3));
    assert!(!dir.path().join("model.json").exists());
    assert!(file_names(dir.path()).is_empty());
}

#[test]
fn invalid_options_exit_with_two() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [&[&str]; 5] = [
        &["--test-fraction", "1.5"],
        &["--min-accuracy", "2"],
        &["--l2-penalty", "-1"],
        &["--seed", "abc"],
        &["--unknown-option"],
    ];
    for args in cases {
        let output = train_into(dir.path(), args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    assert!(file_names(dir.path()).is_empty());
}

#[test]
fn help_documents_exit_codes() {
    let output = etl(&["--help"]);
    let help = String::from_utf8(output.stdout).unwrap();
    for expected in [
        "Exit codes:",
        "0  model published",
        "2  invalid input",
        "3  quality gate",
        "ETL_MIN_ACCURACY",
    ] {
        assert!(help.contains(expected), "{expected:?} missing from\n{help}");
    }
}

#[test]
fn install_publishes_identical_files() {
    let (source, model, metrics) = published_dir();
    let target = tempfile::tempdir().unwrap();
    let output = etl(&[
        "install",
        "--from",
        source.path().to_str().unwrap(),
        "--output-dir",
        target.path().to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_unchanged(target.path(), &model, &metrics);
    assert!(source.path().join("model.json").exists());
}

#[test]
fn install_removes_source_when_asked() {
    let (source, model, _) = published_dir();
    let staging = source.path().join("staging");
    fs::create_dir(&staging).unwrap();
    fs::write(staging.join("model.json"), &model).unwrap();
    let target = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_etl"))
        .env("ETL_OUTPUT_DIR", target.path())
        .args([
            "install",
            "--from",
            staging.to_str().unwrap(),
            "--remove-source",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(fs::read(target.path().join("model.json")).unwrap(), model);
    // No metrics.json in the source, so none is installed.
    assert_eq!(file_names(target.path()), ["model.json"]);
    assert!(!staging.exists());
}

#[test]
fn install_ignores_training_environment() {
    // The etl container's environment sets the training variables, and
    // `install` runs in that same container.
    let (source, model, metrics) = published_dir();
    let target = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_etl"))
        .env("ETL_OUTPUT_DIR", target.path())
        .env("ETL_SEED", "42")
        .env("ETL_MIN_ACCURACY", "0.9")
        .env("ETL_INPUT", "/nonexistent.csv")
        .args(["install", "--from", source.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_unchanged(target.path(), &model, &metrics);
}

#[test]
fn install_rejects_invalid_model() {
    let (target, model, metrics) = published_dir();
    let source = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u8]); 3] = [
        ("truncated", &model[..model.len() / 2]),
        ("not JSON", b"model"),
        (
            "wrong version",
            &String::from_utf8_lossy(&model)
                .replacen("\"format_version\": 1", "\"format_version\": 2", 1)
                .into_bytes(),
        ),
    ];
    for (case, bytes) in cases {
        fs::write(source.path().join("model.json"), bytes).unwrap();
        let output = etl(&[
            "install",
            "--from",
            source.path().to_str().unwrap(),
            "--output-dir",
            target.path().to_str().unwrap(),
            "--remove-source",
        ]);
        assert_eq!(output.status.code(), Some(2), "{case}: {}", stderr(&output));
        assert_unchanged(target.path(), &model, &metrics);
        assert!(source.path().exists(), "{case}: source removed");
    }
}

#[test]
fn install_rejects_missing_model() {
    let source = tempfile::tempdir().unwrap();
    let target = tempfile::tempdir().unwrap();
    let output = etl(&[
        "install",
        "--from",
        source.path().to_str().unwrap(),
        "--output-dir",
        target.path().to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(file_names(target.path()).is_empty());
}

#[test]
fn install_rejects_invalid_metrics() {
    let (source, model, _) = published_dir();
    fs::write(source.path().join("metrics.json"), b"{\"accuracy\":").unwrap();
    let target = tempfile::tempdir().unwrap();
    let output = etl(&[
        "install",
        "--from",
        source.path().to_str().unwrap(),
        "--output-dir",
        target.path().to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(file_names(target.path()).is_empty());
    assert_eq!(fs::read(source.path().join("model.json")).unwrap(), model);
}

#[test]
fn install_into_source_directory_is_rejected() {
    let (dir, model, metrics) = published_dir();
    let path = dir.path().to_str().unwrap();
    let output = etl(&[
        "install",
        "--from",
        path,
        "--output-dir",
        path,
        "--remove-source",
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert_unchanged(dir.path(), &model, &metrics);
}

#[test]
fn output_path_that_is_a_file_is_invalid_input() {
    let (dir, model, metrics) = published_dir();
    let blocker = dir.path().join("not-a-directory");
    fs::write(&blocker, b"").unwrap();
    let output = train_into(&blocker, &[]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("is not a directory"), "{message}");
    assert!(message.contains("--output-dir"), "{message}");
    assert!(!message.contains("os error 17"), "{message}");

    let source = tempfile::tempdir().unwrap();
    fs::write(source.path().join("model.json"), &model).unwrap();
    let output = etl(&[
        "install",
        "--from",
        source.path().to_str().unwrap(),
        "--output-dir",
        blocker.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("is not a directory"));

    fs::remove_file(&blocker).unwrap();
    assert_unchanged(dir.path(), &model, &metrics);
}

#[test]
fn input_directory_is_invalid_input() {
    let (dir, model, metrics) = published_dir();
    let input = tempfile::tempdir().unwrap();
    let output = train_into(dir.path(), &["--input", input.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("is a directory"), "{message}");
    assert!(message.contains("pass a CSV file"), "{message}");
    assert_unchanged(dir.path(), &model, &metrics);
}

#[test]
fn negative_numbers_reach_range_checks() {
    let dir = tempfile::tempdir().unwrap();
    // The expected phrases are the `expected` texts of TrainConfig::validate
    // and validate_min_accuracy.
    let cases: [(&[&str], &str, &str); 4] = [
        (
            &["--test-fraction", "-0.1"],
            "invalid test fraction: -0.1",
            "greater than 0 and less than 1",
        ),
        (
            &["--min-accuracy", "-1"],
            "invalid min accuracy: -1",
            "from 0 to 1",
        ),
        (
            &["--l2-penalty", "-1"],
            "invalid L2 penalty: -1",
            "0 or more",
        ),
        (
            &["--gradient-tolerance", "-0.5"],
            "invalid gradient tolerance: -0.5",
            "greater than 0",
        ),
    ];
    for (args, named, rule) in cases {
        let output = train_into(dir.path(), args);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {message}");
        assert!(message.contains(named), "{args:?}: {message}");
        assert!(message.contains(rule), "{args:?}: {message}");
    }
    assert!(file_names(dir.path()).is_empty());
}

#[test]
fn install_rejects_nested_directories() {
    // Output directory inside the source: --remove-source would delete the
    // model it just installed.
    let (parent, model, metrics) = published_dir();
    let inner = parent.path().join("sub");
    let output = etl(&[
        "install",
        "--from",
        parent.path().to_str().unwrap(),
        "--output-dir",
        inner.to_str().unwrap(),
        "--remove-source",
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("contain one another"),
        "{}",
        stderr(&output)
    );
    assert_unchanged(parent.path(), &model, &metrics);

    // Source inside the output directory, reached through a `..` path.
    let (other, other_model, other_metrics) = published_dir();
    let staging = other.path().join("staging");
    fs::create_dir(&staging).unwrap();
    fs::write(staging.join("model.json"), &model).unwrap();
    let dotted = staging.join("..");
    let output = etl(&[
        "install",
        "--from",
        staging.to_str().unwrap(),
        "--output-dir",
        dotted.to_str().unwrap(),
        "--remove-source",
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(staging.join("model.json").exists());
    assert_eq!(
        fs::read(other.path().join("model.json")).unwrap(),
        other_model
    );
    assert_eq!(
        fs::read(other.path().join("metrics.json")).unwrap(),
        other_metrics
    );
}

#[test]
fn install_without_metrics_removes_stale_metrics() {
    let (target, _, _) = published_dir();
    // A different model: another seed gives other weights.
    let source = tempfile::tempdir().unwrap();
    let output = train_into(source.path(), &["--seed", "7"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    fs::remove_file(source.path().join("metrics.json")).unwrap();
    let new_model = fs::read(source.path().join("model.json")).unwrap();

    let output = etl(&[
        "install",
        "--from",
        source.path().to_str().unwrap(),
        "--output-dir",
        target.path().to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        fs::read(target.path().join("model.json")).unwrap(),
        new_model
    );
    assert_eq!(file_names(target.path()), ["model.json"]);
}

#[test]
fn failed_model_publish_keeps_previous_metrics() {
    // model.json is a directory, so renaming the new model over it fails
    // after the new metrics.json could already have been renamed.
    let (dir, _, metrics) = published_dir();
    fs::remove_file(dir.path().join("model.json")).unwrap();
    fs::create_dir(dir.path().join("model.json")).unwrap();
    let output = train_into(dir.path(), &["--seed", "7"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("failed to publish"));
    assert_eq!(fs::read(dir.path().join("metrics.json")).unwrap(), metrics);
    assert_eq!(file_names(dir.path()), ["metrics.json", "model.json"]);
    assert!(dir.path().join("model.json").is_dir());

    // The same through install, with no metrics.json before.
    let (source, _, _) = published_dir();
    let target = tempfile::tempdir().unwrap();
    fs::create_dir(target.path().join("model.json")).unwrap();
    let output = etl(&[
        "install",
        "--from",
        source.path().to_str().unwrap(),
        "--output-dir",
        target.path().to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(file_names(target.path()), ["model.json"]);
}

/// Temporary files as a killed run leaves them, plus files that only look
/// alike and must stay.
fn add_stale_temporaries(dir: &Path) {
    for name in [
        ".model.json.a1B2c3.tmp",
        ".metrics.json.Zz9yX8.tmp",
        ".model.json.keep",
        ".model.json.toolong1.tmp",
        "notes.tmp",
    ] {
        fs::write(dir.join(name), b"partial").unwrap();
    }
}

const LOOKALIKES: [&str; 3] = [".model.json.keep", ".model.json.toolong1.tmp", "notes.tmp"];

fn assert_only_lookalikes_left(dir: &Path, published: &[&str]) {
    let mut expected: Vec<&str> = LOOKALIKES.iter().chain(published).copied().collect();
    expected.sort();
    assert_eq!(file_names(dir), expected);
}

#[test]
fn run_removes_stale_temporaries() {
    let dir = tempfile::tempdir().unwrap();
    add_stale_temporaries(dir.path());
    // A failed run removes them too: the removal comes before training.
    let output = train_into(dir.path(), &["--min-accuracy", "1.0"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert_only_lookalikes_left(dir.path(), &[]);

    add_stale_temporaries(dir.path());
    let output = train_into(dir.path(), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_only_lookalikes_left(dir.path(), &["metrics.json", "model.json"]);
}

#[test]
fn install_removes_stale_temporaries() {
    let (source, _, _) = published_dir();
    let target = tempfile::tempdir().unwrap();
    add_stale_temporaries(target.path());
    let output = etl(&[
        "install",
        "--from",
        source.path().to_str().unwrap(),
        "--output-dir",
        target.path().to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_only_lookalikes_left(target.path(), &["metrics.json", "model.json"]);
}
