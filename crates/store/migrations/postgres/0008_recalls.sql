-- Device recalls (PostgreSQL). Keep in step with migrations/sqlite/0008_recalls.sql: same tables,
-- same columns, same constraints; only the type names differ.

-- What a recall needs to know of each implanted unit without reading its record: whose it is,
-- when and where it went in, and its production date (GS1 AI 11). Nullable: units written before
-- this migration have none, and a manual entry may not know the production date.
ALTER TABLE implants ADD COLUMN patient_id UUID;
ALTER TABLE implants ADD COLUMN implanted_on DATE;
ALTER TABLE implants ADD COLUMN manufactured DATE;
ALTER TABLE implants ADD COLUMN site TEXT COLLATE "C";
ALTER TABLE implants ADD COLUMN side TEXT COLLATE "C";
-- Recall matching: a GTIN (and its lots), counted per organisation from the index alone.
CREATE INDEX implants_by_gtin ON implants (gtin, lot, organisation, registry_id);
-- A serialised recall, and the scan-time check of one unit.
CREATE INDEX implants_by_gtin_serial ON implants (gtin, serial);

-- A recall: criteria is the canonical JSON of tessera_domain::recall::RecallCriteria.
CREATE TABLE recalls (
    id            UUID PRIMARY KEY,
    reference     TEXT NOT NULL UNIQUE,
    title         TEXT NOT NULL,
    manufacturer  TEXT NOT NULL,
    criteria      TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    status        TEXT COLLATE "C" NOT NULL CHECK (status IN ('open', 'closed')),
    closed_at     TIMESTAMPTZ
);
CREATE INDEX recalls_by_status ON recalls (status, created_at);

-- The follow-up of one affected unit, append-only: each change adds the next seq, and the
-- current status is the highest seq's (no row means "to contact").
CREATE TABLE recall_followups (
    recall_id   UUID NOT NULL REFERENCES recalls(id),
    implant_id  UUID NOT NULL REFERENCES implants(id),
    seq         INTEGER NOT NULL CHECK (seq >= 1),
    status      TEXT COLLATE "C" NOT NULL
                CHECK (status IN ('to_contact', 'contacted', 'reviewed', 'explanted', 'not_traceable')),
    note        TEXT,
    by_user     TEXT NOT NULL,
    at          TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (recall_id, implant_id, seq)
);
CREATE FUNCTION recall_followups_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'recall follow-ups are append-only: add a new entry instead';
END $$;
CREATE TRIGGER recall_followups_are_immutable BEFORE UPDATE OR DELETE ON recall_followups
FOR EACH ROW EXECUTE FUNCTION recall_followups_are_append_only();
CREATE TRIGGER recall_followups_are_not_truncated BEFORE TRUNCATE ON recall_followups
FOR EACH STATEMENT EXECUTE FUNCTION recall_followups_are_append_only();

-- When an organisation last opened its worklist of a recall: units recorded after it are "new
-- since you last looked" (a recall stands: later implants of an affected unit join it).
CREATE TABLE recall_seen (
    recall_id     UUID NOT NULL REFERENCES recalls(id),
    registry_id   TEXT COLLATE "C" NOT NULL REFERENCES registries(id),
    organisation  TEXT COLLATE "C" NOT NULL,
    seen_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (recall_id, registry_id, organisation)
);
