//! Request limits shared by the routes and the command line.

/// Default maximum request body size: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// Default maximum number of rows in one batch request.
pub const DEFAULT_MAX_BATCH: usize = 1000;

/// Limits that bound the work one request can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum request body size in bytes; a larger body gets 413.
    pub max_body_bytes: usize,
    /// Maximum number of rows in a batch request; a longer batch gets 422.
    pub max_batch: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_batch: DEFAULT_MAX_BATCH,
        }
    }
}
