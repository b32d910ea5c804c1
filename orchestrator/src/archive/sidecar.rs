//! The `PATH.sha256` file beside each archive, in the format `sha256sum`
//! writes and `sha256sum -c` reads: `<64 hex digits><two spaces><file name>`.
//!
//! The file name is written without a directory, so `sha256sum -c` works
//! when run in the archive's directory after the pair has been copied.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Returns `PATH.sha256` for an archive at `PATH`.
pub fn sidecar_path(archive: &Path) -> PathBuf {
    let mut name = archive.file_name().map(OsString::from).unwrap_or_default();
    name.push(".sha256");
    archive.with_file_name(name)
}

/// Formats the sidecar line for an archive named `file_name`.
pub fn format_line(sha256_hex: &str, file_name: &str) -> String {
    if file_name.contains(['\\', '\n']) {
        // GNU sha256sum escapes these characters and marks the line with a
        // leading backslash.
        let escaped = file_name.replace('\\', "\\\\").replace('\n', "\\n");
        format!("\\{sha256_hex}  {escaped}\n")
    } else {
        format!("{sha256_hex}  {file_name}\n")
    }
}

/// Finds the expected digest for `file_name` in a sidecar's text. Accepts
/// the text and binary markers (`  name` and ` *name`) and names with a
/// directory part, matching on the final component.
pub fn parse(text: &str, file_name: &str) -> Result<String, String> {
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let (escaped, line) = match line.strip_prefix('\\') {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        let (digest, name) = split_line(line).ok_or_else(|| {
            format!(
                "line {} is not `<sha256 hex>  <file name>`: {line:?}",
                index + 1
            )
        })?;
        let name = if escaped {
            name.replace("\\n", "\n").replace("\\\\", "\\")
        } else {
            name.to_owned()
        };
        if name.rsplit('/').next() == Some(file_name) {
            return Ok(digest.to_ascii_lowercase());
        }
    }
    Err(format!("it has no line for {file_name:?}"))
}

fn split_line(line: &str) -> Option<(&str, &str)> {
    let digest = line.get(..64)?;
    if !digest.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    let name = line[64..]
        .strip_prefix("  ")
        .or_else(|| line[64..].strip_prefix(" *"))?;
    (!name.is_empty()).then_some((digest, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Digest of the empty input, from `printf '' | sha256sum`.
    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn sidecar_path_appends_suffix() {
        assert_eq!(
            sidecar_path(Path::new("/tmp/out/stack.tar")),
            PathBuf::from("/tmp/out/stack.tar.sha256")
        );
    }

    #[test]
    fn format_matches_sha256sum() {
        // `sha256sum stack.tar` prints exactly this shape for an empty file.
        assert_eq!(
            format_line(EMPTY, "stack.tar"),
            format!("{EMPTY}  stack.tar\n")
        );
        assert_eq!(format_line(EMPTY, "a\\b"), format!("\\{EMPTY}  a\\\\b\n"));
    }

    #[test]
    fn parse_round_trips_and_variants() {
        let line = format_line(EMPTY, "stack.tar");
        assert_eq!(parse(&line, "stack.tar").unwrap(), EMPTY);
        assert_eq!(
            parse(&format!("{EMPTY} *stack.tar\n"), "stack.tar").unwrap(),
            EMPTY
        );
        assert_eq!(
            parse(&format!("{EMPTY}  ./out/stack.tar"), "stack.tar").unwrap(),
            EMPTY
        );
        let upper = EMPTY.to_ascii_uppercase();
        assert_eq!(
            parse(&format!("{upper}  stack.tar"), "stack.tar").unwrap(),
            EMPTY
        );
        let escaped = format_line(EMPTY, "a\\b");
        assert_eq!(parse(&escaped, "a\\b").unwrap(), EMPTY);
    }

    #[test]
    fn parse_picks_the_named_line() {
        let other = "0".repeat(64);
        let text = format!("{other}  etl_app.tar\n{EMPTY}  ml_app.tar\n");
        assert_eq!(parse(&text, "ml_app.tar").unwrap(), EMPTY);
    }

    #[test]
    fn parse_rejects_malformed() {
        assert!(parse("", "stack.tar").is_err());
        assert!(parse("abc  stack.tar", "stack.tar").is_err());
        assert!(parse(&format!("{EMPTY} stack.tar"), "stack.tar").is_err());
        assert!(parse(&format!("{EMPTY}  other.tar"), "stack.tar").is_err());
        let not_hex = "g".repeat(64);
        assert!(parse(&format!("{not_hex}  stack.tar"), "stack.tar").is_err());
    }
}
