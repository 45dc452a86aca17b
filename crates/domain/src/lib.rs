//! Tessera's domain: the types and rules of clinical outcome registries.
//!
//! Everything here is pure: no file, network or database access, no web or SQL types. Values are
//! *parsed, not validated*: once a string has become an [`NhsNumber`] or a [`ValidRecord`], no
//! other code needs to check it again. Callers that need "today" pass it in, so rules about the
//! future stay testable.

#![forbid(unsafe_code)]

pub mod access;
pub mod analysis;
pub mod catalogue;
pub mod competing;
pub mod cox;
pub mod cusum;
pub mod dictionary;
pub mod disclosure;
pub mod funnel;
pub mod gs1;
pub mod ids;
pub mod nhs;
pub mod numeric;
pub mod organisation;
pub mod outcomes;
pub mod outliers;
pub mod patient;
pub mod problem;
pub mod rates;
pub mod recall;
pub mod record;
pub mod survival;

pub use dictionary::{CodeList, Dictionary, DictionaryError, Field, FieldKind, Form, RequiredIf};
pub use ids::{FieldName, FormName, RegistryId};
pub use nhs::{NhsNumber, NhsNumberError};
pub use organisation::{OdsCode, Organisation, OrganisationKind};
pub use patient::{Consent, Identifiers, Patient, PatientInput, Postcode, Sex};
pub use problem::{FieldProblem, Problems};
pub use record::{RecordInput, ValidRecord, Value};
