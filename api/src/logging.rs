//! Log output: JSON lines when stdout is not a terminal (a container, a
//! file), readable text on a terminal. `RUST_LOG` sets the filter.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Default filter when `RUST_LOG` is unset. warp 0.4 logs every connection
/// that a client closes mid-request (`IncompleteMessage`, resets) as an
/// error under `warp::server::run`, which would flood the log with client
/// behaviour, so that target is off by default.
/// NOTE: warp logs accept errors (such as running out of file descriptors)
/// under the same target, so they are hidden too unless `RUST_LOG` turns
/// `warp::server::run` back on.
const DEFAULT_FILTER: &str = "info,warp::server::run=off";

/// Installs the global subscriber. Call once, at startup.
pub fn init() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout);
    if std::io::stdout().is_terminal() {
        builder.init();
    } else {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init();
    }
}
