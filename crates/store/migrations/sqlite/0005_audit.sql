-- The audit trail (SQLite). Keep in step with migrations/postgres/0005_audit.sql.
--
-- audit_events holds one row per event, in the fields of the canonical event of tessera-audit
-- (the canonical line is rebuilt from them, so there is one copy of each fact). time_us is the
-- event's time in whole microseconds since 1970 UTC, the canonical form's precision. leaf_hash is
-- SHA-256(0x00 || canonical line) and chain_hash the hash chain after this event; both are
-- recomputed by `tessera audit verify`, never trusted. Rows are only ever added: triggers refuse
-- UPDATE and DELETE (an attacker who drops them is caught by the chain, the tree and the signed
-- checkpoints, one copy of which is kept outside the database).
CREATE TABLE audit_events (
    seq          INTEGER PRIMARY KEY CHECK (seq >= 1),
    time_us      BIGINT NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    registry     TEXT,
    organisation TEXT,
    target       TEXT,
    purpose      TEXT,
    outcome      TEXT NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
    client       TEXT,
    request_id   TEXT,
    leaf_hash    BLOB NOT NULL CHECK (length(leaf_hash) = 32),
    chain_hash   BLOB NOT NULL CHECK (length(chain_hash) = 32)
);
-- "Who accessed this patient" and "what did this person do".
CREATE INDEX audit_events_by_target ON audit_events (target) WHERE target IS NOT NULL;
CREATE INDEX audit_events_by_actor ON audit_events (actor);

CREATE TRIGGER audit_events_are_immutable_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are immutable'); END;
CREATE TRIGGER audit_events_are_immutable_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are immutable'); END;

-- The head of the log: the last sequence number and the chain hash after it. Every append
-- updates this one row first, which serialises appenders (SQLite writers are serialised anyway
-- by BEGIN IMMEDIATE); the sequence is gap-free because a rolled-back append rolls back its
-- update of the head too.
CREATE TABLE audit_head (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq   BIGINT NOT NULL CHECK (last_seq >= 0),
    chain_head BLOB NOT NULL CHECK (length(chain_head) = 32)
);
INSERT INTO audit_head (id, last_seq, chain_head) VALUES (1, 0, zeroblob(32));

CREATE TRIGGER audit_head_only_advances BEFORE UPDATE ON audit_head
WHEN NEW.last_seq < OLD.last_seq
BEGIN SELECT RAISE(ABORT, 'the audit head only advances'); END;
CREATE TRIGGER audit_head_is_kept BEFORE DELETE ON audit_head
BEGIN SELECT RAISE(ABORT, 'the audit head is kept'); END;

-- Signed checkpoints: `line` is the checkpoint file's line (tessera-audit's SignedCheckpoint),
-- public_key the Ed25519 key that signed it. The same lines are appended to a file outside the
-- database.
CREATE TABLE audit_checkpoints (
    tree_size  BIGINT PRIMARY KEY CHECK (tree_size >= 1),
    line       TEXT NOT NULL,
    public_key BLOB NOT NULL CHECK (length(public_key) = 32),
    created_us BIGINT NOT NULL
);

CREATE TRIGGER audit_checkpoints_are_immutable_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit checkpoints are immutable'); END;
CREATE TRIGGER audit_checkpoints_are_immutable_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit checkpoints are immutable'); END;
