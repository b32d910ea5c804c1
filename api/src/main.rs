//! `api`: serves iris predictions over HTTP; `api healthcheck` probes a
//! running instance for Docker's HEALTHCHECK.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use api::config::{
    Limits, DEFAULT_BODY_READ_TIMEOUT, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_MAX_BATCH,
    DEFAULT_MAX_BODY_BYTES,
};
use api::server::ServeConfig;
use api::{healthcheck, logging, reload, server};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Serves iris predictions from the model file that etl publishes."
)]
struct Cli {
    /// Address to listen on, as IP:PORT (no host names).
    #[arg(long, env = "API_ADDR", default_value = "0.0.0.0:8000")]
    addr: SocketAddr,

    /// Model file to serve; it is reloaded when it changes.
    #[arg(
        long = "model",
        env = "API_MODEL_PATH",
        default_value = "/data/model.json"
    )]
    model_path: PathBuf,

    /// Maximum request body size, in bytes.
    #[arg(long, env = "API_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,

    /// Maximum number of objects in one batch request.
    #[arg(long, env = "API_MAX_BATCH", default_value_t = DEFAULT_MAX_BATCH as u64,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_batch: u64,

    /// Interval between two checks of the model file, in milliseconds.
    #[arg(long, env = "API_RELOAD_INTERVAL_MS",
          default_value_t = reload::DEFAULT_POLL_INTERVAL.as_millis() as u64,
          value_parser = clap::value_parser!(u64).range(10..=60_000))]
    reload_interval_ms: u64,

    /// Time allowed to finish requests in flight after SIGTERM or SIGINT,
    /// in seconds. Docker sends SIGKILL 10 s after SIGTERM by default.
    #[arg(long, env = "API_SHUTDOWN_GRACE_SECS", default_value_t = 5)]
    shutdown_grace_secs: u64,

    /// Maximum time to receive a request's headers; the connection is
    /// closed after it.
    #[arg(long, env = "API_HEADER_TIMEOUT_MS",
          default_value_t = DEFAULT_HEADER_READ_TIMEOUT.as_millis() as u64,
          value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    header_timeout_ms: u64,

    /// Maximum time to receive a request body; a slower body gets 408.
    #[arg(long, env = "API_BODY_TIMEOUT_MS",
          default_value_t = DEFAULT_BODY_READ_TIMEOUT.as_millis() as u64,
          value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    body_timeout_ms: u64,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Exits 0 when GET / on the service at ADDR returns 200, and 1 otherwise.
    Healthcheck {
        /// Address the service listens on; 0.0.0.0 is probed on 127.0.0.1.
        #[arg(long, env = "API_ADDR", default_value = "0.0.0.0:8000")]
        addr: SocketAddr,

        /// Time limit for connecting and for each read and write, in milliseconds.
        #[arg(long, default_value_t = 2000)]
        timeout_ms: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Healthcheck { addr, timeout_ms }) => healthcheck_command(addr, timeout_ms),
        None => serve_command(cli),
    }
}

fn healthcheck_command(addr: SocketAddr, timeout_ms: u64) -> ExitCode {
    let target = healthcheck::probe_address(addr);
    match healthcheck::probe(target, Duration::from_millis(timeout_ms)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{}", error_chain(&error));
            ExitCode::FAILURE
        }
    }
}

fn serve_command(cli: Cli) -> ExitCode {
    logging::init();
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "starting api");
    let config = ServeConfig {
        addr: cli.addr,
        model_path: cli.model_path,
        limits: Limits {
            max_body_bytes: cli.max_body_bytes,
            max_batch: cli.max_batch as usize,
            body_read_timeout: Duration::from_millis(cli.body_timeout_ms),
        },
        header_read_timeout: Duration::from_millis(cli.header_timeout_ms),
        poll_interval: Duration::from_millis(cli.reload_interval_ms),
        shutdown_grace: Duration::from_secs(cli.shutdown_grace_secs),
    };

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(error = %error, "failed to start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(server::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), "api stopped");
            ExitCode::FAILURE
        }
    }
}

/// Formats an error and its sources on one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
