-- The device catalogue, versioned (issue 6). Keep in step with migrations/postgres/0007_catalogue.sql.
-- Each load of a catalogue file adds one version; products hold what the latest load said about
-- each GTIN, product_history what every load that changed a GTIN said (versions and history are
-- never updated or deleted). unknown_gtins queues GTINs scanned at capture that the catalogue did
-- not know, for platform operators to review: it never holds anything about a patient.
CREATE TABLE catalogue_versions (
    version     INTEGER PRIMARY KEY CHECK (version >= 1),
    source      TEXT NOT NULL,
    loaded_by   TEXT,
    loaded_at   TEXT NOT NULL,
    products    INTEGER NOT NULL,
    added       INTEGER NOT NULL,
    changed     INTEGER NOT NULL,
    unchanged   INTEGER NOT NULL
);

-- NULL model/catalogue_ref/attributes/version: written by synthesis or upsert_products, never
-- by a catalogue load. attributes is a JSON object of strings (bearing, fixation, material, ...).
ALTER TABLE products ADD COLUMN model TEXT;
ALTER TABLE products ADD COLUMN catalogue_ref TEXT;
ALTER TABLE products ADD COLUMN attributes TEXT;
ALTER TABLE products ADD COLUMN version INTEGER REFERENCES catalogue_versions(version);

CREATE TABLE product_history (
    gtin          TEXT NOT NULL CHECK (length(gtin) = 14),
    version       INTEGER NOT NULL REFERENCES catalogue_versions(version),
    manufacturer  TEXT NOT NULL,
    brand         TEXT NOT NULL,
    model         TEXT,
    catalogue_ref TEXT,
    category      TEXT NOT NULL,
    attributes    TEXT NOT NULL,
    PRIMARY KEY (gtin, version)
);

CREATE TRIGGER catalogue_versions_are_immutable_update BEFORE UPDATE ON catalogue_versions
BEGIN SELECT RAISE(ABORT, 'catalogue versions are immutable: load a new version instead'); END;
CREATE TRIGGER catalogue_versions_are_immutable_delete BEFORE DELETE ON catalogue_versions
BEGIN SELECT RAISE(ABORT, 'catalogue versions are immutable: load a new version instead'); END;
CREATE TRIGGER product_history_is_immutable_update BEFORE UPDATE ON product_history
BEGIN SELECT RAISE(ABORT, 'product history is immutable: load a new version instead'); END;
CREATE TRIGGER product_history_is_immutable_delete BEFORE DELETE ON product_history
BEGIN SELECT RAISE(ABORT, 'product history is immutable: load a new version instead'); END;

CREATE TABLE unknown_gtins (
    gtin          TEXT PRIMARY KEY CHECK (length(gtin) = 14),
    first_seen    TEXT NOT NULL,
    last_seen     TEXT NOT NULL,
    times_seen    INTEGER NOT NULL CHECK (times_seen >= 1),
    registry_id   TEXT,
    organisation  TEXT,
    status        TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'added', 'dismissed')),
    reviewed_by   TEXT,
    reviewed_at   TEXT
);
CREATE INDEX unknown_gtins_by_status ON unknown_gtins (status, last_seen);
