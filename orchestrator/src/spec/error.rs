//! Errors of loading a stack file, each located by file, line and column.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

/// Failure to load or validate a stack file. The binary maps every variant
/// to exit code [`SpecError::EXIT_CODE`].
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("failed to read stack file {}; check the path or pass another one with -f", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// One or more problems in the file, sorted by position.
    #[error("{}", render(file, diagnostics))]
    Invalid {
        /// The stack file as the user named it.
        file: PathBuf,
        diagnostics: Vec<Diagnostic>,
    },
}

impl SpecError {
    /// Exit code of a stack file that cannot be read or is invalid.
    pub const EXIT_CODE: i32 = 2;

    /// Returns the problems found, empty for a read failure.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            Self::Read { .. } => &[],
            Self::Invalid { diagnostics, .. } => diagnostics,
        }
    }
}

/// One problem in the stack file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
    /// What is wrong, naming the offending value.
    pub message: String,
    /// What to change.
    pub help: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)?;
        if !self.help.is_empty() {
            write!(f, "\n  help: {}", self.help)?;
        }
        Ok(())
    }
}

fn render(file: &std::path::Path, diagnostics: &[Diagnostic]) -> String {
    let mut lines = Vec::with_capacity(diagnostics.len() + 1);
    let count = diagnostics.len();
    let noun = if count == 1 { "error" } else { "errors" };
    lines.push(format!(
        "invalid stack file {} ({count} {noun}):",
        file.display()
    ));
    for diagnostic in diagnostics {
        lines.push(format!("{}:{diagnostic}", file.display()));
    }
    lines.join("\n")
}

/// Collects the problems of one file, converting byte spans to line and
/// column as they are added.
pub(crate) struct Diagnostics<'a> {
    text: &'a str,
    items: Vec<(usize, Diagnostic)>,
}

impl<'a> Diagnostics<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Self {
            text,
            items: Vec::new(),
        }
    }

    pub(crate) fn push(
        &mut self,
        span: Range<usize>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        let (line, column) = line_column(self.text, span.start);
        let diagnostic = Diagnostic {
            line,
            column,
            message: message.into(),
            help: help.into(),
        };
        self.items.push((span.start, diagnostic));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Returns the diagnostics sorted by position, keeping insertion order
    /// for problems at the same position.
    pub(crate) fn into_sorted(mut self) -> Vec<Diagnostic> {
        self.items.sort_by_key(|(offset, _)| *offset);
        self.items
            .into_iter()
            .map(|(_, diagnostic)| diagnostic)
            .collect()
    }
}

/// Converts a byte offset into a 1-based line and a 1-based column counted in
/// characters. An offset past the end points after the last character.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |index| index + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_counts_from_one() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 4), (1, 5));
        assert_eq!(line_column(text, 6), (2, 1));
        // `é` is two bytes but one column, so the space after it (byte 9) is
        // column 3.
        assert_eq!(line_column(text, 9), (2, 3));
        assert_eq!(line_column(text, 1000), (3, 1));
    }

    #[test]
    fn invalid_error_lists_each_problem() {
        let error = SpecError::Invalid {
            file: PathBuf::from("infra.toml"),
            diagnostics: vec![Diagnostic {
                line: 3,
                column: 7,
                message: "unknown image `etl2`".to_string(),
                help: "use one of: etl".to_string(),
            }],
        };
        assert_eq!(
            error.to_string(),
            "invalid stack file infra.toml (1 error):\ninfra.toml:3:7: unknown image `etl2`\n  help: use one of: etl"
        );
    }
}
