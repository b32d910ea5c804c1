//! The plan: what `up` would do to make the engine match the stack file, as
//! data.
//!
//! [`compute`] is pure. It compares the validated [`Stack`](crate::spec::Stack)
//! and the [`DesiredState`] (hashes that need files but not Docker) with the
//! [`Observed`] snapshot of the engine, and returns one [`Step`] per resource.
//! The `plan` command prints it and `up` executes it, so both always agree.

mod compute;
mod fingerprint;
mod observed;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

pub use compute::compute;
pub use fingerprint::fingerprint;
pub use observed::*;

/// Hashes that describe the desired state but need the file system to
/// compute. The engine layer computes them and the planner compares them with
/// the labels and stamps in [`Observed`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DesiredState {
    /// Build context hash by image key (`[images.<key>]`), the value stored
    /// in the [`IMAGE_CONTEXT_HASH`](crate::labels::IMAGE_CONTEXT_HASH)
    /// label. A missing entry means the hash is unknown, and the image is
    /// rebuilt.
    pub image_context_hashes: BTreeMap<String, String>,
    /// Content hash of each build step's inputs, by step name.
    pub build_step_inputs_hashes: BTreeMap<String, String>,
    /// Keys of the images whose build context or Dockerfile does not exist,
    /// as on a machine that imported its images. An existing image is kept
    /// as it is instead of being rebuilt.
    pub images_without_context: BTreeSet<String>,
}

/// The ordered steps that bring the engine to the stack file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// In execution order: removals of undeclared containers, then build
    /// steps, images, volumes, networks and containers in dependency order,
    /// then removals of the other undeclared resources.
    pub steps: Vec<Step>,
    /// Names the stack declares that are taken by resources of another
    /// owner. `up` must stop before acting when this is not empty.
    pub conflicts: Vec<Conflict>,
}

impl Plan {
    /// Returns true when executing the plan would change anything.
    pub fn has_changes(&self) -> bool {
        self.steps.iter().any(|step| step.action != Action::Keep)
    }

    /// Returns the steps that change something, in execution order.
    pub fn changes(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(|step| step.action != Action::Keep)
    }

    /// Returns the step for the resource of `kind` declared under `key`.
    pub fn step(&self, kind: ResourceKind, key: &str) -> Option<&Step> {
        self.steps
            .iter()
            .find(|step| step.kind == kind && step.key.as_deref() == Some(key))
    }
}

/// One resource and what happens to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub kind: ResourceKind,
    /// Key in the stack file (build step name, image, volume or network key,
    /// container name); `None` for a resource the file no longer declares.
    pub key: Option<String>,
    /// Engine-side name: image tag, volume, network or container name, or the
    /// build step name.
    pub name: String,
    pub action: Action,
    pub reason: Reason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ResourceKind {
    BuildStep,
    Image,
    Volume,
    Network,
    Container,
}

impl ResourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BuildStep => "build step",
            Self::Image => "image",
            Self::Volume => "volume",
            Self::Network => "network",
            Self::Container => "container",
        }
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The resource does not exist and is created (an image is built).
    Create,
    /// The image exists but its build context changed.
    Rebuild,
    /// The container exists but is removed and created again.
    Recreate,
    /// A one-shot container or a build step runs again.
    Rerun,
    /// Nothing to do.
    Keep,
    /// A labelled resource that the stack file no longer declares.
    Remove,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Rebuild => "rebuild",
            Self::Recreate => "recreate",
            Self::Rerun => "rerun",
            Self::Keep => "keep",
            Self::Remove => "remove",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Cause of a step's action. `Display` gives the text the `plan` command
