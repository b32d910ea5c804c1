//! Library half of the `orchestrator` binary: everything but argument
//! parsing, so integration tests can drive each stage directly.

pub mod archive;
pub mod build_step;
pub mod commands;
pub mod context;
pub mod engine;
pub mod labels;
pub mod plan;
pub mod progress;
pub mod project_lock;
pub mod run_record;
pub mod spec;
pub mod transfer;
