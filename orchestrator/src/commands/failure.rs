//! Failures a user meets, each with its own exit code.

use std::time::Duration;

use crate::build_step::BuildStepError;
use crate::engine::image::{BuildError, BuildFailure};
use crate::engine::EngineError;
use crate::plan::Conflict;
use crate::progress::format_duration;
use crate::spec::SpecError;

/// The exit codes, as `--help` prints them.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    success
  1    any other failure (an Engine API call failed, a name is taken by a
       resource of another owner, ...)
  2    invalid stack file or command-line arguments (such as a container
       name the stack file does not declare)
  3    Docker Engine not reachable
  4    a container failed: the one-shot job exited non-zero, or a service
       exited or became unhealthy
  5    timed out: a one-shot job did not finish, or a service did not become
       healthy, within its bound
  6    a build step or an image build failed
  7    a host port is already in use
  8    an image is missing and cannot be built (no build context, or --no-build)
  130  interrupted (Ctrl-C)";

/// A failure of a command that is not an error of a lower layer.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("container `{name}` exited with code {code}{}; the containers after it were left as they were", format_log(.log))]
    OneShotFailed {
        name: String,
        code: i64,
        log: Vec<String>,
    },
    #[error(
        "container `{name}` did not finish within {} and was killed; raise `timeout` \
         under [containers.{name}] if the job needs longer{}",
        format_duration(*.timeout), format_log(.log)
    )]
    OneShotTimedOut {
        name: String,
        timeout: Duration,
        log: Vec<String>,
    },
    #[error("container `{name}` {reason}{}{}", format_probe(.probe_output), format_log(.log))]
    ServiceFailed {
        name: String,
        reason: String,
        probe_output: Option<String>,
        log: Vec<String>,
    },
    #[error(
        "container `{name}` did not become healthy within {}; check `orchestrator logs {name}`{}",
        format_duration(*.bound), format_probe(.probe_output)
    )]
    ServiceTimedOut {
        name: String,
        bound: Duration,
        probe_output: Option<String>,
    },
    #[error(
        "host port {host_ip}:{host_port} of container `{name}` is already in use; stop what \
         listens there or change `host` in the `ports` of [containers.{name}]"
    )]
    PortInUse {
        name: String,
        host_ip: String,
        host_port: u16,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("image `{tag}` does not exist and {reason}")]
    ImageMissing { tag: String, reason: String },
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Conflicts(Vec<Conflict>),
    #[error("no container `{name}` in the stack file; the stack declares: {}", .declared.join(", "))]
    UnknownContainer { name: String, declared: Vec<String> },
    /// Ctrl-C ended the command. `next_step` is the recovery the message
    /// gives.
    #[error("interrupted; {next_step}")]
    Interrupted { next_step: &'static str },
}

fn format_log(log: &[String]) -> String {
    if log.is_empty() {
        return String::new();
    }
    let mut text = String::from("\nlast log lines:");
    for line in log {
        text.push_str("\n  ");
        text.push_str(line);
    }
    text
}

fn format_probe(output: &Option<String>) -> String {
    match output.as_deref().map(str::trim) {
        Some(text) if !text.is_empty() => format!("\nlast healthcheck output: {text}"),
        _ => String::new(),
    }
}

/// Maps an error to its exit code by the first typed error in its chain.
pub fn exit_code(error: &anyhow::Error) -> i32 {
    for cause in error.chain() {
        if cause.downcast_ref::<SpecError>().is_some() {
            return SpecError::EXIT_CODE;
        }
        if let Some(EngineError::Unreachable { .. }) = cause.downcast_ref::<EngineError>() {
            return 3;
        }
        if cause.downcast_ref::<BuildStepError>().is_some()
            || cause.downcast_ref::<BuildError>().is_some()
            || matches!(
                cause.downcast_ref::<BuildFailure>(),
                Some(BuildFailure::Step(_))
            )
        {
            return 6;
        }
        if let Some(failure) = cause.downcast_ref::<Failure>() {
            return match failure {
                Failure::OneShotFailed { .. } | Failure::ServiceFailed { .. } => 4,
                Failure::OneShotTimedOut { .. } | Failure::ServiceTimedOut { .. } => 5,
                Failure::PortInUse { .. } => 7,
                Failure::ImageMissing { .. } => 8,
                Failure::Interrupted { .. } => 130,
                Failure::UnknownContainer { .. } => 2,
                Failure::Conflicts(_) => 1,
            };
        }
    }
    1
}
