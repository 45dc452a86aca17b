-- Device recalls (SQLite). Keep in step with migrations/postgres/0008_recalls.sql: same tables,
-- same columns, same constraints; only the type names differ.

-- What a recall needs to know of each implanted unit without reading its record: whose it is,
-- when and where it went in, and its production date (GS1 AI 11). Nullable: units written before
-- this migration have none, and a manual entry may not know the production date.
ALTER TABLE implants ADD COLUMN patient_id BLOB;
ALTER TABLE implants ADD COLUMN implanted_on TEXT;
ALTER TABLE implants ADD COLUMN manufactured TEXT;
ALTER TABLE implants ADD COLUMN site TEXT;
ALTER TABLE implants ADD COLUMN side TEXT;
-- Recall matching: a GTIN (and its lots), counted per organisation from the index alone.
CREATE INDEX implants_by_gtin ON implants (gtin, lot, organisation, registry_id);
-- A serialised recall, and the scan-time check of one unit.
CREATE INDEX implants_by_gtin_serial ON implants (gtin, serial);

-- A recall: criteria is the canonical JSON of tessera_domain::recall::RecallCriteria.
CREATE TABLE recalls (
    id            BLOB PRIMARY KEY,
    reference     TEXT NOT NULL UNIQUE,
    title         TEXT NOT NULL,
    manufacturer  TEXT NOT NULL,
    criteria      TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    closed_at     TEXT
);
CREATE INDEX recalls_by_status ON recalls (status, created_at);

-- The follow-up of one affected unit, append-only: each change adds the next seq, and the
-- current status is the highest seq's (no row means "to contact").
CREATE TABLE recall_followups (
    recall_id   BLOB NOT NULL REFERENCES recalls(id),
    implant_id  BLOB NOT NULL REFERENCES implants(id),
    seq         INTEGER NOT NULL CHECK (seq >= 1),
    status      TEXT NOT NULL CHECK (status IN ('to_contact', 'contacted', 'reviewed', 'explanted', 'not_traceable')),
    note        TEXT,
    by_user     TEXT NOT NULL,
    at          TEXT NOT NULL,
    PRIMARY KEY (recall_id, implant_id, seq)
);
CREATE TRIGGER recall_followups_are_immutable_update BEFORE UPDATE ON recall_followups
BEGIN SELECT RAISE(ABORT, 'recall follow-ups are append-only: add a new entry instead'); END;
CREATE TRIGGER recall_followups_are_immutable_delete BEFORE DELETE ON recall_followups
BEGIN SELECT RAISE(ABORT, 'recall follow-ups are append-only: add a new entry instead'); END;

-- When an organisation last opened its worklist of a recall: units recorded after it are "new
-- since you last looked" (a recall stands: later implants of an affected unit join it).
CREATE TABLE recall_seen (
    recall_id     BLOB NOT NULL REFERENCES recalls(id),
    registry_id   TEXT NOT NULL REFERENCES registries(id),
    organisation  TEXT NOT NULL,
    seen_at       TEXT NOT NULL,
    PRIMARY KEY (recall_id, registry_id, organisation)
);
