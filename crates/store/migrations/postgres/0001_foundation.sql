-- Foundation schema (PostgreSQL). Keep in step with migrations/sqlite/0001_foundation.sql: same
-- tables, same columns, same constraints; only the type names differ.

CREATE TABLE organisations (
    ods_code    TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('nhs', 'independent')),
    region      TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE registries (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    consent_required BOOLEAN NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL
);

-- A registry's data key, encrypted under the deployment's master key. Never stored in clear.
CREATE TABLE registry_keys (
    registry_id  TEXT NOT NULL REFERENCES registries(id),
    key_version  INTEGER NOT NULL,
    wrapped_key  BYTEA NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (registry_id, key_version)
);

-- Every version of every dictionary, as canonical TOML. Versions are only ever added.
CREATE TABLE dictionaries (
    registry_id    TEXT NOT NULL REFERENCES registries(id),
    version        INTEGER NOT NULL,
    canonical_toml TEXT NOT NULL,
    sha256         TEXT NOT NULL,
    source_format  TEXT NOT NULL,
    loaded_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (registry_id, version)
);

-- A patient of one registry. Identifier columns hold XChaCha20-Poly1305 ciphertexts bound to
-- (registry, patient id, column); nhs_blind is HMAC-SHA-256 under the registry's blind-index key.
-- All identifier columns are NULL for a patient recorded anonymously (no consent).
CREATE TABLE patients (
    id             UUID PRIMARY KEY,
    registry_id    TEXT NOT NULL REFERENCES registries(id),
    key_version    INTEGER NOT NULL,
    nhs_blind      BYTEA,
    nhs_number     BYTEA,
    family_name    BYTEA,
    given_name     BYTEA,
    date_of_birth  BYTEA,
    postcode       BYTEA,
    sex            TEXT NOT NULL CHECK (sex IN ('M', 'F', 'I', 'U')),
    date_of_death  DATE,
    opted_out      BOOLEAN NOT NULL,
    consent        TEXT NOT NULL CHECK (consent IN ('given', 'refused', 'not_recorded')),
    created_at     TIMESTAMPTZ NOT NULL,
    FOREIGN KEY (registry_id, key_version) REFERENCES registry_keys(registry_id, key_version)
);
CREATE UNIQUE INDEX patients_by_blind_index ON patients (registry_id, nhs_blind);

-- One import of one file. The id makes imports idempotent.
CREATE TABLE submissions (
    registry_id   TEXT NOT NULL REFERENCES registries(id),
    id            TEXT NOT NULL,
    form          TEXT NOT NULL,
    source_name   TEXT NOT NULL,
    rows_total    BIGINT NOT NULL,
    rows_stored   BIGINT NOT NULL,
    rows_rejected BIGINT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (registry_id, id)
);

-- A record: one form instance for one patient at one organisation. Its content lives in
-- record_revisions; a correction adds a revision and never changes an old one.
CREATE TABLE records (
    id            UUID PRIMARY KEY,
    registry_id   TEXT NOT NULL REFERENCES registries(id),
    patient_id    UUID NOT NULL REFERENCES patients(id),
    organisation  TEXT NOT NULL REFERENCES organisations(ods_code),
    form          TEXT NOT NULL,
    submission_id TEXT,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX records_by_patient ON records (patient_id);
CREATE INDEX records_by_registry_organisation ON records (registry_id, organisation, form);

CREATE TABLE record_revisions (
    record_id          UUID NOT NULL REFERENCES records(id),
    revision           INTEGER NOT NULL,
    registry_id        TEXT NOT NULL,
    dictionary_version INTEGER NOT NULL,
    data               TEXT NOT NULL,
    reason             TEXT,
    created_at         TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (record_id, revision),
    FOREIGN KEY (registry_id, dictionary_version) REFERENCES dictionaries(registry_id, version)
);

CREATE FUNCTION record_revisions_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'record revisions are immutable: add a new revision instead';
END $$;
CREATE TRIGGER record_revisions_are_immutable BEFORE UPDATE OR DELETE ON record_revisions
FOR EACH ROW EXECUTE FUNCTION record_revisions_are_immutable();

-- An implanted component, linked to the procedure record that put it in.
CREATE TABLE implants (
    id            UUID PRIMARY KEY,
    record_id     UUID NOT NULL REFERENCES records(id),
    registry_id   TEXT NOT NULL REFERENCES registries(id),
    organisation  TEXT NOT NULL REFERENCES organisations(ods_code),
    gtin          TEXT NOT NULL,
    lot           TEXT,
    serial        TEXT,
    expiry        DATE,
    entry         TEXT NOT NULL CHECK (entry IN ('scanned', 'manual', 'synthetic')),
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX implants_by_record ON implants (record_id);
