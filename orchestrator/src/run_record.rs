//! Records of one-shot containers' last successful runs, kept on the host
//! beside the build-step stamps, under `<stack file directory>/target/
//! .orchestrator/<project>/containers/<name>.json`.
//!
//! A record outlives the container (`down` removes the container, not the
//! record), so that `up` can tell whether outputs found in a volume came
//! from the current image and configuration.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::plan::OneShotRun;
use crate::spec::Stack;

/// Path of the record of the one-shot container `name`.
pub fn path(stack: &Stack, name: &str) -> PathBuf {
    let dir = stack.file.parent().unwrap_or(Path::new("."));
    dir.join("target")
        .join(".orchestrator")
        .join(&stack.project)
        .join("containers")
        .join(format!("{name}.json"))
}

/// Reads the record of `name`; `None` when it does not exist or cannot be
/// parsed, which both mean no run is known.
pub fn read(stack: &Stack, name: &str) -> Option<OneShotRun> {
    let bytes = fs::read(path(stack, name)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Writes the record of `name`, replacing any previous one.
pub fn write(stack: &Stack, name: &str, run: &OneShotRun) -> io::Result<PathBuf> {
    let path = path(stack, name);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let text = serde_json::to_vec_pretty(run).expect("a record serializes");
    let temporary = path.with_extension("json.tmp");
    fs::write(&temporary, text)?;
    fs::rename(&temporary, &path)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STACK: &str = r#"[project]
name = "demo"

[images.app]
tag = "app:latest"
context = "."

[volumes.store]

[containers.job]
image = "app"
run = "once"
outputs = ["/data/model.json"]
mounts = [{ volume = "store", target = "/data" }]
"#;

    #[test]
    fn record_round_trips_beside_the_stamps() {
        let dir = tempfile::tempdir().unwrap();
        let stack = crate::spec::parse(STACK, &dir.path().join("infra.toml")).unwrap();
        assert_eq!(read(&stack, "job"), None);

        let run = OneShotRun {
            fingerprint: "f".repeat(64),
            image_id: "sha256:1111".into(),
        };
        let written = write(&stack, "job", &run).unwrap();
        assert_eq!(
            written,
            dir.path()
                .join("target/.orchestrator/demo/containers/job.json")
        );
        assert_eq!(read(&stack, "job"), Some(run));
        assert!(!written.with_extension("json.tmp").exists());
    }

    #[test]
    fn unreadable_record_counts_as_none() {
        let dir = tempfile::tempdir().unwrap();
        let stack = crate::spec::parse(STACK, &dir.path().join("infra.toml")).unwrap();
        let record = path(&stack, "job");
        fs::create_dir_all(record.parent().unwrap()).unwrap();
        fs::write(&record, b"{not json").unwrap();
        assert_eq!(read(&stack, "job"), None);
    }
}
