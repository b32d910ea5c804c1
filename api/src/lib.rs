//! The prediction service: a warp HTTP server that answers `POST /predict`
//! from the model that `etl` publishes, and picks up a replaced model file
//! without a restart.
//!
//! The binary (`main.rs`) only parses options and calls [`server::run`];
//! everything else lives here so that tests can drive the same routes
//! in-process through `warp::test`.

pub mod body;
pub mod config;
pub mod docs;
pub mod healthcheck;
pub mod logging;
pub mod metrics;
pub mod model_slot;
pub mod predict;
pub mod problem;
pub mod reload;
pub mod request;
pub mod routes;
pub mod server;

pub use config::Limits;
pub use model_slot::{ModelSlot, UnavailableReason};
pub use routes::{routes, AppState};
