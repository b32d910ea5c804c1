//! The planner: compares the stack with the observed state, resource by
//! resource, and decides each action.

use std::collections::{BTreeMap, BTreeSet};

use super::fingerprint::fingerprint;
use super::observed::{project_label, ContainerState, Observed, ObservedContainer};
use super::{Action, Conflict, DesiredState, Plan, Reason, ResourceKind, Step};
use crate::labels;
use crate::spec::{ContainerKind, ContainerSpec, Stack};

/// Computes the plan that makes the observed state match `stack`.
///
/// Rules, in the order they are checked for each resource:
///
/// - A declared resource that does not exist is created. A declared name
///   held by a resource with another project label (or, for volumes,
///   networks and containers, with none) is a [`Conflict`] and gets no step.
/// - A build step reruns when no successful run is recorded, an output is
///   missing or the inputs hash differs from the recorded one.
/// - An image is rebuilt when a build step it comes after reruns, or its
///   context hash label is missing or differs from the desired hash. An
///   unlabelled image with the tag is rebuilt, not a conflict: building only
///   moves the tag. An existing image whose build context is missing is
///   kept.
/// - A container is recreated (a one-shot container reruns) when its image
///   is built in this plan or has another ID, its fingerprint label differs,
///   or a volume or network it uses is created.
/// - A one-shot container also reruns when its last run did not finish, did
///   not exit 0, or left a declared output missing.
/// - A one-shot container that does not exist is kept when every declared
///   output is present in its volumes. It runs again when the record of its
///   last successful run names another fingerprint or image ID, or when its
///   image is built in this plan.
/// - A service is also recreated when it is not running. A rerun of a
///   one-shot container it depends on does not recreate it: the API reloads
///   the model file when it changes.
/// - A resource labelled with the project that the file no longer declares
///   is removed.
pub fn compute(stack: &Stack, desired: &DesiredState, observed: &Observed) -> Plan {
    let mut planner = Planner {
        stack,
        desired,
        observed,
        plan: Plan::default(),
    };

    planner.remove_undeclared_containers();
    planner.plan_build_steps();
    planner.plan_images();
    planner.plan_volumes();
    planner.plan_networks();
    planner.plan_containers();
    planner.remove_undeclared_others();
    planner.plan
}

struct Planner<'a> {
    stack: &'a Stack,
    desired: &'a DesiredState,
    observed: &'a Observed,
    plan: Plan,
}

/// Ownership of an existing resource with a declared name.
enum Ownership {
    Absent,
    Ours,
    /// Labelled with no project of this tool, or with another project.
    Foreign(Option<String>),
}

impl<'a> Planner<'a> {
    fn push(
        &mut self,
        kind: ResourceKind,
        key: Option<&str>,
        name: &str,
        action: Action,
        reason: Reason,
    ) {
        self.plan.steps.push(Step {
            kind,
            key: key.map(str::to_string),
            name: name.to_string(),
            action,
            reason,
        });
    }

    fn ownership(&self, labels: Option<&BTreeMap<String, String>>) -> Ownership {
        match labels.map(project_label) {
            None => Ownership::Absent,
            Some(Some(project)) if project == self.stack.project => Ownership::Ours,
            Some(owner) => Ownership::Foreign(owner.map(str::to_string)),
        }
    }

    fn conflict(&mut self, kind: ResourceKind, name: &str, owner: Option<String>) {
        self.plan.conflicts.push(Conflict {
            kind,
            name: name.to_string(),
            owner,
        });
    }

    fn is_ours(&self, labels: &BTreeMap<String, String>) -> bool {
        project_label(labels) == Some(self.stack.project.as_str())
    }

    /// Returns the action planned so far for the declared resource.
    fn action_of(&self, kind: ResourceKind, key: &str) -> Option<Action> {
        self.plan.step(kind, key).map(|step| step.action)
    }

