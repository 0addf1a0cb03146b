//! Config errors that name the file, the line and the key, so an operator can fix them at once.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

/// Why a config file was refused: one or more problems, each at a place in the file.
#[derive(Debug)]
pub struct ConfigError {
    /// The file that was read.
    pub file: PathBuf,
    /// Everything wrong with it (all of it, not only the first).
    pub problems: Vec<Problem>,
}

/// One thing wrong with a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line, 0 when the file could not be read at all.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// Dotted key, e.g. `queue.queues.payments.concurrency`; empty for a syntax error outside any key.
    pub key: String,
    /// What is wrong and what is expected.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}", self.file.display())?;
            if problem.line > 0 {
                write!(f, ":{}:{}", problem.line, problem.column)?;
            }
            if problem.key.is_empty() {
                write!(f, ": {}", problem.message)?;
            } else {
                write!(f, ": key `{}`: {}", problem.key, problem.message)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// A file that could not be read.
    pub fn unreadable(file: &Path, err: &std::io::Error) -> Self {
        Self {
            file: file.to_path_buf(),
            problems: vec![Problem {
                line: 0,
                column: 0,
                key: String::new(),
                message: format!("cannot read the file: {err}"),
            }],
        }
    }
}

/// Maps byte offsets and key paths of one TOML source back to lines, columns and dotted keys.
pub(crate) struct SourceMap<'a> {
    source: &'a str,
    table: Option<toml::Spanned<DeTable<'a>>>,
}

impl<'a> SourceMap<'a> {
    pub(crate) fn new(source: &'a str) -> Self {
        Self {
            source,
            table: DeTable::parse(source).ok(),
        }
    }

    /// A problem reported by the TOML parser or by serde at `span`.
    pub(crate) fn problem_at(&self, span: Option<Range<usize>>, message: &str) -> Problem {
        let Some(span) = span else {
            return Problem {
                line: 0,
                column: 0,
                key: String::new(),
                message: message.to_string(),
            };
        };
        let mut key = Vec::new();
        if let Some(table) = &self.table {
            key_at(table.get_ref(), span.start, &mut key);
        }
        let (line, column) = self.line_column(span.start);
        Problem {
            line,
            column,
            key: key.join("."),
            message: message.lines().next().unwrap_or(message).trim().to_string(),
        }
    }

    /// Whether `span` is the whole document's (where serde reports a missing section).
    pub(crate) fn is_root_span(&self, span: Option<Range<usize>>) -> bool {
        span.is_none_or(|span| {
            span.is_empty() || span.start == 0 && span.end >= self.source.trim_end().len()
        })
    }

    /// A problem found by validation at the dotted `key` (located in the source when present).
    pub(crate) fn problem_for_key(&self, key: &str, message: String) -> Problem {
        let offset = self
            .table
            .as_ref()
            .and_then(|table| offset_of_key(table.get_ref(), key));
        let (line, column) = offset.map_or((0, 0), |offset| self.line_column(offset));
        Problem {
            line,
            column,
            key: key.to_string(),
            message,
        }
    }

    fn line_column(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.source.len());
        let before = &self.source[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
        (line, column)
    }
}

/// Finds the innermost key whose key or value contains `offset`. Table values are searched
/// whatever their span, because a `[table]`'s span covers its header, not its body.
fn key_at(table: &DeTable<'_>, offset: usize, path: &mut Vec<String>) -> bool {
    for (key, value) in table {
        path.push(key.get_ref().to_string());
        if within(value, offset, path) || key.span().contains(&offset) {
            return true;
        }
        path.pop();
    }
    false
}

fn within(value: &toml::Spanned<DeValue<'_>>, offset: usize, path: &mut Vec<String>) -> bool {
    match value.get_ref() {
        DeValue::Table(inner) => key_at(inner, offset, path) || value.span().contains(&offset),
        DeValue::Array(items) => items.iter().enumerate().any(|(index, item)| {
            path.push(index.to_string());
            let found = within(item, offset, path);
            if !found {
                path.pop();
            }
            found
        }),
        _ => value.span().contains(&offset) || value.span().end == offset,
    }
}

/// The offset of the value of dotted `key`, or of its deepest existing parent's key.
fn offset_of_key(table: &DeTable<'_>, key: &str) -> Option<usize> {
    let mut current = table;
    let mut found = None;
    let mut parts = key.split('.').peekable();
    while let Some(part) = parts.next() {
        let (k, v) = current.iter().find(|(k, _)| k.get_ref() == part)?;
        found = Some(if parts.peek().is_none() {
            v.span().start
        } else {
            k.span().start
        });
        match v.get_ref() {
            DeValue::Table(inner) => current = inner,
            DeValue::Array(items) => {
                let index: usize = parts.next()?.parse().ok()?;
                let item = items.get(index)?;
                found = Some(item.span().start);
                match item.get_ref() {
                    DeValue::Table(inner) => current = inner,
                    _ => return found,
                }
            }
            _ => return found,
        }
    }
    found
}
