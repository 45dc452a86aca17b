//! Patients: written only with their identifiers sealed, read back only through the registry's keys.

use sqlx::Row;
use tessera_domain::{NhsNumber, Patient, PatientInput};
use tessera_vault::{IdentifierField, RegistryCipher};
use time::Date;
use uuid::Uuid;

use crate::{Result, Store, StoreError, on_db};

/// A patient ready to be written: identifiers sealed, blind index computed.
#[derive(Clone)]
pub struct NewPatient {
    pub(crate) id: Uuid,
    pub(crate) key_version: i32,
    pub(crate) blind: Option<Vec<u8>>,
    pub(crate) sealed: Option<[Vec<u8>; 5]>,
    pub(crate) sex: &'static str,
    pub(crate) date_of_death: Option<Date>,
    pub(crate) opted_out: bool,
    pub(crate) consent: &'static str,
}

impl std::fmt::Debug for NewPatient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NewPatient({}, <sealed>)", self.id)
    }
}

impl NewPatient {
    /// Seals `patient`'s identifiers under `cipher` (the registry's current key, `key_version`)
    /// for a new patient row with a fresh id.
    pub fn seal(patient: &Patient, cipher: &RegistryCipher, key_version: i32) -> Result<Self> {
        let id = Uuid::now_v7();
        let (blind, sealed) = match patient.identifiers() {
            None => (None, None),
            Some(ids) => {
                let pid = id.as_bytes();
                let dob = ids.date_of_birth().to_string();
                let values = [
                    (IdentifierField::NhsNumber, ids.nhs_number().digits()),
                    (IdentifierField::FamilyName, ids.family_name().to_owned()),
                    (IdentifierField::GivenName, ids.given_name().to_owned()),
                    (IdentifierField::DateOfBirth, dob),
                    (IdentifierField::Postcode, ids.postcode().as_str().to_owned()),
                ];
                let sealed = values.map(|(field, value)| cipher.seal(pid, field, &value));
                let [a, b, c, d, e] = sealed;
                (Some(cipher.blind_index(ids.nhs_number()).to_vec()), Some([a?, b?, c?, d?, e?]))
            }
        };
        Ok(Self {
            id,
            key_version,
            blind,
            sealed,
            sex: patient.sex().code(),
            date_of_death: patient.date_of_death(),
            opted_out: patient.opted_out(),
            consent: patient.consent().code(),
        })
    }

    /// The new patient's id.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The blind index of the NHS number, if the patient is identified.
    pub fn blind_index(&self) -> Option<&[u8]> {
        self.blind.as_deref()
    }
}

/// A patient read back and decrypted: the domain [`Patient`] and its row id.
#[derive(Debug, Clone)]
pub struct PatientView {
    /// The patient row's id.
    pub id: Uuid,
    /// The patient, identifiers decrypted.
    pub patient: Patient,
}

impl Store {
    /// The patient of the registry with this NHS number, if any (by blind index; no decryption).
    pub async fn find_patient(&self, cipher: &RegistryCipher, nhs: &NhsNumber) -> Result<Option<Uuid>> {
        let blind = cipher.blind_index(nhs).to_vec();
        let row: Option<(Uuid,)> = on_db!(self, pool => {
            sqlx::query_as("SELECT id FROM patients WHERE registry_id = $1 AND nhs_blind = $2")
                .bind(cipher.registry().as_str())
                .bind(blind)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(|(id,)| id))
    }

    /// Reads and decrypts one patient of the cipher's registry.
    pub async fn patient(&self, cipher: &RegistryCipher, id: Uuid) -> Result<PatientView> {
        let registry = cipher.registry().as_str();
        type Cols = (
            Option<Vec<u8>>,
            Option<Vec<u8>>,
            Option<Vec<u8>>,
            Option<Vec<u8>>,
            Option<Vec<u8>>,
            String,
            Option<Date>,
            bool,
            String,
        );
        let row: Option<Cols> = on_db!(self, pool => {
            let row = sqlx::query(
                "SELECT nhs_number, family_name, given_name, date_of_birth, postcode, sex, date_of_death, opted_out, consent \
                 FROM patients WHERE id = $1 AND registry_id = $2",
            )
            .bind(id)
            .bind(registry)
            .fetch_optional(pool)
            .await?;
            match row {
                None => None,
                Some(r) => Some((
                    r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?, r.try_get(4)?,
                    r.try_get(5)?, r.try_get(6)?, r.try_get(7)?, r.try_get(8)?,
                )),
            }
        });
        let (nhs, family, given, dob, postcode, sex, dod, opted_out, consent) =
            row.ok_or_else(|| StoreError::NotFound("patient".into()))?;
        let open = |field: IdentifierField, v: &Option<Vec<u8>>| -> Result<Option<zeroize::Zeroizing<String>>> {
            v.as_deref().map(|b| cipher.open(id.as_bytes(), field, b)).transpose().map_err(StoreError::from)
        };
        let nhs = open(IdentifierField::NhsNumber, &nhs)?;
        let family = open(IdentifierField::FamilyName, &family)?;
        let given = open(IdentifierField::GivenName, &given)?;
        let dob = open(IdentifierField::DateOfBirth, &dob)?;
        let postcode = open(IdentifierField::Postcode, &postcode)?;
        let identified = nhs.is_some();
        let s = |v: &Option<zeroize::Zeroizing<String>>| v.as_ref().map(|z| z.as_str().to_owned()).unwrap_or_default();
        let dod_text = dod.map(|d| d.to_string()).unwrap_or_default();
        let (nhs, family, given, dob, postcode) = (s(&nhs), s(&family), s(&given), s(&dob), s(&postcode));
        let input = PatientInput {
            nhs_number: &nhs,
            family_name: &family,
            given_name: &given,
            date_of_birth: &dob,
            sex: &sex,
            postcode: &postcode,
            date_of_death: &dod_text,
            opted_out: if opted_out { "yes" } else { "no" },
            consent: &consent,
        };
        let far_future = Date::from_calendar_date(9999, time::Month::December, 31).expect("valid date");
        let patient = input
            .parse_as(identified, far_future)
            .map_err(|p| StoreError::Corrupt(format!("stored patient does not parse: {} problem(s)", p.len())))?;
        Ok(PatientView { id, patient })
    }
}
