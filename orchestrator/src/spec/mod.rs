//! The stack file: parsing, validation and the typed stack they produce.
//!
//! [`parse`] turns the text into a [`Stack`] without touching the file system
//! or Docker, and [`load`] reads the file first. Both report every problem
//! they find with its line and column, in one [`SpecError`].

mod container;
mod convert;
mod error;
mod model;
mod names;
mod order;
mod paths;
mod raw;
mod units;

use std::path::Path;

pub use container::{
    DEFAULT_MEMORY_BYTES, DEFAULT_ONE_SHOT_TIMEOUT, DEFAULT_PIDS_LIMIT, DEFAULT_USER,
};
pub use error::{Diagnostic, SpecError};
pub use model::*;
pub use units::{parse_duration, parse_size};

use convert::{convert_stack, Converter};
use error::Diagnostics;
use paths::normalize;
use raw::RawStack;

/// Reads and validates the stack file at `path`.
///
/// The build contexts, Dockerfiles and workdirs it names need not exist:
/// on a machine that received its images through `import` there is no
/// source tree, and `up` then uses the images the engine has.
pub fn load(path: &Path) -> Result<Stack, SpecError> {
    let bytes = std::fs::read(path).map_err(|source| SpecError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    match String::from_utf8(bytes) {
        Ok(text) => parse(&text, path),
        Err(error) => Err(not_utf8(path, error)),
    }
}

/// Locates the first byte that is not UTF-8, because TOML files must be
/// UTF-8 and a read error would wrongly point at the path.
fn not_utf8(path: &Path, error: std::string::FromUtf8Error) -> SpecError {
    let offset = error.utf8_error().valid_up_to();
    let text = String::from_utf8_lossy(error.as_bytes());
    let mut diagnostics = Diagnostics::new(&text);
    diagnostics.push(
        offset..offset + 1,
        format!("the file is not UTF-8 text: invalid byte at offset {offset}"),
        "save the stack file as UTF-8 text".to_string(),
    );
    SpecError::Invalid {
        file: path.to_path_buf(),
        diagnostics: diagnostics.into_sorted(),
    }
}

/// Validates the text of a stack file. `path` locates the file: relative
/// paths in it resolve against its directory, and errors name it. The file
/// system is not read.
pub fn parse(text: &str, path: &Path) -> Result<Stack, SpecError> {
    let invalid = |diagnostics: Diagnostics<'_>| SpecError::Invalid {
        file: path.to_path_buf(),
        diagnostics: diagnostics.into_sorted(),
    };

    let raw: RawStack = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(error) => {
            let mut diagnostics = Diagnostics::new(text);
            let message = error.message().trim_end().to_string();
            let help = help_for_toml_error(&message);
            diagnostics.push(error.span().unwrap_or(0..0), message, help);
            return Err(invalid(diagnostics));
        }
    };

    let file = absolute(path);
    let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut converter = Converter {
        dir,
        diagnostics: Diagnostics::new(text),
        published_ports: Vec::new(),
    };
    let mut stack = convert_stack(&raw, &mut converter);
    if !converter.diagnostics.is_empty() {
        return Err(invalid(converter.diagnostics));
    }
    stack.file = file;
    Ok(stack)
}

/// Makes `path` absolute against the working directory. This is the only
/// use of the working directory: everything inside the file resolves against
/// the file's own directory.
fn absolute(path: &Path) -> std::path::PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    normalize(&absolute)
}

/// Suggests a fix for a syntax or type error reported by the TOML parser.
fn help_for_toml_error(message: &str) -> String {
    if message.starts_with("unknown field") {
        "remove the key or correct its spelling (docs/stack-file.md lists every key)".to_string()
    } else if message.starts_with("missing field") {
        "add the key (docs/stack-file.md lists the required keys)".to_string()
    } else if message.starts_with("invalid type") {
        "change the value to the expected type".to_string()
    } else {
        "fix the TOML syntax at this position".to_string()
    }
}

#[cfg(test)]
mod tests;
