//! `logs NAME [--follow]`: print the log of one of the stack's containers.

use futures_util::StreamExt;

use super::{load_stack, Failure, Global};
use crate::engine::{container, Engine};

#[derive(Debug, Clone, clap::Args)]
pub struct LogsArgs {
    /// Container name as declared in the stack file, e.g. `ml-api`.
    pub name: String,
    /// Keep printing new lines until the container stops or Ctrl-C. No
    /// short form: `-f` is the global stack-file option.
    #[arg(long)]
    pub follow: bool,
    /// Print only the last N lines.
    #[arg(short = 'n', long, value_name = "N")]
    pub tail: Option<usize>,
}

pub async fn run(global: &Global, args: &LogsArgs) -> anyhow::Result<()> {
    let stack = load_stack(&global.file)?;
    if !stack.containers.iter().any(|c| c.name == args.name) {
        let declared = stack.containers.iter().map(|c| c.name.clone()).collect();
        return Err(Failure::UnknownContainer {
            name: args.name.clone(),
            declared,
        }
        .into());
    }
    let engine = Engine::connect().await?;
    let mut lines = std::pin::pin!(container::log_lines(
        &engine,
        &args.name,
        args.follow,
        args.tail
    ));
    while let Some(line) = lines.next().await {
        println!("{}", line?);
    }
    Ok(())
}
