//! Library half of the `orchestrator` binary: everything but argument
//! parsing, so integration tests can drive each stage directly.

pub mod archive;
pub mod labels;
pub mod plan;
pub mod spec;
