//! `down [--volumes] [--images]`: stop and remove the stack's containers and
//! networks; volumes and images stay unless a flag requests their removal.
//!
//! Only resources labelled with the stack's project are touched, found by
//! label whatever the working directory, so a resource that merely shares
//! a name is left alone.

use std::time::{Duration, Instant};

use super::{load_stack, Global};
use crate::engine::{container, image, network, volume, Engine, Outcome};
use crate::labels;
use crate::progress::format_duration;

#[derive(Debug, Clone, clap::Args)]
pub struct DownArgs {
    /// Also remove the stack's named volumes (this deletes the trained model).
    #[arg(long)]
    pub volumes: bool,
    /// Also remove the stack's images.
    #[arg(long)]
    pub images: bool,
    /// Seconds a container gets to stop after SIGTERM before it is killed.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub timeout: u64,
}

pub async fn run(global: &Global, args: &DownArgs) -> anyhow::Result<()> {
    let stack = load_stack(&global.file)?;
    let engine = Engine::connect().await?;
    let started = Instant::now();
    let label = labels::project_filter(&stack.project);
    let progress = &global.progress;
    let grace = Duration::from_secs(args.timeout);
    let mut removed = 0;

    for name in container::list_labelled(&engine, &label).await? {
        let task = progress.task(format!("container {name}"), "stopping");
        container::stop(&engine, &name, grace).await?;
        let outcome = container::remove(&engine, &name).await?;
        removed += usize::from(outcome == Outcome::Removed);
        task.finish(&outcome.to_string());
    }
    // By id: two networks of one name (left by concurrent runs) are both
    // removed, where a removal by name would be refused as ambiguous.
    for (id, name) in network::list_labelled_ids(&engine, &label).await? {
        let task = progress.task(format!("network {name}"), "removing");
        let outcome = network::remove(&engine, &id).await?;
        removed += usize::from(outcome == Outcome::Removed);
        task.finish(&outcome.to_string());
    }
    if args.volumes {
        for found in volume::list_labelled(&engine, &label).await? {
            let task = progress.task(format!("volume {}", found.name), "removing");
            let outcome = volume::remove(&engine, &found.name).await?;
            removed += usize::from(outcome == Outcome::Removed);
            task.finish(&outcome.to_string());
        }
    }
    if args.images {
        for tag in image::list_labelled(&engine, &label).await? {
            let task = progress.task(format!("image {tag}"), "removing");
            let outcome = image::remove(&engine, &tag).await?;
            removed += usize::from(outcome == Outcome::Removed);
            task.finish(&outcome.to_string());
        }
    }

    let kept = match (args.volumes, args.images) {
        (false, false) => "; volumes and images kept",
        (false, true) => "; volumes kept",
        (true, false) => "; images kept",
        (true, true) => "",
    };
    progress.info(&format!(
        "down: {removed} resources of project {} removed in {}{kept}",
        stack.project,
        format_duration(started.elapsed())
    ));
    Ok(())
}