    fn remove_undeclared_containers(&mut self) {
        let declared: BTreeSet<&str> = self
            .stack
            .containers
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        for (name, container) in &self.observed.containers {
            if self.is_ours(&container.labels) && !declared.contains(name.as_str()) {
                self.push(
                    ResourceKind::Container,
                    None,
                    name,
                    Action::Remove,
                    Reason::NotDeclared,
                );
            }
        }
    }

    fn plan_build_steps(&mut self) {
        for step in &self.stack.build_steps {
            if self.only_images_without_context_need(&step.name) {
                self.push(
                    ResourceKind::BuildStep,
                    Some(&step.name),
                    &step.name,
                    Action::Keep,
                    Reason::NoImageToBuild,
                );
                continue;
            }
            let (action, reason) = match self.observed.build_steps.get(&step.name) {
                None => (Action::Rerun, Reason::NeverRun),
                Some(observed) => match (
                    &observed.recorded_inputs_hash,
                    observed.missing_outputs.first(),
                ) {
                    (None, _) => (Action::Rerun, Reason::NeverRun),
                    (Some(_), Some(missing)) => (
                        Action::Rerun,
                        Reason::OutputMissing(missing.display().to_string()),
                    ),
                    (Some(recorded), None) => {
                        if self.desired.build_step_inputs_hashes.get(&step.name) == Some(recorded) {
                            (Action::Keep, Reason::UpToDate)
                        } else {
                            (Action::Rerun, Reason::InputsChanged)
                        }
                    }
                },
            };
            self.push(
                ResourceKind::BuildStep,
                Some(&step.name),
                &step.name,
                action,
                reason,
            );
        }
    }

    /// Returns true when some image comes after the step and none of those
    /// images has a build context, so running the step would serve no build.
    fn only_images_without_context_need(&self, step: &str) -> bool {
        let mut dependents = self
            .stack
            .images
            .iter()
            .filter(|(_, image)| image.after_steps.iter().any(|name| name == step))
            .peekable();
        dependents.peek().is_some()
            && dependents.all(|(key, _)| self.desired.images_without_context.contains(key))
    }

    fn plan_images(&mut self) {
        for (key, image) in &self.stack.images {
            let existing = self.observed.images.get(&image.tag);
            let ownership = self.ownership(existing.map(|image| &image.labels));
            if let Ownership::Foreign(Some(owner)) = ownership {
                self.conflict(ResourceKind::Image, &image.tag, Some(owner));
                continue;
            }
            let Some(existing) = existing else {
                self.push(
                    ResourceKind::Image,
                    Some(key),
                    &image.tag,
                    Action::Create,
                    Reason::NotFound,
                );
                continue;
            };

            if self.desired.images_without_context.contains(key) {
                self.push(
                    ResourceKind::Image,
                    Some(key),
                    &image.tag,
                    Action::Keep,
                    Reason::NoBuildContext,
                );
                continue;
            }

            let rerun_step = image
                .after_steps
                .iter()
                .find(|step| self.action_of(ResourceKind::BuildStep, step) == Some(Action::Rerun));
            let recorded = existing.labels.get(labels::IMAGE_CONTEXT_HASH);
            let desired_hash = self.desired.image_context_hashes.get(key);
            let (action, reason) = match (rerun_step, recorded, desired_hash) {
                (Some(step), _, _) => (Action::Rebuild, Reason::BuildStepRuns(step.clone())),
                (None, Some(recorded), Some(desired_hash)) if recorded == desired_hash => {
                    (Action::Keep, Reason::UpToDate)
                }
                (None, Some(_), Some(_)) => (Action::Rebuild, Reason::ContextChanged),
                (None, _, _) => (Action::Rebuild, Reason::ContextHashUnknown),
            };
            self.push(ResourceKind::Image, Some(key), &image.tag, action, reason);
        }
    }

