//! Host build steps: commands such as `cargo build` that produce what the
//! image build contexts copy, run before the images are built.
//!
//! A step is skipped when the content hash of its `inputs` equals the one
//! recorded in its stamp after its last successful run and every declared
//! output exists. The stamp lives under `<stack file directory>/target/
//! .orchestrator/<project>/<step>.json`, beside Cargo's own build output,
//! which `.gitignore` already excludes.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::context::ignore::IgnoreRules;
use crate::context::{self, ContextError, EntryKind};
use crate::plan::ObservedBuildStep;
use crate::spec::{BuildStep, Stack};

/// Number of output lines of a failed step kept in its error.
const FAILED_OUTPUT_LINES: usize = 30;

#[derive(Debug, thiserror::Error)]
pub enum BuildStepError {
    #[error("failed to hash the inputs of build step `{step}`")]
    Inputs {
        step: String,
        #[source]
        source: ContextError,
    },
    #[error(
        "failed to start build step `{step}` (`{program}`); check that it is installed and on PATH"
    )]
    Spawn {
        step: String,
        program: String,
        #[source]
        source: io::Error,
    },
    #[error("build step `{step}` failed with {status}; last output:\n{}", .output.join("\n"))]
    Failed {
        step: String,
        status: String,
        output: Vec<String>,
    },
    #[error("build step `{step}` succeeded but did not produce {}", .path.display())]
    OutputMissing { step: String, path: PathBuf },
    #[error("failed to write the stamp of build step `{step}` to {}", .path.display())]
    Stamp {
        step: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

#[derive(Debug, Serialize, Deserialize)]
struct Stamp {
    inputs_hash: String,
}

/// Path of the stamp file of `step`.
pub fn stamp_path(stack: &Stack, step: &BuildStep) -> PathBuf {
    let dir = stack.file.parent().unwrap_or(Path::new("."));
    dir.join("target")
        .join(".orchestrator")
        .join(&stack.project)
        .join(format!("{}.json", step.name))
}

/// Computes the SHA-256 (hex) of the step's command, environment and the
/// paths and content of every file its `inputs` patterns match.
pub fn inputs_hash(step: &BuildStep) -> Result<String, BuildStepError> {
    let mut rules = String::from("*\n");
    for pattern in &step.inputs {
        rules.push('!');
        rules.push_str(pattern);
        rules.push('\n');
    }
    let rules = IgnoreRules::parse(&rules);
    let entries =
        context::walk_filtered(&step.workdir, &rules).map_err(|source| BuildStepError::Inputs {
            step: step.name.clone(),
            source,
        })?;

    let mut hasher = Sha256::new();
    for argument in &step.command {
        hasher.update(b"\0arg\0");
        hasher.update(argument.as_bytes());
    }
    for (key, value) in &step.env {
        hasher.update(format!("\0env\0{key}={value}").as_bytes());
    }
    for entry in entries {
        if let EntryKind::File { .. } = entry.kind {
            hasher.update(b"\0file\0");
            hasher.update(entry.path.as_bytes());
            hasher.update(b"\0");
            let path = step.workdir.join(&entry.path);
            let content = fs::read(&path).map_err(|source| BuildStepError::Inputs {
                step: step.name.clone(),
                source: ContextError::Read { path, source },
            })?;
            hasher.update(&content);
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Reads the stamp of `step` and checks its outputs.
pub fn observe(stack: &Stack, step: &BuildStep) -> ObservedBuildStep {
    let recorded_inputs_hash = fs::read(stamp_path(stack, step))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Stamp>(&bytes).ok())
        .map(|stamp| stamp.inputs_hash);
    let missing_outputs = step
        .outputs
        .iter()
        .filter(|p| !p.exists())
        .cloned()
        .collect();
    ObservedBuildStep {
        recorded_inputs_hash,
        missing_outputs,
    }
}

/// Runs `step`, passing each output line to `on_line`, then records its
/// stamp with `inputs_hash`. The child is killed if the returned future is
/// dropped (for example on Ctrl-C).
pub async fn run(
    stack: &Stack,
    step: &BuildStep,
    inputs_hash: &str,
    mut on_line: impl FnMut(&str),
) -> Result<(), BuildStepError> {
    let (program, arguments) = step
        .command
        .split_first()
        .expect("validated: command is not empty");
    let mut child = Command::new(program)
        .args(arguments)
        .envs(&step.env)
        .current_dir(&step.workdir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so that the whole tree (cargo and its
        // rustc children) can be signalled at once, and a terminal's Ctrl-C
        // reaches only the orchestrator, which then ends the group itself.
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| BuildStepError::Spawn {
            step: step.name.clone(),
            program: program.clone(),
            source,
        })?;
    let mut group = GroupGuard::new(&child);

    let stdout = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
    let stderr = BufReader::new(child.stderr.take().expect("stderr is piped")).lines();
    let mut output: Vec<String> = Vec::new();
    let streams =
        futures_util::stream::select(tokio_stream_lines(stdout), tokio_stream_lines(stderr));
    let mut streams = std::pin::pin!(streams);
    while let Some(line) = streams.next().await {
        on_line(&line);
        output.push(line);
        if output.len() > FAILED_OUTPUT_LINES {
            output.remove(0);
        }
    }
    let status = child.wait().await.map_err(|source| BuildStepError::Spawn {
        step: step.name.clone(),
        program: program.clone(),
        source,
    })?;
    if status.success() {
        group.disarm();
    } else {
        return Err(BuildStepError::Failed {
            step: step.name.clone(),
            status: status.to_string(),
            output,
        });
    }

    if let Some(path) = step.outputs.iter().find(|p| !p.exists()) {
        return Err(BuildStepError::OutputMissing {
            step: step.name.clone(),
            path: path.clone(),
        });
    }
    write_stamp(stack, step, inputs_hash)
}

/// Grace between SIGTERM and SIGKILL when a build step's group is ended.
pub const GROUP_KILL_GRACE: Duration = Duration::from_secs(2);

/// Ends the step's process group when dropped armed: on Ctrl-C (the future
/// of [`run`] is dropped), on a failure elsewhere in `up`, or when the step
/// itself failed and left children behind. The group id is the pid of the
/// child, which stays unreaped while the `Child` lives, so the id cannot be
/// reused by an unrelated group before this guard runs.
struct GroupGuard {
    pgid: Option<libc::pid_t>,
}

impl GroupGuard {
    fn new(child: &tokio::process::Child) -> Self {
        let pgid = child.id().and_then(|id| libc::pid_t::try_from(id).ok());
        GroupGuard { pgid }
    }

    /// Leaves the group alone: the step succeeded.
    fn disarm(&mut self) {
        self.pgid = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            kill_group(pgid, GROUP_KILL_GRACE);
        }
    }
}

/// Sends SIGTERM to process group `pgid`, waits up to `grace` for it to
/// empty, then sends SIGKILL. Blocks the calling thread for at most `grace`.
pub fn kill_group(pgid: libc::pid_t, grace: Duration) {
    // SAFETY: kill(2) takes plain integers; a negative pid addresses a group.
    if unsafe { libc::kill(-pgid, libc::SIGTERM) } != 0 {
        return; // No such group: every member has exited.
    }
    let deadline = std::time::Instant::now() + grace;
    while std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        if !group_has_live_member(pgid) {
            return;
        }
    }
    // SAFETY: as above.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
}

/// Reports whether group `pgid` still has a process that is not a zombie,
/// read from /proc. Without /proc it assumes that one is left.
fn group_has_live_member(pgid: libc::pid_t) -> bool {
    let Ok(entries) = fs::read_dir("/proc") else {
        return true;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the parenthesised command: state ppid pgrp ...
        let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next();
        let group = fields.nth(1).and_then(|g| g.parse::<libc::pid_t>().ok());
        if group == Some(pgid) && state != Some("Z") {
            return true;
        }
    }
    false
}

fn tokio_stream_lines<R>(
    lines: tokio::io::Lines<BufReader<R>>,
) -> impl futures_util::Stream<Item = String>
where
    R: tokio::io::AsyncRead + Unpin,
{
    futures_util::stream::unfold(lines, |mut lines| async move {
        match lines.next_line().await {
            Ok(Some(line)) => Some((line, lines)),
            Ok(None) | Err(_) => None,
        }
    })
}

fn write_stamp(stack: &Stack, step: &BuildStep, inputs_hash: &str) -> Result<(), BuildStepError> {
    let path = stamp_path(stack, step);
    let stamp = Stamp {
        inputs_hash: inputs_hash.to_string(),
    };
    let text = serde_json::to_vec_pretty(&stamp).expect("a stamp serializes");
    let result = path
        .parent()
        .map_or(Ok(()), fs::create_dir_all)
        .and_then(|()| fs::write(&path, text));
    result.map_err(|source| BuildStepError::Stamp {
        step: step.name.clone(),
        path,
        source,
    })
}
