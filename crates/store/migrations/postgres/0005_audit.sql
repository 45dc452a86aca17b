-- The audit trail (PostgreSQL). Keep in step with migrations/sqlite/0005_audit.sql, whose
-- comments explain the tables.
CREATE TABLE audit_events (
    seq          BIGINT PRIMARY KEY CHECK (seq >= 1),
    time_us      BIGINT NOT NULL,
    actor        TEXT COLLATE "C" NOT NULL,
    action       TEXT COLLATE "C" NOT NULL,
    registry     TEXT COLLATE "C",
    organisation TEXT COLLATE "C",
    target       TEXT COLLATE "C",
    purpose      TEXT,
    outcome      TEXT COLLATE "C" NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
    client       TEXT,
    request_id   TEXT,
    leaf_hash    BYTEA NOT NULL CHECK (length(leaf_hash) = 32),
    chain_hash   BYTEA NOT NULL CHECK (length(chain_hash) = 32)
);
CREATE INDEX audit_events_by_target ON audit_events (target) WHERE target IS NOT NULL;
CREATE INDEX audit_events_by_actor ON audit_events (actor);

CREATE FUNCTION audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events and checkpoints are immutable';
END $$;
CREATE TRIGGER audit_events_are_immutable BEFORE UPDATE OR DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION audit_is_append_only();
CREATE TRIGGER audit_events_are_not_truncated BEFORE TRUNCATE ON audit_events
FOR EACH STATEMENT EXECUTE FUNCTION audit_is_append_only();

CREATE TABLE audit_head (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq   BIGINT NOT NULL CHECK (last_seq >= 0),
    chain_head BYTEA NOT NULL CHECK (length(chain_head) = 32)
);
INSERT INTO audit_head (id, last_seq, chain_head) VALUES (1, 0, decode(repeat('00', 32), 'hex'));

CREATE FUNCTION audit_head_only_advances() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR NEW.last_seq < OLD.last_seq THEN
        RAISE EXCEPTION 'the audit head only advances';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER audit_head_only_advances BEFORE UPDATE OR DELETE ON audit_head
FOR EACH ROW EXECUTE FUNCTION audit_head_only_advances();

CREATE TABLE audit_checkpoints (
    tree_size  BIGINT PRIMARY KEY CHECK (tree_size >= 1),
    line       TEXT NOT NULL,
    public_key BYTEA NOT NULL CHECK (length(public_key) = 32),
    created_us BIGINT NOT NULL
);
CREATE TRIGGER audit_checkpoints_are_immutable BEFORE UPDATE OR DELETE ON audit_checkpoints
FOR EACH ROW EXECUTE FUNCTION audit_is_append_only();
