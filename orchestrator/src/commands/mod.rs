//! One module per subcommand. Each exposes `run`, which returns `Ok(())` or
//! an error whose type [`exit_code`] maps to the documented exit code.

pub mod down;
pub mod export;
pub mod import;
pub mod logs;
pub mod plan;
pub mod status;
pub mod up;
pub mod validate;

mod failure;
mod state;

use std::path::{Path, PathBuf};

pub use failure::{exit_code, Failure, EXIT_CODES_HELP};

use crate::progress::Progress;
use crate::spec::{self, Stack};

/// Options shared by every command.
#[derive(Debug, Clone)]
pub struct Global {
    /// The stack file, as given with `-f`.
    pub file: PathBuf,
    pub progress: Progress,
}

/// Loads and validates the stack file, before any call to Docker.
pub fn load_stack(file: &Path) -> anyhow::Result<Stack> {
    Ok(spec::load(file)?)
}
