//! Moving the stack between machines: image save and load, model volume
//! export and restore, all through the Engine API.
//!
//! Every archive is written to a temporary file in its target directory and
//! renamed when complete, so a failed or interrupted export leaves nothing
//! at the target path. Every archive is verified by [`crate::archive`]
//! before its first byte is sent to the engine.

mod error;
mod images;
mod import;
mod meter;
mod model_store;
mod output_file;
mod volume;

pub use error::TransferError;
pub use images::{export_images, load_images, LoadedTag};
pub use import::{import_archive, import_verified, verify_archive, Imported};
pub use meter::Meter;
pub use model_store::ModelStore;
pub use output_file::{archive_file_name, WrittenArchive};
pub use volume::{export_volume, restore_volume, RestoredVolume};
