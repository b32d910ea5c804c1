//! One mutating run per project at a time.
//!
//! `up`, `down` and `import` take an advisory `flock(2)` on
//! `<stack file directory>/target/.orchestrator/<project>/lock` (beside the
//! build-step stamps) before they touch the engine. Two runs at once would
//! otherwise both see the network absent and both create it, which leaves
//! two networks of the same name. A second run prints that it waits, then
//! blocks until the first one ends. The kernel releases the lock when the
//! holder exits, even when it is killed.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::progress::Progress;
use crate::spec::Stack;

/// How often a waiting run retries the lock.
const RETRY: Duration = Duration::from_millis(200);

#[derive(Debug, thiserror::Error)]
#[error(
    "failed to lock {} so that only one orchestrator run changes project {project} at a time; \
     check that the directory is writable",
    .path.display()
)]
pub struct LockError {
    pub project: String,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// A held lock, released when dropped or when the process exits.
#[derive(Debug)]
pub struct ProjectLock {
    _file: File,
}

/// Path of the lock file of `stack`'s project.
pub fn lock_path(stack: &Stack) -> PathBuf {
    let dir = stack.file.parent().unwrap_or(Path::new("."));
    dir.join("target")
        .join(".orchestrator")
        .join(&stack.project)
        .join("lock")
}

/// Takes the project lock, waiting for as long as another run holds it.
pub async fn acquire(stack: &Stack, progress: &Progress) -> Result<ProjectLock, LockError> {
    let path = lock_path(stack);
    let error = |source| LockError {
        project: stack.project.clone(),
        path: path.clone(),
        source,
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(error)?;
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(error)?;
    let mut announced = false;
    loop {
        if try_lock(&file).map_err(error)? {
            return Ok(ProjectLock { _file: file });
        }
        if !announced {
            progress.info(&format!(
                "waiting for another orchestrator run on project {} to finish (lock {})",
                stack.project,
                path.display()
            ));
            announced = true;
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// Tries to lock `file`, returning `Ok(false)` when another open file
/// description already has the lock.
fn try_lock(file: &File) -> io::Result<bool> {
    // SAFETY: flock on a descriptor this function borrows; no memory is shared.
    let result = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if result == 0 {
        return Ok(true);
    }
    let error = io::Error::last_os_error();
    match error.raw_os_error() {
        Some(libc::EWOULDBLOCK) => Ok(false),
        Some(libc::EINTR) => Ok(false),
        _ => Err(error),
    }
}
