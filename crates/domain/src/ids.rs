//! Small identifier types: registry ids and the names of forms and fields.

use std::fmt;

/// Why a name or id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {reason}")]
pub struct IdError {
    what: &'static str,
    reason: &'static str,
}

fn check_slug(s: &str, what: &'static str, sep: char, max: usize) -> Result<(), IdError> {
    let err = |reason| Err(IdError { what, reason });
    if s.len() < 2 || s.len() > max {
        return err(if max == 32 { "must be 2 to 32 characters long" } else { "must be 2 to 64 characters long" });
    }
    if !s.starts_with(|c: char| c.is_ascii_lowercase()) {
        return err("must start with a lowercase letter");
    }
    if !s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == sep) {
        return err(if sep == '-' {
            "may contain only lowercase letters, digits and '-'"
        } else {
            "may contain only lowercase letters, digits and '_'"
        });
    }
    Ok(())
}

macro_rules! slug_type {
    ($(#[$doc:meta])* $name:ident, $what:literal, $sep:literal, $max:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Parses the id, refusing anything that is not a lowercase slug.
            pub fn parse(s: &str) -> Result<Self, IdError> {
                check_slug(s, $what, $sep, $max).map(|()| Self(s.to_owned()))
            }

            /// Keeps a name that failed [`Self::parse`] so that a load can go on checking the
            /// rest of a file it will reject anyway; never used for anything that is stored.
            #[allow(dead_code)] // not every id type is ever read from a file that may be wrong
            pub(crate) fn unchecked(s: &str) -> Self {
                Self(s.to_owned())
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

slug_type!(
    /// A registry's short id, e.g. `njr`: 2–32 lowercase letters, digits and `-`.
    RegistryId, "a registry id", '-', 32
);
slug_type!(
    /// A form's name within a dictionary, e.g. `hip_primary`.
    FormName, "a form name", '_', 64
);
slug_type!(
    /// A field's name, unique within a dictionary, e.g. `hp_asa_grade`.
    FieldName, "a field name", '_', 64
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_ids_are_lowercase_slugs() {
        assert!(RegistryId::parse("njr").is_ok());
        assert!(RegistryId::parse("breast-implants").is_ok());
        assert!(RegistryId::parse("NJR").is_err());
        assert!(RegistryId::parse("n").is_err());
        assert!(RegistryId::parse("1njr").is_err());
        assert!(RegistryId::parse("n jr").is_err());
        assert!(RegistryId::parse(&"a".repeat(33)).is_err());
        assert!(FieldName::parse("hp_asa_grade").is_ok());
        assert!(FieldName::parse("hp-asa").is_err());
    }
}
