//! Request limits shared by the routes and the command line.

use std::time::Duration;

/// Default maximum request body size: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// Default maximum number of rows in one batch request.
pub const DEFAULT_MAX_BATCH: usize = 1000;

/// Default maximum time hyper waits for the complete headers of a request.
/// After it, hyper closes the connection without a response.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Default maximum time to receive a request body, from the start of the
/// handler to the last byte of the body.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Maximum number of entries in a 422 `detail` list: the first problems
/// found, then one entry that counts the rest.
pub const MAX_FIELD_ERRORS: usize = 20;

/// Limits that bound the work one request can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum request body size in bytes; a larger body gets 413.
    pub max_body_bytes: usize,
    /// Maximum number of rows in a batch request; a longer batch gets 422.
    pub max_batch: usize,
    /// Maximum time to read a request body; a slower body gets 408.
    pub body_read_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_batch: DEFAULT_MAX_BATCH,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
        }
    }
}
