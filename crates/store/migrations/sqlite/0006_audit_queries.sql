-- Indexes for reading the audit trail (store/src/audit_query.rs). Keep in step with
-- migrations/postgres/0006_audit_queries.sql. Indexes only: the tables and their immutability
-- triggers are as 0005 made them.
--
-- A registry's log, newest first and paged by sequence number.
CREATE INDEX audit_events_by_registry_seq ON audit_events (registry, seq) WHERE registry IS NOT NULL;
-- "Who accessed this patient" and a person's own sign-ins: one target (or a few), in order.
-- Replaces 0005's (target): the sequence number in the key lets a page read in order and stop.
CREATE INDEX audit_events_by_target_seq ON audit_events (target, seq) WHERE target IS NOT NULL;
DROP INDEX audit_events_by_target;
-- "What did this person do": one actor (or their tokens), in order. Replaces 0005's (actor).
CREATE INDEX audit_events_by_actor_seq ON audit_events (actor, seq);
DROP INDEX audit_events_by_actor;
