//! Label keys that the orchestrator puts on every engine resource it creates.
//!
//! Ownership is decided by labels, never by names: `plan`, `down` and the
//! drift checks list resources filtered on [`PROJECT`], so a resource that
//! merely shares a name with the stack is never touched. The keys carry no
//! domain prefix because the project owns no domain; the `mlops-orchestrator.`
//! prefix keeps them apart from Docker's and compose's own labels.

/// Project name from `[project] name`, on images, volumes, networks and
/// containers alike.
pub const PROJECT: &str = "mlops-orchestrator.project";

/// Key of the resource in the stack file: the image key (`etl`), the volume
/// key (`model_store`), the network key (`backend`) or the container name
/// (`ml-api`).
pub const RESOURCE: &str = "mlops-orchestrator.resource";

/// On containers: [`crate::plan::fingerprint`] of the configuration the
/// container was created from. A different value means the container drifted
/// from the stack file and must be recreated (or rerun, for a one-shot).
pub const CONTAINER_FINGERPRINT: &str = "mlops-orchestrator.fingerprint";

/// On images: hash of the build context and Dockerfile the image was built
/// from. A different value means the image must be rebuilt.
pub const IMAGE_CONTEXT_HASH: &str = "mlops-orchestrator.context-hash";

/// Returns the `key=value` filter that lists the resources of `project`, in
/// the form the Engine API's `label` filter takes.
pub fn project_filter(project: &str) -> String {
    format!("{PROJECT}={project}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_filter_joins_key_and_value() {
        assert_eq!(project_filter("mlops"), "mlops-orchestrator.project=mlops");
    }
}