    fn plan_volumes(&mut self) {
        for (key, volume) in &self.stack.volumes {
            let existing = self.observed.volumes.get(&volume.name);
            match self.ownership(existing.map(|volume| &volume.labels)) {
                Ownership::Absent => self.push(
                    ResourceKind::Volume,
                    Some(key),
                    &volume.name,
                    Action::Create,
                    Reason::NotFound,
                ),
                Ownership::Ours => self.push(
                    ResourceKind::Volume,
                    Some(key),
                    &volume.name,
                    Action::Keep,
                    Reason::UpToDate,
                ),
                Ownership::Foreign(owner) => {
                    self.conflict(ResourceKind::Volume, &volume.name, owner)
                }
            }
        }
    }

    fn plan_networks(&mut self) {
        for (key, network) in &self.stack.networks {
            let existing = self.observed.networks.get(&network.name);
            match self.ownership(existing.map(|network| &network.labels)) {
                Ownership::Absent => self.push(
                    ResourceKind::Network,
                    Some(key),
                    &network.name,
                    Action::Create,
                    Reason::NotFound,
                ),
                Ownership::Ours => {
                    let same_driver =
                        existing.is_some_and(|existing| existing.driver == network.driver);
                    let (action, reason) = if same_driver {
                        (Action::Keep, Reason::UpToDate)
                    } else {
                        (Action::Recreate, Reason::ConfigChanged)
                    };
                    self.push(
                        ResourceKind::Network,
                        Some(key),
                        &network.name,
                        action,
                        reason,
                    );
                }
                Ownership::Foreign(owner) => {
                    self.conflict(ResourceKind::Network, &network.name, owner)
                }
            }
        }
    }

    fn plan_containers(&mut self) {
        for container in &self.stack.containers {
            let name = container.name.as_str();
            let Some(existing) = self.observed.containers.get(name) else {
                if let Some((action, reason)) = self.absent_one_shot_action(container) {
                    self.push(ResourceKind::Container, Some(name), name, action, reason);
                    continue;
                }
                self.push(
                    ResourceKind::Container,
                    Some(name),
                    name,
                    Action::Create,
                    Reason::NotFound,
                );
                continue;
            };
            if !self.is_ours(&existing.labels) {
                let owner = project_label(&existing.labels).map(str::to_string);
                self.conflict(ResourceKind::Container, name, owner);
                continue;
            }
            let (action, reason) = self.container_action(container, existing);
            self.push(ResourceKind::Container, Some(name), name, action, reason);
        }
    }

    /// Decides for a one-shot container that does not exist whose outputs
    /// were all found in its volumes; `None` when it is simply created.
    fn absent_one_shot_action(&self, container: &ContainerSpec) -> Option<(Action, Reason)> {
        let ContainerKind::OneShot { outputs, .. } = &container.kind else {
            return None;
        };
        let missing = self
            .observed
            .absent_one_shot_missing_outputs
            .get(&container.name)?;
        if outputs.is_empty() || !missing.is_empty() {
            return None;
        }
        let volume_created = container.mounts.iter().any(|mount| {
            matches!(
                self.action_of(ResourceKind::Volume, &mount.volume),
                Some(Action::Create | Action::Recreate)
            )
        });
        if volume_created {
            return None;
        }
        let Some(last_run) = self.observed.one_shot_runs.get(&container.name) else {
            return Some((Action::Keep, Reason::OutputPresentKept));
        };
        let image_rebuilt = matches!(
            self.action_of(ResourceKind::Image, &container.image),
            Some(Action::Create | Action::Rebuild)
        );
        let current_image = self
            .stack
            .images
            .get(&container.image)
            .and_then(|image| self.observed.images.get(&image.tag));
        let image_changed = current_image.is_none_or(|image| image.id != last_run.image_id);
        let config_changed = last_run.fingerprint != fingerprint(self.stack, container);
        if image_rebuilt || image_changed || config_changed {
            Some((Action::Rerun, Reason::ChangedSinceLastRun))
        } else {
            Some((Action::Keep, Reason::OutputPresentKept))
        }
    }

