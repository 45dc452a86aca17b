-- Foundation schema (PostgreSQL). Keep in step with migrations/sqlite/0001_foundation.sql: same
-- tables, same columns, same constraints; only the type names differ, and code columns here use
-- COLLATE "C": they are identifiers, compared byte-wise as SQLite does, and a locale-aware
-- comparison in every index step slowed bulk inserts (see BENCHMARKS.md).

CREATE TABLE organisations (
    ods_code    TEXT COLLATE "C" PRIMARY KEY,
    name        TEXT NOT NULL,
    kind        TEXT COLLATE "C" NOT NULL CHECK (kind IN ('nhs', 'independent')),
    region      TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE registries (
    id               TEXT COLLATE "C" PRIMARY KEY,
    name             TEXT NOT NULL,
    consent_required BOOLEAN NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL
);

-- A registry's data key, encrypted under the deployment's master key. Never stored in clear.
CREATE TABLE registry_keys (
    registry_id  TEXT COLLATE "C" NOT NULL REFERENCES registries(id),
    key_version  INTEGER NOT NULL,
    wrapped_key  BYTEA NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (registry_id, key_version)
);

-- Every version of every dictionary, as canonical TOML. Versions are only ever added.
CREATE TABLE dictionaries (
    registry_id    TEXT COLLATE "C" NOT NULL REFERENCES registries(id),
    version        INTEGER NOT NULL,
    canonical_toml TEXT NOT NULL,
    sha256         TEXT NOT NULL,
    source_format  TEXT NOT NULL,
    loaded_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (registry_id, version)
);

-- A patient of one registry. Identifier columns hold XChaCha20-Poly1305 ciphertexts bound to
-- (registry, patient id, column); nhs_blind is HMAC-SHA-256 under the registry's blind-index key.
-- All identifier columns are NULL for a patient recorded anonymously (no consent). The key is
-- (id, registry) so that records can only point at patients of their own registry. Composite
-- keys put the binary, selective column first: comparisons rarely reach the text.
CREATE TABLE patients (
    id             UUID NOT NULL,
    registry_id    TEXT COLLATE "C" NOT NULL,
    key_version    INTEGER NOT NULL,
    nhs_blind      BYTEA,
    nhs_number     BYTEA,
    family_name    BYTEA,
    given_name     BYTEA,
    date_of_birth  BYTEA,
    postcode       BYTEA,
    sex            TEXT COLLATE "C" NOT NULL CHECK (sex IN ('M', 'F', 'I', 'U')),
    date_of_death  DATE,
    opted_out      BOOLEAN NOT NULL,
    consent        TEXT COLLATE "C" NOT NULL CHECK (consent IN ('given', 'refused', 'not_recorded')),
    created_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (id, registry_id),
    FOREIGN KEY (registry_id, key_version) REFERENCES registry_keys(registry_id, key_version)
);
CREATE UNIQUE INDEX patients_by_blind_index ON patients (nhs_blind, registry_id);

-- One import of one file. The id makes imports idempotent.
CREATE TABLE submissions (
    registry_id   TEXT COLLATE "C" NOT NULL REFERENCES registries(id),
    id            TEXT COLLATE "C" NOT NULL,
    form          TEXT COLLATE "C" NOT NULL,
    source_name   TEXT NOT NULL,
    rows_total    BIGINT NOT NULL,
    rows_stored   BIGINT NOT NULL,
    rows_rejected BIGINT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (registry_id, id)
);

-- A record: one form instance for one patient at one organisation, kept as immutable revisions.
-- Revision 1 is the record as first captured; a correction adds revision n+1 and never changes an
-- earlier one (triggers refuse UPDATE and DELETE). data is a JSON array of canonical texts in the
-- order of the form's fields in that dictionary version (null for no value). One table rather
-- than records + revisions: half the rows and foreign-key checks per imported record.
CREATE TABLE records (
    id                 UUID NOT NULL,
    revision           INTEGER NOT NULL CHECK (revision >= 1),
    registry_id        TEXT COLLATE "C" NOT NULL,
    patient_id         UUID NOT NULL,
    organisation       TEXT COLLATE "C" NOT NULL REFERENCES organisations(ods_code),
    form               TEXT COLLATE "C" NOT NULL,
    dictionary_version INTEGER NOT NULL,
    data               TEXT NOT NULL,
    submission_id      TEXT,
    reason             TEXT,
    created_at         TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (id, revision),
    -- A record can only belong to a patient of its own registry.
    FOREIGN KEY (patient_id, registry_id) REFERENCES patients(id, registry_id),
    FOREIGN KEY (registry_id, dictionary_version) REFERENCES dictionaries(registry_id, version)
);
CREATE INDEX records_by_patient ON records (patient_id);
CREATE INDEX records_by_registry_organisation ON records (registry_id, organisation, form);

CREATE FUNCTION records_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'record revisions are immutable: add a new revision instead';
END $$;
CREATE TRIGGER records_are_immutable BEFORE UPDATE OR DELETE ON records
FOR EACH ROW EXECUTE FUNCTION records_are_immutable();

-- An implanted component, linked to the procedure record that put it in.
CREATE TABLE implants (
    id            UUID PRIMARY KEY,
    record_id     UUID NOT NULL,
    record_revision INTEGER NOT NULL,
    registry_id   TEXT COLLATE "C" NOT NULL REFERENCES registries(id),
    organisation  TEXT COLLATE "C" NOT NULL REFERENCES organisations(ods_code),
    gtin          TEXT COLLATE "C" NOT NULL,
    lot           TEXT,
    serial        TEXT,
    expiry        DATE,
    entry         TEXT COLLATE "C" NOT NULL CHECK (entry IN ('scanned', 'manual', 'synthetic')),
    created_at    TIMESTAMPTZ NOT NULL,
    FOREIGN KEY (record_id, record_revision) REFERENCES records(id, revision)
);
CREATE INDEX implants_by_record ON implants (record_id);
