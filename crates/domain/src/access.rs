//! Who may do what: registry roles, grants, and the capabilities a check hands out.
//!
//! A **grant** is (user, registry, role, organisation or all, expiry). A caller's live grants are
//! gathered into [`Grants`], and the only way to obtain the power to act — a capability such as
//! [`RecordsRead`] or [`ManageRegistry`] — is to ask [`Grants`] for it. Handlers and storage
//! functions take the capability as an argument, so a route cannot forget the check: without the
//! value it cannot call the function.
//!
//! The platform operator is not a registry role: operators run the service and read no patient
//! data, so they never hold grants (see the table in `DOMAIN.md` §1).

use std::collections::BTreeSet;
use std::fmt;

use crate::{OdsCode, RegistryId};

/// A registry role (`DOMAIN.md` §1). Every role is per registry, and usually per organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Clinical lead and data controller: approves users, edits the dictionary, exports the
    /// registry, reads its audit.
    Controller,
    /// Hospital data clerk or surgeon: enters and corrects records for their organisation.
    Submitter,
    /// Clinician: reads their organisation's patients.
    Viewer,
    /// Pseudonymised, aggregate data and reports; no direct identifiers.
    Analyst,
    /// Regulator: runs device recalls, sees counts per organisation.
    SafetyOfficer,
    /// Reads the audit log, not records.
    Auditor,
}

impl Role {
    /// Every role, in the order pages list them.
    pub const ALL: [Role; 6] =
        [Role::Controller, Role::Submitter, Role::Viewer, Role::Analyst, Role::SafetyOfficer, Role::Auditor];

    /// The stored name (`controller`, `safety_officer`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Controller => "controller",
            Role::Submitter => "submitter",
            Role::Viewer => "viewer",
            Role::Analyst => "analyst",
            Role::SafetyOfficer => "safety_officer",
            Role::Auditor => "auditor",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The name people read.
    pub fn label(self) -> &'static str {
        match self {
            Role::Controller => "Registry controller",
            Role::Submitter => "Submitter",
            Role::Viewer => "Viewer",
            Role::Analyst => "Analyst",
            Role::SafetyOfficer => "Safety officer",
            Role::Auditor => "Auditor",
        }
    }

    /// What the role permits, wherever its grant's scope reaches.
    pub fn permits(self, p: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Controller => {
                matches!(
                    p,
                    ReadRecords
                        | SearchPatients
                        | ExportRegistry
                        | ReadAggregates
                        | ReadAudit
                        | ManageAccess
                        | RunRecall
                )
            }
            Role::Submitter => matches!(p, ReadRecords | SearchPatients | WriteRecords),
            Role::Viewer => matches!(p, ReadRecords | SearchPatients),
            Role::Analyst => matches!(p, ReadAggregates),
            Role::SafetyOfficer => matches!(p, RunRecall | ReadAggregates),
            Role::Auditor => matches!(p, ReadAudit),
        }
    }

    /// How many distinct approvers a grant of this role needs: two for a controller (the most
    /// dangerous grant), one otherwise.
    pub fn approvals_needed(self) -> usize {
        if self == Role::Controller { 2 } else { 1 }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One thing a role may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Read identifiable records.
    ReadRecords,
    /// Find a patient by NHS number.
    SearchPatients,
    /// Enter and correct records.
    WriteRecords,
    /// Export the registry's data.
    ExportRegistry,
    /// Aggregate outcome reports.
    ReadAggregates,
    /// Read the registry's audit log.
    ReadAudit,
    /// Approve, refuse, recertify and revoke access; reactivate accounts.
    ManageAccess,
    /// Run device recalls.
    RunRecall,
}

/// Where a grant reaches within its registry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Every organisation.
    All,
    /// One organisation.
    Organisation(OdsCode),
}

impl Scope {
    /// Whether the scope reaches `org`.
    pub fn covers(&self, org: &OdsCode) -> bool {
        match self {
            Scope::All => true,
            Scope::Organisation(o) => o == org,
        }
    }

