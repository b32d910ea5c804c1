//! `plan`: list what `up` would do to each resource and why, changing nothing.

use super::{load_stack, state, Global};
use crate::engine::Engine;

#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {}

pub async fn run(global: &Global, _args: &PlanArgs) -> anyhow::Result<()> {
    let stack = load_stack(&global.file)?;
    let engine = Engine::connect().await?;
    let (plan, desired, _observed) = state::plan(&engine, &stack).await?;

    print!("{plan}");
    for (key, error) in &desired.missing_contexts {
        println!("note      image {key}: {error}; `up` uses the existing image if there is one");
    }
    if plan.has_changes() {
        println!(
            "{} of {} resources change",
            plan.changes().count(),
            plan.steps.len()
        );
    } else {
        println!("no changes: the engine matches {}", stack.file.display());
    }
    Ok(())
}