    fn container_action(
        &self,
        container: &ContainerSpec,
        existing: &ObservedContainer,
    ) -> (Action, Reason) {
        let replace = match container.kind {
            ContainerKind::OneShot { .. } => Action::Rerun,
            ContainerKind::Service { .. } => Action::Recreate,
        };
        if let Some(reason) = self.replacement_reason(container, existing) {
            return (replace, reason);
        }

        match &container.kind {
            ContainerKind::OneShot { .. } => match (existing.state, existing.exit_code) {
                (ContainerState::Exited | ContainerState::Dead, Some(0)) => {
                    match existing.missing_outputs.first() {
                        Some(missing) => (Action::Rerun, Reason::OutputMissing(missing.clone())),
                        None => (Action::Keep, Reason::UpToDate),
                    }
                }
                (ContainerState::Exited | ContainerState::Dead, Some(exit_code)) => {
                    (Action::Rerun, Reason::LastRunFailed { exit_code })
                }
                (state, _) => (Action::Rerun, Reason::LastRunUnfinished(state)),
            },
            ContainerKind::Service { .. } => match existing.state {
                // A restarting container is handled by its restart policy.
                ContainerState::Running | ContainerState::Restarting => {
                    (Action::Keep, Reason::UpToDate)
                }
                state => (Action::Recreate, Reason::NotRunning(state)),
            },
        }
    }

    /// Returns why the container must be replaced whatever its state: its
    /// image, its configuration, or a volume or network it uses changes.
    fn replacement_reason(
        &self,
        container: &ContainerSpec,
        existing: &ObservedContainer,
    ) -> Option<Reason> {
        let image_action = self.action_of(ResourceKind::Image, &container.image);
        let image_rebuilt = matches!(image_action, Some(Action::Create | Action::Rebuild));
        let current_image = self
            .stack
            .images
            .get(&container.image)
            .and_then(|image| self.observed.images.get(&image.tag));
        let image_replaced = current_image.is_some_and(|image| image.id != existing.image_id);
        if image_rebuilt || image_replaced {
            return Some(Reason::ImageChanged);
        }

        let recorded = existing.labels.get(labels::CONTAINER_FINGERPRINT);
        if recorded != Some(&fingerprint(self.stack, container)) {
            return Some(Reason::ConfigChanged);
        }

        let volumes = container
            .mounts
            .iter()
            .map(|mount| (ResourceKind::Volume, &mount.volume));
        let networks = container
            .networks
            .iter()
            .map(|key| (ResourceKind::Network, key));
        for (kind, key) in volumes.chain(networks) {
            if matches!(
                self.action_of(kind, key),
                Some(Action::Create | Action::Recreate)
            ) {
                return Some(Reason::DependencyCreated {
                    kind,
                    key: key.clone(),
                });
            }
        }
        None
    }

    fn remove_undeclared_others(&mut self) {
        let networks: BTreeSet<&str> = self
            .stack
            .networks
            .values()
            .map(|n| n.name.as_str())
            .collect();
        for (name, network) in &self.observed.networks {
            if self.is_ours(&network.labels) && !networks.contains(name.as_str()) {
                self.push(
                    ResourceKind::Network,
                    None,
                    name,
                    Action::Remove,
                    Reason::NotDeclared,
                );
            }
        }

        let volumes: BTreeSet<&str> = self
            .stack
            .volumes
            .values()
            .map(|v| v.name.as_str())
            .collect();
        for (name, volume) in &self.observed.volumes {
            if self.is_ours(&volume.labels) && !volumes.contains(name.as_str()) {
                self.push(
                    ResourceKind::Volume,
                    None,
                    name,
                    Action::Remove,
                    Reason::NotDeclared,
                );
            }
        }

        let tags: BTreeSet<&str> = self.stack.images.values().map(|i| i.tag.as_str()).collect();
        for (tag, image) in &self.observed.images {
            if self.is_ours(&image.labels) && !tags.contains(tag.as_str()) {
                self.push(
                    ResourceKind::Image,
                    None,
                    tag,
                    Action::Remove,
                    Reason::NotDeclared,
                );
            }
        }
    }
}