    /// The organisation, or `None` for all.
    pub fn organisation(&self) -> Option<&OdsCode> {
        match self {
            Scope::All => None,
            Scope::Organisation(o) => Some(o),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::All => f.write_str("all organisations"),
            Scope::Organisation(o) => write!(f, "{o}"),
        }
    }
}

/// One live grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The grant's id.
    pub id: String,
    /// The registry.
    pub registry: RegistryId,
    /// The role.
    pub role: Role,
    /// Where it reaches.
    pub scope: Scope,
    /// When it lapses (unix seconds).
    pub expires_at: i64,
}

/// Why a capability was not handed out. Deliberately carries nothing about what exists: callers
/// answer 404 or 403 without saying whether the object is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not permitted")]
pub struct Denied;

/// Which organisations a capability reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrgSet {
    /// Every organisation of the registry.
    All,
    /// These organisations only (never empty).
    Only(BTreeSet<OdsCode>),
}

impl OrgSet {
    /// Whether `org` is in the set.
    pub fn contains(&self, org: &OdsCode) -> bool {
        match self {
            OrgSet::All => true,
            OrgSet::Only(s) => s.contains(org),
        }
    }

    /// The organisations as ODS code strings, or `None` for all.
    pub fn codes(&self) -> Option<Vec<String>> {
        match self {
            OrgSet::All => None,
            OrgSet::Only(s) => Some(s.iter().map(|o| o.as_str().to_owned()).collect()),
        }
    }
}

/// Who is acting: a person, or an API token acting for its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A signed-in person.
    User(String),
    /// An API token (token id), acting for `owner`.
    Token {
        /// The token's id.
        id: String,
        /// The person the token acts for.
        owner: String,
    },
}

impl Principal {
    /// The person accountable: the user, or the token's owner.
    pub fn user_id(&self) -> &str {
        match self {
            Principal::User(u) => u,
            Principal::Token { owner, .. } => owner,
        }
    }
}

/// A caller's live grants, from which capabilities are asked for. Built by the access service
/// from stored grants that are neither revoked nor expired at the moment of the request, already
/// narrowed to an API token's scope and to the registries whose network allowlist admits the
/// caller's address.
#[derive(Debug, Clone)]
pub struct Grants {
    principal: Principal,
    grants: Vec<Grant>,
    /// For an API token: the only permissions it carries, whatever its owner's roles permit.
    mask: Option<Vec<Permission>>,
}

impl Grants {
    /// The grants of `principal`; the caller has filtered them to those live now.
    pub fn new(principal: Principal, grants: Vec<Grant>) -> Self {
        Grants { principal, grants, mask: None }
    }

    /// The grants an API token carries: its owner's live grants in the token's registry, narrowed
    /// to the token's organisation and to `permissions`. A token never reaches further than its
    /// owner, and stops reaching as soon as the owner's grant does.
    pub fn for_token(
        id: String,
        owner: String,
        owner_grants: Vec<Grant>,
        registry: &RegistryId,
        org: &OdsCode,
        permissions: Vec<Permission>,
    ) -> Self {
        let grants = owner_grants
            .into_iter()
            .filter(|g| &g.registry == registry && g.scope.covers(org))
            .map(|g| Grant { scope: Scope::Organisation(org.clone()), ..g })
            .collect();
        Grants { principal: Principal::Token { id, owner }, grants, mask: Some(permissions) }
    }

    fn permits(&self, role: Role, permission: Permission) -> bool {
        role.permits(permission) && self.mask.as_ref().is_none_or(|m| m.contains(&permission))
    }

    /// Who is acting.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// The live grants.
    pub fn grants(&self) -> &[Grant] {
        &self.grants
    }

    /// Whether the caller holds any grant at all.
    pub fn is_empty(&self) -> bool {
        self.grants.is_empty()
    }

    /// The registries the caller holds any grant in, sorted.
    pub fn registries(&self) -> Vec<RegistryId> {
        let set: BTreeSet<&RegistryId> = self.grants.iter().map(|g| &g.registry).collect();
        set.into_iter().cloned().collect()
    }

