//! Ignore-file patterns with Docker's `.dockerignore` semantics, as the
//! `.dockerignore` section of the Dockerfile reference describes them
//! (docs.docker.com/engine/reference/builder/#dockerignore-file).
//!
//! Lines starting with `#` are comments. Surrounding whitespace is trimmed
//! and a leading `/` is dropped. `*` and `?` never match `/`, and a `**`
//! segment matches any number of directories, zero included. A leading `!`
//! re-includes what an earlier line excluded, and the last matching line
//! wins. A pattern that matches a directory also matches everything below
//! it.

/// One parsed line of an ignore file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    /// Path segments of the cleaned pattern; `**` stays a segment of its own.
    segments: Vec<String>,
    /// `true` for a `!` line, which re-includes what it matches.
    negated: bool,
}

/// The patterns of one ignore file, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IgnoreRules {
    patterns: Vec<Pattern>,
}

impl IgnoreRules {
    /// Parses the text of an ignore file.
    pub fn parse(text: &str) -> Self {
        let patterns = text.lines().filter_map(parse_line).collect();
        Self { patterns }
    }

    /// Tells whether `path` (relative to the context root, `/`-separated) is
    /// excluded from the context.
    pub fn is_excluded(&self, path: &str) -> bool {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let mut excluded = false;
        for pattern in &self.patterns {
            if matches_path_or_parent(&pattern.segments, &segments) {
                excluded = !pattern.negated;
            }
        }
        excluded
    }

    /// Tells whether a `!` pattern could re-include something below the
    /// excluded directory `dir`, so that the walk must still descend into it.
    pub fn may_include_below(&self, dir: &str) -> bool {
        let segments: Vec<&str> = dir.split('/').filter(|s| !s.is_empty()).collect();
        self.patterns
            .iter()
            .filter(|p| p.negated)
            .any(|p| prefix_may_match(&p.segments, &segments))
    }
}

fn parse_line(line: &str) -> Option<Pattern> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (negated, body) = match line.strip_prefix('!') {
        Some(rest) => (true, rest.trim()),
        None => (false, line),
    };
    let segments = clean_segments(body);
    if segments.is_empty() {
        return None;
    }
    Some(Pattern { segments, negated })
}

/// Cleans a pattern as Go's `filepath.Clean` does (drops empty and `.`
/// segments, resolves `..`) and strips the leading `/`.
fn clean_segments(body: &str) -> Vec<String> {
    let mut segments: Vec<String> = Vec::new();
    for segment in body.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other.to_string()),
        }
    }
    segments
}

/// Docker excludes a path when a pattern matches it or any of its parents.
fn matches_path_or_parent(pattern: &[String], path: &[&str]) -> bool {
    (1..=path.len()).any(|len| match_segments(pattern, &path[..len]))
}

fn match_segments(pattern: &[String], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((first, rest)) if first == "**" => {
            (0..=path.len()).any(|skip| match_segments(rest, &path[skip..]))
        }
        Some((first, rest)) => match path.split_first() {
            Some((segment, path_rest)) => {
                match_segment(first.as_bytes(), segment.as_bytes())
                    && match_segments(rest, path_rest)
            }
            None => false,
        },
    }
}

/// Tells whether some path that starts with the directory `dir` could match
/// `pattern`.
fn prefix_may_match(pattern: &[String], dir: &[&str]) -> bool {
    match (pattern.split_first(), dir.split_first()) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some((first, _)), Some(_)) if first == "**" => true,
        (Some((first, rest)), Some((segment, dir_rest))) => {
            match_segment(first.as_bytes(), segment.as_bytes()) && prefix_may_match(rest, dir_rest)
        }
    }
}

/// Matches one path segment against one pattern segment with the syntax of
/// Go's `filepath.Match`: `*`, `?`, `[...]` classes with ranges and `^`
/// negation, and `\` escapes.
fn match_segment(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|skip| match_segment(rest, &name[skip..])),
        Some((b'?', rest)) => !name.is_empty() && match_segment(rest, &name[1..]),
        Some((b'[', _)) => match (name.split_first(), parse_class(pattern)) {
            (Some((&c, name_rest)), Some((class, after))) => {
                class.contains(c) && match_segment(after, name_rest)
            }
            // An unterminated class is matched literally.
            (Some((&c, name_rest)), None) => c == b'[' && match_segment(&pattern[1..], name_rest),
            (None, _) => false,
        },
        Some((b'\\', rest)) if !rest.is_empty() => {
            name.first() == Some(&rest[0]) && match_segment(&rest[1..], &name[1..])
        }
        Some((&literal, rest)) => name.first() == Some(&literal) && match_segment(rest, &name[1..]),
    }
}

