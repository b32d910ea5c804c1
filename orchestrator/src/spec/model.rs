//! The validated stack: typed values that `spec::load` produces from
//! `infra.toml` and that the planner and the engine layer consume.
//!
//! Every path here is absolute (resolved against the stack file's
//! directory), every duration is a `Duration` and every reference between
//! resources has been checked, so no later stage re-validates.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The whole stack, in the order it is brought up.
#[derive(Debug, Clone, PartialEq)]
pub struct Stack {
    /// Absolute path of the stack file.
    pub file: PathBuf,
    /// Value of the ownership label on every resource the stack creates.
    pub project: String,
    /// Host commands run before any image is built, in declaration order.
    pub build_steps: Vec<BuildStep>,
    /// Images by their key in the file (`[images.<key>]`).
    pub images: BTreeMap<String, ImageSpec>,
    pub volumes: BTreeMap<String, VolumeSpec>,
    pub networks: BTreeMap<String, NetworkSpec>,
    /// Containers sorted so that each comes after everything it depends on.
    pub containers: Vec<ContainerSpec>,
}

/// A host command that produces what an image's build context needs, such
/// as the static binaries the `FROM scratch` images copy.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildStep {
    pub name: String,
    /// Program and arguments, run without a shell.
    pub command: Vec<String>,
    /// Variables added to the orchestrator's own environment.
    pub env: BTreeMap<String, String>,
    pub workdir: PathBuf,
    /// Glob patterns, relative to `workdir`, of the files the step reads.
    /// The step is skipped when their content hash matches the one recorded
    /// after its last successful run and every output exists.
    pub inputs: Vec<String>,
    /// Files the step produces, absolute.
    pub outputs: Vec<PathBuf>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ImageSpec {
    pub key: String,
    /// Full reference, e.g. `etl_app:latest`.
    pub tag: String,
    /// Build context directory.
    pub context: PathBuf,
    /// Dockerfile path relative to `context`, with `/` separators.
    pub dockerfile: String,
    /// Ignore file applied to the context; `None` means `<context>/.dockerignore`
    /// if it exists.
    pub ignore_file: Option<PathBuf>,
    pub build_args: BTreeMap<String, String>,
    /// Names of the build steps to run before this image is built.
    pub after_steps: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VolumeSpec {
    pub key: String,
    /// Engine-side volume name.
    pub name: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NetworkSpec {
    pub key: String,
    /// Engine-side network name.
    pub name: String,
    /// Always `bridge` today.
    pub driver: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ContainerSpec {
    /// Engine-side container name, e.g. `ml-api`.
    pub name: String,
    /// Key of the image in [`Stack::images`].
    pub image: String,
    pub kind: ContainerKind,
    /// Names of one-shot containers that must have exited 0 before this one starts.
    pub depends_on: Vec<String>,
    /// Overrides the image's CMD when set.
    pub command: Option<Vec<String>>,
    pub env: BTreeMap<String, String>,
    pub mounts: Vec<Mount>,
    /// Keys of the networks in [`Stack::networks`].
    pub networks: Vec<String>,
    pub ports: Vec<PortBinding>,
    pub security: Security,
    pub resources: Resources,
}

/// How a container's life is managed.
#[derive(Debug, Clone, PartialEq)]
pub enum ContainerKind {
    /// Runs to completion; success is exit code 0 within `timeout`.
    OneShot {
        timeout: Duration,
        /// Paths inside the container (under a mounted volume) whose absence
        /// means the job must run again, e.g. `/data/model.json`.
        outputs: Vec<String>,
    },
    /// Long-running; `up` waits until its healthcheck passes.
    Service {
        healthcheck: Option<Healthcheck>,
        restart: RestartPolicy,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    /// Key of the volume in [`Stack::volumes`].
    pub volume: String,
    /// Absolute path inside the container.
    pub target: String,
    pub read_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortBinding {
    pub host_ip: IpAddr,
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: Protocol,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Healthcheck {
    /// Run directly in the container (Docker's `CMD` form, no shell).
    pub command: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub retries: u32,
    pub start_period: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    No,
    OnFailure { max_retries: u32 },
    UnlessStopped,
    Always,
}

/// Hardening options; every one defaults to the hardened setting.
#[derive(Debug, Clone, PartialEq)]
pub struct Security {
    /// `uid[:gid]`; `None` keeps the image's USER.
    pub user: Option<String>,
    pub read_only_rootfs: bool,
    pub drop_all_capabilities: bool,
    pub no_new_privileges: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Resources {
    pub memory_bytes: Option<i64>,
    pub pids_limit: Option<i64>,
    /// CPU quota in units of 1e-9 CPUs, as the Engine API's `NanoCpus`.
    pub nano_cpus: Option<i64>,
}