    /// The organisations of `registry` where the caller has `permission`.
    pub fn orgs_with(&self, registry: &RegistryId, permission: Permission) -> Result<OrgSet, Denied> {
        let mut orgs = BTreeSet::new();
        for g in self.grants.iter().filter(|g| &g.registry == registry && self.permits(g.role, permission)) {
            match &g.scope {
                Scope::All => return Ok(OrgSet::All),
                Scope::Organisation(o) => {
                    orgs.insert(o.clone());
                }
            }
        }
        if orgs.is_empty() { Err(Denied) } else { Ok(OrgSet::Only(orgs)) }
    }

    /// Whether the caller has `permission` for `org` in `registry`.
    pub fn allows(&self, registry: &RegistryId, org: &OdsCode, permission: Permission) -> bool {
        self.orgs_with(registry, permission).is_ok_and(|s| s.contains(org))
    }

    /// The power to read (and search) identifiable records of `registry` at the organisations
    /// the caller's grants reach.
    pub fn records_read(&self, registry: &RegistryId) -> Result<RecordsRead, Denied> {
        let orgs = self.orgs_with(registry, Permission::ReadRecords)?;
        Ok(RecordsRead { principal: self.principal.clone(), registry: registry.clone(), orgs })
    }

    /// The power to enter and correct records of `registry` at `org`.
    pub fn records_write(&self, registry: &RegistryId, org: &OdsCode) -> Result<RecordsWrite, Denied> {
        if self.allows(registry, org, Permission::WriteRecords) {
            Ok(RecordsWrite { principal: self.principal.clone(), registry: registry.clone(), org: org.clone() })
        } else {
            Err(Denied)
        }
    }

    /// The organisations where the caller may enter records in `registry`.
    pub fn write_orgs(&self, registry: &RegistryId) -> Result<OrgSet, Denied> {
        self.orgs_with(registry, Permission::WriteRecords)
    }

    /// The power to manage access to `registry`: only a registry-wide controller has it, and
    /// never through an API token.
    pub fn manage(&self, registry: &RegistryId) -> Result<ManageRegistry, Denied> {
        if matches!(self.principal, Principal::Token { .. }) {
            return Err(Denied);
        }
        match self.orgs_with(registry, Permission::ManageAccess)? {
            OrgSet::All => {
                Ok(ManageRegistry { controller: self.principal.user_id().to_owned(), registry: registry.clone() })
            }
            OrgSet::Only(_) => Err(Denied),
        }
    }

    /// The power to read aggregate outcome reports of `registry`.
    pub fn aggregates(&self, registry: &RegistryId) -> Result<ReadAggregates, Denied> {
        self.orgs_with(registry, Permission::ReadAggregates)?;
        Ok(ReadAggregates { registry: registry.clone() })
    }

    /// The power to run device recalls over the registries where the caller is a safety officer or
    /// controller (any scope): recall counts are aggregates, and each registry keeps control of its
    /// data, so national and per-organisation counts only ever cover these registries.
    pub fn recalls(&self) -> Result<RunRecalls, Denied> {
        let registries: BTreeSet<RegistryId> = self
            .grants
            .iter()
            .filter(|g| self.permits(g.role, Permission::RunRecall))
            .map(|g| g.registry.clone())
            .collect();
        if registries.is_empty() {
            return Err(Denied);
        }
        Ok(RunRecalls { principal: self.principal.clone(), registries })
    }

    /// The power to read the audit log of `registry`.
    pub fn audit(&self, registry: &RegistryId) -> Result<ReadAudit, Denied> {
        match self.orgs_with(registry, Permission::ReadAudit)? {
            OrgSet::All => Ok(ReadAudit { registry: registry.clone() }),
            OrgSet::Only(_) => Err(Denied),
        }
    }
}

/// The power to read identifiable records of one registry at some organisations. Only
/// [`Grants::records_read`] makes one.
#[derive(Debug, Clone)]
pub struct RecordsRead {
    principal: Principal,
    registry: RegistryId,
    orgs: OrgSet,
}

