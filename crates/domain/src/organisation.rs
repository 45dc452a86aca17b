//! Organisations (hospitals and independent-sector providers) and their ODS codes.

use std::fmt;

/// An Organisation Data Service code, e.g. `RRK` (a trust) or `RRK02` (a site): 3–10 letters and
/// digits, kept in upper case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OdsCode(String);

/// Why a string is not an ODS code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OdsCodeError {
    /// Too short or too long.
    #[error("an ODS code has 3 to 10 characters")]
    Length,
    /// A character other than a letter or digit.
    #[error("an ODS code contains only letters and digits")]
    Characters,
}

impl OdsCode {
    /// Parses a code, trimming surrounding spaces and upper-casing it.
    pub fn parse(s: &str) -> Result<Self, OdsCodeError> {
        let s = s.trim();
        if !(3..=10).contains(&s.len()) {
            return Err(OdsCodeError::Length);
        }
        if !s.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(OdsCodeError::Characters);
        }
        Ok(Self(s.to_ascii_uppercase()))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OdsCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What sort of provider an organisation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrganisationKind {
    /// An NHS trust or health board.
    NhsTrust,
    /// An independent-sector (private) provider.
    IndependentSector,
}

impl OrganisationKind {
    /// The stable code used in storage and files.
    pub fn code(self) -> &'static str {
        match self {
            Self::NhsTrust => "nhs",
            Self::IndependentSector => "independent",
        }
    }

    /// Parses [`OrganisationKind::code`].
    pub fn from_code(s: &str) -> Option<Self> {
        match s {
            "nhs" => Some(Self::NhsTrust),
            "independent" => Some(Self::IndependentSector),
            _ => None,
        }
    }
}

/// An organisation that submits to registries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organisation {
    /// Its ODS code.
    pub ods: OdsCode,
    /// Its name as people know it.
    pub name: String,
    /// NHS or independent sector.
    pub kind: OrganisationKind,
    /// The region it lies in (e.g. "North West").
    pub region: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ods_codes_are_normalised_to_upper_case() {
        assert_eq!(OdsCode::parse(" rrk ").unwrap().as_str(), "RRK");
        assert_eq!(OdsCode::parse("RRK02").unwrap().as_str(), "RRK02");
        assert_eq!(OdsCode::parse("RR"), Err(OdsCodeError::Length));
        assert_eq!(OdsCode::parse("RR-K"), Err(OdsCodeError::Characters));
    }
}