/// A `[...]` character class.
struct Class {
    negated: bool,
    ranges: Vec<(u8, u8)>,
}

impl Class {
    fn contains(&self, c: u8) -> bool {
        let inside = self.ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi);
        inside != self.negated
    }
}

/// Parses the class at the start of `pattern` and returns it with the rest
/// of the pattern, or `None` when the class has no closing `]`.
fn parse_class(pattern: &[u8]) -> Option<(Class, &[u8])> {
    let mut i = 1;
    let negated = matches!(pattern.get(i), Some(b'^') | Some(b'!'));
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let c = *pattern.get(i)?;
        if c == b']' && !first {
            return Some((Class { negated, ranges }, &pattern[i + 1..]));
        }
        first = false;
        let (lo, next) = class_char(pattern, i)?;
        if pattern.get(next) == Some(&b'-') && pattern.get(next + 1).is_some_and(|&c| c != b']') {
            let (hi, after) = class_char(pattern, next + 1)?;
            ranges.push((lo, hi));
            i = after;
        } else {
            ranges.push((lo, lo));
            i = next;
        }
    }
}

fn class_char(pattern: &[u8], i: usize) -> Option<(u8, usize)> {
    match *pattern.get(i)? {
        b'\\' => Some((*pattern.get(i + 1)?, i + 2)),
        c => Some((c, i + 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The first cases are the examples of the `.dockerignore` section of the
    // Dockerfile reference, with the results it gives for them.
    #[test]
    fn star_matches_one_level() {
        let rules = IgnoreRules::parse("*/temp*");
        assert!(rules.is_excluded("somedir/temporary.txt"));
        assert!(rules.is_excluded("somedir/temp"));
        assert!(!rules.is_excluded("temp"));
        assert!(!rules.is_excluded("a/b/temp"));
    }

    #[test]
    fn two_levels_and_question_mark() {
        let rules = IgnoreRules::parse("*/*/temp*\ntemp?");
        assert!(rules.is_excluded("a/b/temporary"));
        assert!(!rules.is_excluded("a/temporary"));
        assert!(rules.is_excluded("tempa"));
        assert!(!rules.is_excluded("tempab"));
    }

    #[test]
    fn double_star_matches_any_depth() {
        let rules = IgnoreRules::parse("**/*.go");
        assert!(rules.is_excluded("main.go"));
        assert!(rules.is_excluded("a/b/c/main.go"));
        assert!(!rules.is_excluded("a/main.rs"));
    }

    #[test]
    fn exception_reincludes_and_last_wins() {
        let rules = IgnoreRules::parse("*.md\n!README*.md\nREADME-secret.md");
        assert!(rules.is_excluded("CHANGES.md"));
        assert!(!rules.is_excluded("README.md"));
        assert!(rules.is_excluded("README-secret.md"));
    }

    #[test]
    fn directory_pattern_excludes_contents() {
        let rules = IgnoreRules::parse("target\n");
        assert!(rules.is_excluded("target"));
        assert!(rules.is_excluded("target/release/etl"));
        assert!(!rules.is_excluded("targets"));
    }

    #[test]
    fn comments_blank_lines_and_slashes() {
        let rules = IgnoreRules::parse("# comment\n\n  /docs/  \n./build/../out");
        assert!(rules.is_excluded("docs/index.md"));
        assert!(rules.is_excluded("out/a"));
        assert!(!rules.is_excluded("build"));
        assert!(!rules.is_excluded("# comment"));
    }

    #[test]
    fn character_classes_and_escapes() {
        let rules = IgnoreRules::parse("log[0-9].txt\nx[^a]y\nlit\\*");
        assert!(rules.is_excluded("log7.txt"));
        assert!(!rules.is_excluded("logx.txt"));
        assert!(rules.is_excluded("xby"));
        assert!(!rules.is_excluded("xay"));
        assert!(rules.is_excluded("lit*"));
        assert!(!rules.is_excluded("litx"));
    }

    #[test]
    fn descend_only_where_exception_reaches() {
        let rules = IgnoreRules::parse("*\n!target/x86_64-unknown-linux-gnu/release/etl");
        assert!(rules.is_excluded("target"));
        assert!(rules.may_include_below("target"));
        assert!(rules.may_include_below("target/x86_64-unknown-linux-gnu"));
        assert!(!rules.may_include_below("target/debug"));
        assert!(!rules.may_include_below("etl"));
        assert!(!rules.is_excluded("target/x86_64-unknown-linux-gnu/release/etl"));
        assert!(rules.is_excluded("target/x86_64-unknown-linux-gnu/release/api"));
    }
}