impl RecordsRead {
    /// Who holds it.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }
    /// The registry.
    pub fn registry(&self) -> &RegistryId {
        &self.registry
    }
    /// The organisations it reaches.
    pub fn orgs(&self) -> &OrgSet {
        &self.orgs
    }
    /// Whether it reaches a record held at `org`.
    pub fn covers(&self, org: &OdsCode) -> bool {
        self.orgs.contains(org)
    }
}

/// The power to enter and correct records of one registry at one organisation. Only
/// [`Grants::records_write`] makes one.
#[derive(Debug, Clone)]
pub struct RecordsWrite {
    principal: Principal,
    registry: RegistryId,
    org: OdsCode,
}

impl RecordsWrite {
    /// Who holds it.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }
    /// The registry.
    pub fn registry(&self) -> &RegistryId {
        &self.registry
    }
    /// The organisation.
    pub fn org(&self) -> &OdsCode {
        &self.org
    }
}

/// The power to manage access to one registry (a registry-wide controller). Only
/// [`Grants::manage`] makes one.
#[derive(Debug, Clone)]
pub struct ManageRegistry {
    controller: String,
    registry: RegistryId,
}

impl ManageRegistry {
    /// The controller's user id.
    pub fn controller(&self) -> &str {
        &self.controller
    }
    /// The registry.
    pub fn registry(&self) -> &RegistryId {
        &self.registry
    }
}

/// The power to read one registry's aggregate reports. Only [`Grants::aggregates`] makes one.
#[derive(Debug, Clone)]
pub struct ReadAggregates {
    registry: RegistryId,
}

impl ReadAggregates {
    /// The registry.
    pub fn registry(&self) -> &RegistryId {
        &self.registry
    }
}

/// The power to read one registry's audit log. Only [`Grants::audit`] makes one.
#[derive(Debug, Clone)]
pub struct ReadAudit {
    registry: RegistryId,
}

impl ReadAudit {
    /// The registry.
    pub fn registry(&self) -> &RegistryId {
        &self.registry
    }
}

/// The power to create, close and count device recalls over some registries. Only
/// [`Grants::recalls`] makes one.
#[derive(Debug, Clone)]
pub struct RunRecalls {
    principal: Principal,
    registries: BTreeSet<RegistryId>,
}

impl RunRecalls {
    /// Who holds it.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }
    /// The registries it covers (never empty).
    pub fn registries(&self) -> &BTreeSet<RegistryId> {
        &self.registries
    }
    /// Whether it covers `registry`.
    pub fn covers(&self, registry: &RegistryId) -> bool {
        self.registries.contains(registry)
    }
}

