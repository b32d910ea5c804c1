//! `plan`: list what `up` would do to each resource and why, changing nothing.

use super::{load_stack, state, Global};
use crate::engine::Engine;

#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    /// Plan as `up --no-build` would: build steps count as done and the
    /// images the engine has as current.
    #[arg(long)]
    pub no_build: bool,
}

pub async fn run(global: &Global, args: &PlanArgs) -> anyhow::Result<()> {
    let stack = load_stack(&global.file)?;
    let engine = Engine::connect().await?;
    let (mut plan, mut desired, mut observed) = state::plan(&engine, &stack).await?;
    if args.no_build {
        super::up::assume_built(&stack, &mut desired.state, &mut observed);
        plan = crate::plan::compute(&stack, &desired.state, &observed);
    }

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
