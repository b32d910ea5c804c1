//! `import PATH…` (alias `load`): verify every archive first, then load the
//! image archives and restore the volume archives, in that order because
//! the restore runs in a container of the ETL image.
//!
//! Nothing reaches the engine unless every archive on the command line
//! passed verification, so one bad file leaves the engine unchanged. The
//! one call made during verification is the version negotiation, which
//! reads the engine's version and changes nothing.

use std::fs::File;
use std::path::PathBuf;

use super::{load_stack, Global};
use crate::archive::{sidecar, Contents, VerifiedArchive};
use crate::engine::{Engine, Outcome};
use crate::progress::Mode;
use crate::transfer::{self, Imported, ModelStore};

#[derive(Debug, Clone, clap::Args)]
pub struct ImportArgs {
    /// Archives written by `export --tar`, `--split` or `--volumes`. A
    /// `PATH.sha256` sidecar beside an archive is checked when present.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

pub async fn run(global: &Global, args: &ImportArgs) -> anyhow::Result<()> {
    let mode = global.progress.mode();
    // Connecting negotiates the API version, a round trip that changes
    // nothing in the engine, so it runs while the archives are verified.
    // The first failure of either ends both.
    let (engine, mut verified) = tokio::try_join!(
        async { Ok::<_, anyhow::Error>(Engine::connect().await?) },
        verify_all(&args.paths, mode),
    )?;
    for (path, archive, _) in &verified {
        if !archive.sidecar_checked {
            // Without the sidecar, damage in transit that still leaves a
            // well-formed archive (a changed tag name, say) goes unseen.
            eprintln!(
                "warning: {} has no {} beside it, so its checksum was not checked; copy the sidecar with the archive",
                path.display(),
                sidecar::sidecar_path(path).display()
            );
        }
    }
    // Images first: restoring a volume needs the ETL image.
    verified.sort_by_key(|(_, archive, _)| matches!(archive.contents, Contents::Volume(_)));

    let needs_store = verified
        .iter()
        .any(|(_, archive, _)| matches!(archive.contents, Contents::Volume(_)));
    let store = if needs_store {
        let stack = load_stack(&global.file)?;
        Some(ModelStore::from_stack(&stack)?)
    } else {
        None
    };

    for (path, archive, file) in verified {
        let imported =
            transfer::import_verified(&engine, path, archive, file, store.as_ref(), mode).await?;
        report(&imported);
    }
    Ok(())
}

/// Verifies every archive, in command-line order, before any is sent on.
async fn verify_all(
    paths: &[PathBuf],
    mode: Mode,
) -> anyhow::Result<Vec<(&PathBuf, VerifiedArchive, File)>> {
    let mut verified = Vec::new();
    for path in paths {
        let (archive, file) = transfer::verify_archive(path, mode).await?;
        verified.push((path, archive, file));
    }
    Ok(verified)
}

/// Prints what one archive changed, one line per tag or volume, on stdout.
fn report(imported: &Imported) {
    match imported {
        Imported::Images { loaded, .. } => {
            for tag in loaded {
                let short = short_id(&tag.id);
                match tag.previous.as_deref() {
                    None => println!("loaded {} ({short})", tag.tag),
                    Some(previous) if previous == tag.id => {
                        println!("loaded {} ({short}, unchanged)", tag.tag)
                    }
                    Some(previous) => {
                        println!("loaded {} ({short}, was {})", tag.tag, short_id(previous))
                    }
                }
            }
        }
        Imported::Volume { restored, .. } => {
            let created = if restored.outcome == Outcome::Created {
                " (volume created)"
            } else {
                ""
            };
            println!(
                "restored model {} into volume {}{created}",
                restored.model_version, restored.volume
            );
        }
    }
}

/// `sha256:` and the first 12 hex digits, as `docker images` shows IDs.
fn short_id(id: &str) -> &str {
    id.get(..19).unwrap_or(id)
}