/// The longest a grant or an API token may last: 12 months.
pub const MAX_GRANT_SECONDS: i64 = 365 * 86_400;

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(s: &str) -> RegistryId {
        RegistryId::parse(s).unwrap()
    }
    fn ods(s: &str) -> OdsCode {
        OdsCode::parse(s).unwrap()
    }
    fn grant(r: &str, role: Role, scope: Scope) -> Grant {
        Grant { id: "g".into(), registry: reg(r), role, scope, expires_at: i64::MAX }
    }

    #[test]
    fn a_submitter_writes_only_at_their_own_organisation_and_only_in_their_registry() {
        let g = Grants::new(
            Principal::User("u".into()),
            vec![grant("njr", Role::Submitter, Scope::Organisation(ods("RRK")))],
        );
        assert!(g.records_write(&reg("njr"), &ods("RRK")).is_ok());
        assert!(g.records_write(&reg("njr"), &ods("RQY")).is_err());
        assert!(g.records_write(&reg("bcir"), &ods("RRK")).is_err());
        let read = g.records_read(&reg("njr")).unwrap();
        assert!(read.covers(&ods("RRK")) && !read.covers(&ods("RQY")));
        assert!(g.manage(&reg("njr")).is_err());
        assert!(g.aggregates(&reg("njr")).is_err());
    }

    #[test]
    fn an_analyst_or_auditor_reads_no_records() {
        for role in [Role::Analyst, Role::Auditor, Role::SafetyOfficer] {
            let g = Grants::new(Principal::User("u".into()), vec![grant("njr", role, Scope::All)]);
            assert!(g.records_read(&reg("njr")).is_err(), "{role:?}");
            assert!(g.records_write(&reg("njr"), &ods("RRK")).is_err(), "{role:?}");
        }
    }

    #[test]
    fn only_a_registry_wide_controller_manages_and_never_through_a_token() {
        let all = grant("njr", Role::Controller, Scope::All);
        let one = grant("njr", Role::Controller, Scope::Organisation(ods("RRK")));
        assert!(Grants::new(Principal::User("u".into()), vec![all.clone()]).manage(&reg("njr")).is_ok());
        assert!(Grants::new(Principal::User("u".into()), vec![one]).manage(&reg("njr")).is_err());
        let token = Principal::Token { id: "t".into(), owner: "u".into() };
        assert!(Grants::new(token, vec![all]).manage(&reg("njr")).is_err());
    }

    #[test]
    fn a_token_is_narrowed_to_its_organisation_and_permissions_and_never_beyond_its_owner() {
        let owner = vec![grant("njr", Role::Submitter, Scope::All), grant("bcir", Role::Submitter, Scope::All)];
        let t =
            Grants::for_token("t".into(), "u".into(), owner, &reg("njr"), &ods("RRK"), vec![Permission::ReadRecords]);
        assert!(t.records_read(&reg("njr")).unwrap().covers(&ods("RRK")));
        assert!(!t.records_read(&reg("njr")).unwrap().covers(&ods("RQY")));
        assert!(t.records_write(&reg("njr"), &ods("RRK")).is_err(), "read-only token");
        assert!(t.records_read(&reg("bcir")).is_err(), "other registry");
        let viewer = vec![grant("njr", Role::Viewer, Scope::Organisation(ods("RRK")))];
        let t =
            Grants::for_token("t".into(), "u".into(), viewer, &reg("njr"), &ods("RRK"), vec![Permission::WriteRecords]);
        assert!(t.records_write(&reg("njr"), &ods("RRK")).is_err(), "the owner cannot write");
        let t =
            Grants::for_token("t".into(), "u".into(), vec![], &reg("njr"), &ods("RRK"), vec![Permission::ReadRecords]);
        assert!(t.is_empty(), "an owner without grants gives the token nothing");
    }

    #[test]
    fn recalls_cover_the_registries_of_safety_officers_and_controllers_only() {
        let g = Grants::new(
            Principal::User("u".into()),
            vec![
                grant("njr", Role::SafetyOfficer, Scope::All),
                grant("bcir", Role::Controller, Scope::All),
                grant("tst", Role::Submitter, Scope::All),
            ],
        );
        let run = g.recalls().unwrap();
        assert_eq!(run.registries().iter().map(|r| r.as_str()).collect::<Vec<_>>(), ["bcir", "njr"]);
        assert!(run.covers(&reg("njr")) && !run.covers(&reg("tst")));
        for role in [Role::Submitter, Role::Viewer, Role::Analyst, Role::Auditor] {
            let g = Grants::new(Principal::User("u".into()), vec![grant("njr", role, Scope::All)]);
            assert!(g.recalls().is_err(), "{role:?}");
        }
        let officer = vec![grant("njr", Role::SafetyOfficer, Scope::All)];
        let t =
            Grants::for_token("t".into(), "u".into(), officer, &reg("njr"), &ods("RRK"), vec![Permission::ReadRecords]);
        assert!(t.recalls().is_err(), "a token without RunRecall in its mask runs no recall");
    }

    #[test]
    fn roles_round_trip_through_their_stored_names_and_controllers_need_two_approvals() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("operator"), None);
        assert_eq!(Role::Controller.approvals_needed(), 2);
        assert_eq!(Role::Viewer.approvals_needed(), 1);
    }
}
