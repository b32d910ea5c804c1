//! `validate`: check the stack file and exit, without calling Docker.

use super::{load_stack, Global};

#[derive(Debug, Clone, clap::Args)]
pub struct ValidateArgs {}

pub async fn run(global: &Global, _args: &ValidateArgs) -> anyhow::Result<()> {
    let stack = load_stack(&global.file)?;
    println!(
        "{} is valid: project {}, {} build steps, {} images, {} volumes, {} networks, {} containers",
        stack.file.display(),
        stack.project,
        stack.build_steps.len(),
        stack.images.len(),
        stack.volumes.len(),
        stack.networks.len(),
        stack.containers.len()
    );
    Ok(())
}