/// prints.
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    /// Keep: the resource matches the stack file.
    UpToDate,
    /// Create: no resource with this name exists.
    NotFound,
    /// Remove: labelled with the project, but not declared in the file.
    NotDeclared,
    /// Build step: no stamp of a successful run exists.
    NeverRun,
    /// Build step: the content of its inputs changed since its last run.
    InputsChanged,
    /// Build step: every image built after it has no build context here
    /// (images received with `import`), so nothing would use its output.
    NoImageToBuild,
    /// Build step or one-shot container: a declared output is missing.
    OutputMissing(String),
    /// Image: a build step it comes after runs first and may change the
    /// context; `up` plans again once the step has run.
    BuildStepRuns(String),
    /// Image: the context hash label differs from the current context hash.
    ContextChanged,
    /// Image: the context hash is unknown, or the existing image has no
    /// context hash label (built by something else).
    ContextHashUnknown,
    /// Image: kept because its build context does not exist here.
    NoBuildContext,
    /// Container: its image is built in this plan or its image ID differs
    /// from the image's current ID.
    ImageChanged,
    /// Container: its fingerprint label differs from the stack file's
    /// configuration.
    ConfigChanged,
    /// Container: a volume or network it uses is created or recreated in
    /// this plan.
    DependencyCreated { kind: ResourceKind, key: String },
    /// Service container: exists with the current configuration but is not
    /// running.
    NotRunning(ContainerState),
    /// One-shot container: its last run exited with this code.
    LastRunFailed { exit_code: i64 },
    /// One-shot container: its last run has not finished (interrupted `up`).
    LastRunUnfinished(ContainerState),
    /// One-shot container that does not exist: its declared outputs are in
    /// its volumes and no recorded run names another image or
    /// configuration, so it does not run.
    OutputPresentKept,
    /// One-shot container that does not exist: its recorded last run used
    /// another image or configuration, so it runs again.
    ChangedSinceLastRun,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UpToDate => write!(f, "up to date"),
            Self::NoImageToBuild => write!(
                f,
                "skipped: no image built after it has a build context here"
            ),
            Self::NotFound => write!(f, "does not exist"),
            Self::NotDeclared => write!(f, "no longer declared in the stack file"),
            Self::NeverRun => write!(f, "no successful run recorded"),
            Self::InputsChanged => write!(f, "inputs changed since the last run"),
            Self::OutputMissing(path) => write!(f, "output {path} is missing"),
            Self::BuildStepRuns(step) => {
                write!(f, "build step {step} runs first and may change the context")
            }
            Self::ContextChanged => write!(f, "build context or Dockerfile changed"),
            Self::ContextHashUnknown => write!(f, "no build context hash recorded on the image"),
            Self::NoBuildContext => {
                write!(f, "build context not found, so the engine's image is used")
            }
            Self::ImageChanged => write!(f, "image changed"),
            Self::ConfigChanged => write!(f, "configuration changed"),
            Self::DependencyCreated { kind, key } => {
                write!(f, "{kind} {key} is created or recreated first")
            }
            Self::NotRunning(state) => write!(f, "container is {state}"),
            Self::LastRunFailed { exit_code } => write!(f, "last run exited with code {exit_code}"),
            Self::LastRunUnfinished(state) => {
                write!(f, "last run did not finish (container is {state})")
            }
            Self::OutputPresentKept => write!(f, "output present in volume, kept"),
            Self::ChangedSinceLastRun => write!(f, "configuration changed since last run"),
        }
    }
}

/// A declared name taken by a resource that does not carry the project label.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    pub kind: ResourceKind,
    /// Engine-side name that is taken.
    pub name: String,
    /// Project label of the existing resource; `None` when it has none.
    pub owner: Option<String>,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let owner = match &self.owner {
            Some(project) => format!("project {project}"),
            None => "no project of this tool".to_string(),
        };
        write!(
            f,
            "{} name {} is taken by a resource of {owner}; remove it or change the name in the stack file",
            self.kind, self.name
        )
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<8}  {:<10}  {}: {}",
            self.action.as_str(),
            self.kind.as_str(),
            self.name,
            self.reason
        )
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for step in &self.steps {
            writeln!(f, "{step}")?;
        }
        for conflict in &self.conflicts {
            writeln!(f, "conflict  {conflict}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
