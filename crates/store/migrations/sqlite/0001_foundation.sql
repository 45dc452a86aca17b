-- Foundation schema (SQLite). Keep in step with migrations/postgres/0001_foundation.sql: same
-- tables, same columns, same constraints; only the type names differ.

CREATE TABLE organisations (
    ods_code    TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('nhs', 'independent')),
    region      TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE registries (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    consent_required BOOLEAN NOT NULL,
    created_at       TEXT NOT NULL
);

-- A registry's data key, encrypted under the deployment's master key. Never stored in clear.
CREATE TABLE registry_keys (
    registry_id  TEXT NOT NULL REFERENCES registries(id),
    key_version  INTEGER NOT NULL,
    wrapped_key  BLOB NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (registry_id, key_version)
);

-- Every version of every dictionary, as canonical TOML. Versions are only ever added.
CREATE TABLE dictionaries (
    registry_id    TEXT NOT NULL REFERENCES registries(id),
    version        INTEGER NOT NULL,
    canonical_toml TEXT NOT NULL,
    sha256         TEXT NOT NULL,
    source_format  TEXT NOT NULL,
    loaded_at      TEXT NOT NULL,
    PRIMARY KEY (registry_id, version)
);

-- A patient of one registry. Identifier columns hold XChaCha20-Poly1305 ciphertexts bound to
-- (registry, patient id, column); nhs_blind is HMAC-SHA-256 under the registry's blind-index key.
-- All identifier columns are NULL for a patient recorded anonymously (no consent). The key is
-- (id, registry) so that records can only point at patients of their own registry. Composite
-- keys put the binary, selective column first: comparisons rarely reach the text.
CREATE TABLE patients (
    id             BLOB NOT NULL,
    registry_id    TEXT NOT NULL,
    key_version    INTEGER NOT NULL,
    nhs_blind      BLOB,
    nhs_number     BLOB,
    family_name    BLOB,
    given_name     BLOB,
    date_of_birth  BLOB,
    postcode       BLOB,
    sex            TEXT NOT NULL CHECK (sex IN ('M', 'F', 'I', 'U')),
    date_of_death  TEXT,
    opted_out      BOOLEAN NOT NULL,
    consent        TEXT NOT NULL CHECK (consent IN ('given', 'refused', 'not_recorded')),
    created_at     TEXT NOT NULL,
    PRIMARY KEY (id, registry_id),
    FOREIGN KEY (registry_id, key_version) REFERENCES registry_keys(registry_id, key_version)
);
CREATE UNIQUE INDEX patients_by_blind_index ON patients (nhs_blind, registry_id);

-- One import of one file. The id makes imports idempotent.
CREATE TABLE submissions (
    registry_id   TEXT NOT NULL REFERENCES registries(id),
    id            TEXT NOT NULL,
    form          TEXT NOT NULL,
    source_name   TEXT NOT NULL,
    rows_total    INTEGER NOT NULL,
    rows_stored   INTEGER NOT NULL,
    rows_rejected INTEGER NOT NULL,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (registry_id, id)
);

-- A record: one form instance for one patient at one organisation, kept as immutable revisions.
-- Revision 1 is the record as first captured; a correction adds revision n+1 and never changes an
-- earlier one (triggers refuse UPDATE and DELETE). data is a JSON array of canonical texts in the
-- order of the form's fields in that dictionary version (null for no value). One table rather
-- than records + revisions: half the rows and foreign-key checks per imported record.
CREATE TABLE records (
    id                 BLOB NOT NULL,
    revision           INTEGER NOT NULL CHECK (revision >= 1),
    registry_id        TEXT NOT NULL,
    patient_id         BLOB NOT NULL,
    organisation       TEXT NOT NULL REFERENCES organisations(ods_code),
    form               TEXT NOT NULL,
    dictionary_version INTEGER NOT NULL,
    data               TEXT NOT NULL,
    submission_id      TEXT,
    reason             TEXT,
    created_at         TEXT NOT NULL,
    PRIMARY KEY (id, revision),
    -- A record can only belong to a patient of its own registry.
    FOREIGN KEY (patient_id, registry_id) REFERENCES patients(id, registry_id),
    FOREIGN KEY (registry_id, dictionary_version) REFERENCES dictionaries(registry_id, version)
);
CREATE INDEX records_by_patient ON records (patient_id);
CREATE INDEX records_by_registry_organisation ON records (registry_id, organisation, form);

CREATE TRIGGER records_are_immutable_update BEFORE UPDATE ON records
BEGIN SELECT RAISE(ABORT, 'record revisions are immutable: add a new revision instead'); END;
CREATE TRIGGER records_are_immutable_delete BEFORE DELETE ON records
BEGIN SELECT RAISE(ABORT, 'record revisions are immutable: add a new revision instead'); END;

-- An implanted component, linked to the procedure record that put it in.
CREATE TABLE implants (
    id            BLOB PRIMARY KEY,
    record_id     BLOB NOT NULL,
    record_revision INTEGER NOT NULL,
    registry_id   TEXT NOT NULL REFERENCES registries(id),
    organisation  TEXT NOT NULL REFERENCES organisations(ods_code),
    gtin          TEXT NOT NULL,
    lot           TEXT,
    serial        TEXT,
    expiry        TEXT,
    entry         TEXT NOT NULL CHECK (entry IN ('scanned', 'manual', 'synthetic')),
    created_at    TEXT NOT NULL,
    FOREIGN KEY (record_id, record_revision) REFERENCES records(id, revision)
);
CREATE INDEX implants_by_record ON implants (record_id);
