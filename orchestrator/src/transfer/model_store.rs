//! The volume that stores the model and the image that can run the install
//! in it, both read from the stack file, so export and import need no
//! options.

use std::collections::BTreeMap;

use super::TransferError;
use crate::labels;
use crate::spec::{ContainerKind, Stack};

/// The model volume and the one-shot container that writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelStore {
    /// Engine-side volume name.
    pub volume: String,
    /// Key of the volume in the stack file.
    pub volume_key: String,
    /// Mount point of the volume in the writer's image, e.g. `/data`.
    pub mount_target: String,
    /// Tag of the writer's image (the ETL image, whose binary has the
    /// `install` subcommand).
    pub image: String,
    pub project: String,
}

impl ModelStore {
    /// Finds the first one-shot container with an output under a volume
    /// mounted read-write, e.g. `/data/model.json` under `/data`.
    pub fn from_stack(stack: &Stack) -> Result<Self, TransferError> {
        for container in &stack.containers {
            let ContainerKind::OneShot { outputs, .. } = &container.kind else {
                continue;
            };
            for mount in container.mounts.iter().filter(|mount| !mount.read_only) {
                let prefix = format!("{}/", mount.target.trim_end_matches('/'));
                if !outputs.iter().any(|output| output.starts_with(&prefix)) {
                    continue;
                }
                let (Some(volume), Some(image)) = (
                    stack.volumes.get(&mount.volume),
                    stack.images.get(&container.image),
                ) else {
                    continue;
                };
                return Ok(Self {
                    volume: volume.name.clone(),
                    volume_key: mount.volume.clone(),
                    mount_target: mount.target.trim_end_matches('/').to_owned(),
                    image: image.tag.clone(),
                    project: stack.project.clone(),
                });
            }
        }
        Err(TransferError::NoModelStore)
    }

    /// Labels of a volume the restore creates, the same as `up` puts on it.
    pub fn volume_labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (labels::PROJECT.to_owned(), self.project.clone()),
            (labels::RESOURCE.to_owned(), self.volume_key.clone()),
        ])
    }
}
