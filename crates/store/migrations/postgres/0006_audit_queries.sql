-- Indexes for reading the audit trail (PostgreSQL). Keep in step with
-- migrations/sqlite/0006_audit_queries.sql, whose comments explain them. Indexes only: the
-- tables and their immutability triggers are as 0005 made them.
CREATE INDEX audit_events_by_registry_seq ON audit_events (registry, seq) WHERE registry IS NOT NULL;
CREATE INDEX audit_events_by_target_seq ON audit_events (target, seq) WHERE target IS NOT NULL;
DROP INDEX audit_events_by_target;
CREATE INDEX audit_events_by_actor_seq ON audit_events (actor, seq);
DROP INDEX audit_events_by_actor;
