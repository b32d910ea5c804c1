//! The stack file: parsing, validation and the typed stack they produce.

mod model;

pub use model::*;
