//! Validation problems: every rule that fails names the field and says why in plain English.

use std::fmt;

/// One thing wrong with one field of an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// The field (or input column) at fault.
    pub field: String,
    /// Why, in words a data clerk understands. Never echoes an identifier's value.
    pub reason: String,
}

impl FieldProblem {
    /// A problem with `field`, for `reason`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { field: field.into(), reason: reason.into() }
    }
}

impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

/// Every problem found in one input, in the order the fields were checked.
///
/// Validation never stops at the first problem: a clerk fixing a form wants them all at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Problems(Vec<FieldProblem>);

impl Problems {
    /// No problems yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a problem.
    pub fn push(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.0.push(FieldProblem::new(field, reason));
    }

    /// Adds all of `other`'s problems.
    pub fn extend(&mut self, other: Problems) {
        self.0.extend(other.0);
    }

    /// True when nothing is wrong.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many problems there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The problems, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, FieldProblem> {
        self.0.iter()
    }

    /// `Ok(value)` if there were no problems, otherwise `Err(self)`.
    pub fn into_result<T>(self, value: impl FnOnce() -> T) -> Result<T, Problems> {
        if self.is_empty() { Ok(value()) } else { Err(self) }
    }
}

impl IntoIterator for Problems {
    type Item = FieldProblem;
    type IntoIter = std::vec::IntoIter<FieldProblem>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}
