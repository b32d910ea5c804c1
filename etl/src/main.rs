//! `etl`: trains the iris classifier from a CSV file and publishes
//! `model.json` and `metrics.json`, or installs an exported model.

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use etl::{EtlError, TrainConfig};
use tracing::{error, info};
use tracing_subscriber::EnvFilter;

const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  model published (or installed)
  1  any other failure: I/O error, solver failure
  2  invalid input or configuration: unreadable or malformed CSV, missing
     column, too few rows, invalid option value, invalid model to install
  3  quality gate failed: held-out accuracy below --min-accuracy; nothing
     was published and the previous model stays

Every option can also be set through the environment variable named in
its description. RUST_LOG sets the log filter (default: info); logs go to
standard error and the metrics table to standard output.";

/// Train the iris classifier from a CSV file and publish it atomically as
/// model.json (plus metrics.json) in the output directory.
#[derive(Debug, Parser)]
#[command(
    name = "etl",
    version,
    after_help = EXIT_CODES_HELP,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    train: TrainArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate an exported model.json (and metrics.json) and publish it
    /// atomically into the output directory.
    Install(InstallArgs),
}

#[derive(Debug, Args)]
struct TrainArgs {
    /// CSV file with a header row and the four iris feature columns plus
    /// `target` [default: the bundled iris dataset]
    #[arg(long, env = "ETL_INPUT", value_name = "CSV")]
    input: Option<PathBuf>,

    /// Directory to publish model.json and metrics.json into
    #[arg(
        long,
        env = "ETL_OUTPUT_DIR",
        value_name = "DIR",
        default_value = "/data"
    )]
    output_dir: PathBuf,

    /// Seed of the shuffle before the stratified train/test split
    #[arg(long, env = "ETL_SEED", allow_negative_numbers = true, value_name = "N", default_value_t = TrainConfig::default().seed)]
    seed: u64,

    /// Fraction of each class held out for evaluation, between 0 and 1
    #[arg(long, env = "ETL_TEST_FRACTION", allow_negative_numbers = true, value_name = "F", default_value_t = TrainConfig::default().test_fraction)]
    test_fraction: f64,

    /// Minimum held-out accuracy, from 0 to 1, below which nothing is
    /// published and the exit code is 3
    #[arg(
        long,
        env = "ETL_MIN_ACCURACY",
        allow_negative_numbers = true,
        value_name = "A",
        default_value_t = 0.9
    )]
    min_accuracy: f64,

    /// L2 regularization strength, 0 or more (scikit-learn's 1/C)
    #[arg(long, env = "ETL_L2_PENALTY", allow_negative_numbers = true, value_name = "ALPHA", default_value_t = TrainConfig::default().l2_penalty)]
    l2_penalty: f64,

    /// Maximum number of L-BFGS iterations
    #[arg(long, env = "ETL_MAX_ITERATIONS", allow_negative_numbers = true, value_name = "N", default_value_t = TrainConfig::default().max_iterations)]
    max_iterations: u64,

    /// Convergence tolerance on the gradient norm of the mean loss per
    /// training row (scikit-learn's tol)
    #[arg(long, env = "ETL_GRADIENT_TOLERANCE", allow_negative_numbers = true, value_name = "TOL", default_value_t = TrainConfig::default().gradient_tolerance)]
    gradient_tolerance: f64,
}

#[derive(Debug, Args)]
struct InstallArgs {
    /// Directory that contains the model.json (and optionally metrics.json)
    /// to install
    #[arg(long, value_name = "DIR")]
    from: PathBuf,

    /// Directory to publish the files into
    #[arg(
        long,
        env = "ETL_OUTPUT_DIR",
        value_name = "DIR",
        default_value = "/data"
    )]
    output_dir: PathBuf,

    /// Remove the --from directory after a successful install
    #[arg(long)]
    remove_source: bool,
}

fn main() -> ExitCode {
    keep_freed_memory();
    init_logging();
    let cli = Cli::parse();

    let result = match &cli.command {
        Some(Command::Install(args)) => install(args),
        None => train_and_publish(&cli.train),
    };
    match result {
        Ok(()) => ExitCode::from(etl::EXIT_PUBLISHED as u8),
        Err(failure) => {
            error!("{}", error_chain(&failure));
            ExitCode::from(failure.exit_code() as u8)
        }
    }
}

/// Keeps freed memory in the process instead of returning it to the kernel
/// after every solver iteration.
///
/// linfa allocates and frees several matrices with one value per training
/// row and class in every iteration. By default glibc returns a large freed
/// block to the kernel at once, so every iteration page-faulted the same
/// memory in again: on 1,000,000 rows that was a quarter of the run time,
/// spent in the kernel. Retained memory has been touched before, so the
/// peak resident set size does not grow.
fn keep_freed_memory() {
    // Blocks up to 32 MiB (glibc's largest threshold on 64-bit) come from
    // the heap, and the heap is trimmed only beyond 1 GiB of free memory.
    const MMAP_THRESHOLD_BYTES: libc::c_int = 32 << 20;
    const TRIM_THRESHOLD_BYTES: libc::c_int = 1 << 30;
    // SAFETY: mallopt only changes allocator settings, and it runs before
    // any other thread exists or any memory is allocated here.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES);
    }
}

fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

fn train_and_publish(args: &TrainArgs) -> Result<(), EtlError> {
    let config = TrainConfig {
        seed: args.seed,
        test_fraction: args.test_fraction,
        l2_penalty: args.l2_penalty,
        max_iterations: args.max_iterations,
        gradient_tolerance: args.gradient_tolerance,
    };
    config.validate()?;
    etl::validate_min_accuracy(args.min_accuracy)?;
    etl::check_output_dir(&args.output_dir)?;
    etl::remove_stale_temporaries(&args.output_dir)?;

    let artifact = match &args.input {
        Some(path) => {
            info!(path = %path.display(), "reading input CSV");
            if path.is_dir() {
                return Err(EtlError::InputIsDirectory { path: path.clone() });
            }
            let file = File::open(path).map_err(|source| EtlError::OpenInput {
                path: path.clone(),
                source,
            })?;
            etl::train(file, &config)?
        }
        None => {
            info!("reading the bundled iris CSV");
            etl::train(etl::bundled_iris(), &config)?
        }
    };
    // A closed standard output must not stop the model from being published.
    let _ = std::io::stdout().write_all(etl::metrics_table(&artifact).as_bytes());

    etl::check_quality(&artifact, args.min_accuracy)?;
    let published = etl::publish_model(&args.output_dir, &artifact)?;
    info!(
        version = %published.model_version,
        path = %published.model_path.display(),
        "published model"
    );
    Ok(())
}

fn install(args: &InstallArgs) -> Result<(), EtlError> {
    info!(from = %args.from.display(), output_dir = %args.output_dir.display(), "installing model");
    etl::install_model(&args.from, &args.output_dir, args.remove_source)?;
    Ok(())
}

/// Formats an error and its sources as `error: cause: cause`.
fn error_chain(failure: &dyn std::error::Error) -> String {
    let mut message = failure.to_string();
    let mut source = failure.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
