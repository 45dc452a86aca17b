-- The current follow-up step of each unit of a recall, one row per unit (PostgreSQL). Keep in step
-- with migrations/sqlite/0010_followup_current.sql: same table, same columns, same constraints.

-- `recall_followups` keeps every step (append-only); this row is its latest step, replaced in
-- the transaction that appends one, so a recall's counts read one index entry per unit instead
-- of searching the history twice (status, then time). Derived: the INSERT below rebuilds it.
CREATE TABLE recall_followup_current (
    recall_id   UUID NOT NULL,
    implant_id  UUID NOT NULL,
    seq         INTEGER NOT NULL,
    status      TEXT COLLATE "C" NOT NULL,
    at          TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (recall_id, implant_id),
    FOREIGN KEY (recall_id, implant_id, seq) REFERENCES recall_followups(recall_id, implant_id, seq)
);

INSERT INTO recall_followup_current (recall_id, implant_id, seq, status, at)
SELECT f.recall_id, f.implant_id, f.seq, f.status, f.at FROM recall_followups f
WHERE f.seq = (SELECT MAX(g.seq) FROM recall_followups g WHERE g.recall_id = f.recall_id AND g.implant_id = f.implant_id);
