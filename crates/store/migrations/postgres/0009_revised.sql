-- Revision operations kept beside the records they are read from, and indexes that answer a
-- recall from the index alone (PostgreSQL). Keep in step
-- with migrations/sqlite/0009_revised.sql: same tables, same columns, same constraints.

-- One row per record whose current revision is a revision operation the registry's outcome
-- specification can read (site, side, date): what a recall needs to tell a unit still implanted
-- from one revised later (same patient, site and side, strictly after its implant date) without
-- decoding records. Written in the same transaction as the record (import, synthetic data,
-- entry) and replaced in the transaction of a correction; derived, so it can be rebuilt.
CREATE TABLE revised (
    record_id    UUID NOT NULL PRIMARY KEY,
    revision     INTEGER NOT NULL,
    registry_id  TEXT COLLATE "C" NOT NULL,
    patient_id   UUID NOT NULL,
    site         TEXT COLLATE "C" NOT NULL,
    side         TEXT COLLATE "C" NOT NULL,
    operated_on  DATE NOT NULL,
    FOREIGN KEY (record_id, revision) REFERENCES records(id, revision),
    FOREIGN KEY (patient_id, registry_id) REFERENCES patients(id, registry_id)
);
CREATE INDEX revised_by_patient ON revised (patient_id, registry_id, site, side, operated_on);

-- Derived tables filled from existing data once, after the migration that made them (records
-- written before 0009 have no `revised` row until the store fills them at start-up).
CREATE TABLE derived_filled (
    name       TEXT PRIMARY KEY,
    filled_at  TIMESTAMPTZ NOT NULL
);

-- A recall's matched units from the index alone: every column the recall queries read of an
-- implant is included after the matching columns (gtin, lot, organisation, registry), so the
-- ~1,000 units of a lot recall are read as a few contiguous index pages (an index-only scan)
-- instead of one random heap row each. `implants_by_gtin` (0008) stays beside it: a whole
-- GTIN's per-organisation count reads that narrower index (a third of the pages).
CREATE INDEX implants_recall_units ON implants (gtin, lot, organisation, registry_id)
    INCLUDE (serial, expiry, manufactured, implanted_on, patient_id, site, side, created_at, id);
-- A matched unit's patient: alive or dead, opted out or not, from the index alone.
CREATE INDEX patients_vital_status ON patients (id, registry_id) INCLUDE (date_of_death, opted_out);
