//! `export --tar [PATH] | --split DIR [--image NAME]… | --volumes [PATH]`:
//! write the stack's images, or the model volume, to tar archives with a
//! `.sha256` sidecar each, for `import` on a machine without a registry.

use std::path::{Path, PathBuf};

use super::{load_stack, Global};
use crate::engine::Engine;
use crate::progress::format_duration;
use crate::spec::Stack;
use crate::transfer::{self, archive_file_name, Meter, ModelStore, WrittenArchive};

#[derive(Debug, Clone, clap::Args)]
#[command(group(
    clap::ArgGroup::new("content")
        .required(true)
        .multiple(true)
        .args(["tar", "split", "volumes"])
))]
pub struct ExportArgs {
    /// Write the stack's images to one tar archive at PATH (default: stack.tar).
    #[arg(long, value_name = "PATH", num_args = 0..=1, default_missing_value = "stack.tar")]
    pub tar: Option<PathBuf>,
    /// Write one archive per image into DIR, named after the image
    /// (`etl_app.tar`, `ml_app.tar`), in place of the single --tar file.
    #[arg(long, value_name = "DIR")]
    pub split: Option<PathBuf>,
    /// Export only this image: its key in the stack file or its tag.
    /// Repeat for several; default: every image the stack declares.
    #[arg(long = "image", value_name = "NAME")]
    pub images: Vec<String>,
    /// Write the model volume's files to a tar archive at PATH (default:
    /// model-volume.tar).
    #[arg(long, value_name = "PATH", num_args = 0..=1, default_missing_value = "model-volume.tar")]
    pub volumes: Option<PathBuf>,
}

/// An `--image` value that names no image of the stack.
#[derive(Debug, thiserror::Error)]
#[error("no image `{name}` in the stack file; use a key or tag it declares: {}", .declared.join(", "))]
pub struct UnknownImage {
    pub name: String,
    pub declared: Vec<String>,
}

pub async fn run(global: &Global, args: &ExportArgs) -> anyhow::Result<()> {
    let stack = load_stack(&global.file)?;
    let tags = selected_tags(&stack, &args.images)?;
    let engine = Engine::connect().await?;
    let mode = global.progress.mode();

    if let Some(dir) = &args.split {
        for tag in &tags {
            let path = dir.join(archive_file_name(tag));
            export_images(&engine, std::slice::from_ref(tag), &path, global).await?;
        }
    } else if let Some(path) = &args.tar {
        export_images(&engine, &tags, path, global).await?;
    }

    if let Some(path) = &args.volumes {
        let store = ModelStore::from_stack(&stack)?;
        let meter = Meter::start(mode, &format!("volume {}", store.volume), None);
        let result = transfer::export_volume(&engine, &store, path, &meter).await;
        finish(meter, result, &format!("volume {}", store.volume))?;
    }
    Ok(())
}

async fn export_images(
    engine: &Engine,
    tags: &[String],
    path: &Path,
    global: &Global,
) -> anyhow::Result<()> {
    let label = tags.join(", ");
    let meter = Meter::start(global.progress.mode(), &label, None);
    let result = transfer::export_images(engine, tags, path, &meter).await;
    finish(meter, result, &label)
}

/// Ends the meter and prints the one-line summary on stdout.
fn finish(
    meter: Meter,
    result: Result<WrittenArchive, transfer::TransferError>,
    what: &str,
) -> anyhow::Result<()> {
    let elapsed = meter.elapsed();
    match result {
        Ok(written) => {
            meter.finish("written");
            println!(
                "{what} → {} ({:.1} MiB in {}, sha256 {} in {})",
                written.path.display(),
                written.bytes as f64 / (1024.0 * 1024.0),
                format_duration(elapsed),
                &written.sha256[..12],
                written.sidecar.display(),
            );
            Ok(())
        }
        Err(error) => {
            meter.fail();
            Err(error.into())
        }
    }
}

/// Tags of the images `names` selects (keys or tags), in stack order; all
/// of them when `names` is empty.
fn selected_tags(stack: &Stack, names: &[String]) -> Result<Vec<String>, UnknownImage> {
    let declared: Vec<String> = stack
        .images
        .values()
        .map(|image| image.tag.clone())
        .collect();
    if names.is_empty() {
        return Ok(declared);
    }
    let mut tags = Vec::new();
    for name in names {
        let found = stack
            .images
            .iter()
            .find(|(key, image)| *key == name || image.tag == *name)
            .map(|(_, image)| image.tag.clone());
        match found {
            Some(tag) if !tags.contains(&tag) => tags.push(tag),
            Some(_) => {}
            None => {
                return Err(UnknownImage {
                    name: name.clone(),
                    declared: stack
                        .images
                        .iter()
                        .map(|(key, image)| format!("{key} ({})", image.tag))
                        .collect(),
                })
            }
        }
    }
    Ok(tags)
}
